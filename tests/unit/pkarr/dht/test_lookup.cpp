#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>

#include "support/dht_items.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/lookup.hpp"
#include "pkarr/dht/server.hpp"
#include "pkarr/keys.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000h;

RandomFn seeded_rng(std::uint32_t seed) {
    auto gen = std::make_shared<std::mt19937>(seed);
    return [gen](std::span<std::uint8_t> out) {
        for (auto& b : out) b = static_cast<std::uint8_t>((*gen)());
    };
}

using pkdns::test::sign_item;

// An in-memory DHT: every node is a RoutingTable + Server; messages go through encode/decode.
struct SimNode {
    NodeInfo info;
    std::unique_ptr<RoutingTable> table;
    std::unique_ptr<Server> server;
    bool alive = true;
    // When set, replaces the server (hostile nodes).
    std::function<std::optional<krpc::Message>(const krpc::Message&)> override;
};

struct SimNet {
    std::map<Address, SimNode> nodes;
    std::size_t delivered = 0;

    explicit SimNet(std::size_t n, std::uint32_t seed = 1) {
        RandomFn rng = seeded_rng(seed);
        ServerConfig cfg;
        cfg.rate.rate_per_second = 0;
        for (std::size_t i = 0; i < n; ++i) {
            Address a = Address::v4(0x7f000001u, static_cast<std::uint16_t>(20000 + i));
            SimNode node;
            node.info = {NodeId::random(rng), a};
            node.table = std::make_unique<RoutingTable>(node.info.id);
            node.server = std::make_unique<Server>(*node.table, t0, cfg, rng);
            nodes.emplace(a, std::move(node));
        }
        // Seed every table with every other node; buckets keep a Kademlia-shaped subset.
        for (auto& [a, node] : nodes)
            for (auto& [b, other] : nodes)
                if (a != b) node.table->add(other.info, t0);
    }

    std::vector<NodeInfo> live_closest(const NodeId& target, std::size_t n) const {
        std::vector<NodeInfo> all;
        for (const auto& [a, node] : nodes)
            if (node.alive && !node.override) all.push_back(node.info);
        std::sort(all.begin(), all.end(),
                  [&](const NodeInfo& x, const NodeInfo& y) { return closer_to(target, x.id, y.id); });
        if (all.size() > n) all.resize(n);
        return all;
    }

    // Sends one request; returns the decoded reply or nullopt (dead node / no reply).
    std::optional<krpc::Message> send(const Address& from, const Address& to, const krpc::Query& q,
                                      TimePoint now) {
        auto it = nodes.find(to);
        if (it == nodes.end() || !it->second.alive) return std::nullopt;
        auto wire = krpc::encode(krpc::make_query(q, Bytes{0, 0, 0, 1}));
        auto decoded = krpc::decode(wire);
        REQUIRE(decoded.ok());
        std::optional<krpc::Message> reply = it->second.override
                                                 ? it->second.override(*decoded)
                                                 : it->second.server->handle(*decoded, from, now);
        if (!reply) return std::nullopt;
        auto back = krpc::decode(krpc::encode(*reply));
        REQUIRE(back.ok());
        ++delivered;
        return std::move(back).value();
    }

    // Drives a lookup to completion. Dead nodes time out by the clock advancing.
    void run(Lookup& lookup, const Address& from, TimePoint& now, std::size_t max_rounds = 1000) {
        std::vector<Address> silent;
        for (std::size_t round = 0; round < max_rounds && !lookup.done(); ++round) {
            auto requests = lookup.next_requests(now);
            if (requests.empty()) {
                now += 2s;  // only silent requests left: let them time out
                continue;
            }
            for (const auto& req : requests) {
                auto reply = send(from, req.to, req.query, now);
                if (reply) CHECK(lookup.on_response(req.to, *reply, now));
            }
            now += 10ms;
        }
        REQUIRE(lookup.done());
    }
};

