// DnsListener on loopback: one uv loop, every wait bounded by a uv Timer deadline.

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "common/dns/record.hpp"
#include "common/uv.hpp"
#include "common/uv_tcp.hpp"
#include "resolver/server/dns_listener.hpp"

#include "support/uv_loop.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;
using namespace pkdns::server;

namespace {

using pkdns::test::close_loop;
using pkdns::test::run_until;

SocketAddress loopback4() {
    return SocketAddress{IpAddress::v4(127, 0, 0, 1), 0};
}

Bytes query(std::uint16_t id, const std::string& name = "example.com") {
    dns::Packet p;
    p.id = id;
    p.flags = dns::flag::RD;
    p.questions.push_back(dns::Question{dns::Name::parse(name).value(), dns::type::A, dns::class_IN});
    return dns::encode_packet(p);
}

Bytes framed(ByteView message) {
    Bytes out;
    put_u16(out, static_cast<std::uint16_t>(message.size()));
    out.insert(out.end(), message.begin(), message.end());
    return out;
}

std::uint16_t id_of(ByteView message) {
    return message.size() >= 2 ? get_u16(message.data()) : 0;
}

// The pipeline's entry point as a recorder: rejections as the Frontend makes them (parse_request),
// queries recorded and answered when the test chooses; `fast` may answer first, like the
// Frontend's wire cache.
struct Recorder {
    std::vector<Request> requests;
    std::vector<ClientInfo> clients;
    std::vector<ReplyFn> replies;
    std::size_t rejected = 0;
    std::size_t queries[3] = {};  // by transport
    std::function<std::optional<Outcome>(ByteView, const ClientInfo&)> fast;
    Bytes out;

    Process process() {
        return [this](ByteView message, const ClientInfo& c, MakeReply later) -> Outcome {
            if (fast) {
                if (auto o = fast(message, c)) {
                    ++queries[static_cast<int>(c.transport)];
                    return *o;
                }
            }
            auto parsed = parse_request(message);
            if (auto* rejection = std::get_if<Rejection>(&parsed)) {
                ++rejected;
                if (rejection->reply.empty()) return Outcome{};
                out = std::move(rejection->reply);
                return Outcome{Verdict::answer, out};
            }
            ++queries[static_cast<int>(c.transport)];
            requests.push_back(std::move(std::get<Request>(parsed)));
            clients.push_back(c);
            replies.push_back(later());
            return Outcome{Verdict::later, {}};
        };
    }
    void answer(std::size_t i, Transport t) { replies.at(i)(finalize(requests.at(i), dns::Packet{}, t)); }
};

// A TCP client collecting length-prefixed messages.
struct TcpClient {
    std::unique_ptr<uv::TcpConnection> conn;
    Bytes buffer;
    std::vector<Bytes> messages;
    bool connected = false;
    bool closed = false;

    TcpClient(uv::Loop& loop, const SocketAddress& to) : conn(std::make_unique<uv::TcpConnection>(loop)) {
        conn->set_on_close([this](Result<void>) { closed = true; });
        conn->set_on_eof([this] { conn->close(); });
        conn->connect(to, 3000, [this](Result<void> r) {
            if (!r) return;
            connected = true;
            (void)conn->start_read([this](ByteView data) {
                buffer.insert(buffer.end(), data.begin(), data.end());
                while (buffer.size() >= 2 && buffer.size() - 2 >= get_u16(buffer.data())) {
                    const std::size_t len = get_u16(buffer.data());
                    messages.emplace_back(buffer.begin() + 2,
                                          buffer.begin() + 2 + static_cast<std::ptrdiff_t>(len));
                    buffer.erase(buffer.begin(), buffer.begin() + 2 + static_cast<std::ptrdiff_t>(len));
                }
            });
        });
    }
};

struct UdpClient {
    uv::UdpSocket socket;
    std::vector<Bytes> messages;

    UdpClient(uv::Loop& loop, const SocketAddress& bind_to) : socket(loop) {
        REQUIRE(socket.bind(bind_to).ok());
        REQUIRE(socket
                    .start_recv([this](ByteView data, const SocketAddress&) {
                        messages.emplace_back(data.begin(), data.end());
                    })
                    .ok());
    }
};

}  // namespace

