#include "pkarr/dht/node_ops.hpp"

#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

namespace pkdns::dht {

// ---------------------------------------------------------------- ping

void PingOp::begin() {
    if (!node_.send_query(node_.ping_query(), to_, id(), Purpose::ping, std::nullopt))
        finish([cb = std::move(cb_)] { cb(make_error("could not send ping")); });
}

void PingOp::on_reply(const Transaction&, const krpc::Message& msg, const Address& from, TimePoint) {
    Result<NodeInfo> r = make_error("");
    if (msg.is_response())
        r = NodeInfo{msg.response().id, from};
    else
        r = make_error("ping answered with error " + std::to_string(msg.error().code) + ": " +
                       msg.error().message);
    finish([cb = std::move(cb_), r] { cb(r); });
}

void PingOp::on_timeout(const Transaction& tx, TimePoint) {
    finish([cb = std::move(cb_), to = tx.to] {
        cb(make_error("no answer from " + to.to_string() + " (timeout)"));
    });
}

void PingOp::cancel() {
    finish([cb = std::move(cb_)] { cb(node_closed_error()); });
}

// ---------------------------------------------------------------- lookups

void LookupOp::on_reply(const Transaction&, const krpc::Message& msg, const Address& from, TimePoint now) {
    if (!lookup_) return;
    lookup_->on_response(from, msg, now);
    step();
}

void LookupOp::on_timeout(const Transaction& tx, TimePoint now) {
    if (lookup_) lookup_->on_timeout(tx.to, now);
}

LookupOp::Seeds LookupOp::seeds() const {
    Seeds s{node_.table().closest(target_, 20), {}};
    const auto& boot = node_.bootstrap_addresses();
    if (s.nodes.size() < std::max<std::size_t>(boot.size(), 1) || s.nodes.size() < 8) s.bootstrap = boot;
    return s;
}

void LookupOp::run_find_node(const Seeds& seeds) {
    run(Lookup::find_node(node_.table().self(), target_, seeds.nodes, seeds.bootstrap,
                          node_.lookup_config()));
}

void LookupOp::run(Lookup lookup) {
    lookup_.emplace(std::move(lookup));
    step();
}

void LookupOp::step() {
    for (int guard = 0; guard < 1000; ++guard) {
        if (finished() || !lookup_) return;
        deliver_items();
        if (lookup_->done()) return conclude();
        if (node_.hold_for_capacity(id())) return;
        TimePoint now = Clock::now();
        std::vector<Address> failed;
        for (auto& r : lookup_->next_requests(now))
            if (!node_.send_query(std::move(r.query), r.to, id(), Purpose::lookup, r.expected_id))
                failed.push_back(r.to);
        if (failed.empty()) {
            if (lookup_->done()) conclude();
            return;
        }
        for (const auto& a : failed) lookup_->on_timeout(a, now);
    }
}

void LookupOp::conclude() {
    deliver_items();
    lookup_done();
}

void FindNodeOp::lookup_done() {
    finish([cb = std::move(cb_), nodes = lookup_->closest_nodes(20)] { cb(nodes); });
}

void FindNodeOp::cancel() {
    finish([cb = std::move(cb_)] { cb({}); });
}

void RefreshOp::lookup_done() {
    if (!ready_) return finish(nullptr);
    Result<std::size_t> r = node_.table().size();
    if (node_.table().empty()) {
        std::string why = node_.bootstrap_addresses().empty() ? "no bootstrap node could be resolved"
                                                              : "no bootstrap node answered";
        for (const auto& e : node_.bootstrap_errors()) why += "; " + e;
        r = make_error(why);
    }
    finish([cb = std::move(ready_), r] { cb(r); });
}

void RefreshOp::cancel() {
    if (!ready_) return finish(nullptr);
    finish([cb = std::move(ready_)] { cb(node_closed_error()); });
}

// ---------------------------------------------------------------- get

GetOp::GetOp(NodeCore& node, const krpc::PublicKeyBytes& key, Bytes salt, std::optional<std::int64_t> seq,
             DhtNode::ItemCallback on_item, DhtNode::GetCallback done)
    : LookupOp(node, mutable_target(ByteView(key.data(), key.size()), salt)),
      key_(key),
      salt_(std::move(salt)),
      seq_(seq),
      item_cb_(std::move(on_item)),
      done_(std::move(done)) {}

void GetOp::begin() {
    auto s = seeds();
    auto lookup = Lookup::get_mutable(node_.table().self(), key_, salt_, seq_, s.nodes, s.bootstrap,
                                      node_.lookup_config());
    lookup.on_item([this](const MutableItem& item, const NodeInfo& from) {
        seen_[from.id] = {item.seq, item.signature};
        if (item_cb_) items_.emplace_back(item, from);
    });
    run(std::move(lookup));
}

void GetOp::deliver_items() {
    if (items_.empty() || !item_cb_) return;
    for (auto& [item, from] : items_)
        node_.post([cb = item_cb_, item = std::move(item), from] { cb(item, from); });
    items_.clear();
}

void GetOp::lookup_done() {
    node_.remember(*lookup_, seen_);
    GetOutcome out{lookup_->best_item(), lookup_->stats(), lookup_->closest_responders(20)};
    finish([cb = std::move(done_), out = std::move(out)] { cb(out); });
}

void GetOp::cancel() {
    GetOutcome out;
    if (lookup_) {
        out.best = lookup_->best_item();
        out.stats = lookup_->stats();
    }
    finish([cb = std::move(done_), out] { cb(out); });
}

// ---------------------------------------------------------------- put

void PutOp::begin() {
    if (store_from_cache()) return;
    run_find_node(seeds());
}

void PutOp::lookup_done() {
    if (phase_ == Phase::discover) return start_get_phase();
    node_.remember(*lookup_, seen_);
    note_same_item(seen_);
    auto responders = lookup_->closest_responders(node_.config().put_nodes);
    lookup_.reset();
    store(responders);
}

void PutOp::start_get_phase() {
    auto nodes = lookup_->closest_nodes(20);
    for (const auto& n : node_.table().closest(target_, 20))
        if (std::find(nodes.begin(), nodes.end(), n) == nodes.end()) nodes.push_back(n);
    lookup_.reset();
    std::vector<Address> boot;
    if (nodes.size() < 8) boot = node_.bootstrap_addresses();
    phase_ = Phase::get;
    auto lookup = Lookup::get_mutable(node_.table().self(), item_.key, item_.salt, std::nullopt, nodes, boot,
                                      node_.lookup_config());
    lookup.on_item([this](const MutableItem& item, const NodeInfo& from) {
        seen_[from.id] = {item.seq, item.signature};
    });
    run(std::move(lookup));
}

bool PutOp::store_from_cache() {
    const CachedResponders* c = node_.cached(target_);
    // Only a lookup that reached a full set of token holders is worth reusing.
    if (c == nullptr || c->responders.size() < node_.config().put_nodes) return false;
    note_same_item(c->seen);
    auto responders = c->responders;
    if (responders.size() > node_.config().put_nodes) responders.resize(node_.config().put_nodes);
    store(responders);
    return true;
}

void PutOp::note_same_item(const SeenItems& seen) {
    for (const auto& [node, s] : seen)
        if (s.first == item_.seq && s.second == item_.signature) same_item_.insert(node);
}

void PutOp::store(const std::vector<Responder>& responders) {
    phase_ = Phase::store;
    for (const auto& r : responders) {
        if (r.token.empty()) continue;
        tally_.sent();
        if (node_.send_query(make_put_query(node_.table().self(), item_, r.token, cas_), r.node.address, id(),
                             Purpose::store, r.node.id))
            ++outstanding_;
        else
            tally_.on_timeout();
    }
    if (outstanding_ == 0) finish_put();
}

void PutOp::on_reply(const Transaction& tx, const krpc::Message& msg, const Address& from, TimePoint now) {
    if (tx.purpose == Purpose::store)
        on_stored(tx, msg, from);
    else
        LookupOp::on_reply(tx, msg, from, now);
}

void PutOp::on_stored(const Transaction& tx, const krpc::Message& msg, const Address& from) {
    if (msg.is_response()) {
        tally_.on_success();
    } else if (msg.error().code == krpc::error_seq_too_low && tx.node && same_item_.count(*tx.node)) {
        tally_.on_success();  // it already holds exactly this item (bittorrent-dht answers 302)
    } else {
        spdlog::debug("dht: put to {} failed: {} {}", from.to_string(), msg.error().code,
                      msg.error().message);
        tally_.on_error(msg.error().code);
    }
    store_ended();
}

void PutOp::on_timeout(const Transaction& tx, TimePoint now) {
    if (tx.purpose != Purpose::store) return LookupOp::on_timeout(tx, now);
    tally_.on_timeout();
    store_ended();
}

void PutOp::store_ended() {
    if (--outstanding_ == 0) finish_put();
}

void PutOp::finish_put() {
    Result<PutOutcome> result = make_error("");
    if (tally_.sent_count() == 0) {
        result = make_error("no DHT node to store at (the lookup found no node that gave a write token)");
    } else if (auto r = tally_.outcome()) {
        result = PutOutcome{r.value(), tally_.sent_count()};
    } else {
        std::string why = r.error().code == krpc::error_seq_too_low ? "a newer item is already stored (302)"
                          : r.error().code == krpc::error_cas_mismatch ? "CAS mismatch (301)"
                                                                       : r.error().message;
        result = make_error(
            "no node stored the item: " + why + " (" + std::to_string(tally_.sent_count()) + " contacted)",
            static_cast<int>(r.error().code));
    }
    finish([cb = std::move(done_), result] { cb(result); });
}

void PutOp::cancel() {
    finish([cb = std::move(done_)] { cb(node_closed_error()); });
}

}  // namespace pkdns::dht
