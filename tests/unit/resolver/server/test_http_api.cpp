// HttpApi: routing, DoH (RFC 8484) decoding and errors, the PKARR relay API status codes and
// headers, X-Forwarded-For trust. The backends are the real pipeline (Resolver + PacketStore)
// over the fake DHT/upstream of the pipeline tests, and a fake DHT publish.

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/dns/record.hpp"
#include "pkarr/http_date.hpp"
#include "resolver/server/http_api.hpp"
#include "resolver/pipeline/query.hpp"
#include "unit/resolver/pipeline/support.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;
using namespace pkdns::server;
using namespace pkdns::pipeline::test;

namespace {

pkarr::Keypair key_n(std::uint8_t n) {
    pkarr::Keypair::Seed seed{};
    seed.fill(n);
    return pkarr::Keypair::from_seed(seed);
}

Bytes query_wire(const std::string& name, std::uint16_t type, std::uint16_t id = 0x4242) {
    dns::Packet q;
    q.id = id;
    q.flags = dns::flag::RD;
    q.questions.push_back(dns::Question{N(name), type, dns::class_IN});
    return dns::encode_packet(q);
}

struct Fixture {
    ManualClock clock;
    FakeSource source;
    FakeUpstream upstream;
    PacketStore pkarr{source, nullptr, PacketStoreConfig{}, [this] { return clock.wall; }};
    std::unique_ptr<Resolver> resolver;
    std::unique_ptr<Frontend> frontend;
    std::unique_ptr<HttpApi> api;

    // The fake DHT publish: completes at once with `stored_nodes` (or an error), or is held.
    std::size_t stored_nodes = 7;
    std::optional<std::string> publish_error;
    bool hold_publish = false;
    std::vector<std::pair<pkarr::SignedPacket, HttpBackends::PublishDone>> held;
    std::vector<pkarr::SignedPacket> published, accepted;
    std::vector<ClientInfo> dns_clients;  // of the queries that reached the resolver
    bool healthy = true;

    explicit Fixture(HttpApiConfig config = {}) {
        ResolverConfig rc;
        FrontendConfig fc;
        fc.allow = {Cidr::parse("0.0.0.0/0").value()};
        ResolverClocks clocks;
        clocks.wall_micros = [this] { return clock.wall; };
        clocks.mono_ms = [this] { return clock.mono_ms; };
        resolver = std::make_unique<Resolver>(rc, pkarr, upstream, clocks);
        frontend = std::make_unique<Frontend>(fc, *resolver, [this] { return clock.mono_ms; });

        HttpBackends b;
        b.dns = [this](ByteView message, const ClientInfo& client, MakeReply later) {
            const FrontendStats before = frontend->stats();
            Outcome o = frontend->process(message, client, later);
            const FrontendStats& after = frontend->stats();
            if (after.queries > before.queries && after.wire_hits == before.wire_hits &&
                after.refused == before.refused)
                dns_clients.push_back(client);
            return o;
        };
        b.lookup = [this](const pkarr::PublicKey& key, PacketStore::Admit admit, PacketStore::Done done) {
            pkarr.lookup(key, admit, std::move(done));
        };
        b.cached = [this](const pkarr::PublicKey& key) { return pkarr.cached(key); };
        b.offer = [this](const pkarr::SignedPacket& p) { return pkarr.offer(p); };
        b.publish = [this](const pkarr::SignedPacket& p, HttpBackends::PublishDone done) {
            published.push_back(p);
            if (hold_publish) {
                held.emplace_back(p, std::move(done));
                return;
            }
            if (publish_error) return done(make_error(*publish_error));
            done(stored_nodes);
        };
        b.on_accepted = [this](const pkarr::SignedPacket& p) { accepted.push_back(p); };
        b.metrics = [] { return std::string("# TYPE x counter\nx 1\n"); };
        b.health = [this] { return Health{healthy, healthy ? "{\"ok\":true}" : "{\"ok\":false}"}; };
        HttpClocks hc;
        hc.wall_micros = [this] { return clock.wall; };
        hc.mono_ms = [this] { return clock.mono_ms; };
        api = std::make_unique<HttpApi>(config, b, hc);
    }

