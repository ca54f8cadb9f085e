// AnswerCache: pure, driven by a manual clock (now_ms passed in).

#include <catch2/catch.hpp>

#include <string>

#include "resolver/pipeline/answer_cache.hpp"

using namespace pkdns;
using namespace pkdns::dns;
using pkdns::pipeline::AnswerCache;
using pkdns::pipeline::AnswerCacheConfig;

namespace {

Name name(const char* s) {
    return Name::parse(s).value();
}

Question question(const char* n, std::uint16_t t = type::A) {
    return Question{name(n), t, class_IN};
}

Record a_record(const char* owner, std::uint32_t ttl, std::uint8_t last = 1) {
    return Record{name(owner), type::A, class_IN, ttl, Bytes{192, 0, 2, last}};
}

Record soa(const char* zone, std::uint32_t ttl, std::uint32_t minimum) {
    Record r{name(zone), type::SOA, class_IN, ttl, {}};
    name("ns1.example").append_wire(r.rdata);
    name("hostmaster.example").append_wire(r.rdata);
    for (std::uint32_t v : {2024010101u, 7200u, 3600u, 1209600u}) put_u32(r.rdata, v);
    put_u32(r.rdata, minimum);
    return r;
}

Packet reply(const Question& q, std::uint8_t rc = rcode::NOERROR) {
    Packet p;
    p.id = 0x1234;
    p.flags = flag::QR | flag::RD | flag::RA;
    p.set_rcode(rc);
    p.questions.push_back(q);
    return p;
}

AnswerCacheConfig config(std::uint32_t max_ttl = 86400) {
    AnswerCacheConfig c;
    c.max_ttl = max_ttl;
    return c;
}

}  // namespace

