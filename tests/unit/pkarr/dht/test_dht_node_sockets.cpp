#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/node.hpp"
#include "pkarr/dht/pkarr_dht.hpp"
#include "pkarr/signed_packet.hpp"
#include "support.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::chrono_literals;
using pkdns::test::loopback;
using pkdns::test::run_until;

namespace {

Address dht_address(const SocketAddress& s) {
    return Address::parse(s.to_string()).value();
}

// N server nodes in one loop, full mesh, plus helpers for client nodes bootstrapped from them.
struct Mesh {
    uv::Loop& loop;
    std::vector<std::unique_ptr<DhtNode>> servers;

    Mesh(uv::Loop& l, std::size_t n, RateLimitConfig rate = {0.0, 0.0, 10000, true}) : loop(l) {
        for (std::size_t i = 0; i < n; ++i) {
            DhtNodeConfig c;
            c.server_mode = true;
            c.bind = loopback();
            c.rate = rate;
            auto node = DhtNode::create(loop, c);
            REQUIRE(node.ok());
            servers.push_back(std::move(node.value()));
        }
        for (auto& a : servers)
            for (auto& b : servers)
                if (a != b) a->add_node({b->id(), dht_address(b->local_address())});
        for (auto& s : servers) s->start();
    }

    std::unique_ptr<DhtNode> client(std::size_t boot_index = 0, std::chrono::milliseconds timeout = 2000ms) {
        DhtNodeConfig c;
        c.server_mode = false;
        c.bind = loopback();
        c.request_timeout = timeout;
        auto a = servers.at(boot_index)->local_address();
        c.bootstrap.push_back(HostPort{a.ip.to_string(), a.port});
        auto node = DhtNode::create(loop, c);
        REQUIRE(node.ok());
        return std::move(node.value());
    }

    void close() {
        for (auto& s : servers) s->close();
    }
};

Result<PutOutcome> put(uv::Loop& loop, DhtNode& node, const MutableItem& item,
                       std::optional<std::int64_t> cas = {}) {
    std::optional<Result<PutOutcome>> out;
    int calls = 0;
    node.put_mutable(item, cas, [&](Result<PutOutcome> r) {
        ++calls;
        out = std::move(r);
    });
    REQUIRE(run_until(loop, [&] { return out.has_value(); }));
    CHECK(calls == 1);
    return *out;
}

GetOutcome get(uv::Loop& loop, DhtNode& node, const pkarr::Keypair& kp,
               std::vector<MutableItem>* stream = nullptr) {
    std::optional<GetOutcome> out;
    node.get_mutable(
        kp.public_key().bytes(), {}, std::nullopt,
        [&](const MutableItem& item, const NodeInfo&) {
            if (stream) stream->push_back(item);
        },
        [&](GetOutcome o) { out = std::move(o); });
    REQUIRE(run_until(loop, [&] { return out.has_value(); }));
    return *out;
}

}  // namespace

