#include <catch2/catch.hpp>

#include "conf/config.hpp"

using namespace pkdns;
using namespace pkdns::conf;

TEST_CASE("no overrides leave the config unchanged") {
    Config c;
    REQUIRE(apply_overrides(c, Overrides{}).ok());
    CHECK(c == Config{});
}

TEST_CASE("overrides replace lists and set values") {
    Config c;
    Overrides o;
    o.listen = {"127.0.0.1:5353", "[::1]:0"};
    o.upstream = {"127.0.0.1:1053"};
    o.bootstrap = {"127.0.0.1:40000", "localhost:40001"};
    o.cache = "/tmp/pkdns-test.db";
    o.http = "127.0.0.1:0";
    o.dht_port = 6881;
    o.no_relays = true;
    REQUIRE(apply_overrides(c, o).ok());
    REQUIRE(c.dns.listen.size() == 2);
    CHECK(c.dns.listen[0].to_string() == "127.0.0.1:5353");
    CHECK(c.dns.listen[1].to_string() == "[::1]:0");
    REQUIRE(c.upstream.servers.size() == 1);
    CHECK(c.upstream.servers[0].port == 1053);
    REQUIRE(c.dht.bootstrap.size() == 2);
    CHECK(c.dht.bootstrap[1].host == "localhost");
    CHECK(c.cache.path == "/tmp/pkdns-test.db");
    REQUIRE(c.http.listen.has_value());
    CHECK(c.http.listen->port == 0);
    CHECK(c.dht.port == 6881);
    CHECK_FALSE(c.relay.enabled);
    CHECK(c.relay.urls == default_relay_urls());  // --no-relays turns them off, the list stays

    Overrides off;
    off.http = "";
    REQUIRE(apply_overrides(c, off).ok());
    CHECK_FALSE(c.http.listen.has_value());
}

TEST_CASE("bad overrides are rejected naming the flag, and the config is untouched") {
    struct Case {
        Overrides o;
        const char* expect;
    };
    std::vector<Case> cases;
    auto add = [&](auto set, const char* expect) {
        Overrides o;
        set(o);
        cases.push_back({o, expect});
    };
    add([](Overrides& o) { o.listen = {"127.0.0.1:53", "1.2.3"}; }, "--listen: '1.2.3'");
    add(
        [](Overrides& o) {
            o.listen = {"127.0.0.1:53", "127.0.0.1:53"};
        },
        "--listen: '127.0.0.1:53' is given twice");
    add([](Overrides& o) { o.upstream = {"127.0.0.1:0"}; }, "--upstream: '127.0.0.1:0': port 0");
    add([](Overrides& o) { o.upstream = {"dns.google:53"}; }, "--upstream: 'dns.google:53'");
    add([](Overrides& o) { o.bootstrap = {"host"}; }, "--bootstrap: 'host': missing port");
    add([](Overrides& o) { o.cache = ""; }, "--cache: must not be empty");
    add([](Overrides& o) { o.http = "localhost:80"; }, "--http: 'localhost:80'");
    add([](Overrides& o) { o.dht_port = 65536; }, "--dht-port: 65536 is out of range (0..65535)");
    add([](Overrides& o) { o.dht_port = -1; }, "--dht-port: -1 is out of range");
    for (auto& c : cases) {
        Config config;
        config.dns.min_ttl = 7;
        Config before = config;
        auto r = apply_overrides(config, c.o);
        REQUIRE_FALSE(r.ok());
        INFO(r.error().message);
        CHECK(r.error().message.rfind(c.expect, 0) == 0);
        CHECK(config == before);
    }
}

TEST_CASE("a valid override after an invalid one does not apply partially") {
    Config c;
    Overrides o;
    o.listen = {"127.0.0.1:5353"};
    o.upstream = {"bad"};
    REQUIRE_FALSE(apply_overrides(c, o).ok());
    CHECK(c.dns.listen == default_dns_listen());
}