    // Synchronous backends answer at once; held ones leave the response empty.
    std::optional<HttpResponse> call(HttpRequest req) {
        if (req.peer.port == 0) req.peer = SocketAddress::parse("127.0.0.1:40000").value();
        std::optional<HttpResponse> out;
        int calls = 0;
        api->handle(req, [&out, &calls](HttpResponse r) {
            ++calls;
            out = std::move(r);
        });
        REQUIRE(calls <= 1);
        return out;
    }
    HttpResponse must(HttpRequest req) {
        auto r = call(std::move(req));
        REQUIRE(r.has_value());
        return *r;
    }
};

HttpRequest get(std::string path, std::string query = {}) {
    HttpRequest r;
    r.method = "GET";
    r.path = std::move(path);
    r.query = std::move(query);
    return r;
}

HttpRequest post_dns(const Bytes& wire, std::string type = "application/dns-message") {
    HttpRequest r;
    r.method = "POST";
    r.path = "/dns-query";
    r.headers.push_back({"content-type", std::move(type)});
    r.body.assign(wire.begin(), wire.end());
    return r;
}

HttpRequest put(const pkarr::PublicKey& key, const Bytes& payload) {
    HttpRequest r;
    r.method = "PUT";
    r.path = "/" + key.to_z32();
    r.body.assign(payload.begin(), payload.end());
    return r;
}

dns::Packet parse_reply(const HttpResponse& r) {
    auto p = dns::parse_packet(as_bytes(r.body));
    REQUIRE(p.ok());
    return p.value();
}

pkarr::SignedPacket zone(const pkarr::Keypair& kp, pkarr::Micros ts, const std::string& ip,
                         std::uint32_t ttl = 600) {
    return sign(kp, {rr("@", dns::type::A, ttl, a_rdata(ip))}, ts);
}

}  // namespace

TEST_CASE("routing: unknown paths, methods, root page, CORS preflight") {
    Fixture f;
    auto nf = f.must(get("/a/b"));
    CHECK(nf.status == 404);
    CHECK(nf.header("access-control-allow-origin") == std::optional<std::string_view>("*"));

    HttpRequest del = get("/dns-query");
    del.method = "DELETE";
    auto r = f.must(del);
    CHECK(r.status == 405);
    CHECK(r.header("allow") == std::optional<std::string_view>("GET, POST, OPTIONS"));

    HttpRequest post_key = get("/" + key_n(1).public_key().to_z32());
    post_key.method = "POST";
    CHECK(f.must(post_key).status == 405);

    CHECK(f.must(get("/")).status == 200);

    HttpRequest opt = get("/" + key_n(1).public_key().to_z32());
    opt.method = "OPTIONS";
    opt.headers.push_back({"access-control-request-headers", "content-type, if-modified-since"});
    auto pre = f.must(opt);
    CHECK(pre.status == 204);
    CHECK(pre.header("access-control-allow-methods")->find("PUT") != std::string_view::npos);
    CHECK(pre.header("access-control-allow-headers") ==
          std::optional<std::string_view>("content-type, if-modified-since"));
    CHECK(pre.header("access-control-expose-headers")->find("Pkarr-Dht-Stored-Nodes") !=
          std::string_view::npos);

    CHECK(f.api->stats().responses.at({HttpRoute::other, 404}) == 1);
    CHECK(f.api->stats().responses.at({HttpRoute::options, 204}) == 1);
}

