#include "pkarr/dht/server.hpp"

#include <algorithm>

namespace pkdns::dht {

Server::Server(const RoutingTable& table, TimePoint now, ServerConfig config, RandomFn rng)
    : table_(table),
      config_(config),
      items_(config.items),
      tokens_(now, config.token_rotation, std::move(rng)),
      limiter_(config.rate),
      peers_({.max_entries = std::max<std::size_t>(config.max_info_hashes, 1)}) {}

krpc::Response Server::base_response() const {
    krpc::Response r;
    r.id = table_.self();
    return r;
}

std::vector<NodeInfo> Server::closest(const NodeId& target) const {
    // IPv4 only: the compact `nodes` list cannot carry IPv6 nodes.
    std::vector<NodeInfo> nodes = table_.closest(target, config_.nodes_per_reply * 2);
    std::erase_if(nodes, [](const NodeInfo& n) { return !n.address.is_v4(); });
    if (nodes.size() > config_.nodes_per_reply) nodes.resize(config_.nodes_per_reply);
    return nodes;
}

krpc::Message Server::error(const krpc::Message& q, int code, std::string message, const Address& from) {
    ++stats_.errors_sent;
    krpc::Message m = krpc::make_error(code, std::move(message), q.t);
    if (from.is_v4()) m.ip = from;
    return m;
}

void Server::store_peer(const NodeId& info_hash, const Address& peer, TimePoint now) {
    PeerSet* found = peers_.find(info_hash);
    PeerSet& list = found ? *found : *peers_.insert_or_assign(info_hash, {});
    std::erase_if(list, [&](const PeerEntry& e) { return e.address == peer; });
    if (config_.max_peers_per_hash == 0) return;
    if (list.size() >= config_.max_peers_per_hash) list.erase(list.begin());  // oldest first
    list.push_back({peer, now});
}

std::vector<Address> Server::peers(const NodeId& info_hash, TimePoint now) const {
    std::vector<Address> out;
    const PeerSet* set = peers_.peek(info_hash);
    if (!set) return out;
    // Newest first.
    for (auto p = set->rbegin(); p != set->rend() && out.size() < config_.peers_per_reply; ++p)
        if (now - p->seen < config_.peer_ttl && p->address.is_v4()) out.push_back(p->address);
    return out;
}

void Server::expire(TimePoint now) {
    items_.expire(now);
    peers_.erase_if([&](const NodeId&, PeerSet& set) {
        std::erase_if(set, [&](const PeerEntry& e) { return now - e.seen >= config_.peer_ttl; });
        return set.empty();
    });
}

std::optional<krpc::Message> Server::handle(const krpc::Message& msg, const Address& from, TimePoint now) {
    if (!msg.is_query()) return std::nullopt;
    if (!limiter_.allow(from, now)) {
        ++stats_.rate_limited;
        return std::nullopt;
    }
    ++stats_.handled;
    const krpc::Query& q = msg.query();
    krpc::Response r = base_response();
    // decode() guarantees these; a hand-built message might not.
    bool needs_target = q.method == krpc::Method::find_node || q.method == krpc::Method::get;
    bool needs_hash = q.method == krpc::Method::get_peers || q.method == krpc::Method::announce_peer;
    if ((needs_target && !q.target) || (needs_hash && !q.info_hash) ||
        (q.method == krpc::Method::put && !q.v))
        return error(msg, krpc::error_protocol, "missing argument", from);

    switch (q.method) {
        case krpc::Method::ping:
            break;
        case krpc::Method::find_node:
            r.nodes = closest(*q.target);
            break;
        case krpc::Method::get_peers: {
            r.token = tokens_.generate(from, now);
            r.nodes = closest(*q.info_hash);
            auto found = peers(*q.info_hash, now);
            if (!found.empty()) r.values = std::move(found);
            break;
        }
        case krpc::Method::announce_peer: {
            if (!q.token || !tokens_.validate(*q.token, from, now))
                return error(msg, krpc::error_protocol, "Invalid token", from);
            std::uint16_t port = q.implied_port || !q.port ? from.port() : *q.port;
            if (port == 0) return error(msg, krpc::error_protocol, "Invalid port", from);
            store_peer(*q.info_hash, from.with_port(port), now);
            break;
        }
        case krpc::Method::get: {
            const NodeId& target = *q.target;
            r.token = tokens_.generate(from, now);
            r.nodes = closest(target);
            // mainline: immutable first when no seq was asked for, then mutable.
            if (!q.seq) {
                if (const Bytes* v = items_.get_immutable(target, now)) {
                    r.v = *v;
                    break;
                }
            }
            if (const MutableItem* item = items_.get_mutable(target, now)) {
                if (q.seq && item->seq <= *q.seq) {
                    r.seq = item->seq;  // "no more recent value"
                } else {
                    r.v = item->value;
                    r.k = item->key;
                    r.sig = item->signature;
                    r.seq = item->seq;
                }
            }
            break;
        }
        case krpc::Method::put: {
            if (!q.token || !tokens_.validate(*q.token, from, now))
                return error(msg, krpc::error_protocol, "Invalid token", from);
            Result<void> stored;
            if (q.k) {
                MutableItem item;
                item.key = *q.k;
                item.salt = q.salt.value_or(Bytes{});
                item.seq = q.seq.value_or(0);
                item.value = q.v.value_or(Bytes{});
                item.signature = q.sig.value_or(krpc::SignatureBytes{});
                // The target is derived from k and salt (a `target` argument is not trusted).
                stored = items_.put_mutable(item, item.target(), q.cas, now);
            } else {
                const Bytes& v = q.v.value_or(Bytes{});
                stored = items_.put_immutable(v, immutable_target(v), now);
            }
            if (!stored) return error(msg, stored.error().code, stored.error().message, from);
            ++stats_.items_stored;
            break;
        }
    }
    krpc::Message reply = krpc::make_response(std::move(r), msg.t);
    if (from.is_v4()) reply.ip = from;
    return reply;
}

}  // namespace pkdns::dht
