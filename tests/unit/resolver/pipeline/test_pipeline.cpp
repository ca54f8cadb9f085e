#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/dns/record.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/resolver.hpp"
#include "storage/database.hpp"
#include "storage/packet_cache.hpp"
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

ResolverConfig test_config() {
    ResolverConfig c;
    c.min_ttl = 60;
    c.max_ttl = 86400;
    c.max_recursion_depth = 15;
    c.top_level_domain = "key";
    c.dht_query_rate_limit = 0;
    return c;
}

struct Pipeline {
    ManualClock clock;
    FakeSource source;
    FakeUpstream upstream;
    ResolverConfig config;
    storage::PacketCache* cache = nullptr;
    std::unique_ptr<PacketStore> pkarr;
    std::unique_ptr<Resolver> resolver;
    std::vector<dns::Packet> replies;

    pkarr::Keypair k1 = key_of(1), k2 = key_of(2), k3 = key_of(3);
    std::string z1 = k1.public_key().to_z32(), z2 = k2.public_key().to_z32(), z3 = k3.public_key().to_z32();

    explicit Pipeline(ResolverConfig c = test_config(), storage::PacketCache* packet_cache = nullptr)
        : config(std::move(c)), cache(packet_cache) {
        build();
        publish_zone1(clock.wall - 10'000'000, "1.2.3.4");
        source.dht.insert_or_assign(k2.public_key(),
                                    sign(k2, {rr(z2, dns::type::A, 120, a_rdata("9.9.9.9"))}, t0));
        dns::Packet example;
        example.answers = {rr("example.com", dns::type::A, 600, a_rdata("93.184.216.34"))};
        upstream.add("example.com", dns::type::A, example);
    }

    void build() {
        resolver.reset();
        pkarr.reset();
        PacketStoreConfig pc;
        pc.front_capacity = 100;
        pc.min_ttl = config.min_ttl;
        pc.max_ttl = config.max_ttl;
        pkarr = std::make_unique<PacketStore>(source, cache, pc, [this] { return clock.wall; });
        ResolverClocks clocks;
        clocks.wall_micros = [this] { return clock.wall; };
        clocks.mono_ms = [this] { return clock.mono_ms; };
        resolver = std::make_unique<Resolver>(config, *pkarr, upstream, clocks);
    }

    void publish_zone1(pkarr::Micros timestamp, const std::string& apex_ip) {
        const std::string& z = z1;
        std::vector<dns::Record> zone = {
            rr(z, dns::type::A, 300, a_rdata(apex_ip)),
            rr("_txt.sub." + z, dns::type::TXT, 300, pkarr::txt_rdata("hello")),
            rr("www." + z, dns::type::CNAME, 300, name_rdata(z)),
            rr("ext." + z, dns::type::CNAME, 300, name_rdata("example.com")),
            rr("delegated." + z, dns::type::NS, 300, name_rdata("ns1.delegated." + z)),
            rr("ns1.delegated." + z, dns::type::A, 300, a_rdata("5.6.7.8")),
            rr("*.wild." + z, dns::type::TXT, 300, pkarr::txt_rdata("wildcard")),
            rr("loop." + z, dns::type::CNAME, 300, name_rdata("loop.example.com")),
            rr("other." + z, dns::type::CNAME, 300, name_rdata(z2)),
        };
        source.dht.insert_or_assign(k1.public_key(), sign(k1, zone, timestamp));
    }

    void send(const std::string& name, std::uint16_t type, const std::string& client = "127.0.0.1") {
        Request request;
        request.id = 0x1234;
        request.flags = dns::flag::RD;
        request.question = dns::Question{N(name), type, dns::class_IN};
        const IpAddress ip = IpAddress::parse(client).value();
        resolver->resolve(request, ip, [this](ResolvedAnswer a) { replies.push_back(std::move(a.packet)); });
    }

    dns::Packet ask(const std::string& name, std::uint16_t type, const std::string& client = "127.0.0.1") {
        const std::size_t before = replies.size();
        send(name, type, client);
        REQUIRE(replies.size() == before + 1);
        return replies.back();
    }
};

bool aa(const dns::Packet& p) {
    return (p.flags & dns::flag::AA) != 0;
}