TEST_CASE("UDP: a query reaches the handler and the reply comes back with the same id") {
    uv::Loop loop;
    {
        Recorder rec;
        DnsListener listener(loop, rec.process());
        REQUIRE(listener.listen(loopback4()).ok());
        const SocketAddress server = listener.addresses().at(0);
        CHECK(server.port != 0);

        UdpClient client(loop, loopback4());
        REQUIRE(client.socket.send(query(0xA1B2), server).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
        CHECK(rec.requests[0].id == 0xA1B2);
        CHECK(rec.clients[0].transport == Transport::udp);
        CHECK(rec.clients[0].address == client.socket.local_address().value());

        rec.answer(0, Transport::udp);
        REQUIRE(run_until(loop, [&] { return !client.messages.empty(); }));
        auto reply = dns::parse_packet(client.messages[0]);
        REQUIRE(reply.ok());
        CHECK(reply->id == 0xA1B2);
        CHECK((reply->flags & dns::flag::QR) != 0);

        // A response is dropped; an unparsable message gets FORMERR without reaching the handler.
        Bytes response = query(0x0001);
        response[2] |= 0x80;
        REQUIRE(client.socket.send(response, server).ok());
        Bytes garbage = {0x0C, 0x0D, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3F, 'x'};
        REQUIRE(client.socket.send(garbage, server).ok());
        REQUIRE(run_until(loop, [&] { return client.messages.size() == 2; }));
        CHECK(id_of(client.messages[1]) == 0x0C0D);
        CHECK((client.messages[1][3] & 0x0f) == dns::rcode::FORMERR);
        CHECK(rec.requests.size() == 1);
        CHECK(rec.rejected == 2);
        CHECK(rec.queries[0] == 1);
        CHECK(listener.stats().udp_messages == 3);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TCP: two pipelined queries on one connection answered out of order") {
    uv::Loop loop;
    {
        Recorder rec;
        DnsListener listener(loop, rec.process());
        REQUIRE(listener.listen(loopback4()).ok());
        TcpClient client(loop, listener.addresses().at(0));
        REQUIRE(run_until(loop, [&] { return client.connected; }));

        Bytes both = framed(query(0x1111));
        Bytes second = framed(query(0x2222));
        both.insert(both.end(), second.begin(), second.end());
        REQUIRE(client.conn->write(both).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 2; }));
        CHECK(rec.clients[0].transport == Transport::tcp);
        CHECK(rec.clients[0].connection_id == rec.clients[1].connection_id);

        rec.answer(1, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return client.messages.size() == 1; }));
        rec.answer(0, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return client.messages.size() == 2; }));
        CHECK(id_of(client.messages[0]) == 0x2222);
        CHECK(id_of(client.messages[1]) == 0x1111);
        CHECK_FALSE(client.closed);
        CHECK(listener.tcp_connections() == 1);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TCP: frames beyond the pending cap wait until a reply frees a slot") {
    uv::Loop loop;
    {
        Recorder rec;
        ListenerOptions options;
        options.max_pending_per_connection = 1;
        DnsListener listener(loop, rec.process(), options);
        REQUIRE(listener.listen(loopback4()).ok());
        TcpClient client(loop, listener.addresses().at(0));
        REQUIRE(run_until(loop, [&] { return client.connected; }));
        Bytes both = framed(query(0x0A01));
        Bytes second = framed(query(0x0A02));
        both.insert(both.end(), second.begin(), second.end());
        REQUIRE(client.conn->write(both).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
        // A loop turn later the second query is still held back.
        bool turned = false;
        uv::Timer t(loop);
        t.start(20, 0, [&] { turned = true; });
        REQUIRE(run_until(loop, [&] { return turned; }));
        CHECK(rec.requests.size() == 1);
        rec.answer(0, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 2; }));
        CHECK(rec.requests[1].id == 0x0A02);
        rec.answer(1, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return client.messages.size() == 2; }));
        CHECK(id_of(client.messages[0]) == 0x0A01);
        CHECK(id_of(client.messages[1]) == 0x0A02);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("a throwing pipeline does not hold the connection's slot") {
    uv::Loop loop;
    {
        int calls = 0;
        ListenerOptions options;
        options.max_pending_per_connection = 1;
        DnsListener listener(
            loop,
            [&](ByteView message, const ClientInfo&, MakeReply later) -> Outcome {
                if (++calls == 1) throw std::runtime_error("pipeline bug");
                auto parsed = parse_request(message);
                later()(finalize(std::get<Request>(parsed), dns::Packet{}, Transport::tcp));
                return Outcome{Verdict::later, {}};
            },
            options);
        REQUIRE(listener.listen(loopback4()).ok());
        TcpClient client(loop, listener.addresses().at(0));
        REQUIRE(run_until(loop, [&] { return client.connected; }));
        Bytes both = framed(query(0x0B01));
        Bytes second = framed(query(0x0B02));
        both.insert(both.end(), second.begin(), second.end());
        REQUIRE(client.conn->write(both).ok());
        REQUIRE(run_until(loop, [&] { return client.messages.size() == 1; }));
        CHECK(calls == 2);
        CHECK(id_of(client.messages[0]) == 0x0B02);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TCP: a frame split across writes is reassembled") {
    uv::Loop loop;
    {
        Recorder rec;
        DnsListener listener(loop, rec.process());
        REQUIRE(listener.listen(loopback4()).ok());
        TcpClient client(loop, listener.addresses().at(0));
        REQUIRE(run_until(loop, [&] { return client.connected; }));

        const Bytes frame = framed(query(0x3333));
        // First only one byte of the length, then the rest of the header, then the remainder.
        const std::size_t cuts[] = {0, 1, 8, frame.size()};
        for (int i = 0; i < 3; ++i) {
            REQUIRE(client.conn->write(ByteView(frame).subspan(cuts[i], cuts[i + 1] - cuts[i])).ok());
            REQUIRE(run_until(loop, [&] { return client.conn->write_queue_bytes() == 0; }));
            if (i < 2) {
                // Give the server a loop turn to read the partial bytes before the next piece.
                bool turned = false;
                uv::Timer t(loop);
                t.start(5, 0, [&] { turned = true; });
                REQUIRE(run_until(loop, [&] { return turned; }));
                CHECK(rec.requests.empty());
            }
        }
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
        CHECK(rec.requests[0].id == 0x3333);
        rec.answer(0, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return client.messages.size() == 1; }));
        CHECK(id_of(client.messages[0]) == 0x3333);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TCP: bad frames close only their own connection") {
    uv::Loop loop;
    {
        Recorder rec;
        DnsListener listener(loop, rec.process());
        REQUIRE(listener.listen(loopback4()).ok());
        const SocketAddress server = listener.addresses().at(0);
        TcpClient good(loop, server), oversized(loop, server), runt(loop, server), zero(loop, server);
        REQUIRE(run_until(
            loop, [&] { return good.connected && oversized.connected && runt.connected && zero.connected; }));

        Bytes big = {0xFF, 0xFF};
        big.resize(600, 0x41);
        REQUIRE(oversized.conn->write(big).ok());
        REQUIRE(runt.conn->write(Bytes{0x00, 0x03, 'a', 'b', 'c'}).ok());
        REQUIRE(zero.conn->write(Bytes{0x00, 0x00}).ok());
        REQUIRE(run_until(loop, [&] { return oversized.closed && runt.closed && zero.closed; }));
        CHECK(listener.stats().tcp_closed_protocol == 3);
        CHECK(rec.requests.empty());

        REQUIRE(good.conn->write(framed(query(0x4444))).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
        rec.answer(0, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return good.messages.size() == 1; }));
        CHECK(id_of(good.messages[0]) == 0x4444);
        CHECK_FALSE(good.closed);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TCP: idle connections time out and late replies are dropped silently") {
    uv::Loop loop;
    {
        Recorder rec;
        ListenerOptions options;
        options.tcp_idle_timeout_ms = 200;
        DnsListener listener(loop, rec.process(), options);
        REQUIRE(listener.listen(loopback4()).ok());
        const SocketAddress server = listener.addresses().at(0);

        // Silent from the start (a half-open connection as far as we can tell).
        loop.update_time();
        const std::uint64_t start = loop.now_ms();
        TcpClient silent(loop, server);
        REQUIRE(run_until(
            loop, [&] { return silent.closed; }, 3000));
        loop.update_time();
        CHECK(loop.now_ms() - start >= 150);
        CHECK(listener.stats().tcp_closed_idle >= 1);

        // A query is dispatched, then a zero-length frame makes the server close the
        // connection: the reply owed for that query goes nowhere.
        TcpClient asker(loop, server);
        REQUIRE(run_until(loop, [&] { return asker.connected; }));
        Bytes bytes = framed(query(0x5555));
        bytes.push_back(0);
        bytes.push_back(0);
        REQUIRE(asker.conn->write(bytes).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1 && listener.tcp_connections() == 0; }));
        rec.answer(0, Transport::tcp);  // connection gone: no effect, no crash
        REQUIRE(run_until(loop, [&] { return asker.closed; }));
        CHECK(asker.messages.empty());
    }
    CHECK(close_loop(loop));
}

