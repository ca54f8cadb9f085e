#pragma once
// Plain DNS data: questions, resource records and whole packets, independent of ldns.
// Record rdata is kept in uncompressed wire form (names inside rdata written in full).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/dns/name.hpp"
#include "common/result.hpp"

namespace pkdns::dns {

namespace type {
inline constexpr std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28,
                               SRV = 33, DNAME = 39, OPT = 41, SVCB = 64, HTTPS = 65, ANY = 255, CAA = 257;
}
namespace rcode {
inline constexpr std::uint8_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5;
}
inline constexpr std::uint16_t class_IN = 1;

// "A" -> 1, "TYPE65" -> 65; case-insensitive. Error for unknown mnemonics.
Result<std::uint16_t> type_from_string(std::string_view s);
std::string type_to_string(std::uint16_t type);  // "A", or "TYPE1234" when unknown
std::string rcode_to_string(std::uint8_t rcode);

struct Question {
    Name name;
    std::uint16_t type = 0;
    std::uint16_t klass = class_IN;
};

struct Record {
    Name name;
    std::uint16_t type = 0;
    std::uint16_t klass = class_IN;
    std::uint32_t ttl = 0;
    Bytes rdata;  // uncompressed wire form

    // For CNAME/NS/PTR/DNAME: the target name in the rdata; MX/SRV/SVCB/HTTPS: the target too.
    std::optional<Name> target() const;
    friend bool operator==(const Record&, const Record&) = default;
};

// Header flag bits (second 16-bit word of the header).
namespace flag {
inline constexpr std::uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080, AD = 0x0020,
                               CD = 0x0010;
}

struct Packet {
    std::uint16_t id = 0;
    std::uint16_t flags = 0;  // includes opcode (bits 11-14) and rcode (low 4 bits)
    std::vector<Question> questions;
    std::vector<Record> answers;
    std::vector<Record> authority;
    std::vector<Record> additional;

    std::uint8_t opcode() const { return static_cast<std::uint8_t>((flags >> 11) & 0x0f); }
    std::uint8_t rcode() const { return static_cast<std::uint8_t>(flags & 0x0f); }
    void set_rcode(std::uint8_t rc) { flags = static_cast<std::uint16_t>((flags & ~0x0fu) | (rc & 0x0f)); }
};

// Wire decoding (via ldns): rejects truncation, bad pointers, pointer loops, labels > 63,
// names > 255, and trailing garbage is ignored. Never crashes on hostile input.
Result<Packet> parse_packet(ByteView wire);

// Wire encoding with name compression the way pkarr (simple-dns 0.11) does it, so packets are
// byte-identical to pkarr's: owner names and the names inside NS/CNAME/PTR/DNAME/MX/SOA rdata
// are compressed; SRV/SVCB/HTTPS targets and everything else are not.
Bytes encode_packet(const Packet& packet);

// One record in zone-file presentation form (via ldns), e.g.
// "foo.example. 300 IN TXT \"bar\"". Unknown types use RFC 3597 \# syntax.
std::string record_to_text(const Record& record);

}  // namespace pkdns::dns
