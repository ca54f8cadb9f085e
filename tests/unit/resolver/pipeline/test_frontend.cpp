// The Frontend, the one entry point of every transport: wire cache in front (same bytes, TTLs
// counted down, invalidated with its packet), parse_request outcomes, admission (allow list,
// rate limit) before any answer from the pipeline, finalize per transport, statistics.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/dns/record.hpp"
#include "resolver/pipeline/frontend.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/resolver.hpp"
#include "support.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;
using namespace pkdns::pipeline::test;

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
    FrontendConfig frontend_config;
    std::unique_ptr<PacketStore> pkarr;
    std::unique_ptr<Resolver> resolver;
    std::unique_ptr<Frontend> frontend;
    pkarr::Keypair k1 = key_of(1);
    std::string z1 = k1.public_key().to_z32();
    std::size_t later_calls = 0;  // ReplyFns built: the answer had to wait
    std::vector<Bytes> later_replies;

    explicit WirePipeline(std::uint32_t rate = 0, std::uint32_t burst = 0) {
        frontend_config.allow = {Cidr::parse("127.0.0.0/8").value(), Cidr::parse("10.0.0.0/8").value()};
        frontend_config.query_rate_limit = rate;
        frontend_config.query_rate_limit_burst = burst;
        PacketStoreConfig pc;
        pkarr = std::make_unique<PacketStore>(source, nullptr, pc, [this] { return clock.wall; });
        ResolverClocks clocks;
        clocks.wall_micros = [this] { return clock.wall; };
        clocks.mono_ms = [this] { return clock.mono_ms; };
        resolver = std::make_unique<Resolver>(config, *pkarr, upstream, clocks);
        frontend = std::make_unique<Frontend>(frontend_config, *resolver, [this] { return clock.mono_ms; });

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
    static ClientInfo client(const std::string& ip, Transport transport = Transport::udp) {
        ClientInfo c;
        c.address = SocketAddress::parse(ip + ":40000").value();
        c.transport = transport;
        return c;
    }

    Outcome process(const Bytes& wire, const std::string& ip = "127.0.0.1", Transport t = Transport::udp) {
        return frontend->process(wire, client(ip, t), [this] {
            ++later_calls;
            return ReplyFn([this](Bytes b) { later_replies.push_back(std::move(b)); });
        });
    }

    struct Asked {
        Bytes reply;
        bool wire_hit = false;  // answered from the finished-reply cache
    };
    // One query through the entry point; the fakes answer at once, so the answer is immediate.
    Asked ask(const Bytes& wire, const std::string& ip = "127.0.0.1") {
        const std::uint64_t hits = frontend->stats().wire_hits;
        const Outcome o = process(wire, ip);
        REQUIRE(o.verdict == Verdict::answer);
        return Asked{Bytes(o.reply.begin(), o.reply.end()), frontend->stats().wire_hits > hits};
    }
};

dns::Packet parse(const Bytes& wire) {
    auto p = dns::parse_packet(wire);
    REQUIRE(p.ok());
    return p.value();
}

std::uint64_t answers(const FrontendStats& s, StatsRoute route, std::uint8_t rcode,
                      Transport t = Transport::udp) {
    return s.answers[static_cast<int>(t)][static_cast<int>(route)][rcode];
}

}  // namespace

TEST_CASE("an ICANN answer is served from the wire cache with the same bytes and counted") {
    WirePipeline p;
    const Bytes q = WirePipeline::query("example.com", dns::type::A, 1);
    const auto first = p.ask(q);
    CHECK_FALSE(first.wire_hit);  // nothing cached yet
    CHECK(p.upstream.seen.size() == 1);

    auto hit = p.ask(WirePipeline::query("example.com", dns::type::A, 1));
    REQUIRE(hit.wire_hit);
    CHECK(hit.reply == first.reply);
    const auto& s = p.frontend->stats();
    CHECK(s.wire_hits == 1);
    CHECK(s.queries == 2);
    CHECK(answers(s, StatsRoute::icann, dns::rcode::NOERROR) == 2);
    CHECK(p.upstream.seen.size() == 1);
    CHECK(p.later_calls == 0);  // every answer was immediate: no reply callback was built

    // Counted down like the answer cache would: 600 - 7 after 7.5 s.
    p.clock.mono_ms += 7500;
    p.clock.wall += 7'500'000;
    auto later = p.ask(WirePipeline::query("EXAMPLE.com", dns::type::A, 9));
    REQUIRE(later.wire_hit);
    dns::Packet got = parse(later.reply);
    CHECK(got.id == 9);
    CHECK(got.questions.at(0).name.to_string() == "EXAMPLE.com");
    REQUIRE(got.answers.size() == 1);
    CHECK(got.answers[0].ttl == 593);
    // The long way agrees (from the answer cache).
    p.frontend->wire_cache().clear();
    auto slow = p.ask(q);
    CHECK_FALSE(slow.wire_hit);
    CHECK(parse(slow.reply).answers.at(0).ttl == 593);
    CHECK(p.upstream.seen.size() == 1);

    // Past the TTL the wire cache no longer answers.
    p.clock.mono_ms += 600'000;
    p.clock.wall += 600'000'000;
    CHECK_FALSE(p.ask(q).wire_hit);
}

