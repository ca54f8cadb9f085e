// The resolver's wire cache path: resolve_wire() stores, answer_cached() serves, with the
// allow list, rate limit, stats and TTL rules of the long way.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/dns/record.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/resolver.hpp"
#include "support.hpp"

using namespace pkdns;
using namespace pkdns::resolver;
using namespace pkdns::resolver::test;

namespace {

pkarr::Keypair key_of(std::uint8_t fill) {
    pkarr::Keypair::Seed seed{};
    seed.fill(fill);
    return pkarr::Keypair::from_seed(seed);
}

struct WirePipeline {
    ManualClock clock;
    FakeSource source;
    FakeUpstream upstream;
    ResolverConfig config;
    std::unique_ptr<PacketStore> pkarr;
    std::unique_ptr<Resolver> resolver;
    pkarr::Keypair k1 = key_of(1);
    std::string z1 = k1.public_key().to_z32();

    explicit WirePipeline(std::uint32_t rate = 0, std::uint32_t burst = 0) {
        config.allow = {Cidr::parse("127.0.0.0/8").value()};
        config.query_rate_limit = rate;
        config.query_rate_limit_burst = burst;
        PacketStoreConfig pc;
        pkarr = std::make_unique<PacketStore>(source, nullptr, pc, [this] { return clock.wall; });
        ResolverClocks clocks;
        clocks.wall_micros = [this] { return clock.wall; };
        clocks.mono_ms = [this] { return clock.mono_ms; };
        resolver = std::make_unique<Resolver>(config, *pkarr, upstream, clocks);

        source.dht.insert_or_assign(k1.public_key(),
                                    sign(k1, {rr(z1, dns::type::A, 300, a_rdata("1.2.3.4"))}, t0));
        dns::Packet example;
        example.answers = {rr("example.com", dns::type::A, 600, a_rdata("93.184.216.34"))};
        upstream.add("example.com", dns::type::A, example);
    }

    static Bytes query(const std::string& name, std::uint16_t type, std::uint16_t id) {
        dns::Packet q;
        q.id = id;
        q.flags = dns::flag::RD;
        q.questions.push_back(dns::Question{N(name), type, dns::class_IN});
        return dns::encode_packet(q);
    }
    static ClientInfo client(const std::string& ip) {
        ClientInfo c;
        c.address = SocketAddress::parse(ip + ":40000").value();
        return c;
    }

    // The long way: parse_request + resolve_wire (completes synchronously with the fakes).
    Bytes slow(const Bytes& wire, const std::string& ip = "127.0.0.1") {
        auto parsed = parse_request(wire);
        REQUIRE(std::holds_alternative<Request>(parsed));
        std::optional<Bytes> out;
        resolver->resolve_wire(std::get<Request>(parsed), client(ip), [&](Bytes b) { out = std::move(b); });
        REQUIRE(out);
        return *out;
    }
    // The fast path: nullopt when it did not answer.
    std::optional<Bytes> fast(const Bytes& wire, const std::string& ip = "127.0.0.1") {
        ByteView reply;
        if (!resolver->answer_cached(wire, client(ip), reply)) return std::nullopt;
        return Bytes(reply.begin(), reply.end());
    }
};

dns::Packet parse(const Bytes& wire) {
    auto p = dns::parse_packet(wire);
    REQUIRE(p.ok());
    return p.value();
}

std::uint64_t answers(const ResolverStats& s, StatsRoute route, std::uint8_t rcode) {
    return s.answers[static_cast<int>(Transport::udp)][static_cast<int>(route)][rcode];
}

}  // namespace

TEST_CASE("an ICANN answer is served from the wire cache with the same bytes and counted") {
    WirePipeline p;
    const Bytes q = WirePipeline::query("example.com", dns::type::A, 1);
    CHECK_FALSE(p.fast(q));  // nothing cached yet
    const Bytes first = p.slow(q);
    CHECK(p.upstream.seen.size() == 1);

    auto hit = p.fast(WirePipeline::query("example.com", dns::type::A, 1));
    REQUIRE(hit);
    CHECK(*hit == first);
    const auto& s = p.resolver->stats();
    CHECK(s.wire_hits == 1);
    CHECK(s.queries == 2);
    CHECK(s.icann == 2);
    CHECK(answers(s, StatsRoute::icann, dns::rcode::NOERROR) == 2);
    CHECK(p.upstream.seen.size() == 1);

    // Counted down like the answer cache would: 600 - 7 after 7.5 s.
    p.clock.mono_ms += 7500;
    p.clock.wall += 7'500'000;
    auto later = p.fast(WirePipeline::query("EXAMPLE.com", dns::type::A, 9));
    REQUIRE(later);
    dns::Packet got = parse(*later);
    CHECK(got.id == 9);
    CHECK(got.questions.at(0).name.to_string() == "EXAMPLE.com");
    REQUIRE(got.answers.size() == 1);
    CHECK(got.answers[0].ttl == 593);
    // The long way agrees (from the answer cache).
    p.resolver->wire_cache().clear();
    dns::Packet slow = parse(p.slow(q));
    CHECK(slow.answers.at(0).ttl == 593);

    // Past the TTL the wire cache no longer answers.
    p.clock.mono_ms += 600'000;
    p.clock.wall += 600'000'000;
    CHECK_FALSE(p.fast(q));
}