// The SOA's mname, rname and minimum.
struct Soa {
    dns::Name mname, rname;
    std::uint32_t minimum = 0;
};
Soa parse_soa(const dns::Record& r) {
    REQUIRE(r.type == dns::type::SOA);
    std::size_t off = 0;
    auto m = dns::Name::from_wire(r.rdata, off);
    REQUIRE(m.ok());
    auto n = dns::Name::from_wire(r.rdata, off);
    REQUIRE(n.ok());
    REQUIRE(r.rdata.size() == off + 20);
    const auto* p = r.rdata.data() + off + 16;
    return Soa{m.value(), n.value(),
               (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3]};
}

}  // namespace

TEST_CASE("pipeline: apex A from the DHT is authoritative", "[pipeline]") {
    Pipeline p;
    auto r = p.ask(p.z1, dns::type::A);
    CHECK(r.rcode() == dns::rcode::NOERROR);
    CHECK(aa(r));
    REQUIRE(r.answers.size() == 1);
    CHECK(a_text(r.answers[0]) == "1.2.3.4");
    CHECK(r.answers[0].ttl == 300);
    CHECK(p.source.calls == 1);
    CHECK(p.upstream.seen.empty());
}

TEST_CASE("pipeline: TTLs count down from last_seen and the front cache answers", "[pipeline]") {
    Pipeline p;
    p.ask(p.z1, dns::type::A);
    p.clock.advance_seconds(100);
    auto r = p.ask(p.z1, dns::type::A);
    REQUIRE(r.answers.size() == 1);
    CHECK(r.answers[0].ttl == 200);
    CHECK(p.source.calls == 1);
    CHECK(p.pkarr->stats().front_hits == 1);
}

TEST_CASE("pipeline: TXT under a subdomain and the TLD form", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("_txt.sub." + p.z1, dns::type::TXT);
    REQUIRE(r.answers.size() == 1);
    CHECK(r.answers[0].type == dns::type::TXT);
    CHECK(r.answers[0].rdata == pkarr::txt_rdata("hello"));
    CHECK(aa(r));

    auto t = p.ask("_txt.SUB." + p.z1 + ".key", dns::type::TXT);
    REQUIRE(t.answers.size() == 1);
    CHECK(t.answers[0].name == N("_txt.sub." + p.z1 + ".key"));
    CHECK(p.source.calls == 1);  // the same zone, with or without the TLD
}

TEST_CASE("pipeline: CNAME inside the zone", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("www." + p.z1 + ".key", dns::type::A);
    REQUIRE(r.answers.size() == 2);
    CHECK(r.answers[0].type == dns::type::CNAME);
    CHECK(r.answers[0].rdata == name_rdata(p.z1 + ".key"));  // rdata gets the TLD too
    CHECK(r.answers[1].name == N(p.z1 + ".key"));
    CHECK(a_text(r.answers[1]) == "1.2.3.4");
    CHECK(aa(r));
}

TEST_CASE("pipeline: CNAME from a key into ICANN is forwarded and appended", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("ext." + p.z1, dns::type::A);
    CHECK(r.rcode() == dns::rcode::NOERROR);
    REQUIRE(r.answers.size() == 2);
    CHECK(r.answers[0].type == dns::type::CNAME);
    CHECK(r.answers[1].name == N("example.com"));
    CHECK(a_text(r.answers[1]) == "93.184.216.34");
    CHECK(aa(r));  // the first owner name is ours
    REQUIRE(p.upstream.seen.size() == 1);
    CHECK(p.upstream.seen[0].name == N("example.com"));
}

TEST_CASE("pipeline: CNAME from a key to another key", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("other." + p.z1 + ".key", dns::type::A);
    REQUIRE(r.answers.size() == 2);
    CHECK(r.answers[0].rdata == name_rdata(p.z2 + ".key"));
    CHECK(r.answers[1].name == N(p.z2 + ".key"));
    CHECK(a_text(r.answers[1]) == "9.9.9.9");
    CHECK(p.source.calls == 2);
}

