#pragma once
// A hash map that keeps its entries in least-recently-used order and evicts from the old end to
// stay within its budget: at most `max_entries` entries and at most `max_bytes` of charge, where
// each entry's charge is what its owner says it costs (an estimate of the bytes it holds; leave
// it 0 when only the count matters). find() and insert_or_assign() make an entry the most recent;
// peek() and iteration do not. Entries never move, so a pointer to a value stays valid until its
// entry is erased or evicted. The key is held once, in the list node; the index refers to it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <unordered_map>
#include <utility>

namespace pkdns {

template <class Key, class Value, class Hash = std::hash<Key>>
class Lru {
public:
    struct Limits {
        std::size_t max_entries = SIZE_MAX;
        std::size_t max_bytes = SIZE_MAX;
    };
    struct Entry {
        Entry(Key k, Value v, std::size_t c) : key(std::move(k)), value(std::move(v)), charge(c) {}
        const Key key;
        Value value;
        std::size_t charge;
    };
    using const_iterator = typename std::list<Entry>::const_iterator;

    explicit Lru(Limits limits = {}) : limits_(limits) {}
    Lru(const Lru&) = delete;  // the index refers into the list
    Lru& operator=(const Lru&) = delete;
    Lru(Lru&&) = default;  // list nodes and index nodes move as they are
    Lru& operator=(Lru&&) = default;

    // The value under `key`, now the most recently used; nullptr when absent.
    Value* find(const Key& key) {
        auto it = index_.find(std::cref(key));
        if (it == index_.end()) return nullptr;
        list_.splice(list_.begin(), list_, it->second);
        return &it->second->value;
    }
    // The value under `key` without touching it; nullptr when absent.
    Value* peek(const Key& key) {
        auto it = index_.find(std::cref(key));
        return it == index_.end() ? nullptr : &it->second->value;
    }
    const Value* peek(const Key& key) const {
        auto it = index_.find(std::cref(key));
        return it == index_.end() ? nullptr : &it->second->value;
    }

    // Stores `value` under `key` (replacing what was there) as the most recently used entry,
    // then evicts least recently used entries until the budget holds. An entry that cannot fit
    // even alone (charge > max_bytes, or max_entries 0) is refused: nullptr, nothing changed.
    Value* insert_or_assign(Key key, Value value, std::size_t charge = 0) {
        if (limits_.max_entries == 0 || charge > limits_.max_bytes) return nullptr;
        if (auto it = index_.find(std::cref(key)); it != index_.end()) {
            auto node = it->second;
            node->value = std::move(value);
            bytes_ = bytes_ - node->charge + charge;
            node->charge = charge;
            list_.splice(list_.begin(), list_, node);
        } else {
            list_.emplace_front(std::move(key), std::move(value), charge);
            try {
                index_.emplace(std::cref(list_.front().key), list_.begin());
            } catch (...) {
                list_.pop_front();
                throw;
            }
            bytes_ += charge;
        }
        // The new entry fits alone, so this stops before reaching it.
        while (list_.size() > limits_.max_entries || bytes_ > limits_.max_bytes) pop_oldest();
        return &list_.front().value;
    }

    bool erase(const Key& key) {
        auto it = index_.find(std::cref(key));
        if (it == index_.end()) return false;
        erase_node(it->second);
        return true;
    }
    // Erases every entry for which pred(key, value) is true (pred may also modify the value);
    // returns how many. The order of the others is kept.
    template <class Pred>
    std::size_t erase_if(Pred pred) {
        std::size_t n = 0;
        for (auto it = list_.begin(); it != list_.end();) {
            auto next = std::next(it);
            if (pred(std::as_const(it->key), it->value)) {
                erase_node(it);
                ++n;
            }
            it = next;
        }
        return n;
    }
    // The least recently used entry (the next to be evicted); nullptr when empty.
    const Entry* oldest() const { return list_.empty() ? nullptr : &list_.back(); }
    void pop_oldest() { erase_node(std::prev(list_.end())); }
    void clear() {
        index_.clear();
        list_.clear();
        bytes_ = 0;
    }

    std::size_t size() const { return list_.size(); }
    bool empty() const { return list_.empty(); }
    std::size_t bytes() const { return bytes_; }  // sum of the charges
    const Limits& limits() const { return limits_; }
    // Most recently used first.
    const_iterator begin() const { return list_.begin(); }
    const_iterator end() const { return list_.end(); }

private:
    using List = std::list<Entry>;
    using KeyRef = std::reference_wrapper<const Key>;
    struct RefHash {
        [[no_unique_address]] Hash hash;
        std::size_t operator()(KeyRef k) const { return hash(k.get()); }
    };
    struct RefEqual {
        bool operator()(KeyRef a, KeyRef b) const { return a.get() == b.get(); }
    };

    void erase_node(typename List::iterator it) {
        bytes_ -= it->charge;
        index_.erase(std::cref(it->key));
        list_.erase(it);
    }

    Limits limits_;
    List list_;  // front = most recently used
    std::unordered_map<KeyRef, typename List::iterator, RefHash, RefEqual> index_;
    std::size_t bytes_ = 0;
};

}  // namespace pkdns