const Address client_addr = Address::v4(0x7f000002u, 9999);

std::vector<NodeId> ids(const std::vector<NodeInfo>& v) {
    std::vector<NodeId> out;
    for (const auto& n : v) out.push_back(n.id);
    return out;
}

}  // namespace

TEST_CASE("find_node lookup converges to the true 20 closest", "[lookup]") {
    SimNet net(100, 7);
    RandomFn rng = seeded_rng(99);
    for (int trial = 0; trial < 5; ++trial) {
        NodeId target = NodeId::random(rng);
        // Start from 3 arbitrary nodes, like a small routing table.
        std::vector<NodeInfo> start;
        for (auto it = net.nodes.begin(); start.size() < 3; ++it) start.push_back(it->second.info);
        Lookup lookup = Lookup::find_node(NodeId::random(rng), target, start);
        TimePoint now = t0;
        net.run(lookup, client_addr, now);
        CHECK(ids(lookup.closest_nodes(20)) == ids(net.live_closest(target, 20)));
        CHECK(lookup.stats().timeouts == 0);
        CHECK(lookup.stats().queried <= 100);
        CHECK(lookup.stats().responded == lookup.stats().queried);
    }
}

TEST_CASE("lookup from a bootstrap address only, with dead nodes", "[lookup]") {
    SimNet net(100, 11);
    RandomFn rng = seeded_rng(5);
    // Kill 15 nodes (not the bootstrap node).
    int killed = 0;
    Address boot = net.nodes.begin()->first;
    for (auto it = std::next(net.nodes.begin()); it != net.nodes.end() && killed < 15;
         std::advance(it, 5), ++killed)
        it->second.alive = false;
    NodeId target = NodeId::random(rng);
    std::vector<Address> bootstrap{boot};
    LookupConfig cfg;
    cfg.alpha = 4;
    Lookup lookup = Lookup::find_node(NodeId::random(rng), target, {}, bootstrap, cfg);
    TimePoint now = t0;
    std::size_t max_in_flight = 0;
    for (int round = 0; round < 2000 && !lookup.done(); ++round) {
        auto reqs = lookup.next_requests(now);
        max_in_flight = std::max(max_in_flight, lookup.in_flight());
        for (const auto& r : reqs) {
            auto reply = net.send(client_addr, r.to, r.query, now);
            if (reply)
                lookup.on_response(r.to, *reply, now);
            else
                lookup.on_timeout(r.to, now);  // the I/O layer's timer firing
        }
        now += 10ms;
    }
    REQUIRE(lookup.done());
    CHECK(max_in_flight <= 4);
    CHECK(lookup.stats().timeouts > 0);
    // Replies list 20 nodes including dead ones, so a live node ranked past 20 overall may stay
    // unknown; every live node among the 20 closest overall must be found.
    auto found = ids(lookup.closest_nodes(20));
    CHECK(found.size() == 20);
    std::vector<NodeId> all_ids;
    for (const auto& [a, n] : net.nodes) all_ids.push_back(n.info.id);
    std::sort(all_ids.begin(), all_ids.end(),
              [&](const NodeId& x, const NodeId& y) { return closer_to(target, x, y); });
    int live_in_top = 0;
    for (std::size_t i = 0; i < 20; ++i) {
        bool alive = false;
        for (const auto& [a, n] : net.nodes)
            if (n.info.id == all_ids[i]) alive = n.alive;
        if (!alive) continue;
        ++live_in_top;
        CHECK(std::find(found.begin(), found.end(), all_ids[i]) != found.end());
    }
    CHECK(live_in_top >= 10);
}

