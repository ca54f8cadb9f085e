// Forwarder against fake upstreams built from UdpSocket / TcpListener in the same loop.
// Every wait is bounded by a uv Timer; upstream timeouts are short.

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/uv.hpp"
#include "common/uv_tcp.hpp"
#include "resolver/upstream/forwarder.hpp"

#include "support/uv_loop.hpp"

using namespace pkdns;
using namespace pkdns::dns;
using pkdns::upstream::Forwarder;
using pkdns::upstream::ForwarderConfig;
namespace forward_error = pkdns::upstream::forward_error;

namespace {

using pkdns::test::close_loop;
using pkdns::test::run_until;

using pkdns::test::loopback;

Question question(const char* n, std::uint16_t t = type::A) {
    return Question{Name::parse(n).value(), t, class_IN};
}

Packet answer_for(const Packet& query, std::uint8_t last_octet = 1, int count = 1) {
    Packet r;
    r.id = query.id;
    r.flags = flag::QR | flag::RD | flag::RA;
    r.questions = query.questions;
    for (int i = 0; i < count; ++i)
        r.answers.push_back(Record{query.questions.at(0).name, type::A, class_IN, 300,
                                   Bytes{192, 0, 2, static_cast<std::uint8_t>(last_octet + i)}});
    return r;
}

// A fake DNS server on 127.0.0.1: UDP, plus TCP on the same port number.
struct FakeUpstream {
    using Handler = std::function<void(FakeUpstream&, const Packet& query, const SocketAddress& from)>;

    explicit FakeUpstream(uv::Loop& loop) : loop_(loop) {
        // UDP and TCP ports are separate spaces: retry until both are free (bounded).
        for (int attempt = 0; attempt < 20 && !ready; ++attempt) {
            udp = std::make_unique<uv::UdpSocket>(loop);
            tcp = std::make_unique<uv::TcpListener>(loop);
            REQUIRE(udp->bind(loopback()).ok());
            addr = udp->local_address().value();
            if (!tcp->bind(addr).ok()) continue;
            ready =
                tcp->listen(8, [this](std::unique_ptr<uv::TcpConnection> c) { on_tcp(std::move(c)); }).ok();
        }
        REQUIRE(ready);
        REQUIRE(udp->start_recv([this](ByteView data, const SocketAddress& from) {
                       auto q = parse_packet(data);
                       REQUIRE(q.ok());
                       queries.push_back(q.value());
                       sources.push_back(from);
                       if (on_udp) on_udp(*this, q.value(), from);
                   })
                    .ok());
    }

    void reply(const Packet& p, const SocketAddress& to) { REQUIRE(udp->send(encode_packet(p), to).ok()); }

    void on_tcp(std::unique_ptr<uv::TcpConnection> c) {
        auto* conn = c.get();
        auto buffer = std::make_shared<Bytes>();
        conn->set_on_eof([conn] { conn->shutdown(); });
        REQUIRE(conn->start_read([this, conn, buffer](ByteView d) {
                        buffer->insert(buffer->end(), d.begin(), d.end());
                        if (buffer->size() < 2) return;
                        std::size_t len = get_u16(buffer->data());
                        if (buffer->size() < 2 + len) return;
                        auto q = parse_packet(ByteView(*buffer).subspan(2, len));
                        REQUIRE(q.ok());
                        tcp_queries.push_back(q.value());
                        if (tcp_hang) return;
                        if (!on_tcp_query) return conn->close();
                        Bytes wire = encode_packet(on_tcp_query(q.value()));
                        Bytes frame;
                        put_u16(frame, static_cast<std::uint16_t>(wire.size()));
                        frame.insert(frame.end(), wire.begin(), wire.end());
                        REQUIRE(conn->write(frame).ok());
                    })
                    .ok());
        tcp_conns.push_back(std::move(c));
    }

