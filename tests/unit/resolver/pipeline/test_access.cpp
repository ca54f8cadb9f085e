// AllowList, RateLimiter and AccessControl with a manual clock.

#include <catch2/catch.hpp>

#include "resolver/pipeline/access.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;

namespace {

IpAddress ip(const char* text) {
    return IpAddress::parse(text).value();
}

}  // namespace

TEST_CASE("the default allow list admits loopback and private ranges only") {
    AllowList allow;
    for (auto a : {"127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                   "::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:192.168.0.7"}) {
        INFO(a);
        CHECK(allow.allows(ip(a)));
    }
    for (auto a : {"8.8.8.8", "172.32.0.1", "11.0.0.1", "2001:db8::1", "::2", "::ffff:8.8.8.8"}) {
        INFO(a);
        CHECK_FALSE(allow.allows(ip(a)));
    }
}

TEST_CASE("a configured allow list replaces the defaults") {
    AllowList allow({Cidr::parse("203.0.113.0/24").value(), Cidr::parse("2001:db8::/32").value()});
    CHECK(allow.allows(ip("203.0.113.9")));
    CHECK(allow.allows(ip("2001:db8:ffff::1")));
    CHECK_FALSE(allow.allows(ip("127.0.0.1")));
    CHECK_FALSE(allow.allows(ip("203.0.114.1")));
}

TEST_CASE("the token bucket allows the burst then refills at the rate") {
    RateLimiter limiter(2, 3);
    const auto client = ip("192.0.2.1");
    CHECK(limiter.allow(client, 1000));
    CHECK(limiter.allow(client, 1000));
    CHECK(limiter.allow(client, 1000));
    CHECK_FALSE(limiter.allow(client, 1000));
    CHECK_FALSE(limiter.allow(client, 1400));  // 0.8 tokens
    CHECK(limiter.allow(client, 1500));        // 1.0 token
    CHECK_FALSE(limiter.allow(client, 1500));
    // Long absence refills to the burst, not beyond.
    const std::uint64_t later = 1000 + 3600 * 1000;
    for (int i = 0; i < 3; ++i) CHECK(limiter.allow(client, later));
    CHECK_FALSE(limiter.allow(client, later));
    // Another client is independent.
    CHECK(limiter.allow(ip("192.0.2.2"), 1000));
}

TEST_CASE("IPv6 clients share a bucket per /64") {
    RateLimiter limiter(1, 2);
    CHECK(limiter.allow(ip("2001:db8:1:2::1"), 0));
    CHECK(limiter.allow(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 0));
    CHECK_FALSE(limiter.allow(ip("2001:db8:1:2::99"), 0));
    CHECK(limiter.allow(ip("2001:db8:1:3::1"), 0));  // next /64
    CHECK(limiter.tracked_clients() == 2);
    CHECK(limiter.allow(ip("2001:db8:1:2::1"), 1000));  // one token after a second
    CHECK_FALSE(limiter.allow(ip("2001:db8:1:2::1"), 1000));
}

TEST_CASE("IPv4-mapped clients count as their IPv4 address") {
    RateLimiter limiter(1, 1);
    CHECK(limiter.allow(ip("198.51.100.7"), 0));
    CHECK_FALSE(limiter.allow(ip("::ffff:198.51.100.7"), 0));
}

TEST_CASE("the table is bounded and forgets the least recently seen client") {
    RateLimiter limiter(1, 1, 2);
    CHECK(limiter.allow(ip("192.0.2.1"), 0));
    CHECK_FALSE(limiter.allow(ip("192.0.2.1"), 0));  // exhausted
    CHECK(limiter.allow(ip("192.0.2.2"), 0));
    CHECK_FALSE(limiter.allow(ip("192.0.2.1"), 0));  // .1 is now the most recent
    CHECK(limiter.allow(ip("192.0.2.3"), 0));        // evicts .2
    CHECK(limiter.tracked_clients() == 2);
    CHECK_FALSE(limiter.allow(ip("192.0.2.1"), 0));  // still tracked, still empty
    CHECK(limiter.allow(ip("192.0.2.2"), 0));        // forgotten, so a fresh bucket (evicts .3)
    CHECK(limiter.tracked_clients() == 2);
}

TEST_CASE("rate 0 disables limiting and burst 0 means one second of rate") {
    RateLimiter off(0, 0);
    for (int i = 0; i < 1000; ++i) REQUIRE(off.allow(ip("192.0.2.1"), 0));
    CHECK(off.tracked_clients() == 0);

    RateLimiter no_burst(5, 0);
    int allowed = 0;
    for (int i = 0; i < 20; ++i) allowed += no_burst.allow(ip("192.0.2.1"), 0) ? 1 : 0;
    CHECK(allowed == 5);
}

TEST_CASE("AccessControl checks the allow list before the rate limit") {
    AccessControl access({}, 1, 1);
    CHECK(access.admit(ip("8.8.8.8"), 0) == Admission::not_allowed);
    CHECK(access.admit(ip("127.0.0.1"), 0) == Admission::allowed);
    CHECK(access.admit(ip("127.0.0.1"), 0) == Admission::rate_limited);
    CHECK(access.admit(ip("127.0.0.1"), 1000) == Admission::allowed);
}