TEST_CASE("DoH GET and POST answer a PKARR name through the pipeline") {
    Fixture f;
    auto kp = key_n(3);
    f.source.dht.emplace(kp.public_key(), zone(kp, t0, "10.1.2.3", 600));
    Bytes q = query_wire(kp.public_key().to_z32() + ".key", dns::type::A, 0x1234);

    auto g = f.must(get("/dns-query", "ct=x&dns=" + base64url_encode(q)));
    REQUIRE(g.status == 200);
    CHECK(g.header("content-type") == std::optional<std::string_view>("application/dns-message"));
    auto reply = parse_reply(g);
    CHECK(reply.id == 0x1234);
    REQUIRE(reply.answers.size() == 1);
    CHECK(a_text(reply.answers[0]) == "10.1.2.3");
    CHECK(g.header("cache-control") ==
          std::optional<std::string_view>("max-age=" + std::to_string(reply.answers[0].ttl)));
    REQUIRE(f.dns_clients.size() == 1);
    CHECK(f.dns_clients[0].transport == Transport::https);
    CHECK(f.dns_clients[0].address.ip.to_string() == "127.0.0.1");

    // The same query again comes from the wire cache in front of the parser, byte for byte.
    auto p = f.must(post_dns(q, "Application/DNS-Message; charset=binary"));
    REQUIRE(p.status == 200);
    CHECK(p.body == g.body);
    CHECK(f.frontend->stats().wire_hits == 1);
    CHECK(f.dns_clients.size() == 1);
}

TEST_CASE("DoH answers an ICANN name and keeps NXDOMAIN cacheable by its SOA") {
    Fixture f;
    dns::Packet a;
    a.answers.push_back(rr("www.example.com", dns::type::A, 120, a_rdata("192.0.2.1")));
    a.answers.push_back(rr("www.example.com", dns::type::A, 45, a_rdata("192.0.2.2")));
    f.upstream.add("www.example.com", dns::type::A, a);
    auto r = f.must(post_dns(query_wire("www.example.com", dns::type::A)));
    REQUIRE(r.status == 200);
    CHECK(parse_reply(r).answers.size() == 2);
    CHECK(r.header("cache-control") == std::optional<std::string_view>("max-age=45"));

    // SOA TTL 900, MINIMUM 30: a negative answer lives min(900, 30) seconds (RFC 2308).
    dns::Packet nx;
    nx.set_rcode(3);
    Bytes soa = name_rdata("ns.example.com");
    Bytes rname = name_rdata("host.example.com");
    soa.insert(soa.end(), rname.begin(), rname.end());
    for (std::uint32_t v : {1u, 2u, 3u, 4u, 30u}) put_u32(soa, v);
    nx.authority.push_back(rr("example.com", dns::type::SOA, 900, soa));
    f.upstream.add("nope.example.com", dns::type::A, nx);
    auto n = f.must(post_dns(query_wire("nope.example.com", dns::type::A)));
    REQUIRE(n.status == 200);
    CHECK(parse_reply(n).rcode() == 3);
    CHECK(n.header("cache-control") == std::optional<std::string_view>("max-age=30"));

    // The upstream times out: SERVFAIL must not be cached.
    auto s = f.must(post_dns(query_wire("down.example.com", dns::type::A)));
    REQUIRE(s.status == 200);
    CHECK(parse_reply(s).rcode() == 2);
    CHECK(s.header("cache-control") == std::optional<std::string_view>("no-store"));
}