    uv::Loop& loop_;
    std::unique_ptr<uv::UdpSocket> udp;
    std::unique_ptr<uv::TcpListener> tcp;
    bool ready = false;
    SocketAddress addr;
    Handler on_udp;                                     // unset = never answers
    std::function<Packet(const Packet&)> on_tcp_query;  // unset = close without answering
    bool tcp_hang = false;                              // read the query, never answer
    std::vector<Packet> queries;
    std::vector<SocketAddress> sources;
    std::vector<Packet> tcp_queries;
    std::vector<std::unique_ptr<uv::TcpConnection>> tcp_conns;
};

struct Outcome {
    int calls = 0;
    std::optional<Result<Packet>> result;
    Forwarder::Done done() {
        return [this](Result<Packet> r) {
            ++calls;
            result = std::move(r);
        };
    }
    bool ok() const { return result && result->ok(); }
};

ForwarderConfig config(std::vector<SocketAddress> upstreams, std::uint64_t timeout_ms = 1000) {
    ForwarderConfig c;
    c.upstreams = std::move(upstreams);
    c.timeout_ms = timeout_ms;
    return c;
}

}  // namespace

TEST_CASE("a correct answer is returned, the query has RD, EDNS 1232 and DO when asked") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            u.reply(answer_for(q, 9), from);
        };
        Forwarder fwd(loop, config({up.addr}));
        Outcome plain, dnssec;
        fwd.forward(question("www.example.com"), false, plain.done());
        fwd.forward(question("www.example.com", type::AAAA), true, dnssec.done());
        REQUIRE(run_until(loop, [&] { return plain.calls && dnssec.calls; }));
        CHECK(plain.calls == 1);
        REQUIRE(plain.ok());
        CHECK(plain.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 9});
        REQUIRE(dnssec.ok());
        CHECK(fwd.in_flight() == 0);

        REQUIRE(up.queries.size() == 2);
        for (std::size_t i = 0; i < 2; ++i) {
            const auto& q = up.queries[i];
            CHECK((q.flags & flag::RD) != 0);
            CHECK((q.flags & flag::QR) == 0);
            REQUIRE(q.questions.size() == 1);
            REQUIRE(q.additional.size() == 1);
            CHECK(q.additional[0].type == type::OPT);
            CHECK(q.additional[0].klass == 1232);
        }
        const bool first_is_a = up.queries[0].questions[0].type == type::A;
        const auto& a = up.queries[first_is_a ? 0 : 1];
        const auto& aaaa = up.queries[first_is_a ? 1 : 0];
        CHECK((a.additional[0].ttl & 0x8000) == 0);
        CHECK((aaaa.additional[0].ttl & 0x8000) != 0);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("a reply with the wrong ID is ignored, the right one is taken") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            auto wrong = answer_for(q, 66);
            wrong.id = static_cast<std::uint16_t>(q.id ^ 0x5a5a);
            u.reply(wrong, from);
            u.reply(answer_for(q, 1), from);
        };
        Forwarder fwd(loop, config({up.addr}));
        Outcome out;
        fwd.forward(question("www.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        REQUIRE(out.ok());
        CHECK(out.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 1});
        CHECK(out.calls == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("a reply for another question or from another address is ignored") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        uv::UdpSocket spoofer(loop);
        REQUIRE(spoofer.bind(loopback()).ok());
        up.on_udp = [&spoofer](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            auto other_name = answer_for(q, 66);
            other_name.questions[0].name = Name::parse("evil.example.com").value();
            u.reply(other_name, from);
            auto other_type = answer_for(q, 67);
            other_type.questions[0].type = type::AAAA;
            u.reply(other_type, from);
            auto no_question = answer_for(q, 68);
            no_question.questions.clear();
            u.reply(no_question, from);
            auto not_a_response = answer_for(q, 69);
            not_a_response.flags &= static_cast<std::uint16_t>(~flag::QR);
            u.reply(not_a_response, from);
            REQUIRE(spoofer.send(encode_packet(answer_for(q, 70)), from).ok());  // right ID, wrong source
            REQUIRE(u.udp->send(as_bytes("garbage"), from).ok());
            // Name in another case is the same question (RFC 4343).
            auto good = answer_for(q, 1);
            good.questions[0].name = Name::parse("WWW.EXAMPLE.com").value();
            u.reply(good, from);
        };
        Forwarder fwd(loop, config({up.addr}));
        Outcome out;
        fwd.forward(question("www.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        REQUIRE(out.ok());
        CHECK(out.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 1});
    }
    CHECK(close_loop(loop));
}

TEST_CASE("only mismatched replies: the query times out with an error") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            auto other = answer_for(q, 66);
            other.questions[0].name = Name::parse("evil.example.com").value();
            u.reply(other, from);
        };
        Forwarder fwd(loop, config({up.addr}, 200));
        Outcome out;
        fwd.forward(question("www.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        REQUIRE(out.result);
        REQUIRE_FALSE(out.result->ok());
        CHECK(out.result->error().code == forward_error::all_failed);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TC=1 over UDP: the same upstream is asked over TCP") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            auto tc = answer_for(q, 1, 0);
            tc.flags |= flag::TC;
            u.reply(tc, from);
        };
        // 150 A records: far more than 1232 bytes.
        up.on_tcp_query = [](const Packet& q) { return answer_for(q, 1, 150); };
        Forwarder fwd(loop, config({up.addr}));
        Outcome out;
        fwd.forward(question("big.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        REQUIRE(out.ok());
        CHECK(out.result->value().answers.size() == 150);
        CHECK((out.result->value().flags & flag::TC) == 0);
        CHECK(up.queries.size() == 1);
        REQUIRE(up.tcp_queries.size() == 1);
        CHECK(up.tcp_queries[0].questions.at(0).name == Name::parse("big.example.com").value());
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TC=1 and the TCP side closes without an answer: next upstream") {
    uv::Loop loop;
    {
        FakeUpstream broken(loop), good(loop);
        broken.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            auto tc = answer_for(q, 1, 0);
            tc.flags |= flag::TC;
            u.reply(tc, from);
        };
        good.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            u.reply(answer_for(q, 5), from);
        };
        Forwarder fwd(loop, config({broken.addr, good.addr}));
        Outcome out;
        fwd.forward(question("www.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        REQUIRE(out.ok());
        CHECK(out.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 5});
        CHECK(broken.tcp_queries.size() == 1);
        CHECK(good.queries.size() == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("a silent upstream times out and the next one answers") {
    uv::Loop loop;
    {
        FakeUpstream silent(loop), good(loop);
        good.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            u.reply(answer_for(q, 3), from);
        };
        Forwarder fwd(loop, config({silent.addr, good.addr}, 200));
        Outcome out;
        loop.update_time();
        const auto start = loop.now_ms();
        fwd.forward(question("www.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        REQUIRE(out.ok());
        CHECK(out.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 3});
        CHECK(loop.now_ms() - start >= 200);
        CHECK(silent.queries.size() == 1);
        CHECK(good.queries.size() == 1);
        CHECK(silent.queries[0].questions.at(0).name == good.queries[0].questions.at(0).name);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("all upstreams dead: an error within the timeouts") {
    uv::Loop loop;
    {
        FakeUpstream a(loop), b(loop);
        Forwarder fwd(loop, config({a.addr, b.addr}, 150));
        Outcome out;
        loop.update_time();
        const auto start = loop.now_ms();
        fwd.forward(question("www.example.com"), false, out.done());
        REQUIRE(run_until(loop, [&] { return out.calls > 0; }));
        const auto elapsed = loop.now_ms() - start;
        REQUIRE(out.result);
        REQUIRE_FALSE(out.result->ok());
        CHECK(out.result->error().code == forward_error::all_failed);
        CHECK(out.result->error().message.find(a.addr.to_string()) != std::string::npos);
        CHECK(out.result->error().message.find(b.addr.to_string()) != std::string::npos);
        CHECK(elapsed >= 300);
        CHECK(elapsed < 2000);
        CHECK(a.queries.size() == 1);
        CHECK(b.queries.size() == 1);
        CHECK(out.calls == 1);
        CHECK(fwd.in_flight() == 0);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("IDs are random and queries spread over the pool's source ports") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            u.reply(answer_for(q), from);
        };
        Forwarder fwd(loop, config({up.addr}));  // default pool: 32 sockets
        constexpr int n = 16;
        std::vector<Outcome> outs(n);
        for (auto& o : outs) fwd.forward(question("www.example.com"), false, o.done());
        CHECK(fwd.in_flight() == n);
        REQUIRE(run_until(loop, [&] {
            for (auto& o : outs)
                if (!o.calls) return false;
            return true;
        }));
        for (auto& o : outs) CHECK(o.ok());
        REQUIRE(up.queries.size() == n);
        std::set<std::uint16_t> ids;
        std::set<std::uint16_t> ports;
        for (auto& q : up.queries) ids.insert(q.id);
        for (auto& s : up.sources) ports.insert(s.port);
        // 16 random 16-bit IDs collide with probability ~0.2%; sequential or fixed IDs fail.
        CHECK(ids.size() >= n - 1);
        // 16 picks out of 32 sockets: all on one socket has probability 32^-15.
        CHECK(ports.size() > 1);
        CHECK(fwd.udp_sockets_open() == fwd.udp_sockets_opened());
        CHECK(fwd.udp_sockets_open() <= 32);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("an ID in flight on the same socket and upstream is not reused") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            // Answer only once both are in flight, each with its own question's address.
            if (u.queries.size() < 2) return;
            for (auto& pending : u.queries)
                u.reply(answer_for(pending, pending.questions[0].name.to_string().starts_with("one") ? 1 : 2),
                        from);
            (void)q;
        };
        auto c = config({up.addr});
        c.udp_sockets = 1;
        // Socket choice is bits 16+, the ID bits 0-15: 7, 7 again (collision), then 8.
        std::vector<std::uint32_t> draws{0x00000007, 0x00010007, 0x00020008};
        std::size_t next = 0;
        c.random_for_tests = [&] { return draws.at(std::min(next++, draws.size() - 1)); };
        Forwarder fwd(loop, c);
        Outcome one, two;
        fwd.forward(question("one.example"), false, one.done());
        fwd.forward(question("two.example"), false, two.done());
        CHECK(next == 3);
        REQUIRE(run_until(loop, [&] { return one.calls && two.calls; }));
        REQUIRE(up.queries.size() == 2);
        CHECK(up.queries[0].id == 7);
        CHECK(up.queries[1].id == 8);
        CHECK(up.sources[0] == up.sources[1]);  // same pooled socket
        REQUIRE(one.ok());
        REQUIRE(two.ok());
        CHECK(one.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 1});
        CHECK(two.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 2});
    }
    CHECK(close_loop(loop));
}

TEST_CASE("pooled socket: spoofed replies are rejected, the right ones accepted") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        uv::UdpSocket spoofer(loop);
        REQUIRE(spoofer.bind(loopback()).ok());
        up.on_udp = [&spoofer](FakeUpstream& u, const Packet&, const SocketAddress& from) {
            if (u.queries.size() < 2) return;
            const Packet& a = u.queries[0];
            const Packet& b = u.queries[1];
            REQUIRE(a.id != b.id);
            // A's answer with B's ID: that ID is in flight on this socket, but for B's question.
            auto crossed = answer_for(a, 66);
            crossed.id = b.id;
            u.reply(crossed, from);
            auto wrong_id = answer_for(a, 67);
            wrong_id.id = static_cast<std::uint16_t>(a.id ^ b.id ^ 0x1);
            if (wrong_id.id != a.id && wrong_id.id != b.id) u.reply(wrong_id, from);
            auto wrong_question = answer_for(b, 68);
            wrong_question.questions[0].name = Name::parse("evil.example").value();
            u.reply(wrong_question, from);
            REQUIRE(spoofer.send(encode_packet(answer_for(a, 69)), from).ok());  // wrong source
            REQUIRE(spoofer.send(encode_packet(answer_for(b, 69)), from).ok());
            u.reply(answer_for(a, 1), from);
            u.reply(answer_for(b, 2), from);
        };
        auto c = config({up.addr});
        c.udp_sockets = 1;  // both queries share one socket
        Forwarder fwd(loop, c);
        Outcome a, b;
        fwd.forward(question("a.example"), false, a.done());
        fwd.forward(question("b.example"), false, b.done());
        REQUIRE(run_until(loop, [&] { return a.calls && b.calls; }));
        REQUIRE(up.sources.size() == 2);
        CHECK(up.sources[0] == up.sources[1]);
        REQUIRE(a.ok());
        REQUIRE(b.ok());
        CHECK(a.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 1});
        CHECK(b.result->value().answers.at(0).rdata == Bytes{192, 0, 2, 2});
        CHECK(a.calls == 1);
        CHECK(b.calls == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("sockets rotate after queries_per_socket queries and when idle") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            u.reply(answer_for(q), from);
        };
        auto run_one = [&](Forwarder& fwd) {
            Outcome o;
            fwd.forward(question("www.example.com"), false, o.done());
            REQUIRE(run_until(loop, [&] { return o.calls > 0; }));
            CHECK(o.ok());
        };
        SECTION("after queries_per_socket") {
            auto c = config({up.addr});
            c.udp_sockets = 1;
            c.queries_per_socket = 2;
            Forwarder fwd(loop, c);
            for (int i = 0; i < 6; ++i) run_one(fwd);
            CHECK(fwd.udp_sockets_opened() == 3);
            CHECK(fwd.udp_sockets_open() == 1);  // retired ones are closed
            REQUIRE(up.sources.size() == 6);
            CHECK(up.sources[0].port == up.sources[1].port);
            CHECK(up.sources[2].port == up.sources[3].port);
            CHECK(up.sources[4].port == up.sources[5].port);
            std::set<std::uint16_t> ports;
            for (auto& s : up.sources) ports.insert(s.port);
            CHECK(ports.size() >= 2);  // a kernel-random port could repeat, rarely
        }
        SECTION("when idle (socket_idle_ms = 0: every pick finds it idle)") {
            auto c = config({up.addr});
            c.udp_sockets = 1;
            c.socket_idle_ms = 0;
            Forwarder fwd(loop, c);
            for (int i = 0; i < 4; ++i) run_one(fwd);
            CHECK(fwd.udp_sockets_opened() == 4);
            CHECK(fwd.udp_sockets_open() == 1);
        }
        SECTION("a retired socket stays open until its in-flight query is answered") {
            auto c = config({up.addr});
            c.udp_sockets = 1;
            c.queries_per_socket = 1;
            Forwarder fwd(loop, c);
            Outcome first, second;
            fwd.forward(question("one.example"), false, first.done());
            fwd.forward(question("two.example"), false, second.done());
            CHECK(fwd.udp_sockets_open() == 2);
            REQUIRE(run_until(loop, [&] { return first.calls && second.calls; }));
            CHECK(first.ok());
            CHECK(second.ok());
            CHECK(fwd.udp_sockets_open() == 1);
        }
    }
    CHECK(close_loop(loop));
}

