#include <catch2/catch.hpp>

#include <csignal>
#include <memory>
#include <string>

#include "common/uv.hpp"
#include "support/uv_loop.hpp"

using namespace pkdns;
using pkdns::test::loopback;
using pkdns::test::run_until;

TEST_CASE("uv: a timer fires and the loop closes cleanly") {
    uv::Loop loop;
    int fired = 0;
    {
        uv::Timer t(loop);
        t.start(5, 0, [&] { ++fired; });
        loop.run();
    }
    CHECK(fired == 1);
    CHECK(test::close_loop(loop));
}

TEST_CASE("uv: a repeating timer can be stopped from its own callback") {
    uv::Loop loop;
    int fired = 0;
    uv::Timer t(loop);
    t.start(1, 1, [&] {
        if (++fired == 3) t.stop();
    });
    loop.run();
    CHECK(fired == 3);
}

TEST_CASE("uv: an owner destroyed inside its own callback is safe") {
    uv::Loop loop;
    auto t = std::make_unique<uv::Timer>(loop);
    bool fired = false;
    t->start(1, 0, [&] {
        fired = true;
        t.reset();  // memory is freed only in the close callback
    });
    loop.run();
    CHECK(fired);
    CHECK(t == nullptr);
    CHECK(test::close_loop(loop));
}

TEST_CASE("uv: loop close reports handles that are still open") {
    uv::Loop loop;
    auto t = std::make_unique<uv::Timer>(loop);
    auto r = loop.close();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("timer") != std::string::npos);
    t.reset();
    CHECK(loop.close().ok());
}

TEST_CASE("uv: UDP send and receive on loopback") {
    uv::Loop loop;
    std::string got;
    SocketAddress from_seen;
    {
        uv::UdpSocket a(loop), b(loop);
        REQUIRE(a.bind(loopback()).ok());
        REQUIRE(b.bind(loopback()).ok());
        auto a_addr = a.local_address();
        auto b_addr = b.local_address();
        REQUIRE(a_addr.ok());
        REQUIRE(b_addr.ok());
        CHECK(a_addr->port != 0);
        REQUIRE(b.start_recv([&](ByteView data, const SocketAddress& from) {
                     got.assign(as_chars(data));
                     from_seen = from;
                 }).ok());
        REQUIRE(a.send(as_bytes("hello"), b_addr.value()).ok());
        CHECK(run_until(
            loop, [&] { return !got.empty(); }, 5000));
        CHECK(got == "hello");
        CHECK(from_seen == a_addr.value());
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("uv: binding a port in use fails with a clear error") {
    uv::Loop loop;
    {
        uv::UdpSocket a(loop), b(loop);
        REQUIRE(a.bind(loopback()).ok());
        auto r = b.bind(a.local_address().value());
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.find("127.0.0.1") != std::string::npos);
    }
    CHECK(test::close_loop(loop));
}

TEST_CASE("uv: a signal handler runs on the loop") {
    uv::Loop loop;
    int seen = 0;
    {
        uv::Signal s(loop);
        REQUIRE(s.start(SIGUSR1, [&](int signum) {
                     seen = signum;
                     s.stop();
                 }).ok());
        std::raise(SIGUSR1);
        CHECK(run_until(
            loop, [&] { return seen != 0; }, 5000));
    }
    CHECK(seen == SIGUSR1);
    CHECK(test::close_loop(loop));
}

TEST_CASE("uv: an exception thrown by a callback does not escape into libuv") {
    uv::Loop loop;
    bool after = false;
    {
        uv::Timer t(loop), t2(loop);
        t.start(1, 0, [] { throw std::runtime_error("boom"); });
        t2.start(5, 0, [&] { after = true; });
        loop.run();
    }
    CHECK(after);
    CHECK(test::close_loop(loop));
}
