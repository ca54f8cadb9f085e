// TcpListener / TcpConnection on loopback, one loop, every wait bounded by a uv Timer.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "common/uv.hpp"
#include "common/uv_tcp.hpp"

#include "support/uv_loop.hpp"

using namespace pkdns;

namespace {

using pkdns::test::close_loop;
using pkdns::test::run_until;

using pkdns::test::loopback;

// A port on 127.0.0.1 with nothing listening: bound once by us and released.
std::uint16_t unused_port(uv::Loop& loop) {
    std::uint16_t port = 0;
    {
        uv::TcpListener l(loop);
        REQUIRE(l.bind(loopback()).ok());
        port = l.local_address().value().port;
    }
    loop.run();  // let the close callback run
    return port;
}

}  // namespace

TEST_CASE("echo round trip through a listener and a client connection") {
    uv::Loop loop;
    {
        uv::TcpListener listener(loop);
        REQUIRE(listener.bind(loopback()).ok());
        std::vector<std::unique_ptr<uv::TcpConnection>> accepted;
        int server_closed = 0;
        bool server_close_ok = false;
        std::optional<SocketAddress> server_saw_peer;
        REQUIRE(
            listener
                .listen(16,
                        [&](std::unique_ptr<uv::TcpConnection> c) {
                            auto* conn = c.get();
                            server_saw_peer = conn->peer_address().value();
                            conn->set_on_eof([conn] { conn->shutdown(); });
                            conn->set_on_close([&](Result<void> r) {
                                ++server_closed;
                                server_close_ok = r.ok();
                            });
                            REQUIRE(
                                conn->start_read([conn](ByteView d) { REQUIRE(conn->write(d).ok()); }).ok());
                            accepted.push_back(std::move(c));
                        })
                .ok());
        const auto server_addr = listener.local_address().value();
        REQUIRE(server_addr.port != 0);

        // Big enough to arrive in several reads and need several writes.
        std::string payload = "hello";
        for (int i = 0; i < 200000; ++i) payload.push_back(static_cast<char>('a' + i % 26));

        uv::TcpConnection client(loop);
        std::string received;
        int connected = 0;
        int client_closed = 0;
        bool client_close_ok = false;
        client.set_on_close([&](Result<void> r) {
            ++client_closed;
            client_close_ok = r.ok();
        });
        client.connect(server_addr, 2000, [&](Result<void> r) {
            REQUIRE(r.ok());
            ++connected;
            REQUIRE(client.write(as_bytes(payload)).ok());
            REQUIRE(client.start_read([&](ByteView d) { received += std::string(as_chars(d)); }).ok());
        });
        REQUIRE(run_until(loop, [&] { return received.size() >= payload.size(); }));
        CHECK(connected == 1);
        CHECK(received == payload);
        CHECK(client.peer_address().value() == server_addr);
        REQUIRE(server_saw_peer);
        CHECK(*server_saw_peer == client.local_address().value());

        // Graceful end from the client: the server sees EOF, shuts down, both close cleanly.
        client.shutdown(2000);
        REQUIRE(run_until(loop, [&] { return client_closed == 1 && server_closed == 1; }));
        CHECK(client_close_ok);
        CHECK(server_close_ok);
        CHECK_FALSE(client.is_open());
        CHECK_FALSE(client.write(as_bytes("late")).ok());
    }
    CHECK(close_loop(loop));
}

TEST_CASE("connect to a closed port fails once, then on_close reports the error") {
    uv::Loop loop;
    {
        const auto port = unused_port(loop);
        uv::TcpConnection client(loop);
        int connect_calls = 0, close_calls = 0;
        std::string connect_error;
        bool close_was_error = false;
        client.set_on_close([&](Result<void> r) {
            ++close_calls;
            close_was_error = !r.ok();
        });
        client.connect(loopback(port), 2000, [&](Result<void> r) {
            ++connect_calls;
            if (!r) connect_error = r.error().message;
        });
        REQUIRE(run_until(loop, [&] { return close_calls == 1; }));
        CHECK(connect_calls == 1);
        CHECK(connect_error.find("connect") != std::string::npos);
        CHECK(close_was_error);
        CHECK_FALSE(client.is_open());
    }
    CHECK(close_loop(loop));
}