TEST_CASE("close() with queries in flight on pooled and retired sockets leaves the loop closable") {
    uv::Loop loop;
    auto c = ForwarderConfig{};
    std::unique_ptr<Forwarder> fwd;
    Outcome a, b;
    {
        FakeUpstream silent(loop);
        c = config({silent.addr}, 5000);
        c.udp_sockets = 1;
        c.queries_per_socket = 1;
        fwd = std::make_unique<Forwarder>(loop, c);
        fwd->forward(question("a.example"), false, a.done());
        fwd->forward(question("b.example"), false, b.done());  // retires a's socket
        REQUIRE(run_until(loop, [&] { return silent.queries.size() == 2; }));
        CHECK(fwd->udp_sockets_open() == 2);
        fwd->close();
        CHECK(fwd->udp_sockets_open() == 0);
        CHECK(fwd->in_flight() == 0);
    }
    CHECK(a.calls == 1);
    CHECK(b.calls == 1);
    // The forwarder object still exists: close() alone released every handle.
    CHECK(close_loop(loop));
}

TEST_CASE("over max_in_flight the query fails at once") {
    uv::Loop loop;
    {
        FakeUpstream silent(loop);
        auto c = config({silent.addr}, 5000);
        c.max_in_flight = 2;
        Forwarder fwd(loop, c);
        Outcome a, b, over;
        fwd.forward(question("a.example"), false, a.done());
        fwd.forward(question("b.example"), false, b.done());
        fwd.forward(question("c.example"), false, over.done());
        CHECK(over.calls == 1);
        REQUIRE(over.result);
        REQUIRE_FALSE(over.result->ok());
        CHECK(over.result->error().code == forward_error::overloaded);
        CHECK(a.calls == 0);
        CHECK(fwd.in_flight() == 2);

        // close(): each pending query gets an error exactly once; later calls fail at once.
        fwd.close();
        CHECK(a.calls == 1);
        CHECK(b.calls == 1);
        CHECK(a.result->error().code == forward_error::closed);
        Outcome late;
        fwd.forward(question("d.example"), false, late.done());
        CHECK(late.calls == 1);
        CHECK(late.result->error().code == forward_error::closed);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("destroying the forwarder fails pending queries, also one waiting on TCP") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            auto tc = answer_for(q, 1, 0);
            tc.flags |= flag::TC;
            u.reply(tc, from);
        };
        up.tcp_hang = true;
        FakeUpstream silent(loop);
        Outcome on_tcp, on_udp;
        {
            Forwarder fwd(loop, config({up.addr}, 5000));
            Forwarder fwd2(loop, config({silent.addr}, 5000));
            fwd.forward(question("www.example.com"), false, on_tcp.done());
            fwd2.forward(question("www.example.com"), false, on_udp.done());
            REQUIRE(
                run_until(loop, [&] { return up.tcp_queries.size() == 1 && silent.queries.size() == 1; }));
            CHECK(on_tcp.calls == 0);
        }
        CHECK(on_tcp.calls == 1);
        CHECK(on_udp.calls == 1);
        CHECK(on_tcp.result->error().code == forward_error::closed);
        // Nothing fires later.
        REQUIRE_FALSE(run_until(
            loop, [&] { return on_tcp.calls > 1 || on_udp.calls > 1; }, 300));
    }
    CHECK(close_loop(loop));
}

TEST_CASE("a done callback may start another query") {
    uv::Loop loop;
    {
        FakeUpstream up(loop);
        up.on_udp = [](FakeUpstream& u, const Packet& q, const SocketAddress& from) {
            u.reply(answer_for(q), from);
        };
        Forwarder fwd(loop, config({up.addr}));
        Outcome second;
        int first = 0;
        fwd.forward(question("one.example"), false, [&](Result<Packet> r) {
            ++first;
            CHECK(r.ok());
            fwd.forward(question("two.example"), false, second.done());
        });
        REQUIRE(run_until(loop, [&] { return second.calls > 0; }));
        CHECK(first == 1);
        CHECK(second.ok());
    }
    CHECK(close_loop(loop));
}