TEST_CASE("dht node: ping between a client and a server, a client answers nothing") {
    uv::Loop loop;
    {
        Mesh mesh(loop, 1);
        auto client = mesh.client(0, 300ms);
        std::optional<Result<NodeInfo>> pong;
        client->ping(mesh.servers[0]->local_address(), [&](Result<NodeInfo> r) { pong = std::move(r); });
        REQUIRE(run_until(loop, [&] { return pong.has_value(); }));
        REQUIRE(pong->ok());
        CHECK(pong->value().id == mesh.servers[0]->id());
        CHECK(mesh.servers[0]->stats().queries_answered == 1);

        std::optional<Result<NodeInfo>> none;
        mesh.servers[0]->ping(client->local_address(), [&](Result<NodeInfo> r) { none = std::move(r); });
        REQUIRE(run_until(loop, [&] { return none.has_value(); }));
        REQUIRE_FALSE(none->ok());
        CHECK(none->error().message.find("timeout") != std::string::npos);
        CHECK(client->stats().queries_dropped >= 1);
        // The server did not add the read-only client to its routing table.
        CHECK(mesh.servers[0]->routing_table_size() == 0);
        client->close();
        mesh.close();
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: put and get a mutable item across a loopback mesh") {
    uv::Loop loop;
    {
        Mesh mesh(loop, 6);
        auto writer = mesh.client(0);
        auto reader = mesh.client(5);
        auto kp = test::keypair(7);

        auto r1 = put(loop, *writer, test::sign_item(kp, 1, "first"));
        REQUIRE(r1.ok());
        CHECK(r1->stored_at == 6);
        std::size_t stored = 0;
        for (auto& s : mesh.servers) stored += s->items_stored();
        CHECK(stored == 6);

        std::vector<MutableItem> stream;
        auto g1 = get(loop, *reader, kp, &stream);
        REQUIRE(g1.best.has_value());
        CHECK(g1.best->seq == 1);
        CHECK(as_chars(g1.best->value) == "first");
        CHECK(stream.size() >= 1);
        CHECK(g1.stats.responded >= 1);
        CHECK(g1.responders.size() >= 1);

        SECTION("a newer item replaces it; an older one is refused with 302") {
            auto r2 = put(loop, *writer, test::sign_item(kp, 2, "second"));
            REQUIRE(r2.ok());
            CHECK(r2->stored_at == 6);
            auto old = put(loop, *writer, test::sign_item(kp, 1, "first"));
            REQUIRE_FALSE(old.ok());
            CHECK(old.error().code == krpc::error_seq_too_low);
            auto g2 = get(loop, *reader, kp);
            REQUIRE(g2.best.has_value());
            CHECK(g2.best->seq == 2);
            CHECK(as_chars(g2.best->value) == "second");
        }
        SECTION("republishing the identical item succeeds") {
            auto again = put(loop, *reader, test::sign_item(kp, 1, "first"));
            REQUIRE(again.ok());
            CHECK(again->stored_at == 6);
        }
        SECTION("cas: a mismatch is refused with 301, a match is stored") {
            auto bad = put(loop, *writer, test::sign_item(kp, 3, "third"), 5);
            REQUIRE_FALSE(bad.ok());
            CHECK(bad.error().code == krpc::error_cas_mismatch);
            auto good = put(loop, *writer, test::sign_item(kp, 3, "third"), 1);
            REQUIRE(good.ok());
            CHECK(good->stored_at == 6);
        }
        SECTION("an unknown key is not found") {
            auto g = get(loop, *reader, test::keypair(99));
            CHECK_FALSE(g.best.has_value());
            CHECK(g.stats.responded >= 1);
        }
        writer->close();
        reader->close();
        mesh.close();
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: the PKARR layer publishes and resolves signed packets") {
    uv::Loop loop;
    {
        Mesh mesh(loop, 4);
        auto writer = mesh.client(0);
        auto reader = mesh.client(3);
        auto kp = test::keypair(3);
        std::string z32 = kp.public_key().to_z32();
        std::vector<dns::Record> records{dns::Record{dns::Name::parse("_foo." + z32).value(), dns::type::TXT,
                                                     dns::class_IN, 300, Bytes{3, 'b', 'a', 'r'}}};
        auto packet = pkarr::SignedPacket::sign(kp, records, 1'700'000'000'000'000);
        REQUIRE(packet.ok());

        std::optional<Result<PutOutcome>> stored;
        publish(*writer, packet.value(), std::nullopt, [&](Result<PutOutcome> r) { stored = std::move(r); });
        REQUIRE(run_until(loop, [&] { return stored.has_value(); }));
        REQUIRE(stored->ok());
        CHECK(stored->value().stored_at == 4);

        std::optional<ResolveOutcome> found;
        int seen = 0;
        resolve(
            *reader, kp.public_key(), std::nullopt, [&](ResolveOutcome o) { found = std::move(o); },
            [&](const pkarr::SignedPacket&) { ++seen; });
        REQUIRE(run_until(loop, [&] { return found.has_value(); }));
        REQUIRE(found->packet.has_value());
        CHECK(found->packet->same_as(packet.value()));
        CHECK(seen >= 1);
        CHECK(found->invalid_packets == 0);

        std::optional<ResolveOutcome> missing;
        resolve(*reader, test::keypair(4).public_key(), std::nullopt,
                [&](ResolveOutcome o) { missing = std::move(o); });
        REQUIRE(run_until(loop, [&] { return missing.has_value(); }));
        CHECK_FALSE(missing->packet.has_value());
        CHECK(describe_failure(*missing).find("no signed packet") != std::string::npos);
        writer->close();
        reader->close();
        mesh.close();
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: wire details (2-byte t echoed, 4-byte t and v sent, ro=1 from clients)") {
    uv::Loop loop;
    {
        Mesh mesh(loop, 1);
        uv::UdpSocket raw(loop);
        REQUIRE(raw.bind(loopback()).ok());
        std::vector<krpc::Message> got;
        std::vector<SocketAddress> senders;
        REQUIRE(raw.start_recv([&](ByteView d, const SocketAddress& from) {
                       auto m = krpc::decode(d);
                       if (!m) return;
                       got.push_back(m.value());
                       senders.push_back(from);
                   })
                    .ok());

        krpc::Query q;
        q.method = krpc::Method::ping;
        q.id = NodeId::random();
        REQUIRE(
            raw.send(krpc::encode(krpc::make_query(q, Bytes{0xab, 0xcd})), mesh.servers[0]->local_address())
                .ok());
        auto find = [&](auto pred) -> const krpc::Message* {
            for (std::size_t i = 0; i < got.size(); ++i)
                if (pred(got[i], senders[i])) return &got[i];
            return nullptr;
        };
        auto server_addr = mesh.servers[0]->local_address();
        auto is_reply = [&](const krpc::Message& m, const SocketAddress& from) {
            return m.is_response() && from == server_addr;
        };
        REQUIRE(run_until(loop, [&] { return find(is_reply) != nullptr; }));
        const krpc::Message* reply = find(is_reply);
        CHECK(reply->t == Bytes{0xab, 0xcd});
        REQUIRE(reply->version.has_value());
        CHECK_FALSE(reply->read_only);
        CHECK(reply->response().id == mesh.servers[0]->id());
        // The server verifies an unknown querier with a ping of its own: 4-byte t and v, ro=0.
        auto is_server_query = [&](const krpc::Message& m, const SocketAddress& from) {
            return m.is_query() && from == server_addr;
        };
        REQUIRE(run_until(loop, [&] { return find(is_server_query) != nullptr; }));
        CHECK(find(is_server_query)->t.size() == 4);
        CHECK_FALSE(find(is_server_query)->read_only);

        // A client's own query: 4-byte t, 4-byte v, ro=1.
        auto client = mesh.client(0, 300ms);
        auto client_addr = client->local_address();
        auto is_client_query = [&](const krpc::Message& m, const SocketAddress& from) {
            return m.is_query() && from == client_addr;
        };
        bool done = false;
        client->ping(raw.local_address().value(), [&](Result<NodeInfo>) { done = true; });
        REQUIRE(run_until(loop, [&] { return find(is_client_query) != nullptr; }));
        const krpc::Message* q2 = find(is_client_query);
        CHECK(q2->t.size() == 4);
        CHECK(q2->version.has_value());
        CHECK(q2->read_only);
        REQUIRE(run_until(loop, [&] { return done; }));
        client->close();
        mesh.close();
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: server mode rate-limits each source IP") {
    uv::Loop loop;
    {
        Mesh mesh(loop, 1, RateLimitConfig{1.0, 2.0, 100, false});
        uv::UdpSocket raw(loop);
        REQUIRE(raw.bind(loopback()).ok());
        int replies = 0;
        REQUIRE(raw.start_recv([&](ByteView d, const SocketAddress&) {
                       auto m = krpc::decode(d);
                       if (m && m->is_response()) ++replies;
                   })
                    .ok());
        krpc::Query q;
        q.method = krpc::Method::ping;
        q.id = NodeId::random();
        for (std::uint8_t i = 0; i < 10; ++i)
            REQUIRE(raw.send(krpc::encode(krpc::make_query(q, Bytes{0, i})), mesh.servers[0]->local_address())
                        .ok());
        // Wait until the server has seen all 10 (answered or dropped).
        REQUIRE(run_until(loop, [&] {
            const auto& s = mesh.servers[0]->stats();
            return s.queries_answered + s.queries_dropped >= 10;
        }));
        // Let the answers that were sent arrive.
        bool later = false;
        uv::Timer t(loop);
        t.start(100, 0, [&] { later = true; });
        run_until(loop, [&] { return later; });
        CHECK(replies >= 1);
        CHECK(replies <= 3);
        CHECK(mesh.servers[0]->stats().queries_dropped >= 7);
        mesh.close();
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: close() completes every pending operation exactly once") {
    uv::Loop loop;
    int get_calls = 0, put_calls = 0, ping_calls = 0, find_calls = 0;
    bool put_failed = false, ping_failed = false;
    {
        // Bootstrap to a socket that never answers, so everything stays pending.
        uv::UdpSocket silent(loop);
        REQUIRE(silent.bind(loopback()).ok());
        auto addr = silent.local_address().value();
        DhtNodeConfig c;
        c.bind = loopback();
        c.bootstrap.push_back(HostPort{"127.0.0.1", addr.port});
        auto node = DhtNode::create(loop, c);
        REQUIRE(node.ok());
        auto kp = test::keypair(5);
        node.value()->get_mutable(kp.public_key().bytes(), {}, std::nullopt, nullptr,
                                  [&](GetOutcome) { ++get_calls; });
        node.value()->put_mutable(test::sign_item(kp, 1, "x"), std::nullopt, [&](Result<PutOutcome> r) {
            ++put_calls;
            put_failed = !r.ok();
        });
        node.value()->ping(addr, [&](Result<NodeInfo> r) {
            ++ping_calls;
            ping_failed = !r.ok();
        });
        node.value()->find_node(NodeId::random(), [&](std::vector<NodeInfo>) { ++find_calls; });
        // One loop turn so the requests are really out.
        bool turned = false;
        uv::Timer t(loop);
        t.start(20, 0, [&] { turned = true; });
        run_until(loop, [&] { return turned; });
        CHECK(get_calls + put_calls + ping_calls + find_calls == 0);
        node.value()->close();
        CHECK(get_calls == 1);
        CHECK(put_calls == 1);
        CHECK(ping_calls == 1);
        CHECK(find_calls == 1);
        CHECK(put_failed);
        CHECK(ping_failed);
        node.value()->close();  // idempotent
        // A new operation on a closed node completes at once.
        node.value()->ping(addr, [&](Result<NodeInfo>) { ++ping_calls; });
        CHECK(ping_calls == 2);
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: a bootstrap entry that fails at once does not start the bootstrap twice") {
    uv::Loop loop;
    {
        Mesh mesh(loop, 1);
        auto a = mesh.servers[0]->local_address();
        DhtNodeConfig c;
        c.bind = loopback();
        c.dns_upstream = loopback();
        c.bootstrap = {HostPort{a.ip.to_string(), a.port}, HostPort{"a..b", 6881}};
        auto client = DhtNode::create(loop, c);
        REQUIRE(client.ok());
        std::optional<Result<std::size_t>> ready;
        client.value()->start([&](Result<std::size_t> r) { ready = std::move(r); });
        REQUIRE(run_until(loop, [&] { return ready.has_value(); }));
        REQUIRE(ready->ok());
        CHECK(ready->value() == 1);
        // One find_node to the one server: the lookup began once, not again from the resolver.
        CHECK(client.value()->stats().sent == 1);
        REQUIRE(client.value()->bootstrap_errors().size() == 1);
        CHECK(client.value()->bootstrap_errors()[0].rfind("a..b: ", 0) == 0);
        client.value()->close();
        mesh.close();
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("dht node: a lookup with a dead bootstrap node ends after the request timeout") {
    uv::Loop loop;
    {
        uv::UdpSocket silent(loop);
        REQUIRE(silent.bind(loopback()).ok());
        DhtNodeConfig c;
        c.bind = loopback();
        c.request_timeout = 200ms;
        c.bootstrap.push_back(HostPort{"127.0.0.1", silent.local_address()->port});
        auto node = DhtNode::create(loop, c);
        REQUIRE(node.ok());
        std::optional<GetOutcome> out;
        node.value()->get_mutable(test::keypair(1).public_key().bytes(), {}, std::nullopt, nullptr,
                                  [&](GetOutcome o) { out = std::move(o); });
        REQUIRE(run_until(
            loop, [&] { return out.has_value(); }, 5000));
        CHECK_FALSE(out->best.has_value());
        CHECK(out->stats.timeouts >= 1);
        CHECK(out->stats.responded == 0);
        node.value()->close();
    }
    CHECK(test::close_loop(loop));
}
