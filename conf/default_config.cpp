#include "conf/config.hpp"

namespace pkdns::conf {

// Kept identical to packaging/pkdns.toml (a unit test compares them) and equal to Config{}.
std::string_view default_config_toml() {
    static constexpr std::string_view text = R"toml(# pkdns configuration (/etc/pkdns/pkdns.toml).
#
# Every key is optional: the values below are the built-in defaults, so an empty file behaves
# like this one. Validate a changed file before restarting the service:
#     pkdns check-config -c /etc/pkdns/pkdns.toml
# Unknown keys and bad values are errors naming the key and its line.
#
# Files written for the Rust pkdns are accepted where the meaning is the same:
#     [general] socket = "ADDR:PORT"            -> [dns] listen
#     [general] forward = "ADDR:PORT"           -> [upstream] servers
#     [general] dns_over_http_socket = "A:P"    -> [http] listen
#     [general] verbose = true                  -> [log] level = "debug"
#     [dns] icann_cache_mb                      -> [cache] icann_mb
#     [dht] dht_query_rate_limit(_burst)        -> [dht] query_rate_limit(_burst)
#     [dht] top_level_domain                    -> [dns] top_level_domain
# Setting the same thing under both names is an error.
# Relative paths are taken from the directory of this file.

[dns]
# Addresses to answer DNS on, UDP and TCP on each. IPv6 in brackets: "[::]:53".
listen = ["127.0.0.1:53", "[::1]:53"]
# Seconds. min_ttl: how long a PKARR packet (or "no packet") is trusted before the DHT is asked
# again; max_ttl caps every TTL we hand out. ICANN answers are cached for their own TTL, never
# raised. min_ttl <= max_ttl.
min_ttl = 60
max_ttl = 86400
# Queries per second per client (IPv6 clients counted by /64), and per IPv4 /24 or IPv6 /56
# (so one network cannot take every address's share). 0 = off.
query_rate_limit = 100
query_rate_limit_burst = 200
prefix_rate_limit = 1000
prefix_rate_limit_burst = 2000
# Over a limit, every slip-th UDP reply goes out as an empty truncated answer (real clients
# retry over TCP, which a spoofer cannot) and the others are dropped (0..10; 0 = drop all).
slip = 2
# Clients outside `allow`: "drop" (no reply: nothing to reflect) or "refuse" (REFUSED).
refuse_action = "drop"
# DNS cookies (RFC 7873, RFC 9018): clients that prove their address are never slipped.
# cookie_secret: 32 hex digits, the same on every server behind one anycast address; "" =
# a random secret at each start.
cookies = true
cookie_secret = ""
# Answer ANY over UDP with one HINFO record (RFC 8482); over TCP and DoH in full.
minimal_any = true
# The minimal ANY answer on every transport.
disable_any_queries = false
# How many CNAME hops are followed across PKARR and ICANN names (0..255).
max_recursion_depth = 15
# Optional suffix after a public key: "<key>.key" and "sub.<key>.key" resolve too. "" = none.
top_level_domain = "key"
# Clients allowed to query (CIDR prefixes); see refuse_action for the others. Allow everyone with
# ["0.0.0.0/0", "::/0"] only behind a firewall or with rate limits: open resolvers get abused.
allow = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]

[upstream]
# DNS servers ordinary (ICANN) names are forwarded to, tried in order on timeout.
servers = ["1.1.1.1:53", "8.8.8.8:53"]
# How long to wait for one upstream before trying the next, in milliseconds (1..60000).
timeout_ms = 2000

[dht]
# UDP port of our Mainline DHT node; 0 = any free port.
port = 0
# Answer other DHT nodes' queries (false: a read-only node that only asks).
server = false
# Nodes used to join the DHT (HOST:PORT; IPv6 as [addr]:port). [] = no bootstrap.
bootstrap = ["router.bittorrent.com:6881", "dht.transmissionbt.com:6881", "dht.libtorrent.org:25401", "relay.pkarr.org:6881"]
# DHT lookups per second per client when a key is not cached; over the limit: REFUSED. 0 = off.
query_rate_limit = 5
query_rate_limit_burst = 25
# PKARR lookups in flight at once (DHT and relays, background refreshes included); beyond it
# expired packets are served as they are and unknown keys get SERVFAIL at once.
max_lookups = 256

[relay]
# PKARR HTTP relays asked in parallel with the DHT (and published to).
urls = ["https://pkarr.pubky.app", "https://pkarr.pubky.org"]
# false: use the DHT only (the relays see which keys are looked up).
enabled = true
# Keep packets accepted through the relay API (PUT /{key}) alive on the DHT by republishing
# them until they expire from the cache.
keep_alive = true

[cache]
# SQLite file keeping verified PKARR packets across restarts.
path = "/var/lib/pkdns/pkdns.db"
# How many PKARR packets the file keeps at most.
max_packets = 1000000
# Memory for every in-memory cache together (PKARR packets, ICANN answers, ready-to-send
# answers), in MiB of real heap bytes.
memory_mb = 256
# Of which at most for cached ICANN answers, in MiB.
icann_mb = 100
# Of which at most for ready-to-send answers in front of everything, in MiB; 0 = off.
wire_mb = 32

[http]
# One HTTP listener for DNS over HTTPS (/dns-query), the PKARR relay API (/{key}),
# /healthz and /metrics, e.g. "127.0.0.1:8053". "" = no HTTP listener.
listen = ""
# PEM certificate chain and private key; both set = HTTPS, both empty = plain HTTP.
tls_cert = ""
tls_key = ""
# Reverse proxies (CIDRs) allowed to name the client in X-Forwarded-For; [] = trust nobody.
trusted_proxies = []
# Serve the PKARR relay API (GET/PUT /{key}) to anyone who reaches the listener.
relay = true
# Clients allowed to use DNS over HTTPS; when not set, the [dns] allow list.
# doh_allow = ["0.0.0.0/0", "::/0"]
# Clients allowed to read /metrics.
metrics_allow = ["127.0.0.0/8", "::1/128"]
# Let web pages of other origins read DoH and /metrics answers (CORS). The relay API always
# allows them, as the relay spec needs.
doh_cors = false
# Open connections at most; a request's headers and body must arrive within request_timeout_ms;
# a connection with nothing to do is closed after idle_timeout_ms; HTTP/2 requests in flight per
# connection at most.
max_connections = 1024
request_timeout_ms = 10000
idle_timeout_ms = 30000
max_streams = 32

[log]
# trace, debug, info, warn, error, critical or off. debug logs one line per query.
level = "info"

# Zones this server signs and keeps published on the DHT (repeat the block for more keys).
# [[publish]]
# key = "/etc/pkdns/keys/home.key"      # seed file from `pkdns keygen --out FILE`
# zone = "/etc/pkdns/zones/home.zone"   # BIND-style zone, names relative to the key
# republish_interval = 3600             # seconds (default), at least 60 in production
)toml";
    return text;
}

}  // namespace pkdns::conf