TEST_CASE("pipeline: an ICANN CNAME into a key is resolved through PKARR", "[pipeline]") {
    Pipeline p;
    dns::Packet alias;
    alias.set_rcode(dns::rcode::NXDOMAIN);  // the upstream cannot resolve "<key>.key"
    alias.answers = {rr("alias.example.com", dns::type::CNAME, 300, name_rdata(p.z1 + ".key"))};
    alias.authority = {rr("", dns::type::SOA, 900, name_rdata("a.root-servers.net"))};
    p.upstream.add("alias.example.com", dns::type::A, alias);

    auto r = p.ask("alias.example.com", dns::type::A);
    CHECK(r.rcode() == dns::rcode::NOERROR);
    REQUIRE(r.answers.size() == 2);
    CHECK(r.answers[0].type == dns::type::CNAME);
    CHECK(r.answers[1].name == N(p.z1 + ".key"));
    CHECK(a_text(r.answers[1]) == "1.2.3.4");
    CHECK_FALSE(aa(r));
    CHECK(r.authority.empty());
    CHECK(p.source.calls == 1);
}

TEST_CASE("pipeline: NS below the apex is a referral with glue", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("host.delegated." + p.z1, dns::type::A);
    CHECK(r.rcode() == dns::rcode::NOERROR);
    CHECK_FALSE(aa(r));
    CHECK(r.answers.empty());
    REQUIRE(r.authority.size() == 1);
    CHECK(r.authority[0].type == dns::type::NS);
    CHECK(r.authority[0].name == N("delegated." + p.z1));
    REQUIRE(r.additional.size() == 1);
    CHECK(a_text(r.additional[0]) == "5.6.7.8");
}

TEST_CASE("pipeline: wildcard answers take the query name", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("anything.wild." + p.z1, dns::type::TXT);
    REQUIRE(r.answers.size() == 1);
    CHECK(r.answers[0].name == N("anything.wild." + p.z1));
    CHECK(r.answers[0].rdata == pkarr::txt_rdata("wildcard"));
}

TEST_CASE("pipeline: NXDOMAIN for a missing name carries a synthesized SOA", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("missing." + p.z1 + ".key", dns::type::A);
    CHECK(r.rcode() == dns::rcode::NXDOMAIN);
    CHECK(aa(r));
    CHECK(r.answers.empty());
    REQUIRE(r.authority.size() == 1);
    CHECK(r.authority[0].name == N(p.z1 + ".key"));
    CHECK(r.authority[0].ttl == 60);
    Soa soa = parse_soa(r.authority[0]);
    CHECK(soa.mname == N(p.z1 + ".key"));
    CHECK(soa.rname == N("hostmaster." + p.z1 + ".key"));
    CHECK(soa.minimum == 60);
}

TEST_CASE("pipeline: NODATA keeps NOERROR and adds the SOA", "[pipeline]") {
    Pipeline p;
    auto r = p.ask(p.z1, dns::type::AAAA);
    CHECK(r.rcode() == dns::rcode::NOERROR);
    CHECK(aa(r));
    CHECK(r.answers.empty());
    REQUIRE(r.authority.size() == 1);
    CHECK(parse_soa(r.authority[0]).mname == N(p.z1));
}

TEST_CASE("pipeline: a non-canonical key is NXDOMAIN without any lookup", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("www.yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5nt.key", dns::type::A);
    CHECK(r.rcode() == dns::rcode::NXDOMAIN);
    CHECK(p.source.calls == 0);
    CHECK(p.upstream.seen.empty());
}

TEST_CASE("pipeline: concurrent queries for one key share one lookup", "[pipeline]") {
    Pipeline p;
    p.source.hold = true;
    for (int i = 0; i < 10; ++i)
        p.send(i % 2 ? p.z1 : "_txt.sub." + p.z1, i % 2 ? dns::type::A : dns::type::TXT);
    CHECK(p.source.calls == 1);
    CHECK(p.replies.empty());
    CHECK(p.pkarr->stats().coalesced == 9);
    p.source.complete_all();
    REQUIRE(p.replies.size() == 10);
    for (const auto& r : p.replies) {
        CHECK(r.rcode() == dns::rcode::NOERROR);
        CHECK(r.answers.size() == 1);
    }
    CHECK(p.pkarr->in_flight() == 0);
}

