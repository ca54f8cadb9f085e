#pragma once
// Small pure rules of the relay HTTP contract and the resolve policies (pkarr-spec §3.8, §6),
// shared by the relay client and the relay server. No I/O, no clock.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::pkarr {

enum class ResolvePolicy { cache_only, cache_first, network_only };

// The relay's default when `?policy=` is absent.
inline constexpr ResolvePolicy default_relay_policy = ResolvePolicy::cache_first;

// Exact, case-sensitive: "CacheOnly", "CacheFirst", "NetworkOnly"; anything else is an error
// (the relay answers 400).
Result<ResolvePolicy> parse_resolve_policy(std::string_view text);
std::string_view to_string(ResolvePolicy policy);

// Client side, with a cached packet as the floor: If-Modified-Since = http-date(ts - 1 s)
// (HTTP dates have whole seconds, so equal-second packets still come back), saturating at 0.
std::string if_modified_since_for(Micros cached_timestamp);
// DHT `seq` lower bound for a get: ts - 1, so an equal-seq item still comes back for the
// tie-break. -1 when the cached timestamp is 0 (anything qualifies).
std::int64_t dht_seq_lower_bound(Micros cached_timestamp);

// Relay side: 304 iff packet timestamp (µs) <= IMS seconds * 10^6.
bool not_modified(Micros packet_timestamp, std::uint64_t if_modified_since_seconds);
// Header form: an If-Modified-Since that does not parse is ignored (-> false, serve 200).
bool not_modified(Micros packet_timestamp, std::string_view if_modified_since_header);

// Last-Modified of a packet: its timestamp floored to the second.
std::string last_modified_for(Micros packet_timestamp);

// An invalid newer DHT item (Pkarr-Invalid-Signed-Packet-Seq) is ignored when the cached packet
// already covers it: 0 <= seq <= cached timestamp.
bool invalid_seq_covered_by_cache(std::int64_t seq, Micros cached_timestamp);

}  // namespace pkdns::pkarr
