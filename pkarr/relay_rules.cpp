#include "pkarr/relay_rules.hpp"

#include <limits>

#include "pkarr/http_date.hpp"

namespace pkdns::pkarr {

namespace {
constexpr std::uint64_t micros_per_second = 1'000'000;
}

Result<ResolvePolicy> parse_resolve_policy(std::string_view text) {
    if (text == "CacheOnly") return ResolvePolicy::cache_only;
    if (text == "CacheFirst") return ResolvePolicy::cache_first;
    if (text == "NetworkOnly") return ResolvePolicy::network_only;
    return make_error("unknown resolve policy (expected CacheOnly, CacheFirst or NetworkOnly)");
}

std::string_view to_string(ResolvePolicy policy) {
    switch (policy) {
        case ResolvePolicy::cache_only:
            return "CacheOnly";
        case ResolvePolicy::cache_first:
            return "CacheFirst";
        case ResolvePolicy::network_only:
            return "NetworkOnly";
    }
    return "CacheFirst";
}

std::string if_modified_since_for(Micros cached_timestamp) {
    const Micros floor = cached_timestamp > micros_per_second ? cached_timestamp - micros_per_second : 0;
    return format_http_date(floor / micros_per_second);
}

std::int64_t dht_seq_lower_bound(Micros cached_timestamp) {
    const Micros ts = cached_timestamp > max_timestamp ? max_timestamp : cached_timestamp;
    return static_cast<std::int64_t>(ts) - 1;
}

bool not_modified(Micros packet_timestamp, std::uint64_t if_modified_since_seconds) {
    if (if_modified_since_seconds > std::numeric_limits<std::uint64_t>::max() / micros_per_second)
        return true;
    return packet_timestamp <= if_modified_since_seconds * micros_per_second;
}

bool not_modified(Micros packet_timestamp, std::string_view if_modified_since_header) {
    auto seconds = parse_http_date(if_modified_since_header);
    return seconds.ok() && not_modified(packet_timestamp, seconds.value());
}

std::string last_modified_for(Micros packet_timestamp) {
    return format_http_date(packet_timestamp / micros_per_second);
}

bool invalid_seq_covered_by_cache(std::int64_t seq, Micros cached_timestamp) {
    return seq >= 0 && static_cast<std::uint64_t>(seq) <= cached_timestamp;
}

}  // namespace pkdns::pkarr