TEST_CASE("pipeline: an expired packet is served stale while the refresh fails", "[pipeline]") {
    Pipeline p;
    p.ask(p.z1, dns::type::A);
    p.clock.advance_seconds(400);  // packet TTL is 300
    p.source.offline = true;
    auto r = p.ask(p.z1, dns::type::A);
    REQUIRE(r.answers.size() == 1);
    CHECK(a_text(r.answers[0]) == "1.2.3.4");
    CHECK(r.answers[0].ttl == 1);
    CHECK(p.source.calls == 2);  // one background refresh...
    REQUIRE(p.source.newer_than_seen.back().has_value());
    CHECK(*p.source.newer_than_seen.back() == p.clock.wall - 400'000'000 - 10'000'000);
    p.ask(p.z1, dns::type::A);
    CHECK(p.source.calls == 2);  // ...not retried before min_ttl
    p.clock.advance_seconds(61);
    p.ask(p.z1, dns::type::A);
    CHECK(p.source.calls == 3);
}

TEST_CASE("pipeline: a lookup failure with nothing cached is SERVFAIL", "[pipeline]") {
    Pipeline p;
    p.source.offline = true;
    auto r = p.ask(p.z1, dns::type::A);
    CHECK(r.rcode() == dns::rcode::SERVFAIL);
    CHECK(r.answers.empty());
    p.ask(p.z1, dns::type::A);
    CHECK(p.source.calls == 2);  // failures are not negatively cached
}

TEST_CASE("pipeline: not found is NXDOMAIN and negatively cached for min_ttl", "[pipeline]") {
    Pipeline p;
    auto r = p.ask("www." + p.z3, dns::type::A);
    CHECK(r.rcode() == dns::rcode::NXDOMAIN);
    CHECK(p.source.calls == 1);
    p.clock.advance_seconds(59);
    CHECK(p.ask(p.z3, dns::type::A).rcode() == dns::rcode::NXDOMAIN);
    CHECK(p.source.calls == 1);
    p.clock.advance_seconds(2);
    p.ask(p.z3, dns::type::A);
    CHECK(p.source.calls == 2);
}

TEST_CASE("pipeline: an older packet never replaces a newer one and a newer one does", "[pipeline]") {
    Pipeline p;
    p.publish_zone1(t0 - 5'000'000, "2.2.2.2");
    CHECK(a_text(p.ask(p.z1, dns::type::A).answers.at(0)) == "2.2.2.2");

    p.publish_zone1(t0 - 100'000'000, "1.1.1.1");  // the network now returns an older packet
    p.clock.advance_seconds(400);
    CHECK(a_text(p.ask(p.z1, dns::type::A).answers.at(0)) == "2.2.2.2");
    CHECK(p.source.calls == 2);
    CHECK(p.pkarr->stats().ignored_older == 1);
    CHECK(a_text(p.ask(p.z1, dns::type::A).answers.at(0)) == "2.2.2.2");

    p.publish_zone1(t0 + 1'000'000, "3.3.3.3");
    p.clock.advance_seconds(61);
    CHECK(a_text(p.ask(p.z1, dns::type::A).answers.at(0)) == "2.2.2.2");  // stale, refresh runs
    auto fresh = p.ask(p.z1, dns::type::A);
    CHECK(a_text(fresh.answers.at(0)) == "3.3.3.3");
    CHECK(fresh.answers[0].ttl == 300);
}

TEST_CASE("pipeline: the DHT rate limit refuses misses but not cache hits", "[pipeline]") {
    auto c = test_config();
    c.dht_query_rate_limit = 1;
    c.dht_query_rate_limit_burst = 1;
    Pipeline p(c);
    CHECK(p.ask(p.z1, dns::type::A, "10.0.0.1").rcode() == dns::rcode::NOERROR);
    CHECK(p.ask(p.z2, dns::type::A, "10.0.0.1").rcode() == dns::rcode::REFUSED);
    CHECK(p.ask(p.z2, dns::type::A, "10.0.0.2").rcode() == dns::rcode::NOERROR);  // per client
    CHECK(p.ask(p.z1, dns::type::A, "10.0.0.1").rcode() == dns::rcode::NOERROR);  // cached
    CHECK(p.source.calls == 2);
}

TEST_CASE("pipeline: ICANN answers are cached and upstream failures are SERVFAIL", "[pipeline]") {
    Pipeline p;
    CHECK(a_text(p.ask("example.com", dns::type::A).answers.at(0)) == "93.184.216.34");
    p.clock.advance_seconds(10);
    auto again = p.ask("EXAMPLE.com", dns::type::A);
    CHECK(again.answers.at(0).ttl == 590);
    CHECK(p.upstream.seen.size() == 1);
    CHECK(p.ask("unreachable.example", dns::type::A).rcode() == dns::rcode::SERVFAIL);
}

