#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "conf/config.hpp"

using namespace pkdns;
using namespace pkdns::conf;

namespace {

Config parse_ok(const std::string& text) {
    auto r = parse_config(text, "test.toml");
    if (!r) FAIL("unexpected error: " << r.error().message);
    return *r;
}

std::string parse_err(const std::string& text) {
    auto r = parse_config(text, "test.toml");
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

bool has(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("built-in defaults match the design") {
    Config c;
    REQUIRE(c.dns.listen.size() == 2);
    CHECK(c.dns.listen[0].to_string() == "127.0.0.1:53");
    CHECK(c.dns.listen[1].to_string() == "[::1]:53");
    CHECK(c.dns.min_ttl == 60);
    CHECK(c.dns.max_ttl == 86400);
    CHECK(c.dns.query_rate_limit == 100);
    CHECK(c.dns.query_rate_limit_burst == 200);
    CHECK(c.dns.prefix_rate_limit == 1000);
    CHECK(c.dns.slip == 2);
    CHECK(c.dns.refuse_action == "drop");
    CHECK(c.dns.cookies);
    CHECK(c.dns.cookie_secret.empty());
    CHECK(c.dns.minimal_any);
    CHECK(c.dht.max_lookups == 256);
    CHECK(c.cache.memory_mb == 256);
    CHECK(c.http.relay);
    CHECK_FALSE(c.http.doh_allow.has_value());
    REQUIRE(c.http.metrics_allow.size() == 2);
    CHECK(c.http.metrics_allow[0].to_string() == "127.0.0.0/8");
    CHECK_FALSE(c.http.doh_cors);
    CHECK(c.http.max_connections == 1024);
    CHECK(c.http.max_streams == 32);
    CHECK_FALSE(c.dns.disable_any_queries);
    CHECK(c.dns.max_recursion_depth == 15);
    CHECK(c.dns.top_level_domain == "key");
    REQUIRE(c.dns.allow.size() == 6);
    CHECK(c.dns.allow[5].to_string() == "fc00::/7");
    REQUIRE(c.upstream.servers.size() == 2);
    CHECK(c.upstream.servers[0].to_string() == "1.1.1.1:53");
    CHECK(c.upstream.servers[1].to_string() == "8.8.8.8:53");
    CHECK(c.upstream.timeout_ms == 2000);
    CHECK(c.dht.port == 0);
    CHECK_FALSE(c.dht.server);
    REQUIRE(c.dht.bootstrap.size() == 4);
    CHECK(c.dht.bootstrap[0].to_string() == "router.bittorrent.com:6881");
    CHECK(c.dht.bootstrap[2].to_string() == "dht.libtorrent.org:25401");
    CHECK(c.dht.bootstrap[3].to_string() == "relay.pkarr.org:6881");
    CHECK(c.dht.query_rate_limit == 5);
    CHECK(c.relay.urls == std::vector<std::string>{"https://pkarr.pubky.app", "https://pkarr.pubky.org"});
    CHECK(c.relay.enabled);
    CHECK(c.relay.keep_alive);
    CHECK(c.cache.path == "/var/lib/pkdns/pkdns.db");
    CHECK(c.cache.max_packets == 1000000);
    CHECK(c.cache.icann_mb == 100);
    CHECK(c.cache.wire_mb == 32);
    CHECK_FALSE(c.http.listen.has_value());
    CHECK(c.http.tls_cert.empty());
    CHECK(c.publish.empty());
    CHECK(c.log.level == "info");
}

TEST_CASE("an empty document gives the defaults") {
    CHECK(parse_ok("") == Config{});
    CHECK(parse_ok("# only a comment\n\n") == Config{});
}

TEST_CASE("the embedded default config equals the built-in defaults") {
    auto r = parse_config(default_config_toml(), "<default>");
    REQUIRE(r.ok());
    CHECK(*r == Config{});
    // It documents every key: none of the sections is missing.
    for (const char* section :
         {"[dns]", "[upstream]", "[dht]", "[relay]", "[cache]", "[http]", "[log]", "# [[publish]]"}) {
        CHECK(has(std::string(default_config_toml()), section));
    }
}

TEST_CASE("packaging/pkdns.toml is the embedded default config") {
    auto path =
        std::filesystem::path(PKDNS_TEST_DATA_DIR).parent_path().parent_path() / "packaging" / "pkdns.toml";
    std::ifstream in(path);
    REQUIRE(in.good());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == default_config_toml());
}

TEST_CASE("every section and key is read") {
    Config c = parse_ok(R"(
[dns]
listen = ["0.0.0.0:5353", "[::]:5353"]
min_ttl = 10
max_ttl = 3600
query_rate_limit = 0
query_rate_limit_burst = 7
prefix_rate_limit = 50
prefix_rate_limit_burst = 60
slip = 0
refuse_action = "refuse"
cookies = false
cookie_secret = "00112233445566778899aabbccddeeff"
minimal_any = false
disable_any_queries = true
max_recursion_depth = 3
top_level_domain = "PKD"
allow = ["0.0.0.0/0", "::/0"]

[upstream]
servers = ["9.9.9.9:53", "[2620:fe::fe]:53"]
timeout_ms = 500

[dht]
port = 6881
server = true
bootstrap = ["127.0.0.1:40000", "[::1]:40001", "node.example:1"]
query_rate_limit = 9
query_rate_limit_burst = 11
max_lookups = 12

[relay]
urls = ["http://127.0.0.1:8080"]
enabled = false
keep_alive = false

[cache]
path = "/tmp/x.db"
max_packets = 5
memory_mb = 3
icann_mb = 1
wire_mb = 0

[http]
listen = "127.0.0.1:8053"
tls_cert = "/etc/ssl/c.pem"
tls_key = "/etc/ssl/k.pem"
relay = false
doh_allow = ["192.0.2.0/24"]
metrics_allow = []
doh_cors = true
max_connections = 10
request_timeout_ms = 500
idle_timeout_ms = 700
max_streams = 4

[[publish]]
key = "/k1"
zone = "/z1"

[[publish]]
key = "/k2"
zone = "/z2"
republish_interval = 600

[log]
level = "debug"
)");
    CHECK(c.dns.listen.size() == 2);
    CHECK(c.dns.listen[1].to_string() == "[::]:5353");
    CHECK(c.dns.min_ttl == 10);
    CHECK(c.dns.max_ttl == 3600);
    CHECK(c.dns.query_rate_limit == 0);
    CHECK(c.dns.query_rate_limit_burst == 7);
    CHECK(c.dns.prefix_rate_limit == 50);
    CHECK(c.dns.prefix_rate_limit_burst == 60);
    CHECK(c.dns.slip == 0);
    CHECK(c.dns.refuse_action == "refuse");
    CHECK_FALSE(c.dns.cookies);
    CHECK(c.dns.cookie_secret == "00112233445566778899aabbccddeeff");
    CHECK_FALSE(c.dns.minimal_any);
    CHECK(c.cache.memory_mb == 3);
    CHECK(c.dht.max_lookups == 12);
    CHECK_FALSE(c.http.relay);
    REQUIRE(c.http.doh_allow.has_value());
    CHECK(c.http.doh_allow->at(0).to_string() == "192.0.2.0/24");
    CHECK(c.http.metrics_allow.empty());
    CHECK(c.http.doh_cors);
    CHECK(c.http.max_connections == 10);
    CHECK(c.http.request_timeout_ms == 500);
    CHECK(c.http.idle_timeout_ms == 700);
    CHECK(c.http.max_streams == 4);
    CHECK(c.dns.disable_any_queries);
    CHECK(c.dns.max_recursion_depth == 3);
    CHECK(c.dns.top_level_domain == "pkd");
    CHECK(c.dns.allow.size() == 2);
    CHECK(c.upstream.servers[1].to_string() == "[2620:fe::fe]:53");
    CHECK(c.upstream.timeout_ms == 500);
    CHECK(c.dht.port == 6881);
    CHECK(c.dht.server);
    REQUIRE(c.dht.bootstrap.size() == 3);
    CHECK(c.dht.bootstrap[1].host == "::1");
    CHECK(c.dht.bootstrap[2].to_string() == "node.example:1");
    CHECK(c.dht.query_rate_limit == 9);
    CHECK(c.dht.query_rate_limit_burst == 11);
    CHECK(c.relay.urls == std::vector<std::string>{"http://127.0.0.1:8080"});
    CHECK_FALSE(c.relay.enabled);
    CHECK_FALSE(c.relay.keep_alive);
    CHECK(c.cache.path == "/tmp/x.db");
    CHECK(c.cache.max_packets == 5);
    CHECK(c.cache.icann_mb == 1);
    CHECK(c.cache.wire_mb == 0);
    REQUIRE(c.http.listen.has_value());
    CHECK(c.http.listen->to_string() == "127.0.0.1:8053");
    CHECK(c.http.tls_cert == "/etc/ssl/c.pem");
    CHECK(c.http.tls_key == "/etc/ssl/k.pem");
    REQUIRE(c.publish.size() == 2);
    CHECK(c.publish[0].key == "/k1");
    CHECK(c.publish[0].zone == "/z1");
    CHECK(c.publish[0].republish_interval == 3600);
    CHECK(c.publish[1].republish_interval == 600);
    CHECK(c.log.level == "debug");
}

TEST_CASE("keys left out keep their defaults") {
    Config c = parse_ok("[dns]\nmin_ttl = 5\n");
    Config expected;
    expected.dns.min_ttl = 5;
    CHECK(c == expected);
}

TEST_CASE("Rust pkdns keys are accepted as aliases") {
    Config c = parse_ok(R"(
[general]
socket = "0.0.0.0:53"
forward = "8.8.4.4:53"
dns_over_http_socket = "127.0.0.1:3000"
verbose = true

[dns]
min_ttl = 30
max_ttl = 600
query_rate_limit = 50
query_rate_limit_burst = 60
disable_any_queries = true
icann_cache_mb = 50
max_recursion_depth = 4

[dht]
dht_query_rate_limit = 2
dht_query_rate_limit_burst = 3
top_level_domain = ""
)");
    REQUIRE(c.dns.listen.size() == 1);
    CHECK(c.dns.listen[0].to_string() == "0.0.0.0:53");
    REQUIRE(c.upstream.servers.size() == 1);
    CHECK(c.upstream.servers[0].to_string() == "8.8.4.4:53");
    REQUIRE(c.http.listen.has_value());
    CHECK(c.http.listen->port == 3000);
    CHECK(c.log.level == "debug");
    CHECK(c.dns.min_ttl == 30);
    CHECK(c.cache.icann_mb == 50);
    CHECK(c.dht.query_rate_limit == 2);
    CHECK(c.dht.query_rate_limit_burst == 3);
    CHECK(c.dns.top_level_domain.empty());

    CHECK(parse_ok("[general]\nverbose = false\n").log.level == "info");
}

TEST_CASE("an alias and our key for the same setting is an error naming both") {
    auto e = parse_err("[general]\nsocket = \"0.0.0.0:53\"\n\n[dns]\nlisten = [\"127.0.0.1:53\"]\n");
    CHECK(e ==
          "test.toml: line 5: key 'dns.listen': sets the same thing as 'general.socket' (line 2); keep one");
    CHECK(has(parse_err("[upstream]\nservers = [\"1.1.1.1:53\"]\n[general]\nforward = \"8.8.8.8:53\"\n"),
              "line 4: key 'general.forward': sets the same thing as 'upstream.servers'"));
    CHECK(has(parse_err("[dns]\ntop_level_domain = \"a\"\n[dht]\ntop_level_domain = \"b\"\n"),
              "line 4: key 'dht.top_level_domain'"));
    CHECK(has(parse_err("[dht]\nquery_rate_limit = 1\ndht_query_rate_limit = 2\n"),
              "line 3: key 'dht.dht_query_rate_limit'"));
    CHECK(has(parse_err("[general]\nverbose = true\n[log]\nlevel = \"warn\"\n"), "line 4: key 'log.level'"));
    CHECK(
        has(parse_err("[dns]\nicann_cache_mb = 1\n[cache]\nicann_mb = 2\n"), "line 4: key 'cache.icann_mb'"));
    CHECK(has(parse_err("[general]\ndns_over_http_socket = \"127.0.0.1:1\"\n[http]\nlisten = \"\"\n"),
              "line 4: key 'http.listen'"));
}

TEST_CASE("unknown sections and keys are rejected with their line") {
    CHECK(parse_err("[dns]\nmin_ttl = 1\nmin_tll = 2\n") ==
          "test.toml: line 3: key 'dns.min_tll': unknown key");
    CHECK(parse_err("\n\n[resolver]\nx = 1\n") == "test.toml: line 3: key 'resolver': unknown section");
    CHECK(parse_err("verbose = true\n") ==
          "test.toml: line 1: key 'verbose': unknown key (outside any section)");
    CHECK(has(parse_err("[general]\nmin_ttl = 1\n"), "line 2: key 'general.min_ttl': unknown key"));
    CHECK(has(parse_err("[dht]\ndht_cache_mb = 100\n"),
              "line 2: key 'dht.dht_cache_mb': unknown key (Rust pkdns key"));
    CHECK(has(parse_err("[[publish]]\nkey = \"/k\"\nzone = \"/z\"\nttl = 5\n"),
              "line 4: key 'publish[0].ttl': unknown key"));
    // The pubky.org "explore" page's invented keys.
    CHECK(has(parse_err("[rate_limit]\nrequests_per_minute = 1\n"), "key 'rate_limit': unknown section"));
    // Dotted keys land in the same section.
    CHECK(has(parse_err("dns.bogus = 1\n"), "line 1: key 'dns.bogus': unknown key"));
    // The first problem in document order is reported, though toml++ keeps keys sorted.
    CHECK(has(parse_err("[zeta]\n[dns]\nzzz = 1\naaa = 2\n"), "line 1: key 'zeta'"));
    CHECK(has(parse_err("[dns]\nzzz = 1\naaa = 2\n"), "line 2: key 'dns.zzz'"));
    // Control characters in a quoted key do not break the one-line message.
    auto e = parse_err("[dns]\n\"a\\nb\" = 1\n");
    CHECK(e.find('\n') == std::string::npos);
    CHECK(has(e, "dns.a\\x0ab"));
}

TEST_CASE("wrong types are rejected naming the key and line") {
    CHECK(parse_err("[dns]\n\nmin_ttl = \"60\"\n") ==
          "test.toml: line 3: key 'dns.min_ttl': expected an integer, got a string");
    CHECK(has(parse_err("[dns]\nmin_ttl = 1.5\n"),
              "line 2: key 'dns.min_ttl': expected an integer, got a float"));
    CHECK(has(parse_err("[dns]\ndisable_any_queries = \"yes\"\n"),
              "line 2: key 'dns.disable_any_queries': expected true or false"));
    CHECK(has(parse_err("[dns]\nlisten = 53\n"),
              "line 2: key 'dns.listen': expected an array of strings, got an integer"));
    CHECK(has(parse_err("[dns]\nlisten = [\"127.0.0.1:53\",\n  53]\n"),
              "line 3: key 'dns.listen': expected a string, got an integer"));
    CHECK(has(parse_err("[dns]\ntop_level_domain = 1\n"),
              "line 2: key 'dns.top_level_domain': expected a string"));
    CHECK(has(parse_err("dns = 5\n"), "line 1: key 'dns': expected a table"));
    CHECK(has(parse_err("[publish]\nkey = \"/k\"\n"), "key 'publish': expected [[publish]] entries"));
    CHECK(has(parse_err("[http]\nlisten = 8053\n"),
              "line 2: key 'http.listen': expected a string, got an integer"));
    CHECK(has(parse_err("[log]\nlevel = 1979-05-27\n"),
              "line 2: key 'log.level': expected a string, got a date"));
}

TEST_CASE("out-of-range and malformed values are rejected naming the key and line") {
    struct Case {
        const char* toml;
        const char* expect;
    };
    const Case cases[] = {
        {"[dns]\nlisten = [\"127.0.0.1:99999\"]\n",
         "line 2: key 'dns.listen': '127.0.0.1:99999': port must be a number 0-65535"},
        {"[dns]\nlisten = [\"localhost:53\"]\n", "line 2: key 'dns.listen': 'localhost:53'"},
        {"[dns]\nlisten = []\n", "line 2: key 'dns.listen': needs at least one address"},
        {"[dns]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:053\"]\n",
         "key 'dns.listen': '127.0.0.1:053' is listed twice"},
        {"[dns]\nmin_ttl = -1\n", "line 2: key 'dns.min_ttl': -1 is out of range (0..2147483647)"},
        {"[dns]\nmax_ttl = 4294967296\n", "line 2: key 'dns.max_ttl': 4294967296 is out of range"},
        {"[dns]\nmin_ttl = 100\nmax_ttl = 50\n",
         "line 3: key 'dns.max_ttl': min_ttl (100) is greater than max_ttl (50)"},
        {"[dns]\nmin_ttl = 100000\n",
         "line 2: key 'dns.min_ttl': min_ttl (100000) is greater than max_ttl (86400)"},
        {"[dns]\nquery_rate_limit = -5\n", "line 2: key 'dns.query_rate_limit': -5 is out of range"},
        {"[dns]\nmax_recursion_depth = 256\n", "key 'dns.max_recursion_depth': 256 is out of range (0..255)"},
        {"[dns]\ntop_level_domain = \"a.b\"\n",
         "line 2: key 'dns.top_level_domain': 'a.b': must be one DNS label"},
        {"[dns]\ntop_level_domain = \"-x\"\n", "key 'dns.top_level_domain'"},
        {"[dns]\nallow = [\"10.0.0.1/8\"]\n", "line 2: key 'dns.allow': '10.0.0.1/8': host bits set"},
        {"[dns]\nallow = []\n", "line 2: key 'dns.allow': an empty list refuses every client"},
        {"[dns]\nrefuse_action = \"ignore\"\n",
         "line 2: key 'dns.refuse_action': 'ignore': expected drop or refuse"},
        {"[dns]\ncookie_secret = \"abc\"\n", "line 2: key 'dns.cookie_secret': expected 32 hex digits"},
        {"[dns]\nslip = 11\n", "line 2: key 'dns.slip': 11 is out of range (0..10)"},
        {"[cache]\nmemory_mb = 64\n",
         "line 2: key 'cache.memory_mb': icann_mb (100) is more than memory_mb (64)"},
        {"[http]\nmax_connections = 0\n", "line 2: key 'http.max_connections': 0 is out of range (1..65536)"},
        {"[http]\ndoh_allow = [\"1.2.3.4/8\"]\n", "line 2: key 'http.doh_allow': '1.2.3.4/8': host bits set"},
        {"[upstream]\nservers = [\"1.1.1.1:0\"]\n",
         "line 2: key 'upstream.servers': '1.1.1.1:0': port 0 is not a server port"},
        {"[upstream]\nservers = []\n", "key 'upstream.servers': needs at least one server"},
        {"[upstream]\ntimeout_ms = 0\n", "line 2: key 'upstream.timeout_ms': 0 is out of range (1..60000)"},
        {"[dht]\nport = 65536\n", "line 2: key 'dht.port': 65536 is out of range (0..65535)"},
        {"[dht]\nbootstrap = [\"no-port.example\"]\n",
         "line 2: key 'dht.bootstrap': 'no-port.example': missing port"},
        {"[dht]\nbootstrap = [\"a.example:0\"]\n", "key 'dht.bootstrap': 'a.example:0': port 0"},
        {"[relay]\nurls = [\"ftp://x\"]\n",
         "line 2: key 'relay.urls': 'ftp://x': expected an http:// or https:// URL"},
        {"[relay]\nurls = [\"https://\"]\n", "key 'relay.urls': 'https://': URL has no host"},
        {"[relay]\nurls = [\"https://a b\"]\n", "key 'relay.urls': 'https://a b': URL contains spaces"},
        {"[cache]\nmax_packets = 0\n", "line 2: key 'cache.max_packets': 0 is out of range"},
        {"[cache]\nicann_mb = 0\n", "line 2: key 'cache.icann_mb': 0 is out of range"},
        {"[cache]\npath = \"\"\n", "line 2: key 'cache.path': must not be empty"},
        {"[http]\nlisten = \"8053\"\n", "line 2: key 'http.listen': '8053'"},
        {"[http]\ntls_cert = \"/c.pem\"\n",
         "line 2: key 'http.tls_cert': tls_cert and tls_key must be set together"},
        {"[http]\ntls_key = \"/k.pem\"\n",
         "line 2: key 'http.tls_key': tls_cert and tls_key must be set together"},
        {"[log]\nlevel = \"verbose\"\n", "line 2: key 'log.level': 'verbose': expected one of trace, debug"},
        {"[[publish]]\nzone = \"/z\"\n", "line 1: key 'publish[0].key': missing"},
        {"[[publish]]\nkey = \"/k\"\n", "line 1: key 'publish[0].zone': missing"},
        {"[[publish]]\nkey = \"/k\"\nzone = \"/z\"\nrepublish_interval = 0\n",
         "line 4: key 'publish[0].republish_interval': 0 is out of range (1..86400)"},
        {"[[publish]]\nkey = \"/k\"\nzone = \"/z\"\nrepublish_interval = 86401\n",
         "line 4: key 'publish[0].republish_interval': 86401 is out of range (1..86400)"},
        {"[[publish]]\nkey = \"/k\"\nzone = \"/z\"\n[[publish]]\nkey = \"/k\"\nzone = \"/z2\"\n",
         "line 4: key 'publish[1].key': '/k' is already published by the entry at line 1"},
    };
    for (const auto& c : cases) {
        INFO(c.toml);
        auto e = parse_err(c.toml);
        INFO(e);
        CHECK(has(e, std::string("test.toml: ")));
        CHECK(has(e, c.expect));
    }
}

TEST_CASE("TOML syntax errors give line and column") {
    auto e = parse_err("[dns]\nmin_ttl = = 3\n");
    CHECK(has(e, "test.toml: line 2, column"));
    CHECK(has(parse_err("[dns]\nmin_ttl = 1\nmin_ttl = 2\n"), "test.toml: line 3"));
    CHECK(has(parse_err("[dns\n"), "test.toml: line 1"));
}

TEST_CASE("relative paths are resolved against the base directory") {
    auto text =
        "[cache]\npath = \"state/pkdns.db\"\n[http]\ntls_cert = \"c.pem\"\ntls_key = \"/abs/k.pem\"\n"
        "[[publish]]\nkey = \"keys/home.key\"\nzone = \"../zones/home.zone\"\n";
    auto r = parse_config(text, "/etc/pkdns/pkdns.toml", "/etc/pkdns");
    REQUIRE(r.ok());
    CHECK(r->cache.path == "/etc/pkdns/state/pkdns.db");
    CHECK(r->http.tls_cert == "/etc/pkdns/c.pem");
    CHECK(r->http.tls_key == "/abs/k.pem");
    CHECK(r->publish[0].key == "/etc/pkdns/keys/home.key");
    CHECK(r->publish[0].zone == "/etc/zones/home.zone");
    // Without a base directory the text is kept; ":memory:" is never a path.
    auto plain = parse_config(text, "x");
    REQUIRE(plain.ok());
    CHECK(plain->cache.path == "state/pkdns.db");
    CHECK(parse_config("[cache]\npath = \":memory:\"\n", "x", "/etc")->cache.path == ":memory:");
}

TEST_CASE("load_config_file reads a file and takes paths from its directory") {
    auto dir = std::filesystem::temp_directory_path() / ("pkdns_conf_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto file = dir / "pkdns.toml";
    {
        std::ofstream out(file);
        out << "[[publish]]\nkey = \"home.key\"\nzone = \"home.zone\"\n";
    }
    auto r = load_config_file(file.string());
    REQUIRE(r.ok());
    CHECK(r->publish[0].key == (dir / "home.key").string());

    {
        std::ofstream out(file);
        out << "[dns]\nbad = 1\n";
    }
    auto bad = load_config_file(file.string());
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == file.string() + ": line 2: key 'dns.bad': unknown key");

    auto missing = load_config_file((dir / "nope.toml").string());
    REQUIRE_FALSE(missing.ok());
    CHECK(has(missing.error().message, "nope.toml"));
    CHECK_FALSE(load_config_file(dir.string()).ok());  // a directory

    {
        std::ofstream out(file);
        out << std::string(2 << 20, '#');
    }
    auto big = load_config_file(file.string());
    REQUIRE_FALSE(big.ok());
    CHECK(has(big.error().message, "larger than 1 MiB"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("to_toml parses back to the same config") {
    CHECK(parse_ok(to_toml(Config{})) == Config{});

    Config c;
    c.dns.listen = {SocketAddress::parse("[2001:db8::53]:5353").value()};
    c.dns.top_level_domain = "";
    c.dns.allow = {Cidr::parse("0.0.0.0/0").value()};
    c.dns.disable_any_queries = true;
    c.upstream.servers = {SocketAddress::parse("127.0.0.1:1053").value()};
    c.dht.bootstrap = {};
    c.dht.server = true;
    c.dht.port = 40000;
    c.relay.urls = {};
    c.relay.enabled = false;
    c.cache.path = "/tmp/with \"quotes\" and é.db";
    c.http.listen = SocketAddress::parse("[::1]:8053").value();
    c.http.tls_cert = "/c";
    c.http.tls_key = "/k";
    c.publish = {PublishEntry{"/k1", "/z1", 3600}, PublishEntry{"/k2", "/z2", 120}};
    c.log.level = "trace";
    auto text = to_toml(c);
    INFO(text);
    CHECK(parse_ok(text) == c);
    CHECK(has(text, "[[publish]]"));
}

TEST_CASE("Config equality sees every section") {
    Config a, b;
    CHECK(a == b);
    b.relay.keep_alive = false;
    CHECK_FALSE(a == b);
    b = a;
    b.publish.push_back({"/k", "/z", 3600});
    CHECK_FALSE(a == b);
}

TEST_CASE("config: a republish_interval below 60 s is accepted (for tests) and round-trips") {
    Config c = parse_ok("[[publish]]\nkey = \"/k\"\nzone = \"/z\"\nrepublish_interval = 2\n");
    REQUIRE(c.publish.size() == 1);
    CHECK(c.publish[0].republish_interval == 2);
    auto again = parse_config(to_toml(c), "again.toml");
    REQUIRE(again.ok());
    CHECK(again->publish[0].republish_interval == 2);
}
