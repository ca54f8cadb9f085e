#pragma once
// Persistent cache of verified signed packets, one row per public key (table `packets`,
// storage/schema.cpp). The recency rule lives in the SQL upsert, so several connections
// (one per loop or process) can never downgrade a key: store if absent, or more recent
// (timestamp, then larger DNS bytes: pkarr's more_recent_than), or the same bytes (refresh
// last_seen). LRU by `last_access`, at most `max_packets` rows.
//
// Not for the cache-hit path: the resolver keeps an in-memory front and calls touch() on hits.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/result.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "storage/database.hpp"

namespace pkdns::storage {

enum class PutOutcome {
    stored,         // the key was absent, or the packet is more recent than the cached one
    refreshed,      // identical bytes already cached: last_seen raised to the newer one
    ignored_older,  // the cached packet is more recent: nothing changed
};
const char* to_string(PutOutcome outcome);

struct PacketCacheOptions {
    std::size_t max_packets = 1'000'000;  // >= 1
    std::size_t touch_batch = 256;        // pending touches written in one transaction
    // Time for last_access (µs); a manual clock in tests.
    std::function<pkarr::Micros()> clock = pkarr::now_micros;
};

class PacketCache {
public:
    // `db` must have the pkdns schema (Database::open applies it by default). Keeps a handle on
    // the connection; do not call from inside a transaction of your own.
    static Result<PacketCache> open(Database db, PacketCacheOptions options = {});

    PacketCache(PacketCache&&) noexcept;
    PacketCache& operator=(PacketCache&&) noexcept;
    ~PacketCache();  // writes pending touches (best effort)

    // The cached packet, with its stored last_seen. A row that does not load (corrupt or hostile
    // file) is deleted and reported as a miss with a warning. A hit counts as an access.
    Result<std::optional<pkarr::SignedPacket>> get(const pkarr::PublicKey& key);
    // Stores under the recency rule; may evict least recently accessed rows afterwards.
    Result<PutOutcome> put(const pkarr::SignedPacket& packet);
    // Records an access (e.g. an in-memory hit) in memory; written in batches.
    void touch(const pkarr::PublicKey& key);
    Result<void> flush_touches();
    // true when a row was deleted.
    Result<bool> remove(const pkarr::PublicKey& key);
    Result<std::size_t> size();

    // Up to `limit` packets with keys (raw bytes) greater than `after`, in key order: pages for
    // the republisher. Corrupt rows are deleted and skipped.
    Result<std::vector<pkarr::SignedPacket>> list(const std::optional<pkarr::PublicKey>& after,
                                                  std::size_t limit);
    // Every packet, page by page (the callback may call back into this cache). Stops early
    // when `fn` returns false.
    Result<void> for_each(const std::function<bool(const pkarr::SignedPacket&)>& fn,
                          std::size_t page_size = 256);

    std::size_t max_packets() const;

    struct Impl;

private:
    explicit PacketCache(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pkdns::storage