TEST_CASE("get_mutable finds the most recent item and rejects forgeries", "[lookup]") {
    SimNet net(100, 3);
    auto kp = pkarr::Keypair::random();
    MutableItem v1 = sign_item(kp, 1, "first");
    MutableItem v2 = sign_item(kp, 2, "second");
    NodeId target = v1.target();
    RandomFn rng = seeded_rng(42);
    std::vector<NodeInfo> start{net.nodes.begin()->second.info};

    // Publish v1: lookup to collect tokens, then put to the 20 closest responders.
    Lookup pre = Lookup::get_mutable(NodeId::random(rng), v1.key, {}, std::nullopt, start);
    TimePoint now = t0;
    net.run(pre, client_addr, now);
    CHECK_FALSE(pre.best_item().has_value());
    CHECK(pre.stats().no_values == pre.stats().responded);
    auto responders = pre.closest_responders(20);
    REQUIRE(responders.size() == 20);
    CHECK(ids([&] {
              std::vector<NodeInfo> v;
              for (auto& r : responders) v.push_back(r.node);
              return v;
          }()) == ids(net.live_closest(target, 20)));
    PutTally tally;
    for (const auto& r : responders) {
        tally.sent();
        auto reply =
            net.send(client_addr, r.node.address, make_put_query(NodeId::random(rng), v1, r.token), now);
        REQUIRE(reply.has_value());
        if (reply->is_response())
            tally.on_success();
        else
            tally.on_error(reply->error().code);
    }
    REQUIRE(tally.outcome().ok());
    CHECK(tally.outcome().value() == 20);

    // v2 reaches only the 5 closest; a hostile node serves a forged seq 99.
    for (std::size_t i = 0; i < 5; ++i) {
        auto reply = net.send(client_addr, responders[i].node.address,
                              make_put_query(NodeId::random(rng), v2, responders[i].token), now);
        REQUIRE(reply->is_response());
    }
    SimNode& evil = net.nodes.at(responders[19].node.address);
    NodeId evil_id = evil.info.id;
    evil.override = [&, evil_id](const krpc::Message& q) -> std::optional<krpc::Message> {
        krpc::Response r;
        r.id = evil_id;
        r.token = Bytes{1};
        MutableItem forged = sign_item(kp, 99, "forged");
        forged.value = Bytes{'e', 'v', 'i', 'l'};
        r.v = forged.value;
        r.k = forged.key;
        r.sig = forged.signature;
        r.seq = 99;
        return krpc::make_response(r, q.t);
    };

    std::vector<MutableItem> streamed;
    Lookup get = Lookup::get_mutable(NodeId::random(rng), v1.key, {}, std::nullopt,
                                     std::vector<NodeInfo>{std::prev(net.nodes.end())->second.info});
    get.on_item([&](const MutableItem& item, const NodeInfo&) { streamed.push_back(item); });
    now = t0 + 1min;
    net.run(get, client_addr, now);
    REQUIRE(get.best_item().has_value());
    CHECK(*get.best_item() == v2);
    CHECK(get.stats().values == 19);
    CHECK(streamed.size() == 19);
    CHECK(std::count(streamed.begin(), streamed.end(), v2) == 5);
    CHECK(get.stats().invalid == 1);
    // The forging node is not offered as a storage candidate.
    for (const auto& r : get.closest_responders(30)) CHECK(r.node.id != evil_id);

    // With more_recent_than = 1, the 14 v1 holders answer seq-only; v2 holders send v2.
    Lookup newer = Lookup::get_mutable(NodeId::random(rng), v1.key, {}, 1, start);
    now = t0 + 2min;
    net.run(newer, client_addr, now);
    CHECK(newer.stats().no_more_recent == 14);
    CHECK(newer.stats().values == 5);
    REQUIRE(newer.best_item().has_value());
    CHECK(*newer.best_item() == v2);
}

