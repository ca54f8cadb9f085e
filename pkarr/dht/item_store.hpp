#pragma once
// BEP44 items and the server-side store (mainline-dht.md A.4, A.11).
//
// put() checks, in mainline's order (server.rs): v size (205) -> salt size (207) -> target
// matches sha1(k ‖ salt) (203, an addition: mainline does not check) -> if an item is stored: cas
// given and != stored seq (301), seq < stored seq (302) -> signature (206) -> store.
// Equal seq: OVERWRITES, as mainline does (bittorrent-dht answers 302). So republishing the
// identical item succeeds and refreshes it. The token (203) is checked by the server, not here.
// Bounded: at most max_items mutable + max_items immutable items; when full the least recently
// stored/refreshed item is evicted. Items expire `ttl` after their last put.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.hpp"
#include "common/lru.hpp"
#include "common/result.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/node_id.hpp"

namespace pkdns::dht {

struct MutableItem {
    krpc::PublicKeyBytes key{};
    Bytes salt;  // empty = no salt (PKARR)
    std::int64_t seq = 0;
    Bytes value;  // raw bytes of v
    krpc::SignatureBytes signature{};

    NodeId target() const;
    friend bool operator==(const MutableItem&, const MutableItem&) = default;
};

// "[4:salt<n>:<salt>]3:seqi<seq>e1:v<n>:<v>" (salt part only when non-empty).
Bytes mutable_signable(ByteView salt, std::int64_t seq, ByteView value);
// sha1(k ‖ salt).
NodeId mutable_target(ByteView key, ByteView salt);
// sha1("<len>:" ‖ v), the immutable target of a byte-string value.
NodeId immutable_target(ByteView value);
// Ed25519 over mutable_signable with `key`; false also for a key that is not a curve point.
bool verify_mutable_item(const MutableItem& item);
// Full client-side validation of a received item: size limits, target == sha1(k ‖ salt),
// signature. Error message says which check failed (code = the BEP44 error code).
Result<void> validate_mutable_item(const MutableItem& item, const NodeId& expected_target);
// pkarr-spec §2.4 / mainline most_recent_mutable_item: higher seq, then larger value bytes.
bool more_recent(const MutableItem& a, const MutableItem& b);

struct ItemStoreConfig {
    std::size_t max_items = 1000;  // per kind (mutable, immutable)
    Duration ttl = std::chrono::hours(2);
    std::size_t max_value = krpc::max_value_size;  // 205 above this
    std::size_t max_salt = krpc::max_salt_size;    // 207 above this
};

class ItemStore {
public:
    explicit ItemStore(ItemStoreConfig config = {})
        : config_(config),
          mutable_({.max_entries = config.max_items}),
          immutable_({.max_entries = config.max_items}) {}

    // Error code = 203 / 205 / 206 / 207 / 301 / 302 (see above); message for the KRPC error.
    Result<void> put_mutable(const MutableItem& item, const NodeId& target, std::optional<std::int64_t> cas,
                             TimePoint now);
    // 205 for size, 203 when target != immutable_target(value).
    Result<void> put_immutable(ByteView value, const NodeId& target, TimePoint now);

    // nullptr when absent or expired. Pointers are valid until the next non-const call.
    const MutableItem* get_mutable(const NodeId& target, TimePoint now) const;
    const Bytes* get_immutable(const NodeId& target, TimePoint now) const;

    // Drops expired items; returns how many.
    std::size_t expire(TimePoint now);
    std::size_t size() const { return mutable_.size() + immutable_.size(); }
    const ItemStoreConfig& config() const { return config_; }

private:
    template <class T>
    struct Entry {
        T item;
        TimePoint stored{};
    };
    // Gets do not touch, so the least recently used entry is also the least recently stored.
    template <class T>
    using Table = Lru<NodeId, Entry<T>, NodeIdHash>;
    template <class T>
    const T* lookup(const Table<T>& table, const NodeId& target, TimePoint now) const;

    ItemStoreConfig config_;
    Table<MutableItem> mutable_;
    Table<Bytes> immutable_;
};

}  // namespace pkdns::dht
