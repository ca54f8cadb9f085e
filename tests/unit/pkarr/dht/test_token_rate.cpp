#include <catch2/catch.hpp>

#include "pkarr/dht/rate_limit.hpp"
#include "pkarr/dht/token.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::chrono_literals;

namespace {
const TimePoint t0 = TimePoint{} + 1000h;
Address addr(std::string_view s) {
    return Address::parse(s).value();
}

// Deterministic, distinct secrets per call.
RandomFn counter_rng() {
    auto n = std::make_shared<std::uint8_t>(0);
    return [n](std::span<std::uint8_t> out) {
        ++*n;
        for (auto& b : out) b = *n;
    };
}
}  // namespace

TEST_CASE("tokens are per IP and survive one rotation", "[token]") {
    TokenManager tokens(t0, 5min, counter_rng());
    Address a = addr("1.2.3.4:1000");
    Bytes tok = tokens.generate(a, t0);
    CHECK(tok.size() == TokenManager::token_size);
    CHECK(tokens.validate(tok, a, t0));
    CHECK(tokens.validate(tok, addr("1.2.3.4:2000"), t0));  // port does not matter
    CHECK_FALSE(tokens.validate(tok, addr("1.2.3.5:1000"), t0));
    Bytes bad = tok;
    bad[0] ^= 1;
    CHECK_FALSE(tokens.validate(bad, a, t0));
    CHECK_FALSE(tokens.validate(Bytes(tok.begin(), tok.begin() + 4), a, t0));
    CHECK_FALSE(tokens.validate(Bytes{}, a, t0));

    CHECK(tokens.validate(tok, a, t0 + 4min));
    CHECK(tokens.validate(tok, a, t0 + 6min));  // previous secret
    Bytes tok2 = tokens.generate(a, t0 + 6min);
    CHECK(tok2 != tok);
    CHECK_FALSE(tokens.validate(tok, a, t0 + 11min));  // two rotations
    CHECK(tokens.validate(tok2, a, t0 + 11min));
    CHECK_FALSE(tokens.validate(tok2, a, t0 + 1h));
}

TEST_CASE("tokens: a long idle gap invalidates everything", "[token]") {
    TokenManager tokens(t0, 5min, counter_rng());
    Address a = addr("10.0.0.1:1");
    Bytes tok = tokens.generate(a, t0);
    CHECK_FALSE(tokens.validate(tok, a, t0 + 24h));
    Bytes fresh = tokens.generate(a, t0 + 24h);
    CHECK(tokens.validate(fresh, a, t0 + 24h + 1min));
}

TEST_CASE("rate limiter: burst then steady rate per IP", "[rate_limit]") {
    RateLimitConfig cfg;
    cfg.rate_per_second = 2;
    cfg.burst = 4;
    RateLimiter limiter(cfg);
    Address a = addr("1.2.3.4:1");
    int allowed = 0;
    for (int i = 0; i < 10; ++i) allowed += limiter.allow(a, t0) ? 1 : 0;
    CHECK(allowed == 4);
    CHECK(limiter.allow(addr("5.6.7.8:1"), t0));          // other IP unaffected
    CHECK_FALSE(limiter.allow(addr("1.2.3.4:999"), t0));  // same IP, other port
    CHECK(limiter.allow(a, t0 + 500ms));
    CHECK_FALSE(limiter.allow(a, t0 + 500ms));
    // Refill is capped at the burst.
    allowed = 0;
    for (int i = 0; i < 10; ++i) allowed += limiter.allow(a, t0 + 1h) ? 1 : 0;
    CHECK(allowed == 4);
    // Time going backwards gives no tokens.
    CHECK_FALSE(limiter.allow(a, t0));
}

TEST_CASE("rate limiter table is bounded, least recently active evicted", "[rate_limit]") {
    RateLimitConfig cfg;
    cfg.rate_per_second = 1;
    cfg.burst = 1;
    cfg.max_sources = 3;
    RateLimiter limiter(cfg);
    for (std::uint32_t i = 1; i <= 100; ++i) limiter.allow(Address::v4(0x0a000000u + i, 1), t0);
    CHECK(limiter.size() == 3);
    // 10.0.0.100 is still in the table and exhausted; 10.0.0.1 was evicted and starts fresh.
    CHECK_FALSE(limiter.allow(Address::v4(0x0a000064u, 1), t0));
    CHECK(limiter.allow(Address::v4(0x0a000001u, 1), t0));
}

TEST_CASE("rate limiter disabled or loopback-exempt", "[rate_limit]") {
    RateLimitConfig off;
    off.rate_per_second = 0;
    RateLimiter unlimited(off);
    for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.allow(addr("1.2.3.4:1"), t0));
    CHECK(unlimited.size() == 0);

    RateLimitConfig exempt;
    exempt.burst = 1;
    exempt.exempt_loopback = true;
    RateLimiter limiter(exempt);
    for (int i = 0; i < 100; ++i) REQUIRE(limiter.allow(addr("127.0.0.1:1"), t0));
    CHECK(limiter.allow(addr("8.8.8.8:1"), t0));
    CHECK_FALSE(limiter.allow(addr("8.8.8.8:1"), t0));
}