TEST_CASE("positive answer: lifetime is the lowest answer TTL, TTLs count down, then it expires") {
    AnswerCache cache(config());
    auto q = question("www.example.com");
    auto r = reply(q);
    r.answers = {a_record("www.example.com", 300, 1), a_record("www.example.com", 120, 2)};
    r.authority = {Record{name("example.com"), type::NS, class_IN, 900, {}}};
    name("ns.example.com").append_wire(r.authority[0].rdata);

    const std::uint64_t t0 = 1'000'000;
    REQUIRE(cache.insert(q, false, r, t0) == std::optional<std::uint32_t>(120));
    CHECK(cache.size() == 1);

    auto hit = cache.lookup(q, false, t0 + 10'999);  // 10 whole seconds
    REQUIRE(hit);
    CHECK(hit->answers[0].ttl == 290);
    CHECK(hit->answers[1].ttl == 110);
    CHECK(hit->authority[0].ttl == 890);
    CHECK(hit->answers[0].rdata == Bytes{192, 0, 2, 1});

    // Key: case-insensitive name; type, class and DO bit all matter.
    CHECK(cache.lookup(question("WWW.Example.COM"), false, t0 + 1000));
    CHECK_FALSE(cache.lookup(q, true, t0 + 1000));
    CHECK_FALSE(cache.lookup(question("www.example.com", type::AAAA), false, t0 + 1000));
    Question chaos = q;
    chaos.klass = 3;
    CHECK_FALSE(cache.lookup(chaos, false, t0 + 1000));

    CHECK(cache.lookup(q, false, t0 + 119'999));
    CHECK_FALSE(cache.lookup(q, false, t0 + 120'000));
    CHECK(cache.size() == 0);
}

TEST_CASE("NXDOMAIN and NODATA are cached for min(SOA TTL, SOA MINIMUM)") {
    AnswerCache cache(config());
    auto q = question("nope.example.com");
    auto nx = reply(q, rcode::NXDOMAIN);
    nx.authority = {soa("example.com", 3600, 300)};
    REQUIRE(cache.insert(q, false, nx, 0) == std::optional<std::uint32_t>(300));
    auto hit = cache.lookup(q, false, 5'000);
    REQUIRE(hit);
    CHECK(hit->rcode() == rcode::NXDOMAIN);
    // The SOA carries the negative TTL, counted down.
    CHECK(hit->authority.at(0).ttl == 295);

    auto q2 = question("www.example.com", type::TXT);
    auto nodata = reply(q2);
    nodata.authority = {soa("example.com", 60, 900)};
    CHECK(cache.insert(q2, false, nodata, 0) == std::optional<std::uint32_t>(60));
    CHECK(cache.lookup(q2, false, 59'000));
    CHECK_FALSE(cache.lookup(q2, false, 60'000));
}

TEST_CASE("negative answers without SOA use the configured default, 0 = not cached") {
    auto q = question("nope.example.com");
    auto nx = reply(q, rcode::NXDOMAIN);
    {
        AnswerCache cache(config());
        CHECK_FALSE(cache.insert(q, false, nx, 0));
        CHECK_FALSE(cache.lookup(q, false, 0));
    }
    {
        auto c = config();
        c.negative_ttl_without_soa = 30;
        AnswerCache cache(c);
        CHECK(cache.insert(q, false, nx, 0) == std::optional<std::uint32_t>(30));
        CHECK(cache.lookup(q, false, 29'000));
        CHECK_FALSE(cache.lookup(q, false, 30'000));
    }
    // A malformed SOA counts as no SOA.
    AnswerCache cache(config());
    auto bad = nx;
    bad.authority = {Record{name("example.com"), type::SOA, class_IN, 300, Bytes{0, 0, 1}}};
    CHECK_FALSE(cache.insert(q, false, bad, 0));
}

TEST_CASE("SERVFAIL, REFUSED and truncated replies are never cached") {
    AnswerCache cache(config());
    auto q = question("www.example.com");
    for (std::uint8_t rc : {rcode::SERVFAIL, rcode::REFUSED, rcode::FORMERR, rcode::NOTIMP}) {
        auto r = reply(q, rc);
        r.authority = {soa("example.com", 300, 300)};
        CHECK_FALSE(cache.insert(q, false, r, 0));
    }
    auto tc = reply(q);
    tc.flags |= flag::TC;
    tc.answers = {a_record("www.example.com", 300)};
    CHECK_FALSE(cache.insert(q, false, tc, 0));
    CHECK(cache.size() == 0);
}

TEST_CASE("TTLs are capped at max_ttl but never raised to min_ttl") {
    AnswerCache cache(config(3600));
    auto q = question("a.example");
    auto low = reply(q);
    low.answers = {a_record("a.example", 5)};
    CHECK(cache.insert(q, false, low, 0) == std::optional<std::uint32_t>(5));
    auto hit = cache.lookup(q, false, 1'000);
    REQUIRE(hit);
    CHECK(hit->answers[0].ttl == 4);  // upstream's 5, counted down: not min_ttl
    CHECK(cache.lookup(q, false, 4'999));
    CHECK_FALSE(cache.lookup(q, false, 5'000));

    // A TTL of 0 is not cached at all.
    auto q0 = question("zero.example");
    auto zero = reply(q0);
    zero.answers = {a_record("zero.example", 0)};
    CHECK_FALSE(cache.insert(q0, false, zero, 0));
    CHECK_FALSE(cache.lookup(q0, false, 0));

    auto q2 = question("b.example");
    auto high = reply(q2);
    high.answers = {a_record("b.example", 999999)};
    CHECK(cache.insert(q2, false, high, 0) == std::optional<std::uint32_t>(3600));
    CHECK(cache.lookup(q2, false, 0)->answers[0].ttl == 3600);
    CHECK_FALSE(cache.lookup(q2, false, 3'600'000));
}

TEST_CASE("negative TTL below min_ttl: the cached answer shows what upstream gave, counted down") {
    // SOA MINIMUM 10 with [dns] min_ttl 60: the first answer shows 10, so the cached ones must not
    // show more than 10 minus the elapsed seconds.
    AnswerCache cache(config(3600));
    auto q = question("nx.example");
    auto r = reply(q, rcode::NXDOMAIN);
    r.authority = {soa("example", 300, 10)};
    CHECK(cache.insert(q, false, r, 0) == std::optional<std::uint32_t>(10));
    auto hit = cache.lookup(q, false, 3'000);
    REQUIRE(hit);
    REQUIRE(hit->authority.size() == 1);
    CHECK(hit->authority[0].ttl == 7);
    CHECK_FALSE(cache.lookup(q, false, 10'000));
}

TEST_CASE("OPT is not stored, and a newer reply replaces the old one") {
    AnswerCache cache(config());
    auto q = question("www.example.com");
    auto r = reply(q);
    r.answers = {a_record("www.example.com", 300, 1)};
    r.additional = {Record{Name(), type::OPT, 1232, 0, {}}};
    REQUIRE(cache.insert(q, false, r, 0));
    CHECK(cache.lookup(q, false, 0)->additional.empty());

    r.answers = {a_record("www.example.com", 300, 7)};
    REQUIRE(cache.insert(q, false, r, 1000));
    CHECK(cache.size() == 1);
    CHECK(cache.lookup(q, false, 1000)->answers[0].rdata == Bytes{192, 0, 2, 7});
}

TEST_CASE("answer cache: the byte budget evicts the least recently used entry") {
    auto q1 = question("one.example"), q2 = question("two.example"), q3 = question("three.example");
    auto make = [&](const Question& q) {
        auto r = reply(q);
        r.answers = {a_record("x.example", 300)};
        return r;
    };
    // Measure one entry, then allow room for exactly two.
    std::size_t one = 0;
    {
        AnswerCache probe(config());
        REQUIRE(probe.insert(q3, false, make(q3), 0));
        one = probe.bytes();
    }
    REQUIRE(one > 0);
    auto c = config();
    c.max_bytes = 2 * one + one / 2;
    AnswerCache cache(c);
    REQUIRE(cache.insert(q1, false, make(q1), 0));
    REQUIRE(cache.insert(q2, false, make(q2), 0));
    CHECK(cache.lookup(q1, false, 0));  // q1 is now the most recent
    REQUIRE(cache.insert(q3, false, make(q3), 0));
    CHECK(cache.size() == 2);
    CHECK(cache.bytes() <= c.max_bytes);
    CHECK(cache.lookup(q1, false, 0));
    CHECK_FALSE(cache.lookup(q2, false, 0));
    CHECK(cache.lookup(q3, false, 0));

    // An entry bigger than the whole budget is refused instead of flushing everything.
    auto big = make(q2);
    big.answers.resize(200, a_record("x.example", 300));
    CHECK_FALSE(cache.insert(q2, false, big, 0));
    CHECK(cache.size() == 2);
}

TEST_CASE("purge_expired drops only expired entries") {
    AnswerCache cache(config());
    auto q1 = question("short.example"), q2 = question("long.example");
    auto r1 = reply(q1);
    r1.answers = {a_record("short.example", 10)};
    auto r2 = reply(q2);
    r2.answers = {a_record("long.example", 100)};
    REQUIRE(cache.insert(q1, false, r1, 0));
    REQUIRE(cache.insert(q2, false, r2, 0));
    const auto before = cache.bytes();
    CHECK(cache.purge_expired(10'000) == 1);
    CHECK(cache.size() == 1);
    CHECK(cache.bytes() < before);
    CHECK(cache.lookup(q2, false, 10'000));
}