TEST_CASE("server closes: the client reads the last bytes, then sees the close") {
    uv::Loop loop;
    {
        uv::TcpListener listener(loop);
        REQUIRE(listener.bind(loopback()).ok());
        std::unique_ptr<uv::TcpConnection> server_side;
        REQUIRE(listener
                    .listen(4,
                            [&](std::unique_ptr<uv::TcpConnection> c) {
                                // Write then shut down at once: the bytes must still arrive.
                                REQUIRE(c->write(as_bytes("bye")).ok());
                                c->shutdown(1000);
                                server_side = std::move(c);
                            })
                    .ok());
        uv::TcpConnection client(loop);
        std::string received;
        int closed = 0;
        bool ok = false;
        client.set_on_close([&](Result<void> r) {
            ++closed;
            ok = r.ok();
        });
        client.connect(listener.local_address().value(), 2000, [&](Result<void> r) {
            REQUIRE(r.ok());
            REQUIRE(client.start_read([&](ByteView d) { received += std::string(as_chars(d)); }).ok());
        });
        // No on_eof on the client: the peer's FIN closes it.
        REQUIRE(run_until(loop, [&] { return closed == 1; }));
        CHECK(received == "bye");
        CHECK(ok);
        REQUIRE(server_side);
        REQUIRE(run_until(loop, [&] { return !server_side->is_open(); }));
    }
    CHECK(close_loop(loop));
}

TEST_CASE("client closes abruptly: the server sees EOF and its close callback") {
    uv::Loop loop;
    {
        uv::TcpListener listener(loop);
        REQUIRE(listener.bind(loopback()).ok());
        std::unique_ptr<uv::TcpConnection> server_side;
        int eof = 0, closed = 0;
        REQUIRE(listener
                    .listen(4,
                            [&](std::unique_ptr<uv::TcpConnection> c) {
                                auto* conn = c.get();
                                conn->set_on_eof([&, conn] {
                                    ++eof;
                                    conn->close();
                                });
                                conn->set_on_close([&](Result<void>) { ++closed; });
                                REQUIRE(conn->start_read([](ByteView) {}).ok());
                                server_side = std::move(c);
                            })
                    .ok());
        auto client = std::make_unique<uv::TcpConnection>(loop);
        bool connected = false;
        int client_closed = 0;
        client->set_on_close([&](Result<void>) { ++client_closed; });
        client->connect(listener.local_address().value(), 2000, [&](Result<void> r) { connected = r.ok(); });
        REQUIRE(run_until(loop, [&] { return connected && server_side != nullptr; }));
        client->close();
        REQUIRE(run_until(loop, [&] { return closed == 1 && client_closed == 1; }));
        CHECK(eof == 1);
        // Destroying an owner after its close callback is fine; so is destroying it inside one.
        client.reset();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("an owner destroyed inside its own read callback stops cleanly") {
    uv::Loop loop;
    {
        uv::TcpListener listener(loop);
        REQUIRE(listener.bind(loopback()).ok());
        std::unique_ptr<uv::TcpConnection> server_side;
        int reads = 0;
        REQUIRE(listener
                    .listen(4,
                            [&](std::unique_ptr<uv::TcpConnection> c) {
                                server_side = std::move(c);
                                REQUIRE(server_side
                                            ->start_read([&](ByteView) {
                                                ++reads;
                                                server_side.reset();
                                            })
                                            .ok());
                            })
                    .ok());
        uv::TcpConnection client(loop);
        int client_closed = 0;
        client.set_on_close([&](Result<void>) { ++client_closed; });
        client.connect(listener.local_address().value(), 2000, [&](Result<void> r) {
            REQUIRE(r.ok());
            REQUIRE(client.write(as_bytes("x")).ok());
            REQUIRE(client.start_read([](ByteView) {}).ok());
        });
        REQUIRE(run_until(loop, [&] { return client_closed == 1; }));
        CHECK(reads == 1);
        CHECK(server_side == nullptr);
    }
    CHECK(close_loop(loop));
}

TEST_CASE("connect times out when the peer's accept queue is full") {
    // A plain socket that listens with backlog 0 and never accepts: once its queue is full the
    // kernel drops further SYNs, so a connect hangs until our timeout.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    REQUIRE(::listen(fd, 0) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    const auto target = loopback(ntohs(sin.sin_port));

    uv::Loop loop;
    {
        std::vector<std::unique_ptr<uv::TcpConnection>> conns;
        int finished = 0, timed_out = 0, closes = 0;
        for (int i = 0; i < 8; ++i) {
            auto c = std::make_unique<uv::TcpConnection>(loop);
            c->set_on_close([&](Result<void>) { ++closes; });
            c->connect(target, 300, [&](Result<void> r) {
                ++finished;
                if (!r && r.error().message.find("timed out") != std::string::npos) ++timed_out;
            });
            conns.push_back(std::move(c));
        }
        REQUIRE(run_until(loop, [&] { return finished == 8; }));
        CHECK(timed_out >= 1);
        REQUIRE(run_until(loop, [&] { return closes >= timed_out; }));

        // An owner destroyed while connecting: its callbacks never run.
        int late = 0;
        {
            uv::TcpConnection c(loop);
            c.set_on_close([&](Result<void>) { ++late; });
            c.connect(target, 300, [&](Result<void>) { ++late; });
        }
        REQUIRE_FALSE(run_until(
            loop, [&] { return late > 0; }, 500));
    }
    CHECK(close_loop(loop));
    ::close(fd);
}
