#pragma once
// BIND-style zone text (RFC 1035 master file format) parsed through ldns: `@`, names relative to
// the origin, $TTL, $ORIGIN, parentheses, comments, and every record type ldns knows
// (A, AAAA, CNAME, TXT, MX, NS, SRV, PTR, CAA, HTTPS/SVCB, ...). Errors name the line.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "common/result.hpp"

namespace pkdns::dns {

// Error message form: "line N: <what is wrong>" (N is 1-based).
// A record without a TTL gets the last explicitly stated TTL (RFC 1035 §5.1, as BIND and ldns
// do), or $TTL once set, or `default_ttl` before either appeared. No SOA is required; $INCLUDE
// is an error.
Result<std::vector<Record>> parse_zone_text(std::string_view text, const Name& origin,
                                            std::uint32_t default_ttl = 300);

}  // namespace pkdns::dns
