#pragma once
// Server-mode request handling as a pure class: a decoded query in, the reply message out.
//
// In CLIENT mode a node answers nothing at all, not even ping (BEP43; mainline-dht.md A.11): the
// I/O layer simply does not call handle() then. In server mode every reply carries our id, echoes
// `t`, sets `ip` to the requester's address (BEP42) and ro=0; the caller adds `v` (version).
//
// Answers:
// - ping -> {id}
// - find_node -> {id, nodes: the k closest from the routing table}
// - get_peers -> {id, token, nodes, values? (from a small bounded peer store)}
// - announce_peer -> token check (203) -> store peer -> {id}
// - get -> {id, token, nodes} plus the mutable item (k, seq, sig, v) or immutable v; when the query
//   had `seq` and ours is not newer: seq only (A.2)
// - put -> token check (203), then ItemStore rules (205/207/203/301/302/206) -> {id}
// Rate-limited sources get no reply (nullopt). A message that is not a query also gives nullopt.

#include <cstddef>
#include <optional>
#include <vector>

#include "common/lru.hpp"
#include "pkarr/dht/address.hpp"
#include "pkarr/dht/item_store.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/node_id.hpp"
#include "pkarr/dht/rate_limit.hpp"
#include "pkarr/dht/routing_table.hpp"
#include "pkarr/dht/token.hpp"

namespace pkdns::dht {

struct ServerConfig {
    ItemStoreConfig items;
    RateLimitConfig rate;
    std::size_t nodes_per_reply = 20;      // mainline returns its 20 closest
    std::size_t max_info_hashes = 2000;    // peer store bounds (least recently announced evicted)
    std::size_t max_peers_per_hash = 100;  // oldest peer evicted
    std::size_t peers_per_reply = 20;
    Duration peer_ttl = std::chrono::minutes(30);
    Duration token_rotation = std::chrono::minutes(5);
};

struct ServerStats {
    std::size_t handled = 0;
    std::size_t rate_limited = 0;
    std::size_t errors_sent = 0;
    std::size_t items_stored = 0;
};

class Server {
public:
    // `table` supplies our id and the closest nodes; it must outlive the server.
    Server(const RoutingTable& table, TimePoint now, ServerConfig config = {}, RandomFn rng = system_random);

    // `from` is the UDP source address of the query.
    std::optional<krpc::Message> handle(const krpc::Message& query, const Address& from, TimePoint now);

    ItemStore& items() { return items_; }
    const ItemStore& items() const { return items_; }
    TokenManager& tokens() { return tokens_; }
    const ServerStats& stats() const { return stats_; }
    // Periodic housekeeping: expire items and peers.
    void expire(TimePoint now);

private:
    krpc::Response base_response() const;
    krpc::Message error(const krpc::Message& q, int code, std::string message, const Address& from);
    std::vector<NodeInfo> closest(const NodeId& target) const;
    void store_peer(const NodeId& info_hash, const Address& peer, TimePoint now);
    std::vector<Address> peers(const NodeId& info_hash, TimePoint now) const;

    struct PeerEntry {
        Address address;
        TimePoint seen{};
    };
    using PeerSet = std::vector<PeerEntry>;  // oldest first

    const RoutingTable& table_;
    ServerConfig config_;
    ItemStore items_;
    TokenManager tokens_;
    RateLimiter limiter_;
    Lru<NodeId, PeerSet, NodeIdHash> peers_;  // by info-hash
    ServerStats stats_;
};

}  // namespace pkdns::dht