TEST_CASE("a wire hit still passes the allow list and the rate limit") {
    WirePipeline p(1, 2);  // 1 query/s, burst 2
    const Bytes q = WirePipeline::query("example.com", dns::type::A, 1);
    p.ask(q);                    // token 1, stored
    REQUIRE(p.ask(q).wire_hit);  // token 2
    auto refused = p.ask(q);
    dns::Packet r = parse(refused.reply);
    CHECK(r.rcode() == dns::rcode::REFUSED);
    CHECK(r.answers.empty());
    CHECK(r.id == 1);
    const auto& s = p.frontend->stats();
    CHECK(s.rate_limited == 1);
    CHECK(s.refused == 1);
    CHECK(s.wire_hits == 1);
    CHECK(answers(s, StatsRoute::local, dns::rcode::REFUSED) == 1);

    // Not on the allow list: REFUSED although the answer is cached.
    auto outsider = p.ask(q, "192.0.2.1");
    CHECK(parse(outsider.reply).rcode() == dns::rcode::REFUSED);
    CHECK(p.frontend->stats().refused == 2);
}

TEST_CASE("REFUSED for clients outside the allow list, before the resolver is asked") {
    WirePipeline p;
    auto r = parse(p.ask(WirePipeline::query(p.z1, dns::type::A, 1), "8.8.8.8").reply);
    CHECK(r.rcode() == dns::rcode::REFUSED);
    CHECK(r.answers.empty());
    CHECK(p.source.calls == 0);
    CHECK(parse(p.ask(WirePipeline::query("example.com", dns::type::A, 2), "8.8.4.4").reply).rcode() ==
          dns::rcode::REFUSED);
    CHECK(p.upstream.seen.empty());
    CHECK(parse(p.ask(WirePipeline::query(p.z1, dns::type::A, 3), "10.1.2.3").reply).rcode() ==
          dns::rcode::NOERROR);
}

TEST_CASE("SERVFAIL and REFUSED answers never enter the wire cache") {
    WirePipeline p;
    const Bytes q = WirePipeline::query("down.example", dns::type::A, 1);  // the fake upstream fails
    CHECK(parse(p.ask(q).reply).rcode() == dns::rcode::SERVFAIL);
    CHECK_FALSE(p.ask(q).wire_hit);
    CHECK(p.frontend->wire_cache().size() == 0);

    const Bytes outsider = WirePipeline::query("example.com", dns::type::A, 2);
    CHECK(parse(p.ask(outsider, "192.0.2.1").reply).rcode() == dns::rcode::REFUSED);
    CHECK(p.frontend->wire_cache().size() == 0);
}

TEST_CASE("a PKARR answer is cached until a newer packet replaces the one it came from") {
    WirePipeline p;
    const Bytes q = WirePipeline::query(p.z1, dns::type::A, 1);
    const auto first = p.ask(q);
    CHECK(parse(first.reply).answers.at(0).ttl == 300);
    CHECK(p.source.calls == 1);
    auto hit = p.ask(q);
    REQUIRE(hit.wire_hit);
    CHECK(hit.reply == first.reply);
    CHECK(answers(p.frontend->stats(), StatsRoute::pkarr, dns::rcode::NOERROR) == 2);

    p.clock.advance_seconds(100);
    hit = p.ask(q);
    REQUIRE(hit.wire_hit);
    CHECK(parse(hit.reply).answers.at(0).ttl == 200);

    // A newer packet arrives (e.g. a relay PUT): the old bytes are no longer served.
    REQUIRE(p.pkarr->offer(sign(p.k1, {rr(p.z1, dns::type::A, 300, a_rdata("5.6.7.8"))}, t0 + 1)) ==
            PacketStore::Offer::stored);
    auto fresh = p.ask(q);
    CHECK_FALSE(fresh.wire_hit);
    CHECK(a_text(parse(fresh.reply).answers.at(0)) == "5.6.7.8");
    CHECK(p.ask(q).wire_hit);
}

