#include "pkarr/dht/routing_table.hpp"

#include <algorithm>

namespace pkdns::dht {

RoutingTable::RoutingTable(const NodeId& self, RoutingTableConfig config)
    : self_(self), config_(config), buckets_(NodeId::bits + 1) {}

void RoutingTable::reset(const NodeId& self) {
    self_ = self;
    for (auto& b : buckets_) b.clear();
    size_ = 0;
}

bool RoutingTable::questionable(const RoutingNode& n, TimePoint now) const {
    return n.failures >= config_.max_failures || now - n.last_seen > config_.stale_after;
}

bool RoutingTable::sybil(const NodeInfo& node) const {
    for (const auto& bucket : buckets_)
        for (const RoutingNode& n : bucket)
            if (n.info.address.ip_bytes().size() == node.address.ip_bytes().size() &&
                n.info.address.ip_only() == node.address.ip_only() &&
                (!n.secure || same_bep42_prefix(n.info.id, node.id)))
                return true;
    return false;
}

RoutingTable::AddResult RoutingTable::add(const NodeInfo& node, TimePoint now, bool read_only) {
    if (node.id == self_) return AddResult::self;
    if (read_only) return AddResult::read_only;
    if (node.address.port() == 0 || node.address.is_unspecified()) return AddResult::invalid_address;
    bool secure = is_valid_bep42(node.id, node.address);
    if (config_.require_bep42 && !secure) return AddResult::insecure;

    auto& bucket = buckets_[static_cast<std::size_t>(bucket_distance(self_, node.id))];
    auto existing = std::find_if(bucket.begin(), bucket.end(),
                                 [&](const RoutingNode& n) { return n.info.id == node.id; });
    if (existing != bucket.end()) {
        if (existing->info.address != node.address && !secure) return AddResult::sybil;
        RoutingNode updated = *existing;
        updated.info.address = node.address;
        updated.last_seen = now;
        updated.failures = 0;
        updated.secure = secure;
        bucket.erase(existing);
        bucket.push_back(updated);
        return AddResult::refreshed;
    }
    if (sybil(node)) return AddResult::sybil;

    RoutingNode fresh{node, now, now, 0, secure};
    if (bucket.size() < config_.k) {
        bucket.push_back(fresh);
        ++size_;
        return AddResult::added;
    }
    // Full: replace the first questionable node, least recently seen first.
    for (auto it = bucket.begin(); it != bucket.end(); ++it) {
        if (questionable(*it, now)) {
            bucket.erase(it);
            bucket.push_back(fresh);
            return AddResult::replaced;
        }
    }
    return AddResult::bucket_full;
}

bool RoutingTable::mark_failed(const NodeId& id, TimePoint /*now*/) {
    if (id == self_) return false;
    auto& bucket = buckets_[static_cast<std::size_t>(bucket_distance(self_, id))];
    for (RoutingNode& n : bucket) {
        if (n.info.id == id) {
            ++n.failures;
            return true;
        }
    }
    return false;
}

bool RoutingTable::remove(const NodeId& id) {
    if (id == self_) return false;
    auto& bucket = buckets_[static_cast<std::size_t>(bucket_distance(self_, id))];
    auto it =
        std::find_if(bucket.begin(), bucket.end(), [&](const RoutingNode& n) { return n.info.id == id; });
    if (it == bucket.end()) return false;
    bucket.erase(it);
    --size_;
    return true;
}

std::size_t RoutingTable::purge(TimePoint now) {
    std::size_t removed = 0;
    for (auto& bucket : buckets_) {
        auto end = std::remove_if(bucket.begin(), bucket.end(),
                                  [&](const RoutingNode& n) { return questionable(n, now); });
        removed += static_cast<std::size_t>(bucket.end() - end);
        bucket.erase(end, bucket.end());
    }
    size_ -= removed;
    return removed;
}

std::vector<NodeInfo> RoutingTable::closest(const NodeId& target, std::size_t n) const {
    std::vector<NodeInfo> all_nodes;
    all_nodes.reserve(size_);
    for (const auto& bucket : buckets_)
        for (const RoutingNode& node : bucket) all_nodes.push_back(node.info);
    std::size_t take = std::min(n, all_nodes.size());
    std::partial_sort(all_nodes.begin(), all_nodes.begin() + static_cast<std::ptrdiff_t>(take),
                      all_nodes.end(),
                      [&](const NodeInfo& a, const NodeInfo& b) { return closer_to(target, a.id, b.id); });
    all_nodes.resize(take);
    return all_nodes;
}

std::vector<NodeInfo> RoutingTable::idle_nodes(TimePoint now, Duration idle) const {
    std::vector<const RoutingNode*> found;
    for (const auto& bucket : buckets_)
        for (const RoutingNode& node : bucket)
            if (now - node.last_seen >= idle) found.push_back(&node);
    std::sort(found.begin(), found.end(),
              [](const RoutingNode* a, const RoutingNode* b) { return a->last_seen < b->last_seen; });
    std::vector<NodeInfo> out;
    out.reserve(found.size());
    for (const RoutingNode* n : found) out.push_back(n->info);
    return out;
}

std::vector<RoutingNode> RoutingTable::all() const {
    std::vector<RoutingNode> out;
    out.reserve(size_);
    for (const auto& bucket : buckets_) out.insert(out.end(), bucket.begin(), bucket.end());
    return out;
}

const RoutingNode* RoutingTable::find(const NodeId& id) const {
    if (id == self_) return nullptr;
    for (const RoutingNode& n : buckets_[static_cast<std::size_t>(bucket_distance(self_, id))])
        if (n.info.id == id) return &n;
    return nullptr;
}

}  // namespace pkdns::dht
