#include "pkarr/dht/item_store.hpp"

#include <algorithm>
#include <string>

#include "common/sha1.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::dht {

NodeId MutableItem::target() const {
    return mutable_target(key, salt);
}

Bytes mutable_signable(ByteView salt, std::int64_t seq, ByteView value) {
    Bytes out;
    if (!salt.empty()) {
        std::string prefix = "4:salt" + std::to_string(salt.size()) + ":";
        out.insert(out.end(), prefix.begin(), prefix.end());
        out.insert(out.end(), salt.begin(), salt.end());
    }
    Bytes rest = pkarr::bep44_signable(seq, value);
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
}

NodeId mutable_target(ByteView key, ByteView salt) {
    Bytes buf(key.begin(), key.end());
    buf.insert(buf.end(), salt.begin(), salt.end());
    return NodeId(sha1(buf));
}

NodeId immutable_target(ByteView value) {
    std::string prefix = std::to_string(value.size()) + ":";
    Bytes buf(prefix.begin(), prefix.end());
    buf.insert(buf.end(), value.begin(), value.end());
    return NodeId(sha1(buf));
}

bool verify_mutable_item(const MutableItem& item) {
    auto key = pkarr::PublicKey::from_bytes(item.key);
    if (!key) return false;
    return key->verify(mutable_signable(item.salt, item.seq, item.value), item.signature);
}

Result<void> validate_mutable_item(const MutableItem& item, const NodeId& expected_target) {
    if (item.value.size() > krpc::max_value_size)
        return make_error("value is " + std::to_string(item.value.size()) + " bytes (max 1000)",
                          krpc::error_value_too_big);
    if (item.salt.size() > krpc::max_salt_size)
        return make_error("salt is " + std::to_string(item.salt.size()) + " bytes (max 64)",
                          krpc::error_salt_too_big);
    if (item.target() != expected_target)
        return make_error("target is not sha1(k + salt)", krpc::error_protocol);
    if (!verify_mutable_item(item)) return make_error("invalid signature", krpc::error_bad_signature);
    return {};
}

bool more_recent(const MutableItem& a, const MutableItem& b) {
    if (a.seq != b.seq) return a.seq > b.seq;
    return std::lexicographical_compare(b.value.begin(), b.value.end(), a.value.begin(), a.value.end());
}

template <class T>
const T* ItemStore::lookup(const Table<T>& table, const NodeId& target, TimePoint now) const {
    const Entry<T>* entry = table.peek(target);
    if (!entry || now - entry->stored >= config_.ttl) return nullptr;
    return &entry->item;
}

Result<void> ItemStore::put_mutable(const MutableItem& item, const NodeId& target,
                                    std::optional<std::int64_t> cas, TimePoint now) {
    if (item.value.size() > config_.max_value)
        return make_error("Message (v field) too big.", krpc::error_value_too_big);
    if (item.salt.size() > config_.max_salt)
        return make_error("salt (salt field) too big.", krpc::error_salt_too_big);
    if (item.target() != target) return make_error("target is not sha1(k + salt)", krpc::error_protocol);
    if (const MutableItem* stored = lookup(mutable_, target, now)) {
        if (cas && *cas != stored->seq)
            return make_error("CAS mismatched, re-read value and try again.", krpc::error_cas_mismatch);
        if (item.seq < stored->seq)
            return make_error("Sequence number less than current.", krpc::error_seq_too_low);
    }
    if (!verify_mutable_item(item)) return make_error("Invalid signature", krpc::error_bad_signature);
    mutable_.insert_or_assign(target, {item, now});  // refused only when max_items is 0
    return {};
}

Result<void> ItemStore::put_immutable(ByteView value, const NodeId& target, TimePoint now) {
    if (value.size() > config_.max_value)
        return make_error("Message (v field) too big.", krpc::error_value_too_big);
    if (immutable_target(value) != target) return make_error("target is not sha1(v)", krpc::error_protocol);
    immutable_.insert_or_assign(target, {Bytes(value.begin(), value.end()), now});
    return {};
}

const MutableItem* ItemStore::get_mutable(const NodeId& target, TimePoint now) const {
    return lookup(mutable_, target, now);
}

const Bytes* ItemStore::get_immutable(const NodeId& target, TimePoint now) const {
    return lookup(immutable_, target, now);
}

std::size_t ItemStore::expire(TimePoint now) {
    std::size_t removed = 0;
    auto sweep = [&](auto& table) {
        // Gets do not touch, so the expired entries are at the least recently used end.
        for (auto* e = table.oldest(); e && now - e->value.stored >= config_.ttl; e = table.oldest()) {
            table.pop_oldest();
            ++removed;
        }
    };
    sweep(mutable_);
    sweep(immutable_);
    return removed;
}

}  // namespace pkdns::dht