TEST_CASE("TCP: over the connection cap the oldest idle connection makes room") {
    uv::Loop loop;
    {
        Recorder rec;
        ListenerOptions options;
        options.max_tcp_connections = 2;
        DnsListener listener(loop, rec.process(), options);
        REQUIRE(listener.listen(loopback4()).ok());
        const SocketAddress server = listener.addresses().at(0);
        TcpClient first(loop, server);
        REQUIRE(run_until(loop, [&] { return first.connected && listener.tcp_connections() == 1; }));
        TcpClient second(loop, server);
        REQUIRE(run_until(loop, [&] { return second.connected && listener.tcp_connections() == 2; }));
        // `second` has a query in flight, so only `first` is idle.
        REQUIRE(second.conn->write(framed(query(0x6666))).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
        TcpClient third(loop, server);
        REQUIRE(run_until(loop, [&] { return first.closed; }));
        CHECK_FALSE(second.closed);
        REQUIRE(third.conn->write(framed(query(0x7777))).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 2; }));
        rec.answer(0, Transport::tcp);
        rec.answer(1, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return second.messages.size() == 1 && third.messages.size() == 1; }));
        CHECK(id_of(second.messages[0]) == 0x6666);
        CHECK(id_of(third.messages[0]) == 0x7777);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("a reply after the listener is destroyed is dropped") {
    uv::Loop loop;
    {
        Recorder rec;
        std::optional<DnsListener> listener;
        listener.emplace(loop, rec.process());
        REQUIRE(listener->listen(loopback4()).ok());
        UdpClient client(loop, loopback4());
        REQUIRE(client.socket.send(query(0x8888), listener->addresses().at(0)).ok());
        REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
        listener.reset();
        rec.answer(0, Transport::udp);
        CHECK(client.messages.empty());
    }
    CHECK(close_loop(loop));
}

