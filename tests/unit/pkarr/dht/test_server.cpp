#include <catch2/catch.hpp>

#include <cstring>

#include "support/dht_items.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/server.hpp"
#include "pkarr/keys.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::chrono_literals;

namespace {
const TimePoint t0 = TimePoint{} + 1000h;
const Address client = Address::v4(0x0a000002u, 40000);  // 10.0.0.2

using pkdns::test::sign_item;

struct Fixture {
    RoutingTable table{NodeId::random()};
    ServerConfig config = [] {
        ServerConfig c;
        c.rate.rate_per_second = 0;
        return c;
    }();
    Server server{table, t0, config};
    pkarr::Keypair kp = pkarr::Keypair::random();

    Fixture() {
        for (std::uint16_t i = 0; i < 40; ++i)
            table.add({NodeId::random(), Address::v4(0x7f000001u, static_cast<std::uint16_t>(5000 + i))}, t0);
    }

    krpc::Message ask(krpc::Query q, TimePoint now = t0, const Address& from = client) {
        // Through the wire format, as the I/O layer does.
        auto decoded = krpc::decode(krpc::encode(krpc::make_query(std::move(q), Bytes{0, 0, 0, 9})));
        REQUIRE(decoded.ok());
        auto reply = server.handle(*decoded, from, now);
        REQUIRE(reply.has_value());
        CHECK(reply->t == (Bytes{0, 0, 0, 9}));
        REQUIRE(reply->ip.has_value());
        CHECK(*reply->ip == from);
        CHECK_FALSE(reply->read_only);
        auto again = krpc::decode(krpc::encode(*reply));
        REQUIRE(again.ok());
        return std::move(again).value();
    }
    krpc::Query query(krpc::Method m) {
        krpc::Query q;
        q.method = m;
        q.id = NodeId::random();
        return q;
    }
    Bytes token_for(const NodeId& target, const Address& from = client) {
        auto q = query(krpc::Method::get);
        q.target = target;
        auto r = ask(q, t0, from);
        REQUIRE(r.is_response());
        REQUIRE(r.response().token.has_value());
        return *r.response().token;
    }
    krpc::Message put(const MutableItem& item, Bytes token, std::optional<std::int64_t> cas = std::nullopt,
                      TimePoint now = t0) {
        krpc::Query q = query(krpc::Method::put);
        q.token = std::move(token);
        q.k = item.key;
        q.sig = item.signature;
        q.seq = item.seq;
        q.v = item.value;
        q.cas = cas;
        if (!item.salt.empty()) q.salt = item.salt;
        return ask(q, now);
    }
};
}  // namespace

TEST_CASE("server answers ping and find_node", "[server]") {
    Fixture f;
    auto pong = f.ask(f.query(krpc::Method::ping));
    REQUIRE(pong.is_response());
    CHECK(pong.response().id == f.table.self());

    auto q = f.query(krpc::Method::find_node);
    NodeId target = NodeId::random();
    q.target = target;
    auto r = f.ask(q);
    REQUIRE(r.is_response());
    REQUIRE(r.response().nodes.has_value());
    CHECK(*r.response().nodes == f.table.closest(target, 20));
}

TEST_CASE("server get/put of a mutable item", "[server]") {
    Fixture f;
    MutableItem item = sign_item(f.kp, 100, "v100");
    NodeId target = item.target();
    Bytes token = f.token_for(target);

    auto stored = f.put(item, token);
    REQUIRE(stored.is_response());
    CHECK(stored.response().id == f.table.self());
    CHECK(f.server.stats().items_stored == 1);

    auto q = f.query(krpc::Method::get);
    q.target = target;
    auto got = f.ask(q);
    REQUIRE(got.is_response());
    const auto& r = got.response();
    CHECK(r.v == item.value);
    CHECK(r.k == item.key);
    CHECK(r.sig == item.signature);
    CHECK(r.seq == 100);
    CHECK(r.token.has_value());
    REQUIRE(r.nodes.has_value());
    CHECK(r.nodes->size() == 20);

    SECTION("seq in the get: seq-only answer when ours is not newer") {
        q.seq = 100;
        auto same = f.ask(q).response();
        CHECK(same.seq == 100);
        CHECK_FALSE(same.v.has_value());
        CHECK_FALSE(same.k.has_value());
        CHECK_FALSE(same.sig.has_value());
        q.seq = 99;
        CHECK(f.ask(q).response().v == item.value);
    }
    SECTION("put error codes") {
        auto code = [](const krpc::Message& m) {
            REQUIRE(m.is_error());
            return m.error().code;
        };
        CHECK(code(f.put(sign_item(f.kp, 99, "old"), token)) == krpc::error_seq_too_low);
        CHECK(code(f.put(sign_item(f.kp, 101, "new"), token, 7)) == krpc::error_cas_mismatch);
        MutableItem forged = sign_item(f.kp, 102, "x");
        forged.value = Bytes{'y'};
        CHECK(code(f.put(forged, token)) == krpc::error_bad_signature);
        CHECK(code(f.put(sign_item(f.kp, 103, std::string(1001, 'x')), token)) == krpc::error_value_too_big);
        Bytes bad = token;
        bad[3] ^= 0x40;
        CHECK(code(f.put(sign_item(f.kp, 104, "x"), bad)) == krpc::error_protocol);
        // Token for another IP is no good.
        Bytes other_ip_token = f.token_for(target, Address::v4(0x0a000003u, 1));
        CHECK(code(f.put(sign_item(f.kp, 105, "x"), other_ip_token)) == krpc::error_protocol);
        CHECK(f.put(sign_item(f.kp, 101, "new"), token, 100).is_response());
        CHECK(f.server.items().get_mutable(target, t0)->seq == 101);
        // Token expires after two rotations.
        CHECK(code(f.put(sign_item(f.kp, 106, "x"), token, std::nullopt, t0 + 11min)) ==
              krpc::error_protocol);
        CHECK(f.server.stats().errors_sent == 7);
    }
}