TEST_CASE("a PKARR answer is not served past the packet's freshness") {
    WirePipeline p;
    const Bytes q = WirePipeline::query(p.z1, dns::type::A, 1);
    p.ask(q);
    p.clock.advance_seconds(299);
    auto hit = p.ask(q);
    REQUIRE(hit.wire_hit);
    CHECK(parse(hit.reply).answers.at(0).ttl == 1);
    p.clock.advance_seconds(1);
    p.source.hold = true;
    CHECK_FALSE(p.ask(q).wire_hit);       // expired: the long way serves it stale and refreshes
    CHECK(p.source.pending.size() == 1);  // the refresh went out
    CHECK_FALSE(p.ask(q).wire_hit);       // and the stale answer was not cached
    CHECK(p.source.pending.size() == 1);  // one refresh at a time
}

TEST_CASE("outcomes: responses and runts are dropped, malformed queries answered at once") {
    WirePipeline p;
    Bytes response = WirePipeline::query("example.com", dns::type::A, 7);
    response[2] |= 0x80;  // QR
    CHECK(p.process(response).verdict == Verdict::drop);
    CHECK(p.process(Bytes{1, 2, 3}).verdict == Verdict::drop);
    Bytes two_questions = WirePipeline::query("example.com", dns::type::A, 8);
    two_questions[5] = 2;  // QDCOUNT 2 with one question present: malformed
    const Outcome formerr = p.process(two_questions);
    REQUIRE(formerr.verdict == Verdict::answer);
    CHECK(get_u16(formerr.reply.data()) == 8);
    CHECK((formerr.reply[3] & 0x0f) == dns::rcode::FORMERR);
    CHECK(p.frontend->stats().rejected == 3);
    CHECK(p.frontend->stats().queries == 0);
    CHECK(p.upstream.seen.empty());
    CHECK(p.later_calls == 0);
}

TEST_CASE("outcomes: an answer that has to wait comes exactly once through the reply function") {
    WirePipeline p;
    p.source.hold = true;  // the DHT lookup waits
    const Bytes q = WirePipeline::query(p.z1, dns::type::A, 0x4242);
    const Outcome o = p.process(q, "127.0.0.1", Transport::tcp);
    CHECK(o.verdict == Verdict::later);
    CHECK(p.later_calls == 1);
    CHECK(p.later_replies.empty());
    // A second client asks the same key meanwhile: coalesced, also later.
    CHECK(p.process(WirePipeline::query(p.z1, dns::type::A, 0x4343)).verdict == Verdict::later);
    p.source.complete_all();
    REQUIRE(p.later_replies.size() == 2);
    CHECK(get_u16(p.later_replies[0].data()) == 0x4242);
    CHECK(get_u16(p.later_replies[1].data()) == 0x4343);
    CHECK(a_text(parse(p.later_replies[0]).answers.at(0)) == "1.2.3.4");
    const auto& s = p.frontend->stats();
    CHECK(answers(s, StatsRoute::pkarr, dns::rcode::NOERROR, Transport::tcp) == 1);
    CHECK(answers(s, StatsRoute::pkarr, dns::rcode::NOERROR, Transport::udp) == 1);
    CHECK(s.queries_by[static_cast<int>(Transport::tcp)] == 1);
    CHECK(s.queries_by[static_cast<int>(Transport::udp)] == 1);
    // The stored answer now serves both transports at once.
    CHECK(p.process(q, "127.0.0.1", Transport::https).verdict == Verdict::answer);
    CHECK(p.later_calls == 2);
    CHECK(p.later_replies.size() == 2);
}

TEST_CASE("outcomes: UDP replies are cut to the client's size, TCP and DoH replies are not") {
    WirePipeline p;
    dns::Packet big;
    for (int i = 0; i < 60; ++i)
        big.answers.push_back(rr("big.example", dns::type::A, 300, a_rdata("192.0.2." + std::to_string(i))));
    p.upstream.add("big.example", dns::type::A, big);
    const Bytes q = WirePipeline::query("big.example", dns::type::A, 5);
    const Outcome tcp = p.process(q, "127.0.0.1", Transport::tcp);
    REQUIRE(tcp.verdict == Verdict::answer);
    CHECK(parse(Bytes(tcp.reply.begin(), tcp.reply.end())).answers.size() == 60);
    const Outcome udp = p.process(q, "127.0.0.1", Transport::udp);
    REQUIRE(udp.verdict == Verdict::answer);
    CHECK(udp.reply.size() <= 512);
    CHECK((udp.reply[2] & 0x02) != 0);  // TC
    const Outcome doh = p.process(q, "127.0.0.1", Transport::https);
    REQUIRE(doh.verdict == Verdict::answer);
    CHECK(parse(Bytes(doh.reply.begin(), doh.reply.end())).answers.size() == 60);
}
