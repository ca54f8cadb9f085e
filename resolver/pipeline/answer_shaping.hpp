#pragma once
// Answer shaping for the resolver: turning what a zone or an upstream said into one hop of the
// answer. Pure: no I/O, no clocks (elapsed time comes in).
//
// PKARR hops: AA as the zone says (not for referrals); record TTLs are clamped to max_ttl and
// counted down by the whole seconds since the packet was last seen on the network, never below
// 1 (a stale packet served while it is refreshed must not be cached downstream for long, but
// TTL 0 would make every stub re-ask at once). When the query used the TLD, names that end in
// a key get it back (owners and the names in CNAME/NS/PTR/DNAME/MX/SRV/SVCB/HTTPS/SOA rdata).
// NXDOMAIN and NODATA carry an SOA in authority; when the zone has none, one is synthesized at
// the apex: mname = apex, rname = hostmaster.<apex>, serial = the packet's timestamp in
// seconds, minimum = TTL = min_ttl. A CNAME leaving the zone is followed at `next`.
//
// ICANN hops: the upstream's sections without its OPT. A CNAME chain that leaves the ICANN
// world (into a key) cannot have been followed by the upstream: only its CNAMEs are kept and
// the resolver continues at the chain's end.

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "pkarr/zone.hpp"

namespace pkdns::pipeline {

struct Hop {
    dns::Packet packet;             // sections, AA and rcode of this hop
    std::optional<dns::Name> next;  // where the CNAME chain continues, if it leaves this source
};

struct PkarrHopInput {
    dns::Name apex;  // the key label as a name (no TLD)
    std::uint16_t qtype = 0;
    std::uint32_t elapsed = 0;  // seconds since the packet was last seen
    std::uint32_t serial = 0;   // the packet's timestamp in seconds (synthesized SOA)
    std::uint32_t min_ttl = 60, max_ttl = 86400;
    std::string_view tld;  // empty: the query did not use the TLD
};

Hop pkarr_hop(pkarr::ZoneAnswer zone, const PkarrHopInput& in);

// `name`: the name this hop asked; `top_level_domain` decides which names are keys.
Hop icann_hop(dns::Packet reply, const dns::Name& name, std::uint16_t qtype,
              std::string_view top_level_domain);

// `record` with the TLD appended to its owner and rdata names that end in a key label.
dns::Record with_tld(dns::Record record, std::string_view tld);
// `name` with the TLD appended when it ends in a key label (and still fits); nullopt otherwise.
std::optional<dns::Name> name_with_tld(const dns::Name& name, std::string_view tld);
// The SOA synthesized for a PKARR zone without one; `apex` already carries the TLD if wanted.
dns::Record synthesized_soa(const dns::Name& apex, std::uint32_t serial, std::uint32_t min_ttl);

}  // namespace pkdns::pipeline