TEST_CASE("a wire hit still passes the allow list and the rate limit") {
    WirePipeline p(1, 2);  // 1 query/s, burst 2
    const Bytes q = WirePipeline::query("example.com", dns::type::A, 1);
    p.slow(q);           // token 1, stored
    REQUIRE(p.fast(q));  // token 2
    auto refused = p.fast(q);
    REQUIRE(refused);
    dns::Packet r = parse(*refused);
    CHECK(r.rcode() == dns::rcode::REFUSED);
    CHECK(r.answers.empty());
    CHECK(r.id == 1);
    const auto& s = p.resolver->stats();
    CHECK(s.rate_limited == 1);
    CHECK(s.refused == 1);
    CHECK(s.wire_hits == 1);
    CHECK(answers(s, StatsRoute::local, dns::rcode::REFUSED) == 1);

    // Not on the allow list: REFUSED although the answer is cached.
    auto outsider = p.fast(q, "192.0.2.1");
    REQUIRE(outsider);
    CHECK(parse(*outsider).rcode() == dns::rcode::REFUSED);
    CHECK(p.resolver->stats().refused == 2);
}

TEST_CASE("SERVFAIL and REFUSED answers never enter the wire cache") {
    WirePipeline p;
    const Bytes q = WirePipeline::query("down.example", dns::type::A, 1);  // the fake upstream fails
    CHECK(parse(p.slow(q)).rcode() == dns::rcode::SERVFAIL);
    CHECK_FALSE(p.fast(q));
    CHECK(p.resolver->wire_cache().size() == 0);

    const Bytes outsider = WirePipeline::query("example.com", dns::type::A, 2);
    CHECK(parse(p.slow(outsider, "192.0.2.1")).rcode() == dns::rcode::REFUSED);
    CHECK(p.resolver->wire_cache().size() == 0);
}

TEST_CASE("a PKARR answer is cached until a newer packet replaces the one it came from") {
    WirePipeline p;
    const Bytes q = WirePipeline::query(p.z1, dns::type::A, 1);
    const Bytes first = p.slow(q);
    CHECK(parse(first).answers.at(0).ttl == 300);
    CHECK(p.source.calls == 1);
    auto hit = p.fast(q);
    REQUIRE(hit);
    CHECK(*hit == first);
    CHECK(answers(p.resolver->stats(), StatsRoute::pkarr, dns::rcode::NOERROR) == 2);

    p.clock.advance_seconds(100);
    hit = p.fast(q);
    REQUIRE(hit);
    CHECK(parse(*hit).answers.at(0).ttl == 200);

    // A newer packet arrives (e.g. a relay PUT): the old bytes are no longer served.
    REQUIRE(p.pkarr->offer(sign(p.k1, {rr(p.z1, dns::type::A, 300, a_rdata("5.6.7.8"))}, t0 + 1)) ==
            PacketStore::Offer::stored);
    CHECK_FALSE(p.fast(q));
    dns::Packet fresh = parse(p.slow(q));
    CHECK(a_text(fresh.answers.at(0)) == "5.6.7.8");
    CHECK(p.fast(q));
}

TEST_CASE("a PKARR answer is not served past the packet's freshness") {
    WirePipeline p;
    const Bytes q = WirePipeline::query(p.z1, dns::type::A, 1);
    p.slow(q);
    p.clock.advance_seconds(299);
    auto hit = p.fast(q);
    REQUIRE(hit);
    CHECK(parse(*hit).answers.at(0).ttl == 1);
    p.clock.advance_seconds(1);
    CHECK_FALSE(p.fast(q));  // expired: the long way serves it stale and refreshes
    p.source.hold = true;
    p.slow(q);
    CHECK(p.source.pending.size() == 1);  // the refresh went out
    CHECK_FALSE(p.fast(q));               // and the stale answer was not cached
}
