#pragma once
// Answering one DNS question from the records of one PKARR zone (the answers of a SignedPacket:
// absolute names at or below the key label). Pure: no I/O, no clock, no ldns.
//
// Authoritative semantics (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 6672 DNAME, names compared
// case-insensitively per RFC 4343), unlike the Rust pkdns which only does exact match, one CNAME
// level and never NXDOMAIN:
//   - exact match on name and type; ANY returns every record at the name;
//   - CNAME at the name (qtype not CNAME/ANY): the CNAME is answered and followed inside the zone
//     (bounded, loop-safe); a target outside the zone is reported in `external_target`;
//   - DNAME at an ancestor: the DNAME plus a synthesized CNAME, then followed like a CNAME;
//   - NS below the apex (at or above the name): a referral (NS in authority, in-zone glue A/AAAA in
//     additional, not authoritative); NS at the apex is ordinary data;
//   - a name that does not exist: the closest encloser's `*` child is used with owner = the name;
//     otherwise NXDOMAIN. An existing name or empty non-terminal without the type: NODATA.
//   - NXDOMAIN/NODATA carry the zone's apex SOA in authority when the zone has one (pkarr zones
//     usually don't; the resolver synthesizes one then).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"

namespace pkdns::pkarr {

// How many CNAME/DNAME steps are followed inside one zone before giving up.
inline constexpr std::size_t max_zone_chain = 16;

struct ZoneAnswer {
    std::uint8_t rcode = dns::rcode::NOERROR;  // NOERROR, NXDOMAIN, YXDOMAIN (DNAME overflow),
                                               // REFUSED (qname not in the zone)
    bool authoritative = true;                 // AA; false for referrals
    bool delegation = false;                   // authority holds a referral (NS below the apex)
    std::vector<dns::Record> answer, authority, additional;
    // The last CNAME/DNAME in `answer` points outside this zone: the resolver continues there.
    std::optional<dns::Name> external_target;
    // The CNAME chain inside the zone looped or exceeded max_zone_chain (the answer holds the
    // chain so far, rcode NOERROR).
    bool chain_truncated = false;
};

// `zone`: the packet's records (records outside `apex` are ignored). `apex`: the key label as a
// name, e.g. "8pinx...ewo" (no TLD). `qname` must be at or below `apex` (REFUSED otherwise).
ZoneAnswer answer_from_zone(const std::vector<dns::Record>& zone, const dns::Name& apex,
                            const dns::Name& qname, std::uint16_t qtype);

}  // namespace pkdns::pkarr
