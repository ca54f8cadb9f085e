#pragma once
// DhtNode: a Mainline DHT node on libuv (mainline-dht.md A.16). One UDP socket, one transaction
// table swept by one timer, bounded in-flight requests, bootstrap from "host:port" entries (host
// names resolved through the configured upstream DNS server), routing-table maintenance, BEP44
// mutable get/put, and in server mode the answers of the pure dht::Server (client mode answers
// nothing and tags every message ro=1).
//
// Completion callbacks run exactly once: with the result, or with an error when the node is
// closed first. They run from the event loop (never from inside the call that started the
// operation, except when the node is already closed). A callback may call close(), but must not
// destroy the DhtNode object itself; destroy it after the loop returned or from a later callback.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"
#include "pkarr/dht/address.hpp"
#include "pkarr/dht/item_store.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/lookup.hpp"
#include "pkarr/dht/node_id.hpp"
#include "pkarr/dht/rate_limit.hpp"

namespace pkdns::dht {

// mainline's defaults (src/rpc.rs DEFAULT_BOOTSTRAP_NODES).
std::vector<HostPort> default_bootstrap();

struct DhtNodeConfig {
    SocketAddress bind{IpAddress{}, 0};  // 0.0.0.0, ephemeral port
    bool server_mode = false;
    std::vector<HostPort> bootstrap;                            // empty: no bootstrap (e.g. testnet seeding)
    SocketAddress dns_upstream{IpAddress::v4(1, 1, 1, 1), 53};  // only used for host names
    std::chrono::milliseconds dns_timeout{2000};
    std::chrono::milliseconds request_timeout{2000};
    std::size_t max_in_flight = 256;            // whole node
    std::size_t max_operations = 1024;          // concurrent get/put/find_node/ping
    std::size_t put_nodes = 20;                 // store at this many closest token holders
    RateLimitConfig rate;                       // server mode, per source IP
    std::chrono::minutes refresh_interval{15};  // find_node(self)
    std::chrono::minutes ping_interval{5};      // purge + ping idle table entries
    std::optional<NodeId> id;                   // default: random (BEP42 once the public IP is known)
    std::optional<IpAddress> public_ip;         // BEP42 id from the start
};

struct GetOutcome {
    std::optional<MutableItem> best;  // most recent valid item seen
    LookupStats stats;
    std::vector<Responder> responders;  // closest token holders (put candidates)
};

struct PutOutcome {
    std::size_t stored_at = 0;  // nodes that acknowledged (incl. 302 for the same item)
    std::size_t contacted = 0;
};

struct NodeStats {
    std::size_t sent = 0, received = 0, queries_answered = 0, queries_dropped = 0;
    std::size_t timeouts = 0, undecodable = 0, unmatched = 0;
};

class DhtNode {
public:
    using ItemCallback = std::function<void(const MutableItem& item, const NodeInfo& from)>;
    using GetCallback = std::function<void(GetOutcome)>;
    using PutCallback = std::function<void(Result<PutOutcome>)>;
    using PingCallback = std::function<void(Result<NodeInfo>)>;
    using FindNodeCallback = std::function<void(std::vector<NodeInfo>)>;
    using ReadyCallback = std::function<void(Result<std::size_t>)>;  // routing-table size

    // Binds the socket and starts receiving. Error when the address cannot be bound.
    static Result<std::unique_ptr<DhtNode>> create(uv::Loop& loop, DhtNodeConfig config);
    ~DhtNode();
    DhtNode(const DhtNode&) = delete;
    DhtNode& operator=(const DhtNode&) = delete;

    // Starts maintenance and the bootstrap (resolve entries, then find_node(self)). `ready`
    // (optional) fires once that first find_node finished, or with an error when no bootstrap
    // entry could be resolved. Operations started before may already use the bootstrap nodes.
    void start(ReadyCallback ready = nullptr);
    // Completes every pending operation with an error and closes every handle. Idempotent.
    void close();
    bool closed() const;

    const NodeId& id() const;
    SocketAddress local_address() const;
    bool server_mode() const;
    std::size_t routing_table_size() const;
    // Trusted seeding (testnet full mesh): adds the node without asking it.
    void add_node(const NodeInfo& node);
    const NodeStats& stats() const;
    std::size_t items_stored() const;  // server mode
    // Bootstrap entries that could not be resolved, one line each ("host: reason").
    const std::vector<std::string>& bootstrap_errors() const;

    void ping(const SocketAddress& to, PingCallback cb);
    void find_node(const NodeId& target, FindNodeCallback cb);
    // BEP44 mutable get: every valid item goes to on_item as it arrives; done gets the outcome
    // after the full lookup. target = sha1(key ‖ salt).
    void get_mutable(const krpc::PublicKeyBytes& key, Bytes salt,
                     std::optional<std::int64_t> more_recent_than, ItemCallback on_item, GetCallback done);
    // BEP44 mutable put: lookup (or fresh cached responders of an earlier get), then put to the
    // closest token holders. Error when no node stored it (code 301/302 for a CAS/seq majority).
    void put_mutable(const MutableItem& item, std::optional<std::int64_t> cas, PutCallback done);

private:
    struct Impl;
    explicit DhtNode(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pkdns::dht
