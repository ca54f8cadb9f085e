#pragma once
// The pkdns configuration: one plain struct per TOML section, defaults built in (design.md §1).
// A default-constructed Config is the effective config when no file and no flags are given;
// conf/default_config.cpp holds the same values as a commented TOML document.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"

namespace pkdns::conf {

// The built-in lists (defined in config.cpp).
std::vector<SocketAddress> default_dns_listen();  // 127.0.0.1:53, [::1]:53
std::vector<Cidr> default_dns_allow();            // loopback and private ranges, see DnsConfig
std::vector<SocketAddress> default_upstreams();   // 1.1.1.1:53, 8.8.8.8:53
std::vector<HostPort> default_bootstrap();        // router.bittorrent.com:6881, dht.transmissionbt.com:6881,
                                                  // dht.libtorrent.org:25401, relay.pkarr.org:6881
std::vector<std::string> default_relay_urls();    // https://pkarr.pubky.app, https://pkarr.pubky.org
std::vector<Cidr> default_metrics_allow();        // 127.0.0.0/8, ::1/128

// [dns] (Rust pkdns: [general] socket = listen; [dht] top_level_domain).
struct DnsConfig {
    std::vector<SocketAddress> listen = default_dns_listen();  // UDP and TCP on each; not empty
    std::uint32_t min_ttl = 60;                                // seconds; min_ttl <= max_ttl
    std::uint32_t max_ttl = 86400;
    std::uint32_t query_rate_limit = 100;        // queries/s per client (IPv6 by /64); 0 = off
    std::uint32_t query_rate_limit_burst = 200;  // 0 = no burst
    std::uint32_t prefix_rate_limit = 1000;      // queries/s per IPv4 /24 or IPv6 /56; 0 = off
    std::uint32_t prefix_rate_limit_burst = 2000;
    // Of the replies over a limit, every slip-th UDP one goes out as an empty TC=1 answer (the
    // client retries over TCP), the rest are dropped; 0 = drop them all, 1 = slip every one.
    std::uint32_t slip = 2;
    std::string refuse_action = "drop";      // clients outside `allow`: "drop" or "refuse" (REFUSED)
    bool cookies = true;                     // DNS cookies (RFC 7873, RFC 9018 server cookies)
    std::string cookie_secret;               // 32 hex digits shared by several servers; "" = random
    bool minimal_any = true;                 // RFC 8482 minimal answer to ANY over UDP
    bool disable_any_queries = false;        // the minimal answer on every transport
    std::uint32_t max_recursion_depth = 15;  // CNAME chasing hops, 0..255
    std::string top_level_domain = "key";    // one lowercase label, "" = none
    // Clients allowed to query (others: refuse_action): 127.0.0.0/8, ::1/128, 10.0.0.0/8,
    // 172.16.0.0/12, 192.168.0.0/16, fc00::/7. Not empty.
    std::vector<Cidr> allow = default_dns_allow();

    bool operator==(const DnsConfig&) const = default;
};

// [upstream] (Rust pkdns: [general] forward = servers).
struct UpstreamConfig {
    std::vector<SocketAddress> servers = default_upstreams();  // not empty, port != 0
    std::uint32_t timeout_ms = 2000;                           // 1..60000

    bool operator==(const UpstreamConfig&) const = default;
};

// [dht] (Rust pkdns: dht_query_rate_limit, dht_query_rate_limit_burst).
struct DhtConfig {
    std::uint16_t port = 0;  // UDP port of our DHT node, 0 = ephemeral
    bool server = false;     // answer other nodes' queries (BEP 43 read-only mode when false)
    std::vector<HostPort> bootstrap = default_bootstrap();  // may be empty (isolated node)
    std::uint32_t query_rate_limit = 5;  // DHT lookups/s per client on a cache miss; 0 = off
    std::uint32_t query_rate_limit_burst = 25;
    std::uint32_t max_lookups = 256;  // PKARR lookups in flight (DHT and relays, refreshes too)

    bool operator==(const DhtConfig&) const = default;
};

// [relay]: PKARR HTTP relays queried (and published to) alongside the DHT.
struct RelayConfig {
    std::vector<std::string> urls = default_relay_urls();  // http:// or https:// URLs
    bool enabled = true;
    bool keep_alive = true;  // republish packets PUT to our relay API until they expire