TEST_CASE("lookup stays bounded against a node that floods fake candidates", "[lookup]") {
    SimNet net(30, 21);
    RandomFn rng = seeded_rng(8);
    NodeId target = NodeId::random(rng);
    // The flooding node answers every query with 100 fresh fake nodes close to the target.
    SimNode& flood = net.nodes.begin()->second;
    NodeId flood_id = flood.info.id;
    std::uint16_t next_port = 40000;
    flood.override = [&, flood_id](const krpc::Message& q) -> std::optional<krpc::Message> {
        krpc::Response r;
        r.id = flood_id;
        std::vector<NodeInfo> fake;
        for (int i = 0; i < 100; ++i) {
            NodeId::Raw raw = target.bytes();
            raw[19] ^= static_cast<std::uint8_t>(i + 1);
            raw[18] ^= static_cast<std::uint8_t>(next_port);
            fake.push_back({NodeId(raw), Address::v4(0x7f000003u, next_port++)});
        }
        r.nodes = fake;
        return krpc::make_response(r, q.t);
    };
    LookupConfig cfg;
    cfg.max_queries = 60;
    cfg.max_candidates = 50;
    Lookup lookup =
        Lookup::find_node(NodeId::random(rng), target, std::vector<NodeInfo>{flood.info}, {}, cfg);
    TimePoint now = t0;
    net.run(lookup, client_addr, now);
    CHECK(lookup.stats().queried <= 60);
    CHECK(lookup.stats().timeouts > 0);
}

TEST_CASE("lookup ignores unexpected, read-only and id-mismatched answers", "[lookup]") {
    RandomFn rng = seeded_rng(1);
    NodeInfo a{NodeId::random(rng), Address::v4(0x7f000001u, 1)};
    NodeInfo b{NodeId::random(rng), Address::v4(0x7f000001u, 2)};
    NodeInfo c{NodeId::random(rng), Address::v4(0x7f000001u, 3)};
    NodeId self = NodeId::random(rng);
    std::vector<NodeInfo> start{a, b, c, NodeInfo{self, Address::v4(0x7f000001u, 4)}};
    Lookup lookup = Lookup::find_node(self, NodeId::random(rng), start);
    auto reqs = lookup.next_requests(t0);
    REQUIRE(reqs.size() == 3);  // self is never a candidate
    for (const auto& r : reqs) {
        CHECK(r.query.method == krpc::Method::find_node);
        CHECK(r.query.id == self);
        CHECK(r.query.target == lookup.target());
    }

    krpc::Response resp;
    resp.id = a.id;
    krpc::Message m = krpc::make_response(resp, Bytes{1});
    CHECK_FALSE(lookup.on_response(Address::v4(0x7f000001u, 99), m, t0));  // unknown sender
    m.read_only = true;
    CHECK(lookup.on_response(a.address, m, t0));
    CHECK_FALSE(lookup.on_response(a.address, m, t0));  // not in flight any more
    m.read_only = false;
    m.response().id = NodeId::random(rng);
    CHECK(lookup.on_response(b.address, m, t0));  // id mismatch
    CHECK(lookup.on_response(c.address, krpc::make_error(202, "x", Bytes{1}), t0));
    CHECK(lookup.stats().invalid == 2);
    CHECK(lookup.stats().errors == 1);
    CHECK(lookup.done());
    CHECK(lookup.closest_nodes().empty());
    CHECK(lookup.next_requests(t0).empty());
}

TEST_CASE("put tally follows mainline's outcome rules", "[lookup]") {
    PutTally ok;
    for (int i = 0; i < 5; ++i) ok.sent();
    ok.on_success();
    ok.on_error(302);
    ok.on_timeout();
    CHECK(ok.outcome().value() == 1);

    PutTally conflict;
    for (int i = 0; i < 5; ++i) conflict.sent();
    conflict.on_success();
    conflict.on_error(302);
    conflict.on_error(302);
    conflict.on_error(301);
    CHECK(conflict.outcome().error().code == 302);

    PutTally none;
    CHECK(none.outcome().error().code == 0);
    none.sent();
    none.on_timeout();
    CHECK(none.outcome().error().code == 0);
    none.sent();
    none.on_error(206);
    CHECK(none.outcome().error().code == 206);
}
