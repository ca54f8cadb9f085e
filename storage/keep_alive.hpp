#pragma once
// The keys whose packets we keep alive on the DHT after accepting them through our relay API
// (table `keep_alive`, storage/schema.cpp step 2). Only the keys and when they were last
// accepted are stored; the packet itself lives in the packet cache. A key stays listed until
// the republisher drops it: its packet left the cache (evicted) or was last accepted more
// than the keep-alive age ago (resolver/republisher.hpp).

#include <cstddef>
#include <memory>
#include <vector>

#include "common/result.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "storage/database.hpp"

namespace pkdns::storage {

struct KeepAliveEntry {
    pkarr::PublicKey key;
    pkarr::Micros accepted_at = 0;  // µs since the Unix epoch of the last accepted PUT
};

class KeepAliveStore {
public:
    // `db` must have the pkdns schema (Database::open applies it by default).
    static Result<KeepAliveStore> open(Database db);

    KeepAliveStore(KeepAliveStore&&) noexcept;
    KeepAliveStore& operator=(KeepAliveStore&&) noexcept;
    ~KeepAliveStore();

    // Inserts the key, or raises its accepted_at (never lowers it).
    Result<void> add(const pkarr::PublicKey& key, pkarr::Micros accepted_at);
    // true when a row was deleted.
    Result<bool> remove(const pkarr::PublicKey& key);
    // Up to `limit` entries in key order. Rows that do not hold a valid key (a hostile or corrupt
    // file) are deleted and skipped.
    Result<std::vector<KeepAliveEntry>> load(std::size_t limit);
    Result<std::size_t> size();

    struct Impl;

private:
    explicit KeepAliveStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pkdns::storage