TEST_CASE("DoH errors: 400, 413, 415, FORMERR") {
    Fixture f;
    CHECK(f.must(get("/dns-query")).status == 400);
    CHECK(f.must(get("/dns-query", "dns=")).status == 400);
    CHECK(f.must(get("/dns-query", "dns=AA*A")).status == 400);  // not base64url
    CHECK(f.must(get("/dns-query", "dns=QUJD")).status == 400);  // 3 bytes: no DNS header
    CHECK(f.must(post_dns(Bytes{1, 2, 3})).status == 400);
    CHECK(f.must(post_dns(query_wire("x.example", 1), "text/plain")).status == 415);
    HttpRequest no_type = post_dns(query_wire("x.example", 1));
    no_type.headers.clear();
    CHECK(f.must(no_type).status == 415);
    CHECK(f.must(post_dns(Bytes(65536, 0))).status == 413);
    CHECK(f.must(get("/dns-query", "dns=" + std::string(100000, 'A'))).status == 413);

    // No question: the pipeline never sees it, the client gets FORMERR as a DNS answer.
    Bytes header_only = {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    auto r = f.must(post_dns(header_only));
    REQUIRE(r.status == 200);
    CHECK(parse_reply(r).rcode() == 1);
    CHECK(f.dns_clients.empty());
}

TEST_CASE("DoH client address: X-Forwarded-For only from trusted proxies") {
    HttpRequest r = get("/dns-query");
    r.peer = SocketAddress::parse("10.0.0.5:1234").value();
    r.headers.push_back({"x-forwarded-for", "203.0.113.9, 198.51.100.7"});
    CHECK(client_address(r, {}).to_string() == "10.0.0.5");
    CHECK(client_address(r, {Cidr::parse("192.168.0.0/16").value()}).to_string() == "10.0.0.5");
    CHECK(client_address(r, {Cidr::parse("10.0.0.0/8").value()}).to_string() == "198.51.100.7");
    r.headers.back().value = "203.0.113.9, not-an-ip";
    CHECK(client_address(r, {Cidr::parse("10.0.0.0/8").value()}).to_string() == "10.0.0.5");
    r.headers.back().value = " 2001:db8::1 ";
    CHECK(client_address(r, {Cidr::parse("10.0.0.0/8").value()}).to_string() == "2001:db8::1");

    // End to end: the pipeline sees the forwarded client.
    HttpApiConfig config;
    config.trusted_proxies = {Cidr::parse("127.0.0.0/8").value()};
    Fixture f(config);
    f.upstream.add("www.example.com", dns::type::A, dns::Packet{});
    HttpRequest q = post_dns(query_wire("www.example.com", dns::type::A));
    q.headers.push_back({"x-forwarded-for", "192.0.2.77"});
    REQUIRE(f.must(q).status == 200);
    REQUIRE(f.dns_clients.size() == 1);
    CHECK(f.dns_clients[0].address.ip.to_string() == "192.0.2.77");
}

TEST_CASE("base64url and query parameters") {
    CHECK(as_chars(base64url_decode("Zm9vYmFy").value()) == "foobar");
    CHECK(as_chars(base64url_decode("Zm9vYg").value()) == "foob");
    CHECK(as_chars(base64url_decode("Zm9vYg==").value()) == "foob");
    CHECK(as_chars(base64url_decode("Zg").value()) == "f");
    CHECK(base64url_decode("").value().empty());
    CHECK_FALSE(base64url_decode("Z").ok());
    CHECK_FALSE(base64url_decode("Zm9v+mFy").ok());  // standard alphabet is not base64url
    CHECK_FALSE(base64url_decode("Zm9v YmFy").ok());
    Bytes all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(i));
    auto text = base64url_encode(all);
    CHECK(text.find_first_of("+/=") == std::string::npos);
    CHECK(base64url_decode(text).value() == all);

    CHECK(query_param("a=1&dns=AAE&b", "dns") == std::optional<std::string>("AAE"));
    CHECK(query_param("dns=%41B&dns=x", "dns") == std::optional<std::string>("AB"));
    CHECK(query_param("dnsx=1", "dns") == std::nullopt);
    CHECK(query_param("dns", "dns") == std::optional<std::string>(""));
}

