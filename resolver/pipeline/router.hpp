#pragma once
// Routing a query name (design.md §3 step 3). Pure: no I/O.
//
// The optional top-level domain ("key" by default) is stripped when the label in front of it
// looks like a key (canonical or not), so "<key>.key" and "<key>" are the same zone while
// "example.key" stays an ICANN name. Then the last label, lowercased, decides:
//   canonical z-base-32 key -> PKARR; 52 z32 chars with non-zero padding bits -> NXDOMAIN;
//   anything else (including 32 bytes that are not a curve point) -> ICANN.

#include <optional>
#include <string_view>

#include "common/dns/name.hpp"
#include "pkarr/keys.hpp"

namespace pkdns::pipeline {

enum class RouteKind { icann, pkarr, nxdomain };

struct Route {
    RouteKind kind = RouteKind::icann;
    std::optional<pkarr::PublicKey> key;  // set for pkarr
    // pkarr: the name without the TLD, ending in the key label (lowercased); otherwise the qname.
    dns::Name name;
    bool had_tld = false;  // the TLD was stripped (answers get it back)
};

Route route_name(const dns::Name& qname, std::string_view top_level_domain);

// The key label of a z32 candidate as the router sees it (lowercased); error codes from
// pkarr::KeyError.
Result<pkarr::PublicKey> key_from_label(std::string_view label);

}  // namespace pkdns::pipeline