TEST_CASE("IPv6 ::1 listener answers UDP and TCP") {
    uv::Loop loop;
    {
        Recorder rec;
        DnsListener listener(loop, rec.process());
        const SocketAddress v6{IpAddress::parse("::1").value(), 0};
        auto r = listener.listen(v6);
        if (!r) {
            WARN("::1 unavailable on this machine, IPv6 listener test skipped: " << r.error().message);
        } else {
            const SocketAddress server = listener.addresses().at(0);
            CHECK(server.ip.is_v6());

            UdpClient udp(loop, v6);
            REQUIRE(udp.socket.send(query(0x9191), server).ok());
            REQUIRE(run_until(loop, [&] { return rec.requests.size() == 1; }));
            CHECK(rec.clients[0].address.ip.is_v6());
            rec.answer(0, Transport::udp);
            REQUIRE(run_until(loop, [&] { return udp.messages.size() == 1; }));
            CHECK(id_of(udp.messages[0]) == 0x9191);

            TcpClient tcp(loop, server);
            REQUIRE(run_until(loop, [&] { return tcp.connected; }));
            REQUIRE(tcp.conn->write(framed(query(0x9292))).ok());
            REQUIRE(run_until(loop, [&] { return rec.requests.size() == 2; }));
            rec.answer(1, Transport::tcp);
            REQUIRE(run_until(loop, [&] { return tcp.messages.size() == 1; }));
            CHECK(id_of(tcp.messages[0]) == 0x9292);
        }
    }
    CHECK(close_loop(loop));
}

