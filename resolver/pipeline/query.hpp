#pragma once
// Pure request/response shaping for the DNS listeners (design.md §3 steps 1 and 7): sanity
// checks and EDNS(0) extraction on the way in, header/question/OPT/truncation on the way out.
// No sockets, no clocks.

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "common/bytes.hpp"
#include "common/dns/record.hpp"

namespace pkdns::pipeline {

// https: DNS over HTTPS (RFC 8484); sized like TCP (no truncation below 65535 bytes).
enum class Transport : std::uint8_t { udp, tcp, https };

inline constexpr std::uint16_t min_udp_payload = 512;
inline constexpr std::uint16_t max_udp_payload = 4096;
// Our advertised EDNS payload size (DNS flag day 2020).
inline constexpr std::uint16_t our_udp_payload = 1232;
inline constexpr std::uint16_t rcode_badvers = 16;  // RFC 6891 extended rcode
inline constexpr std::uint32_t rfc8482_ttl = 3789;

struct Edns {
    bool present = false;
    std::uint16_t udp_size = min_udp_payload;  // client's size clamped to [512, 4096]
    bool do_bit = false;
    std::uint8_t version = 0;
};

// A query that passed the sanity checks: exactly one question, opcode QUERY, at most one OPT.
struct Request {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;  // the client's header flags
    dns::Question question;   // exactly as asked (case preserved)
    Edns edns;

    bool recursion_desired() const { return (flags & dns::flag::RD) != 0; }
    // The largest UDP reply this client accepts.
    std::size_t max_udp_size() const { return edns.present ? edns.udp_size : min_udp_payload; }
};

// A message that is not answered through the pipeline: `reply` is sent as is, or nothing is
// sent when it is empty (responses, runts).
struct Rejection {
    Bytes reply;
    std::string reason;
};

using ParsedRequest = std::variant<Request, Rejection>;

// Step 1: drop responses and messages shorter than a header; FORMERR for unparsable messages
// (from the header, id echoed), question count != 1, several OPTs or a misplaced/malformed OPT;
// NOTIMP for opcodes other than QUERY and for zone transfers; BADVERS for EDNS version > 0.
ParsedRequest parse_request(ByteView wire);

// OPT rdata is (code, length, data)*; anything else is a malformed OPT (FORMERR).
bool edns_options_well_formed(ByteView rdata);

// Step 7: the reply to `request` carrying `answer`'s sections, AA and rcode: client's ID, the
// question as asked, RD and CD echoed, RA set, AD cleared (we do not validate), any OPT in
// `answer` replaced by ours when the client sent one. UDP replies are cut to the client's size
// and TCP replies to 65535 bytes by dropping records from the end (TC is set when an answer or
// authority record had to go; the question and OPT always stay). `complete`, when given, says
// whether every record was kept (what the wire cache may store).
Bytes finalize(const Request& request, dns::Packet answer, Transport transport, bool* complete = nullptr);

// An empty reply with `rcode` (extended rcodes > 15 go in the OPT when the client sent one).
Bytes error_reply(const Request& request, std::uint16_t rcode);

bool is_any_query(const Request& request);
// RFC 8482 minimal answer to ANY: one synthesized HINFO "RFC8482" "" at the query name.
dns::Packet rfc8482_answer(const Request& request);

}  // namespace pkdns::pipeline
