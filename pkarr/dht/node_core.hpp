#pragma once
// The shared machinery of DhtNode (node.hpp), internal to pkarr/dht: the socket, the transaction
// table (4-byte ids, expired by one sweep timer), the in-flight bound, user callbacks deferred to
// the end of each event, bootstrap addresses, the responder cache of recent get lookups, and
// maintenance. Each in-flight request belongs to an Operation (node_ops.hpp) that holds its own
// state and completion; the core feeds it the answers and timeouts of its transactions.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/uv.hpp"
#include "pkarr/dht/bootstrap_resolver.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/lookup.hpp"
#include "pkarr/dht/node.hpp"
#include "pkarr/dht/routing_table.hpp"
#include "pkarr/dht/server.hpp"

namespace pkdns::dht {

using OpId = std::uint64_t;  // 0: no operation

// What a transaction was sent for. verify and maintenance pings belong to no operation.
enum class Purpose : std::uint8_t { lookup, ping, store, verify, maintenance };

struct Transaction {
    Address to;
    TimePoint deadline;
    OpId op = 0;
    Purpose purpose = Purpose::lookup;
    std::optional<NodeId> node;
};

// Per answering node, the (seq, signature) of the item it returned: which nodes already hold an
// item a put is about to store.
using SeenItems = std::unordered_map<NodeId, std::pair<std::int64_t, krpc::SignatureBytes>, NodeIdHash>;

// Token holders of a recent get lookup, reused by a put of the same target.
struct CachedResponders {
    std::vector<Responder> responders;
    SeenItems seen;
    TimePoint at;
};

inline Error node_closed_error() {
    return make_error("DHT node closed before the operation finished");
}

class NodeCore;

// One ping, find_node, bootstrap/refresh, get or put. Owned by the core, which destroys it as soon
// as finished() is true after a call into it.
class Operation {
public:
    explicit Operation(NodeCore& node) : node_(node) {}
    virtual ~Operation() = default;
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

    // False when the operation may start before the bootstrap host names are resolved.
    virtual bool needs_bootstrap() const { return true; }
    virtual void begin() = 0;
    // An answer (response or KRPC error) to one of this operation's transactions.
    virtual void on_reply(const Transaction& tx, const krpc::Message& msg, const Address& from,
                          TimePoint now) = 0;
    // No answer in time; the sweep calls resume() after all of this tick's timeouts.
    virtual void on_timeout(const Transaction& tx, TimePoint now) = 0;
    // More requests may go out now (in-flight capacity freed, timeouts recorded).
    virtual void resume() {}
    // Nothing in flight although not finished (e.g. every send failed): the sweep resumes it.
    virtual bool stalled() const { return false; }
    // The node closed: complete with a cancellation.
    virtual void cancel() = 0;

    OpId id() const { return id_; }
    bool finished() const { return finished_; }

protected:
    // Posts the completion (may be empty) and marks the operation finished.
    void finish(std::function<void()> completion);

    NodeCore& node_;

private:
    friend class NodeCore;
    OpId id_ = 0;
    bool finished_ = false;
};

class NodeCore {
public:
    NodeCore(uv::Loop& loop, DhtNodeConfig config, const NodeId& id);
    ~NodeCore();
    NodeCore(const NodeCore&) = delete;
    NodeCore& operator=(const NodeCore&) = delete;

    // Binds the socket, starts receiving and the sweep timer.
    Result<void> open();
    void start(DhtNode::ReadyCallback ready);
    void close();
    bool closed() const { return closed_; }

    // Takes the operation and begins it now, or once the bootstrap addresses are known.
    OpId add_op(std::unique_ptr<Operation> op);
    bool too_many_ops() const { return ops_.size() >= config_.max_operations; }
    void add_node(const NodeInfo& node) { table_.add(node, Clock::now()); }

    const DhtNodeConfig& config() const { return config_; }
    const RoutingTable& table() const { return table_; }
    const NodeStats& stats() const { return stats_; }
    const SocketAddress& local() const { return local_; }
    std::size_t items_stored() const { return server_ ? server_->items().size() : 0; }
    const std::vector<Address>& bootstrap_addresses() const { return bootstrap_addrs_; }
    const std::vector<std::string>& bootstrap_errors() const { return bootstrap_errors_; }

    // ---- for operations
    bool send_query(krpc::Query query, const Address& to, OpId op, Purpose purpose,
                    std::optional<NodeId> node);
    krpc::Query ping_query() const;
    LookupConfig lookup_config() const;
    // Queues a user callback; it runs at the end of the current event or from the next loop turn.
    void post(std::function<void()> f);
    // True when the in-flight bound is reached; `op` is resumed once transactions complete.
    bool hold_for_capacity(OpId op);
    // The cached token holders for `target`, unless older than the cache lifetime.
    const CachedResponders* cached(const NodeId& target) const;
    void remember(const Lookup& lookup, const SeenItems& seen);

private:
    enum class BootstrapState : std::uint8_t { idle, resolving, resolved };

    template <class F>
    void with_op(OpId id, F&& f);
    void ensure_bootstrap_resolution();
    void on_bootstrap_resolved(BootstrapResolver::Outcome out);
    void refresh(DhtNode::ReadyCallback ready);
    bool send(const krpc::Message& message, const Address& to);
    void flush();
    void pump_waiting();
    void on_datagram(ByteView data, const SocketAddress& from);
    void handle_query(const krpc::Message& msg, const Address& from);
    void handle_reply(const krpc::Message& msg, const Address& from);
    std::optional<Transaction> take_transaction(const krpc::Message& msg, const Address& from);
    bool own_ping_ended(const Transaction& tx);
    void sweep();
    void maintenance();
    void ping_idle_nodes(TimePoint now);
    void update_bep42_id();

    uv::Loop& loop_;
    DhtNodeConfig config_;
    RoutingTable table_;
    std::optional<Server> server_;
    std::unique_ptr<uv::UdpSocket> socket_;
    std::unique_ptr<uv::Timer> sweep_timer_;
    std::unique_ptr<uv::Timer> maintenance_timer_;
    std::unique_ptr<uv::Timer> kick_timer_;
    std::unique_ptr<BootstrapResolver> resolver_;
    SocketAddress local_;
    NodeStats stats_;
    bool closed_ = false;
    bool started_ = false;

    BootstrapState bootstrap_state_ = BootstrapState::idle;
    std::vector<Address> bootstrap_addrs_;
    std::vector<std::string> bootstrap_errors_;
    std::vector<OpId> held_for_bootstrap_;

    std::uint32_t next_tid_ = 0;
    std::unordered_map<std::uint32_t, Transaction> transactions_;
    OpId next_op_ = 1;
    std::map<OpId, std::unique_ptr<Operation>> ops_;
    OpId refresh_op_ = 0;       // the running bootstrap/refresh, if still in ops_
    std::deque<OpId> waiting_;  // lookups held back by the in-flight bound
    std::size_t verify_in_flight_ = 0;
    std::map<NodeId, CachedResponders> cache_;
    std::map<Address, std::size_t> ip_votes_;
    TimePoint last_refresh_{};
    TimePoint last_ping_{};

    std::vector<std::function<void()>> completions_;
    bool flushing_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pkdns::dht