TEST_CASE("immediate answers: UDP (in batches) and TCP sent in place and waiting ones when ready") {
    uv::Loop loop;
    {
        Recorder rec;
        DnsListener listener(loop, rec.process());
        std::vector<ClientInfo> fast_clients;
        Bytes canned;
        // Answers queries for fast.example (the reply echoes the ID), drops ids 0xDD00.., declines the rest.
        rec.fast = [&](ByteView q, const ClientInfo& client) -> std::optional<Outcome> {
            Bytes probe = query(id_of(q), "fast.example");
            if (q.size() != probe.size() || !std::equal(q.begin() + 2, q.end(), probe.begin() + 2))
                return std::nullopt;
            fast_clients.push_back(client);
            if ((id_of(q) & 0xFF00) == 0xDD00) return Outcome{};
            canned = probe;
            canned[2] |= 0x80;  // QR
            return Outcome{Verdict::answer, canned};
        };
        REQUIRE(listener.listen(loopback4()).ok());
        const SocketAddress server = listener.addresses().at(0);

        // A burst of UDP queries, answered from the fast path in batches, all with their IDs.
        UdpClient client(loop, loopback4());
        constexpr int burst = 100;
        for (int i = 0; i < burst; ++i)
            REQUIRE(client.socket.send(query(static_cast<std::uint16_t>(0x1000 + i), "fast.example"), server)
                        .ok());
        REQUIRE(client.socket.send(query(0xDD01, "fast.example"), server).ok());  // answered with nothing
        REQUIRE(client.socket.send(query(0x2222, "slow.example"), server).ok());
        REQUIRE(run_until(loop, [&] { return client.messages.size() == burst && rec.requests.size() == 1; }));
        std::vector<bool> seen(burst, false);
        for (const auto& m : client.messages) {
            const int i = id_of(m) - 0x1000;
            REQUIRE(i >= 0);
            REQUIRE(i < burst);
            CHECK((m[2] & 0x80) != 0);
            seen[static_cast<std::size_t>(i)] = true;
        }
        CHECK(std::count(seen.begin(), seen.end(), true) == burst);
        CHECK(rec.requests[0].id == 0x2222);  // declined: parsed and waiting for its answer
        CHECK(fast_clients.size() == burst + 1);
        CHECK(fast_clients[0].transport == Transport::udp);
        CHECK(fast_clients[0].address == client.socket.local_address().value());
        CHECK(rec.queries[0] == burst + 2);
        CHECK(listener.stats().udp_messages == burst + 2);
        rec.answer(0, Transport::udp);
        REQUIRE(run_until(loop, [&] { return client.messages.size() == burst + 1; }));
        CHECK(id_of(client.messages.back()) == 0x2222);

        // TCP: the fast path answers a frame in place; the connection keeps working for the rest.
        TcpClient tcp(loop, server);
        REQUIRE(run_until(loop, [&] { return tcp.connected; }));
        Bytes frames = framed(query(0x3333, "fast.example"));
        Bytes slow = framed(query(0x4444, "slow.example"));
        frames.insert(frames.end(), slow.begin(), slow.end());
        REQUIRE(tcp.conn->write(frames).ok());
        REQUIRE(run_until(loop, [&] { return tcp.messages.size() == 1 && rec.requests.size() == 2; }));
        CHECK(id_of(tcp.messages[0]) == 0x3333);
        CHECK(fast_clients.back().transport == Transport::tcp);
        CHECK(fast_clients.back().connection_id != 0);
        rec.answer(1, Transport::tcp);
        REQUIRE(run_until(loop, [&] { return tcp.messages.size() == 2; }));
        CHECK(id_of(tcp.messages[1]) == 0x4444);
        CHECK(rec.queries[1] == 2);
        CHECK(listener.stats().tcp_messages == 2);
    }
    CHECK(close_loop(loop));
}