TEST_CASE("relay PUT stores, publishes and answers 204, GET serves it with caching headers") {
    Fixture f;
    auto kp = key_n(5);
    const pkarr::Micros ts = t0 + 123'456;
    auto packet = zone(kp, ts, "10.9.9.9", 1200);

    auto r = f.must(put(kp.public_key(), packet.relay_payload()));
    CHECK(r.status == 204);
    CHECK(r.body.empty());
    CHECK(r.header("pkarr-dht-stored-nodes") == std::optional<std::string_view>("7"));
    CHECK(r.header("access-control-allow-origin") == std::optional<std::string_view>("*"));
    REQUIRE(f.published.size() == 1);
    CHECK(f.published[0].same_as(packet));
    REQUIRE(f.accepted.size() == 1);
    CHECK(f.api->stats().packets_accepted == 1);
    CHECK(f.pkarr.cached(kp.public_key()) != nullptr);

    auto g = f.must(get("/" + kp.public_key().to_z32()));
    REQUIRE(g.status == 200);
    Bytes payload = packet.relay_payload();
    CHECK(g.body == std::string(payload.begin(), payload.end()));
    CHECK(g.header("content-type") ==
          std::optional<std::string_view>("application/pkarr.org/relays#payload"));
    CHECK(g.header("cache-control") == std::optional<std::string_view>("public, max-age=1200"));
    CHECK(g.header("last-modified") ==
          std::optional<std::string_view>(pkarr::format_http_date(ts / 1'000'000)));
    CHECK(f.source.calls == 0);  // served from the cache the PUT filled

    // If-Modified-Since: 304 iff timestamp <= IMS seconds * 10^6 (so the Last-Modified second
    // itself is still 200 for a packet with sub-second microseconds), with headers and no body.
    HttpRequest ims = get("/" + kp.public_key().to_z32());
    ims.headers.push_back({"if-modified-since", pkarr::format_http_date(ts / 1'000'000 + 1)});
    auto nm = f.must(ims);
    CHECK(nm.status == 304);
    CHECK(nm.body.empty());
    CHECK(nm.header("last-modified").has_value());
    CHECK(nm.header("cache-control") == std::optional<std::string_view>("public, max-age=1200"));
    ims.headers.back().value = pkarr::format_http_date(ts / 1'000'000);
    CHECK(f.must(ims).status == 200);
    ims.headers.back().value = "yesterday";  // unparsable: ignored
    CHECK(f.must(ims).status == 200);

    // The same bytes again (a republish) are accepted; an older packet is 409.
    CHECK(f.must(put(kp.public_key(), packet.relay_payload())).status == 204);
    auto older = zone(kp, ts - 1'000'000, "10.0.0.1");
    auto c = f.must(put(kp.public_key(), older.relay_payload()));
    CHECK(c.status == 409);
    CHECK(f.published.size() == 2);
    auto newer = zone(kp, ts + 1, "10.0.0.2");
    CHECK(f.must(put(kp.public_key(), newer.relay_payload())).status == 204);
    CHECK(f.pkarr.cached(kp.public_key())->same_as(newer));
}

TEST_CASE("relay PUT errors: 400 bad key / payload / signature, 413, 500, 429") {
    Fixture f;
    auto kp = key_n(6);
    auto packet = zone(kp, t0, "10.0.0.6");
    Bytes payload = packet.relay_payload();

    HttpRequest bad_key = put(kp.public_key(), payload);
    bad_key.path = "/not-a-key";
    CHECK(f.must(bad_key).status == 400);

    Bytes tampered = payload;
    tampered.back() ^= 0x01;
    auto t = f.must(put(kp.public_key(), tampered));
    CHECK(t.status == 400);
    CHECK_FALSE(t.body.empty());

    // Signed by another key than the one in the path.
    CHECK(f.must(put(key_n(7).public_key(), payload)).status == 400);
    CHECK(f.must(put(kp.public_key(), Bytes(50, 1))).status == 400);
    CHECK(f.must(put(kp.public_key(), Bytes(1105, 1))).status == 413);
    CHECK(f.published.empty());

    f.publish_error = "no closest nodes";
    auto e = f.must(put(kp.public_key(), payload));
    CHECK(e.status == 500);
    CHECK(e.body.find("no closest nodes") != std::string::npos);
    f.publish_error.reset();
    f.stored_nodes = 0;
    CHECK(f.must(put(kp.public_key(), payload)).status == 500);
    CHECK(f.accepted.empty());

    HttpApiConfig limited;
    limited.put_rate = 1;
    limited.put_burst = 2;
    Fixture g(limited);
    CHECK(g.must(put(kp.public_key(), payload)).status == 204);
    CHECK(g.must(put(kp.public_key(), payload)).status == 204);
    CHECK(g.must(put(kp.public_key(), payload)).status == 429);
    CHECK(g.api->stats().put_rate_limited == 1);
    // Another client has its own bucket; time refills.
    HttpRequest other = put(kp.public_key(), payload);
    other.peer = SocketAddress::parse("127.0.0.2:5").value();
    CHECK(g.must(other).status == 204);
    g.clock.advance_seconds(1);
    CHECK(g.must(put(kp.public_key(), payload)).status == 204);
}

