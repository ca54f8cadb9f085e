#include "resolver/pipeline/router.hpp"

#include <string>

namespace pkdns::pipeline {

namespace {

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool looks_like_key(std::string_view label) {
    auto key = key_from_label(label);
    return key.ok() || key.error().code == static_cast<int>(pkarr::KeyError::not_canonical);
}

}  // namespace

Result<pkarr::PublicKey> key_from_label(std::string_view label) {
    // Cheap pre-check: every key label has exactly 52 characters.
    if (label.size() != 52) return make_error("not a key", static_cast<int>(pkarr::KeyError::not_a_key));
    return pkarr::PublicKey::from_z32(ascii_lower(label));
}

Route route_name(const dns::Name& qname, std::string_view top_level_domain) {
    Route route;
    route.name = qname;
    const std::size_t count = qname.label_count();
    if (count == 0) return route;

    dns::Name name = qname;
    if (!top_level_domain.empty() && count >= 2 &&
        dns::label_equal_ci(qname.last_label(), top_level_domain) && looks_like_key(qname.label(count - 2))) {
        name = qname.first_labels(count - 1);
        route.had_tld = true;
    }

    auto key = key_from_label(name.last_label());
    if (key) {
        auto n = name.first_labels(name.label_count() - 1).append_label(ascii_lower(name.last_label()));
        if (!n) return route;
        route.kind = RouteKind::pkarr;
        route.key = *key;
        route.name = std::move(*n);
        return route;
    }
    if (key.error().code == static_cast<int>(pkarr::KeyError::not_canonical)) {
        route.kind = RouteKind::nxdomain;
        return route;
    }
    route.had_tld = false;  // an ICANN name keeps its TLD
    return route;
}

}  // namespace pkdns::pipeline
