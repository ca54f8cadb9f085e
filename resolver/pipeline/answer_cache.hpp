#pragma once
// In-memory cache of upstream (ICANN) replies, keyed by (lowercased qname, qtype, qclass, DO).
// Pure: no clocks (every call takes `now_ms`, a monotonic millisecond count), no I/O.
//
// What is cached (RFC 2308 for negatives):
// - NOERROR with answers: lifetime = lowest answer TTL (and the negative TTL below when an SOA
//   is in the authority section, e.g. a CNAME chain that ends in NODATA);
// - NXDOMAIN and NODATA (NOERROR, no answers): lifetime = min(SOA TTL, SOA MINIMUM) of the SOA
//   in the authority section. Without an SOA the reply is cached for
//   `negative_ttl_without_soa` seconds, which defaults to 0 = not cached;
// - never: other rcodes (SERVFAIL, REFUSED, ...), truncated (TC) replies, non-QUERY opcodes.
// Lifetimes are capped at max_ttl and each stored record TTL is capped the same way (the SOA
// of a negative reply carries the negative TTL). TTLs are never raised: a low upstream TTL is
// cached for exactly that long, so a cached answer never shows a TTL higher than upstream gave
// (counted down) and agrees with the first, uncached answer. A lifetime of 0 is not cached.
// So [dns] min_ttl does not apply here, only to PKARR. The OPT record is not stored: the
// resolver adds its own. A hit returns the reply with every TTL lowered by the whole seconds
// elapsed since it was stored (never below 0). Memory is bounded by an estimate of the bytes
// held (`max_bytes`), least recently used entries go first. The reply keeps the upstream's ID
// and flags: the resolver's finalize step sets the client's ID, RD/RA and its own OPT.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/dns/record.hpp"
#include "common/lru.hpp"

namespace pkdns::pipeline {

struct AnswerCacheConfig {
    std::uint32_t max_ttl = 86400;
    std::uint32_t negative_ttl_without_soa = 0;  // 0: negative replies without SOA are not cached
    std::size_t max_bytes = 100u * 1024 * 1024;  // [cache] icann_mb
};

class AnswerCache {
public:
    explicit AnswerCache(AnswerCacheConfig config);

    // Stores `reply` as the answer to `question` when it is cacheable (see above). Returns the
    // lifetime in seconds it was stored for, or nullopt when it was not stored.
    std::optional<std::uint32_t> insert(const dns::Question& question, bool dnssec_ok,
                                        const dns::Packet& reply, std::uint64_t now_ms);
    // When a hit's TTLs were exact and when it expires (for the wire cache in front).
    struct Timing {
        std::uint64_t base_ms = 0, expires_ms = 0;
    };
    // The stored reply with TTLs counted down, or nullopt (expired entries are dropped).
    std::optional<dns::Packet> lookup(const dns::Question& question, bool dnssec_ok, std::uint64_t now_ms,
                                      Timing* timing = nullptr);
    // Drops every expired entry (for a sweep timer); returns how many.
    std::size_t purge_expired(std::uint64_t now_ms);
    void clear();

    std::size_t size() const { return entries_.size(); }
    std::size_t bytes() const { return entries_.bytes(); }

    // The lifetime a reply would get, or nullopt when it is not cacheable. Exposed for tests
    // and for the resolver's DoH Cache-Control.
    std::optional<std::uint32_t> lifetime(const dns::Packet& reply) const;

private:
    struct Entry {
        dns::Packet reply;
        std::uint64_t stored_ms = 0;
        std::uint64_t expires_ms = 0;
    };

    static std::string make_key(const dns::Question& question, bool dnssec_ok);
    std::uint32_t clamp(std::uint32_t ttl) const;

    AnswerCacheConfig config_;
    Lru<std::string, Entry> entries_;  // charged with an estimate of the bytes held
};

}  // namespace pkdns::pipeline
