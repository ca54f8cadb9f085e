#pragma once
// DhtNode's operations (node_core.hpp), one type per kind, each holding only its own state and
// its own completion. Internal to pkarr/dht.

#include <cstdint>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pkarr/dht/node_core.hpp"

namespace pkdns::dht {

class PingOp final : public Operation {
public:
    PingOp(NodeCore& node, const Address& to, DhtNode::PingCallback cb)
        : Operation(node), to_(to), cb_(std::move(cb)) {}

    bool needs_bootstrap() const override { return false; }
    void begin() override;
    void on_reply(const Transaction& tx, const krpc::Message& msg, const Address& from,
                  TimePoint now) override;
    void on_timeout(const Transaction& tx, TimePoint now) override;
    void cancel() override;

private:
    Address to_;
    DhtNode::PingCallback cb_;
};

// An operation driven by one iterative Lookup at a time (lookup.hpp): sends what the lookup asks
// for within the node's in-flight bound, feeds it answers and timeouts, and calls lookup_done()
// once it converged.
class LookupOp : public Operation {
public:
    void on_reply(const Transaction& tx, const krpc::Message& msg, const Address& from,
                  TimePoint now) override;
    void on_timeout(const Transaction& tx, TimePoint now) override;
    void resume() override { step(); }
    bool stalled() const override { return lookup_ && lookup_->in_flight() == 0; }

protected:
    struct Seeds {
        std::vector<NodeInfo> nodes;
        std::vector<Address> bootstrap;
    };

    LookupOp(NodeCore& node, const NodeId& target) : Operation(node), target_(target) {}
    // The routing table's closest nodes, plus the bootstrap addresses while the table is thin.
    Seeds seeds() const;
    void run_find_node(const Seeds& seeds);
    void run(Lookup lookup);
    void step();
    // Items collected since the last step go to the user (get).
    virtual void deliver_items() {}
    // lookup_ is done: complete, or start the next phase.
    virtual void lookup_done() = 0;

    NodeId target_;
    std::optional<Lookup> lookup_;

private:
    void conclude();
};

// find_node(target): completes with the closest answering nodes.
class FindNodeOp final : public LookupOp {
public:
    FindNodeOp(NodeCore& node, const NodeId& target, DhtNode::FindNodeCallback cb)
        : LookupOp(node, target), cb_(std::move(cb)) {}

    void begin() override { run_find_node(seeds()); }
    void cancel() override;

private:
    void lookup_done() override;
    DhtNode::FindNodeCallback cb_;
};

// find_node(self): the bootstrap (with a ready callback) and the periodic refresh (without).
class RefreshOp final : public LookupOp {
public:
    RefreshOp(NodeCore& node, DhtNode::ReadyCallback ready)
        : LookupOp(node, node.table().self()), ready_(std::move(ready)) {}

    void begin() override { run_find_node(seeds()); }
    void cancel() override;

private:
    void lookup_done() override;
    DhtNode::ReadyCallback ready_;
};

// BEP44 mutable get: streams valid items, completes with the outcome and caches the responders.
class GetOp final : public LookupOp {
public:
    GetOp(NodeCore& node, const krpc::PublicKeyBytes& key, Bytes salt, std::optional<std::int64_t> seq,
          DhtNode::ItemCallback on_item, DhtNode::GetCallback done);

    void begin() override;
    void cancel() override;

private:
    void deliver_items() override;
    void lookup_done() override;

    krpc::PublicKeyBytes key_;
    Bytes salt_;
    std::optional<std::int64_t> seq_;
    SeenItems seen_;
    std::vector<std::pair<MutableItem, NodeInfo>> items_;  // valid items not yet delivered
    DhtNode::ItemCallback item_cb_;
    DhtNode::GetCallback done_;
};

// BEP44 mutable put: token holders from the cache of a recent get, or from a find_node lookup
// followed by a get lookup; then a put to each of them, tallied into one outcome.
class PutOp final : public LookupOp {
public:
    PutOp(NodeCore& node, const MutableItem& item, std::optional<std::int64_t> cas, DhtNode::PutCallback done)
        : LookupOp(node, item.target()), item_(item), cas_(cas), done_(std::move(done)) {}

    void begin() override;
    void on_reply(const Transaction& tx, const krpc::Message& msg, const Address& from,
                  TimePoint now) override;
    void on_timeout(const Transaction& tx, TimePoint now) override;
    void cancel() override;

private:
    // discover: find_node first, because bittorrent-dht nodes that hold a value answer `get`
    // without `nodes`, which would stop a get lookup at the first of them.
    // get: tokens, and which nodes already hold exactly our item.
    enum class Phase : std::uint8_t { discover, get, store };

    void lookup_done() override;
    void start_get_phase();
    bool store_from_cache();
    void note_same_item(const SeenItems& seen);
    void store(const std::vector<Responder>& responders);
    void on_stored(const Transaction& tx, const krpc::Message& msg, const Address& from);
    void store_ended();
    void finish_put();

    MutableItem item_;
    std::optional<std::int64_t> cas_;
    DhtNode::PutCallback done_;
    Phase phase_ = Phase::discover;
    SeenItems seen_;
    std::unordered_set<NodeId, NodeIdHash> same_item_;  // answered get with exactly our item
    PutTally tally_;
    std::size_t outstanding_ = 0;
};

}  // namespace pkdns::dht
