#pragma once
// Kademlia routing table around our own id, shaped like mainline's (mainline-dht.md A.7): one
// bucket per XOR distance (1..160) holding up to k = 20 nodes, least recently seen first.
//
// Policy:
// - add() is meant for nodes that ANSWERED us (not for queriers). Never adds ourselves, never
//   adds read-only (BEP43 ro=1) nodes.
// - Sybil limit (A.6): a new id at an IP already present is refused if the node already there is
//   not BEP42-secure or has the same first 21 id bits. Loopback/private IPs count as secure, so a
//   127.0.0.1 testnet with many nodes works.
// - Known id: same address -> refreshed (moved to the tail, failures reset); another address ->
//   moved only if the new address is BEP42-secure for the id.
// - Full bucket: the head (least recently seen) is replaced when it is questionable (failed
//   `max_failures` times, or not seen for `stale_after`); otherwise the new node is dropped.
// - Optional: require_bep42 refuses ids that are not valid for their IP (exempt addresses pass).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "pkarr/dht/address.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/node_id.hpp"

namespace pkdns::dht {

using krpc::NodeInfo;

struct RoutingTableConfig {
    std::size_t k = 20;
    Duration stale_after = std::chrono::minutes(15);
    int max_failures = 3;  // a node that failed this often in a row is evictable/purged
    bool require_bep42 = false;
};

struct RoutingNode {
    NodeInfo info;
    TimePoint added{};
    TimePoint last_seen{};  // last answer from it
    int failures = 0;       // consecutive timeouts since last answer
    bool secure = false;    // is_valid_bep42(id, ip) at insertion
};

class RoutingTable {
public:
    enum class AddResult : std::uint8_t {
        added,
        refreshed,
        replaced,  // evicted a questionable node to make room
        bucket_full,
        self,
        read_only,
        sybil,
        insecure,         // require_bep42 and the id is not valid for the IP
        invalid_address,  // port 0 or unspecified IP
    };

    explicit RoutingTable(const NodeId& self, RoutingTableConfig config = {});

    const NodeId& self() const { return self_; }
    // New own id (e.g. BEP42 after learning the public IP): clears the table.
    void reset(const NodeId& self);

    AddResult add(const NodeInfo& node, TimePoint now, bool read_only = false);
    // A request to this node timed out. Returns true if the node was known.
    bool mark_failed(const NodeId& id, TimePoint now);
    bool remove(const NodeId& id);
    // Removes nodes that are questionable (failures >= max_failures or stale). Returns how many.
    std::size_t purge(TimePoint now);

    // Up to n nodes closest to target by XOR distance, closest first; never includes self.
    std::vector<NodeInfo> closest(const NodeId& target, std::size_t n = 20) const;
    // Nodes not heard from for `idle` (candidates for a liveness ping), oldest first.
    std::vector<NodeInfo> idle_nodes(TimePoint now, Duration idle) const;
    std::vector<RoutingNode> all() const;
    const RoutingNode* find(const NodeId& id) const;
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const RoutingTableConfig& config() const { return config_; }

private:
    bool questionable(const RoutingNode& n, TimePoint now) const;
    bool sybil(const NodeInfo& node) const;

    NodeId self_;
    RoutingTableConfig config_;
    // buckets_[d] holds nodes at bucket_distance d (1..160); index 0 unused.
    std::vector<std::vector<RoutingNode>> buckets_;
    std::size_t size_ = 0;
};

}  // namespace pkdns::dht