TEST_CASE("server immutable put/get", "[server]") {
    Fixture f;
    Bytes v{'H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd', '!'};
    NodeId target = immutable_target(v);
    krpc::Query q = f.query(krpc::Method::put);
    q.token = f.token_for(target);
    q.v = v;
    REQUIRE(f.ask(q).is_response());
    auto g = f.query(krpc::Method::get);
    g.target = target;
    CHECK(f.ask(g).response().v == v);
    CHECK_FALSE(f.ask(g).response().k.has_value());
}

TEST_CASE("server get_peers and announce_peer", "[server]") {
    Fixture f;
    NodeId hash = NodeId::random();
    auto gp = f.query(krpc::Method::get_peers);
    gp.info_hash = hash;
    auto first = f.ask(gp).response();
    REQUIRE(first.token.has_value());
    CHECK_FALSE(first.values.has_value());
    CHECK(first.nodes->size() == 20);

    auto ann = f.query(krpc::Method::announce_peer);
    ann.info_hash = hash;
    ann.token = *first.token;
    ann.port = 7777;
    REQUIRE(f.ask(ann).is_response());
    ann.token = Bytes{1, 2, 3};
    CHECK(f.ask(ann).error().code == krpc::error_protocol);

    auto second = f.ask(gp).response();
    REQUIRE(second.values.has_value());
    REQUIRE(second.values->size() == 1);
    CHECK((*second.values)[0] == client.with_port(7777));

    // implied_port uses the source port.
    ann.token = *first.token;
    ann.port.reset();
    ann.implied_port = true;
    REQUIRE(f.ask(ann).is_response());
    CHECK(f.ask(gp).response().values->size() == 2);
    f.server.expire(t0 + 31min);
    CHECK_FALSE(f.ask(gp, t0 + 31min).response().values.has_value());
}

TEST_CASE("server rate limiting drops replies, non-queries ignored", "[server]") {
    RoutingTable table(NodeId::random());
    ServerConfig cfg;
    cfg.rate.rate_per_second = 1;
    cfg.rate.burst = 3;
    Server server(table, t0, cfg);
    krpc::Query ping;
    ping.id = NodeId::random();
    krpc::Message m = krpc::make_query(ping, Bytes{1});
    int answered = 0;
    for (int i = 0; i < 10; ++i) answered += server.handle(m, client, t0).has_value();
    CHECK(answered == 3);
    CHECK(server.stats().rate_limited == 7);
    CHECK(server.handle(m, Address::v4(0x0a000009u, 1), t0).has_value());
    CHECK(server.handle(m, client, t0 + 1s).has_value());

    krpc::Response r;
    CHECK_FALSE(server.handle(krpc::make_response(r, Bytes{1}), client, t0 + 1h).has_value());
    // A hand-built query missing its target gets 203, not a crash.
    krpc::Query bad;
    bad.method = krpc::Method::find_node;
    auto reply = server.handle(krpc::make_query(bad, Bytes{2}), client, t0 + 2h);
    REQUIRE(reply.has_value());
    CHECK(reply->error().code == krpc::error_protocol);
    // No `ip` for an IPv6 requester (mainline cannot parse 18-byte ip).
    auto v6 = server.handle(m, Address::parse("[2001:db8::1]:5").value(), t0 + 3h);
    REQUIRE(v6.has_value());
    CHECK_FALSE(v6->ip.has_value());
}
