#pragma once
// The HTTP surface of `pkdns serve` (design.md §1) as pure request -> response logic:
//   GET/POST /dns-query   DNS over HTTPS (RFC 8484) through the same entry point as the DNS listeners
//   GET/PUT  /{z32}       the PKARR relay API (pkarr-spec.md §6)
//   GET /healthz, GET /metrics, GET / (a one-line status page), OPTIONS anywhere (CORS preflight)
// No sockets and no clocks: the libh2o glue (http_server.hpp) converts requests, the backends
// and the time are injected. The respond callback runs exactly once, synchronously or later.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/cidr.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/pipeline/access.hpp"
#include "resolver/pipeline/frontend.hpp"
#include "resolver/pipeline/packet_store.hpp"

namespace pkdns::server {

struct HttpHeader {
    std::string name;  // lowercase
    std::string value;
    friend bool operator==(const HttpHeader&, const HttpHeader&) = default;
};

struct HttpRequest {
    std::string method;  // as sent, e.g. "GET"
    std::string path;    // without the query, e.g. "/dns-query"
    std::string query;   // after '?', raw (not decoded); empty when none
    std::vector<HttpHeader> headers;
    std::string body;    // bytes
    SocketAddress peer;  // the TCP peer

    // The last header named `name` (lowercase), if any.
    std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpResponse {
    int status = 200;
    std::vector<HttpHeader> headers;
    std::string body;  // bytes

    std::optional<std::string_view> header(std::string_view name) const;
};

inline constexpr std::size_t max_doh_body = 65535;
inline constexpr std::string_view dns_message_type = "application/dns-message";
inline constexpr std::string_view relay_payload_type = "application/pkarr.org/relays#payload";

// The routes, for statistics.
enum class HttpRoute : std::uint8_t { doh, relay_get, relay_put, healthz, metrics, options, other };
std::string_view to_string(HttpRoute route);

struct HttpStats {
    // Responses by route and status code.
    std::map<std::pair<HttpRoute, int>, std::uint64_t> responses;
    std::uint64_t put_rate_limited = 0;
    std::uint64_t packets_accepted = 0;  // relay PUTs answered 204
};

struct Health {
    bool healthy = true;
    std::string body;  // JSON
};

// What the API calls; every function may be empty only where noted.
struct HttpBackends {
    // DoH: the pipeline's entry point, as the DNS listeners call it.
    pipeline::Process dns;
    // Relay GET: pipeline::PacketStore::lookup (cache, then the DHT) and pipeline::PacketStore::cached.
    std::function<void(const pkarr::PublicKey&, pipeline::PacketStore::Admit, pipeline::PacketStore::Done)>
        lookup;
    std::function<std::shared_ptr<const pkarr::SignedPacket>(const pkarr::PublicKey&)> cached;
    // Relay PUT: pipeline::PacketStore::offer, then the DHT publish (done gets how many nodes stored it).
    std::function<pipeline::PacketStore::Offer(const pkarr::SignedPacket&)> offer;
    using PublishDone = std::function<void(Result<std::size_t>)>;
    std::function<void(const pkarr::SignedPacket&, PublishDone)> publish;
    std::function<void(const pkarr::SignedPacket&)> on_accepted;  // may be empty
    std::function<std::string()> metrics;                         // Prometheus text; may be empty (404)
    std::function<Health()> health;                               // may be empty (always healthy)
};

struct HttpApiConfig {
    std::vector<Cidr> trusted_proxies;                         // peers whose X-Forwarded-For names the client
    std::uint32_t put_rate = 2, put_burst = 20;                // relay PUTs per client IP; rate 0 = off
    std::uint32_t get_lookup_rate = 5, get_lookup_burst = 25;  // relay GETs that reach the DHT
    std::uint32_t relay_min_ttl = pkarr::default_min_ttl;      // Cache-Control of relay GETs
    std::uint32_t relay_max_ttl = pkarr::default_max_ttl;
};

struct HttpClocks {
    std::function<pkarr::Micros()> wall_micros = pkarr::now_micros;
    std::function<std::uint64_t()> mono_ms;  // required
};

class HttpApi {
public:
    using Respond = std::function<void(HttpResponse)>;

    HttpApi(HttpApiConfig config, HttpBackends backends, HttpClocks clocks);
    ~HttpApi();
    HttpApi(const HttpApi&) = delete;
    HttpApi& operator=(const HttpApi&) = delete;

    // `respond` runs exactly once (later for DoH, relay GET misses and PUTs). After the HttpApi
    // is destroyed, late backend completions are dropped.
    void handle(const HttpRequest& request, Respond respond);

    const HttpStats& stats() const { return stats_; }

private:
    void doh(const HttpRequest& request, const IpAddress& client, Respond respond);
    void relay_get(const HttpRequest& request, const pkarr::PublicKey& key, const IpAddress& client,
                   Respond respond);
    void relay_put(const HttpRequest& request, const pkarr::PublicKey& key, const IpAddress& client,
                   Respond respond);
    HttpResponse packet_response(const HttpRequest& request, const pkarr::SignedPacket& packet) const;

    HttpApiConfig config_;
    HttpBackends backends_;
    HttpClocks clocks_;
    pipeline::RateLimiter put_limiter_;
    pipeline::RateLimiter lookup_limiter_;
    HttpStats stats_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// Pure helpers (exposed for tests).
// The client: the peer, or the last X-Forwarded-For hop when the peer is a trusted proxy and
// that hop is an IP literal.
IpAddress client_address(const HttpRequest& request, const std::vector<Cidr>& trusted_proxies);
// RFC 4648 §5 base64url; padding is optional. Error on any other character or a bad length.
Result<Bytes> base64url_decode(std::string_view text);
std::string base64url_encode(ByteView bytes);  // no padding
// The raw value of `name` in an application/x-www-form-urlencoded query (first occurrence,
// %XX decoded), nullopt when absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
// Cache-Control for a DoH answer (RFC 8484 §5.1): max-age = the smallest TTL of the answer and
// authority records (a negative answer's SOA: min(TTL, MINIMUM), RFC 2308); no-store for
// SERVFAIL, REFUSED and other errors; max-age=0 when there is no record to go by.
std::string doh_cache_control(ByteView reply);
// The key of a relay path "/<key>", or an error (not one segment, not a key).
Result<pkarr::PublicKey> relay_path_key(std::string_view path);

}  // namespace pkdns::server