TEST_CASE("relay GET: DHT lookup, 404, 503, policies") {
    Fixture f;
    auto kp = key_n(8);
    std::string path = "/" + kp.public_key().to_z32();

    CHECK(f.must(get(path, "policy=CacheOnly")).status == 404);
    CHECK(f.source.calls == 0);
    CHECK(f.must(get(path)).status == 404);  // the DHT has nothing
    CHECK(f.source.calls == 1);
    CHECK(f.must(get(path, "policy=Sometimes")).status == 400);
    CHECK(f.must(get("/pk:" + kp.public_key().to_z32())).status == 404);  // pkarr's key forms parse

    // Two GETs while the lookup runs: one DHT lookup, both answered when it completes.
    auto kp2 = key_n(9);
    f.source.dht.emplace(kp2.public_key(), zone(kp2, t0, "10.0.0.9", 100));  // TTL below the relay's min
    f.source.hold = true;
    std::optional<HttpResponse> first, second;
    f.api->handle(get("/" + kp2.public_key().to_z32(), "policy=NetworkOnly"),
                  [&](HttpResponse r) { first = r; });
    f.api->handle(get("/" + kp2.public_key().to_z32()), [&](HttpResponse r) { second = r; });
    CHECK_FALSE(first.has_value());
    CHECK(f.source.pending.size() == 1);
    f.source.complete_all();
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK(first->status == 200);
    CHECK(second->status == 200);
    CHECK(second->header("cache-control") == std::optional<std::string_view>("public, max-age=300"));

    auto kp3 = key_n(10);
    f.source.hold = false;
    f.source.offline = true;
    CHECK(f.must(get("/" + kp3.public_key().to_z32())).status == 503);
}

TEST_CASE("relay GET lookups that reach the DHT are rate limited per client") {
    HttpApiConfig config;
    config.get_lookup_rate = 1;
    config.get_lookup_burst = 1;
    Fixture f(config);
    CHECK(f.must(get("/" + key_n(11).public_key().to_z32())).status == 404);
    CHECK(f.must(get("/" + key_n(12).public_key().to_z32())).status == 429);
    CHECK(f.source.calls == 1);
}

TEST_CASE("late completions after the API is gone still respond once") {
    Fixture f;
    f.hold_publish = true;
    auto kp = key_n(13);
    std::optional<HttpResponse> late;
    int calls = 0;
    f.api->handle(put(kp.public_key(), zone(kp, t0, "10.0.0.13").relay_payload()), [&](HttpResponse r) {
        ++calls;
        late = std::move(r);
    });
    CHECK(calls == 0);
    f.api.reset();
    REQUIRE(f.held.size() == 1);
    f.held[0].second(std::size_t{3});
    CHECK(calls == 1);
    CHECK(late->status == 204);
    CHECK(f.accepted.empty());  // the hook belongs to the API that is gone
}

TEST_CASE("healthz and metrics") {
    Fixture f;
    auto h = f.must(get("/healthz"));
    CHECK(h.status == 200);
    CHECK(h.body == "{\"ok\":true}\n");
    f.healthy = false;
    CHECK(f.must(get("/healthz")).status == 503);
    auto m = f.must(get("/metrics"));
    CHECK(m.status == 200);
    CHECK(m.header("content-type")->find("text/plain") == 0);
    CHECK(m.body == "# TYPE x counter\nx 1\n");
}