TEST_CASE("pipeline: a CNAME loop across PKARR and ICANN ends in SERVFAIL", "[pipeline]") {
    Pipeline p;
    dns::Packet back;
    back.answers = {rr("loop.example.com", dns::type::CNAME, 300, name_rdata("loop." + p.z1))};
    p.upstream.add("loop.example.com", dns::type::A, back);
    auto r = p.ask("loop." + p.z1, dns::type::A);
    CHECK(r.rcode() == dns::rcode::SERVFAIL);
    CHECK(r.answers.empty());
    CHECK(p.replies.size() == 1);
}

TEST_CASE("pipeline: close() completes waiting queries exactly once", "[pipeline]") {
    Pipeline p;
    p.source.hold = true;
    p.send(p.z1, dns::type::A);
    p.send(p.z1, dns::type::TXT);
    p.pkarr->close();
    REQUIRE(p.replies.size() == 2);
    CHECK(p.replies[0].rcode() == dns::rcode::SERVFAIL);
    p.source.complete_all();  // late results are ignored
    CHECK(p.replies.size() == 2);
    CHECK(p.ask(p.z1, dns::type::A).rcode() == dns::rcode::SERVFAIL);
}

TEST_CASE("pipeline: packets persist in SQLite across a restart", "[pipeline]") {
    auto db = storage::Database::open(":memory:");
    REQUIRE(db.ok());
    auto cache = storage::PacketCache::open(db.value());
    REQUIRE(cache.ok());
    Pipeline p(test_config(), &cache.value());
    CHECK(a_text(p.ask(p.z1, dns::type::A).answers.at(0)) == "1.2.3.4");
    auto stored = cache->get(p.k1.public_key());
    REQUIRE(stored.ok());
    REQUIRE(stored->has_value());

    p.build();  // a fresh front, same database
    p.source.offline = true;
    p.clock.advance_seconds(30);
    auto r = p.ask(p.z1, dns::type::A);
    REQUIRE(r.answers.size() == 1);
    CHECK(a_text(r.answers[0]) == "1.2.3.4");
    CHECK(r.answers[0].ttl == 270);
    CHECK(p.source.calls == 1);
    CHECK(p.pkarr->stats().sqlite_hits == 1);
}

TEST_CASE("pipeline: a refresh that finds the same packet renews it", "[pipeline]") {
    Pipeline p;
    p.ask(p.z1, dns::type::A);
    p.clock.advance_seconds(400);
    CHECK(p.ask(p.z1, dns::type::A).answers.at(0).ttl == 1);  // stale; the refresh confirms it
    CHECK(p.source.calls == 2);
    auto r = p.ask(p.z1, dns::type::A);
    CHECK(r.answers.at(0).ttl == 300);
    CHECK(p.source.calls == 2);
}

TEST_CASE("pipeline: with_tld rewrites key names in owners and rdata only", "[pipeline]") {
    const std::string z = key_of(1).public_key().to_z32();
    Bytes mx = {0, 10};
    N("mail." + z).append_wire(mx);
    auto m = with_tld(rr(z, dns::type::MX, 60, mx), "key");
    CHECK(m.name == N(z + ".key"));
    Bytes want_mx = {0, 10};
    N("mail." + z + ".key").append_wire(want_mx);
    CHECK(m.rdata == want_mx);

    Bytes srv = {0, 1, 0, 2, 0x01, 0xbb};
    N("host.example.com").append_wire(srv);
    auto s = with_tld(rr("_sip._tcp." + z, dns::type::SRV, 60, srv), "key");
    CHECK(s.name == N("_sip._tcp." + z + ".key"));
    CHECK(s.rdata == srv);  // an ICANN target stays as it is

    auto txt = with_tld(rr(z, dns::type::TXT, 60, pkarr::txt_rdata(z)), "key");
    CHECK(txt.rdata == pkarr::txt_rdata(z));  // opaque rdata is never touched
    Bytes bad = {0, 10, 63};                  // a truncated name: left unchanged
    CHECK(with_tld(rr(z, dns::type::MX, 60, bad), "key").rdata == bad);
}
