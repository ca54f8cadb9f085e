#pragma once
// One forwarded question as a pure state machine (no sockets, no clocks): which upstream to ask,
// over UDP or TCP, with which bytes; which replies count; when to give up on an upstream. The
// Forwarder (forwarder.hpp) is its libuv driver:
//   1. start() -> a Step; for send_udp the driver picks a pool socket and a free ID and calls
//      udp_placed(), which returns the datagram (or udp_failed() when it cannot place or send);
//      for send_tcp it connects to the same upstream and writes `frame`;
//   2. it feeds every datagram routed to this question (on_udp), TCP bytes (on_tcp_data), the
//      TCP close (on_tcp_closed) and the time once deadline() passed (on_time);
//   3. each of those returns the next Step; `finished` comes exactly once, then only `wait`.
//
// A UDP reply counts only when it arrives on the placed socket, from the upstream's exact
// address and port, is a response (QR=1) to a QUERY with our ID and echoes our question (name
// case-insensitive, type, class); anything else is ignored (`wait`) and the attempt goes on.
// TC=1 -> the same upstream over TCP (2-byte length framing, same query and ID). A timeout
// (timeout_ms per upstream and transport), a failed placement or send, a TCP close before the
// reply or a TCP reply that does not parse or match moves on to the next upstream; after the
// last one the result is forward_error::all_failed with every upstream's reason.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"

namespace pkdns::upstream {

// Error codes in Error::code for the resolver's logs and metrics.
namespace forward_error {
inline constexpr int all_failed = 1, overloaded = 2, closed = 3, bad_request = 4;
}

// The query sent upstream: our ID, RD=1, one EDNS(0) OPT with `udp_size` and DO when asked.
dns::Packet make_query(const dns::Question& question, std::uint16_t id, bool dnssec_ok,
                       std::uint16_t udp_size);
// True when `reply` answers `query`: QR set, same ID, opcode QUERY, one question equal to ours.
bool reply_matches(const dns::Packet& query, const dns::Packet& reply);

struct AttemptsConfig {
    std::span<const SocketAddress> upstreams;  // tried in order; must outlive the Attempts
    std::uint64_t timeout_ms = 2000;           // per upstream, per transport
    std::uint16_t edns_udp_size = 1232;
};

// What the driver does next for one question.
struct Step {
    enum class Kind : std::uint8_t {
        wait,      // nothing (also: the input was ignored)
        send_udp,  // place a UDP query to `upstream`, then udp_placed() / udp_failed()
        send_tcp,  // connect to `upstream` over TCP and write `frame`
        finished,  // `result` is the outcome; nothing follows
    };
    Kind kind = Kind::wait;
    std::size_t upstream = 0;                   // send_udp, send_tcp: index into AttemptsConfig::upstreams
    Bytes frame;                                // send_tcp
    std::optional<Result<dns::Packet>> result;  // finished
    std::string failed;  // "upstream: why" when this step follows a failed attempt (for logs)
};

class Attempts {
public:
    Attempts(const dns::Question& question, bool dnssec_ok, AttemptsConfig config);

    // send_udp to the first upstream, or finished when none is configured.
    Step start();
    // The send_udp step was placed on `socket` (the driver's serial, never 0) with `id`: the
    // datagram to send. The UDP timeout runs from now_ms.
    Bytes udp_placed(std::uint64_t socket, std::uint16_t id, std::uint64_t now_ms);
    // The send_udp step could not be placed or sent.
    Step udp_failed(std::string_view why);
    Step on_udp(std::uint64_t socket, const SocketAddress& from, ByteView datagram, std::uint64_t now_ms);
    Step on_tcp_data(ByteView data);
    // The TCP connection ended before a reply (refused, reset, EOF); `why` says how.
    Step on_tcp_closed(std::string_view why);
    // Expires the current attempt when now_ms reached deadline(); otherwise wait.
    Step on_time(std::uint64_t now_ms);

    // When on_time() must be called next; none while placing or finished.
    std::optional<std::uint64_t> deadline() const { return deadline_; }
    bool finished() const { return phase_ == Phase::finished; }
    std::size_t upstream() const { return upstream_; }
    // The query of the current attempt (its ID is set once placed).
    const dns::Packet& query() const { return query_; }

private:
    enum class Phase : std::uint8_t { placing, udp, tcp, finished };

    Step next_upstream(std::string_view why);
    Step finish(Result<dns::Packet> result);

    AttemptsConfig config_;
    dns::Packet query_;
    Phase phase_ = Phase::placing;
    std::size_t upstream_ = 0;
    std::uint64_t socket_ = 0;
    Bytes wire_;
    Bytes tcp_buffer_;
    std::optional<std::uint64_t> deadline_;
    std::string reasons_;
};

}  // namespace pkdns::upstream