    bool operator==(const RelayConfig&) const = default;
};

// [cache] (Rust pkdns: [dns] icann_cache_mb = icann_mb).
struct CacheConfig {
    std::string path = "/var/lib/pkdns/pkdns.db";  // SQLite file, ":memory:" allowed
    std::uint64_t max_packets = 1000000;           // PKARR packets kept on disk, > 0
    std::uint64_t memory_mb = 256;                 // every in-memory cache together, > 0
    std::uint64_t icann_mb = 100;                  // of which at most for ICANN answers, > 0
    std::uint64_t wire_mb = 32;                    // of which at most for finished answers, 0 = off

    bool operator==(const CacheConfig&) const = default;
};

// [http]: DoH + relay API + metrics (Rust pkdns: [general] dns_over_http_socket = listen).
struct HttpConfig {
    std::optional<SocketAddress> listen;  // "" in TOML = no HTTP listener
    std::string tls_cert;                 // both set or both empty; empty = plain HTTP
    std::string tls_key;
    // Proxies whose X-Forwarded-For names the client (for rate limits and the allow list);
    // empty = the peer address is always the client.
    std::vector<Cidr> trusted_proxies;
    bool relay = true;                                          // serve the PKARR relay API (GET/PUT /{key})
    std::optional<std::vector<Cidr>> doh_allow;                 // DoH clients; unset = the [dns] allow list
    std::vector<Cidr> metrics_allow = default_metrics_allow();  // /metrics clients
    bool doh_cors = false;                                      // CORS headers on DoH and /metrics responses
    std::uint32_t max_connections = 1024;                       // open HTTP connections, 1..65536
    std::uint32_t request_timeout_ms = 10000;  // a request's headers and body must arrive in it
    std::uint32_t idle_timeout_ms = 30000;     // a connection with nothing to do is closed
    std::uint32_t max_streams = 32;            // HTTP/2 requests in flight per connection

    bool operator==(const HttpConfig&) const = default;
};

// [[publish]]: a zone we sign and keep republished.
struct PublishEntry {
    std::string key;   // seed file (64 hex chars), path relative to the config file's directory
    std::string zone;  // BIND-style zone file, same path rule
    std::uint32_t republish_interval = 3600;  // seconds, 1..86400 (below 60 only for tests)

    bool operator==(const PublishEntry&) const = default;
};

// [log] (Rust pkdns: [general] verbose = true means level "debug", false means "info").
struct LogConfig {
    std::string level = "info";  // trace, debug, info, warn, error, critical, off

    bool operator==(const LogConfig&) const = default;
};

struct Config {
    DnsConfig dns;
    UpstreamConfig upstream;
    DhtConfig dht;
    RelayConfig relay;
    CacheConfig cache;
    HttpConfig http;
    std::vector<PublishEntry> publish;
    LogConfig log;

    bool operator==(const Config&) const = default;
};

// Parses and validates a TOML document. Errors read "SOURCE: line N: key 'dns.min_ttl': reason"
// (or "SOURCE: line N, column M: reason" for TOML syntax errors). Relative paths (cache, TLS,
// publish) are resolved against base_dir when it is not empty.
Result<Config> parse_config(std::string_view toml_text, std::string_view source_name,
                            std::string_view base_dir = {});
// Reads a file (at most 1 MiB) and parses it; relative paths are taken from the file's directory.
Result<Config> load_config_file(const std::string& path);

// The effective config as TOML that parse_config turns back into the same Config.
std::string to_toml(const Config& config);

// Command-line flags of `pkdns serve`, applied over the file's values.
struct Overrides {
    std::vector<std::string> listen, upstream, bootstrap;  // each replaces the whole list
    std::optional<std::string> cache;                      // SQLite path
    std::optional<std::string> http;                       // ADDR:PORT, "" = no HTTP listener
    std::optional<int> dht_port;
    bool no_relays = false;
};
// Validates like the file parser; errors read "--listen '1.2.3': reason". On error the config
// is left unchanged.
Result<void> apply_overrides(Config& config, const Overrides& overrides);

// The commented default config (conf/default_config.cpp); parses to Config{}.
std::string_view default_config_toml();

}  // namespace pkdns::conf
