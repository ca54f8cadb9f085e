#include "pkarr/dht/lookup.hpp"

#include <algorithm>

namespace pkdns::dht {

Lookup::Lookup(const NodeId& self, const NodeId& target, LookupKind kind, LookupConfig config)
    : self_(self), target_(target), kind_(kind), config_(config) {
    config_.k = std::max<std::size_t>(config_.k, 1);
    config_.alpha = std::max<std::size_t>(config_.alpha, 1);
    config_.max_candidates = std::max(config_.max_candidates, config_.k);
}

Lookup Lookup::find_node(const NodeId& self, const NodeId& target, std::span<const NodeInfo> initial,
                         std::span<const Address> bootstrap, LookupConfig config) {
    Lookup l(self, target, LookupKind::find_node, config);
    for (const Address& a : bootstrap) {
        if (a.port() == 0 || a.is_unspecified()) continue;
        bool dup = std::any_of(l.bootstrap_.begin(), l.bootstrap_.end(),
                               [&](const Candidate& c) { return c.address == a; });
        if (!dup && l.bootstrap_.size() < l.config_.max_candidates) {
            Candidate c;
            c.address = a;
            l.bootstrap_.push_back(c);
        }
    }
    l.add_candidates(initial);
    return l;
}

Lookup Lookup::get_mutable(const NodeId& self, const krpc::PublicKeyBytes& key, Bytes salt,
                           std::optional<std::int64_t> more_recent_than, std::span<const NodeInfo> initial,
                           std::span<const Address> bootstrap, LookupConfig config) {
    Lookup l = find_node(self, mutable_target(key, salt), initial, bootstrap, config);
    l.kind_ = LookupKind::get_mutable;
    l.key_ = key;
    l.salt_ = std::move(salt);
    l.seq_ = more_recent_than;
    return l;
}

void Lookup::add_candidates(std::span<const NodeInfo> nodes) {
    for (const NodeInfo& n : nodes) add_candidate(n);
}

void Lookup::add_candidate(const NodeInfo& node) {
    if (node.id == self_ || node.address.port() == 0 || node.address.is_unspecified()) return;
    auto same = [&](const Candidate& c) { return c.address == node.address || (c.id && *c.id == node.id); };
    if (std::any_of(candidates_.begin(), candidates_.end(), same)) return;
    if (std::any_of(bootstrap_.begin(), bootstrap_.end(), same)) return;

    auto pos =
        std::upper_bound(candidates_.begin(), candidates_.end(), node.id,
                         [&](const NodeId& id, const Candidate& c) { return closer_to(target_, id, *c.id); });
    if (candidates_.size() >= config_.max_candidates) {
        // Full: drop the farthest candidate that has no request in flight, if the new one is closer.
        auto victim = candidates_.end();
        for (auto it = candidates_.end(); it != candidates_.begin();) {
            --it;
            if (it->state != State::in_flight) {
                victim = it;
                break;
            }
        }
        if (victim == candidates_.end() || pos > victim) return;
        candidates_.erase(victim);
        pos = std::upper_bound(
            candidates_.begin(), candidates_.end(), node.id,
            [&](const NodeId& id, const Candidate& c) { return closer_to(target_, id, *c.id); });
    }
    Candidate c;
    c.id = node.id;
    c.address = node.address;
    candidates_.insert(pos, c);
}

krpc::Query Lookup::make_query() const {
    krpc::Query q;
    q.id = self_;
    q.target = target_;
    if (kind_ == LookupKind::find_node) {
        q.method = krpc::Method::find_node;
    } else {
        q.method = krpc::Method::get;
        q.seq = seq_;
    }
    return q;
}

bool Lookup::converged() const {
    for (const Candidate& c : bootstrap_)
        if (c.state == State::fresh) return false;
    std::size_t live = 0;
    for (const Candidate& c : candidates_) {
        if (c.state == State::failed) continue;
        if (c.state == State::fresh) return false;
        if (++live >= config_.k) break;
    }
    return true;
}

bool Lookup::done() const {
    return in_flight_ == 0 && (converged() || stats_.queried >= config_.max_queries);
}

std::vector<Lookup::Request> Lookup::next_requests(TimePoint now) {
    for (auto* list : {&bootstrap_, &candidates_}) {
        for (Candidate& c : *list) {
            if (c.state == State::in_flight && now - c.sent >= config_.request_timeout) {
                c.state = State::failed;
                --in_flight_;
                ++stats_.timeouts;
            }
        }
    }
    std::vector<Request> out;
    auto send = [&](Candidate& c) {
        c.state = State::in_flight;
        c.sent = now;
        ++in_flight_;
        ++stats_.queried;
        out.push_back(Request{c.address, c.id, make_query()});
    };
    auto can_send = [&] { return in_flight_ < config_.alpha && stats_.queried < config_.max_queries; };

    for (Candidate& c : bootstrap_) {
        if (!can_send()) return out;
        if (c.state == State::fresh) send(c);
    }
    std::size_t live = 0;
    for (Candidate& c : candidates_) {
        if (!can_send() || live >= config_.k) break;
        if (c.state == State::failed) continue;
        ++live;
        if (c.state == State::fresh) send(c);
    }
    return out;
}

void Lookup::on_timeout(const Address& to, TimePoint /*now*/) {
    for (auto* list : {&bootstrap_, &candidates_}) {
        for (Candidate& c : *list) {
            if (c.address == to && c.state == State::in_flight) {
                c.state = State::failed;
                --in_flight_;
                ++stats_.timeouts;
                return;
            }
        }
    }
}

void Lookup::handle_item(const krpc::Response& r, const NodeInfo& from) {
    if (r.v && r.k && r.sig && r.seq) {
        MutableItem item{*r.k, salt_, *r.seq, *r.v, *r.sig};
        if (!validate_mutable_item(item, target_)) {
            ++stats_.invalid;
            return;
        }
        ++stats_.values;
        if (!best_ || more_recent(item, *best_)) best_ = item;
        if (on_item_) on_item_(item, from);
    } else if (r.seq && !r.v) {
        ++stats_.no_more_recent;
    } else if (r.v) {
        ++stats_.invalid;  // an immutable value or an incomplete mutable item
    } else {
        ++stats_.no_values;
    }
}

bool Lookup::on_response(const Address& from, const krpc::Message& message, TimePoint now) {
    if (message.is_query()) return false;
    Candidate* found = nullptr;
    for (auto* list : {&bootstrap_, &candidates_})
        for (Candidate& c : *list)
            if (c.address == from && c.state == State::in_flight) found = &c;
    if (found == nullptr) return false;
    Candidate& c = *found;
    --in_flight_;

    if (message.is_error()) {
        ++stats_.errors;
        c.state = State::failed;
        return true;
    }
    const krpc::Response& r = message.response();
    // BEP43 read-only responders are ignored (mainline counts them invalid); a node that answers
    // with another id than the one we were told is not trusted (bittorrent-dht does the same).
    if (message.read_only || (c.id && *c.id != r.id)) {
        ++stats_.invalid;
        c.state = State::failed;
        return true;
    }
    ++stats_.responded;
    c.id = r.id;  // bootstrap nodes: now known
    c.state = State::answered;
    c.answered_at = now;
    c.token = r.token.value_or(Bytes{});
    NodeInfo responder{r.id, from};

    if (kind_ == LookupKind::get_mutable) {
        std::size_t invalid_before = stats_.invalid;
        handle_item(r, responder);
        if (stats_.invalid != invalid_before) c.token.clear();  // do not store to a node serving junk
    }
    // Adding may reallocate candidates_, so `c` is not used below.
    if (r.nodes) add_candidates(*r.nodes);
    return true;
}

std::vector<NodeInfo> Lookup::closest_nodes(std::size_t n) const {
    std::vector<NodeInfo> out;
    for (const auto* list : {&bootstrap_, &candidates_})
        for (const Candidate& c : *list)
            if (c.state == State::answered && c.id) out.push_back(NodeInfo{*c.id, c.address});
    std::sort(out.begin(), out.end(),
              [&](const NodeInfo& a, const NodeInfo& b) { return closer_to(target_, a.id, b.id); });
    if (out.size() > n) out.resize(n);
    return out;
}

std::vector<Responder> Lookup::closest_responders(std::size_t n) const {
    std::vector<Responder> out;
    for (const auto* list : {&bootstrap_, &candidates_})
        for (const Candidate& c : *list)
            if (c.state == State::answered && c.id && !c.token.empty())
                out.push_back(Responder{NodeInfo{*c.id, c.address}, c.token, c.answered_at});
    std::sort(out.begin(), out.end(), [&](const Responder& a, const Responder& b) {
        return closer_to(target_, a.node.id, b.node.id);
    });
    if (out.size() > n) out.resize(n);
    return out;
}

krpc::Query make_put_query(const NodeId& self, const MutableItem& item, Bytes token,
                           std::optional<std::int64_t> cas) {
    krpc::Query q;
    q.method = krpc::Method::put;
    q.id = self;
    q.target = item.target();
    q.token = std::move(token);
    q.v = item.value;
    q.k = item.key;
    q.sig = item.signature;
    q.seq = item.seq;
    q.cas = cas;
    if (!item.salt.empty()) q.salt = item.salt;
    return q;
}

void PutTally::on_error(std::int64_t code) {
    ++errors_[code];
}

Result<std::size_t> PutTally::outcome() const {
    auto count = [&](std::int64_t code) {
        auto it = errors_.find(code);
        return it == errors_.end() ? std::size_t{0} : it->second;
    };
    std::size_t conflicts = count(krpc::error_cas_mismatch) + count(krpc::error_seq_too_low);
    if (sent_ > 0 && conflicts >= sent_ / 2 + 1) {
        bool cas = count(krpc::error_cas_mismatch) > count(krpc::error_seq_too_low);
        return cas ? make_error("CAS mismatch at most nodes", krpc::error_cas_mismatch)
                   : make_error("sequence number less than current at most nodes", krpc::error_seq_too_low);
    }
    if (stored_at_ > 0) return stored_at_;
    if (sent_ == 0) return make_error("no nodes to store at", 0);
    if (errors_.empty()) return make_error("all put requests timed out", 0);
    auto most = std::max_element(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second < b.second : a.first > b.first;
    });
    return make_error("put rejected with error " + std::to_string(most->first),
                      static_cast<int>(most->first));
}

}  // namespace pkdns::dht
