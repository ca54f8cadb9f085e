#pragma once
// The PKARR leg of the pipeline (design.md §3 step 4): which signed packet answers for a key.
//
//   in-memory front (bounded LRU by key: verified packets and "not found" marks; a hit touches
//   neither SQLite nor signatures) -> SQLite PacketCache -> one coalesced lookup per key through
//   a PacketSource (the DHT in production, a fake in tests), however many queries wait on it.
//
// Policy:
// - a fresh packet (not expired per pkarr's TTL rule, SignedPacket::is_expired with the
//   configured min/max TTL) is served from the front;
// - an expired packet is served at once (stale-while-revalidate) and one background refresh
//   asks the source for something newer than it; "nothing newer" marks it as seen now, a failed
//   refresh keeps serving it and is retried after min_ttl;
// - a lookup that fails with nothing cached fails (SERVFAIL upstream of us); "not found" is
//   remembered for min_ttl (negative cache);
// - results are stored only when more recent than what is cached (never downgraded), in the
//   front and in SQLite (whose upsert applies the same rule).
//
// Completions run exactly once: synchronously for cache hits, from the source's callback
// otherwise, or from close(). Time comes from the injected clock (µs since the epoch).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/lru.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::storage {
class PacketCache;
}

namespace pkdns::pipeline {

// Where packets come from on a cache miss. `done` runs exactly once:
//   (packet, "")       the most recent valid packet found (newer than `newer_than` when given);
//   (nullopt, "")      the lookup reached the network and found nothing (newer);
//   (nullopt, reason)  the lookup failed (no node answered, shutting down, ...).
struct PacketSource {
    using Done = std::function<void(std::optional<pkarr::SignedPacket>, std::string error)>;
    virtual ~PacketSource() = default;
    virtual void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) = 0;
};

struct PacketStoreConfig {
    std::size_t front_capacity = 10000;  // keys kept in memory (packets and not-found marks)
    std::uint32_t min_ttl = 60;
    std::uint32_t max_ttl = 86400;
};

struct PacketLookup {
    enum class Status { found, not_found, failed, rate_limited };
    Status status = Status::failed;
    std::shared_ptr<const pkarr::SignedPacket> packet;  // set when found
    bool stale = false;                                 // found, but expired or the refresh failed
    std::string error;                                  // failed: why
};

struct PacketStoreStats {
    std::size_t front_hits = 0, sqlite_hits = 0, negative_hits = 0;
    std::size_t lookups = 0, coalesced = 0, refreshes = 0;
    std::size_t stored = 0, ignored_older = 0, failures = 0, stale_served = 0;
};

class PacketStore {
public:
    using Clock = std::function<pkarr::Micros()>;
    using Done = std::function<void(PacketLookup)>;
    // Asked once per lookup that would go to the network (a miss that no running lookup
    // covers); false -> the query completes with rate_limited.
    using Admit = std::function<bool()>;

    // `cache` may be null (no persistence); it must outlive this object.
    PacketStore(PacketSource& source, storage::PacketCache* cache, PacketStoreConfig config,
                Clock clock = pkarr::now_micros);
    ~PacketStore();  // = close()
    PacketStore(const PacketStore&) = delete;
    PacketStore& operator=(const PacketStore&) = delete;

    void lookup(const pkarr::PublicKey& key, const Admit& admit, Done done);

    // A verified packet that arrived outside a lookup (a PUT to our relay API, a relay answer
    // after the query was served). Stored (front and SQLite) only when more recent than what
    // is cached: `older` is the relay API's 409.
    enum class Offer { stored, same, older };
    Offer offer(pkarr::SignedPacket packet);
    // The cached packet for `key` (front, then SQLite), fresh or not; no network.
    std::shared_ptr<const pkarr::SignedPacket> cached(const pkarr::PublicKey& key);
    // Fails every waiting query; later lookups fail at once.
    void close();

    std::size_t front_size() const { return front_.size(); }
    std::size_t in_flight() const { return inflight_.size(); }
    const PacketStoreStats& stats() const { return stats_; }

private:
    struct KeyHash {
        std::size_t operator()(const pkarr::PublicKey& k) const noexcept;
    };
    struct Entry {
        std::shared_ptr<const pkarr::SignedPacket> packet;  // null: a not-found mark
        pkarr::Micros marked_at = 0;                        // not-found: when
        pkarr::Micros retry_after = 0;                      // no refresh before this
    };
    struct Inflight {
        std::uint64_t id = 0;
        std::vector<Done> waiters;  // empty for a background refresh nobody waits on
    };

    Entry* front_put(const pkarr::PublicKey& key, std::shared_ptr<const pkarr::SignedPacket> packet,
                     pkarr::Micros marked_at);
    void serve_packet(const pkarr::PublicKey& key, Entry& entry, pkarr::Micros now, Done& done);
    void start_lookup(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done);
    void on_result(const pkarr::PublicKey& key, std::uint64_t id, std::optional<pkarr::SignedPacket> packet,
                   std::string error);
    void store(const pkarr::SignedPacket& packet);

    PacketSource& source_;
    storage::PacketCache* cache_;
    PacketStoreConfig config_;
    Clock clock_;
    Lru<pkarr::PublicKey, Entry, KeyHash> front_;
    std::unordered_map<pkarr::PublicKey, Inflight, KeyHash> inflight_;
    std::uint64_t next_id_ = 1;
    bool closed_ = false;
    PacketStoreStats stats_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // source callbacks check it
};

}  // namespace pkdns::pipeline
