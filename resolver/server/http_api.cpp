#include "resolver/server/http_api.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <variant>

#include "common/dns/record.hpp"
#include "pkarr/http_date.hpp"
#include "pkarr/relay_rules.hpp"
#include "resolver/pipeline/query.hpp"

namespace pkdns::server {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<std::string_view> find_header(const std::vector<HttpHeader>& headers, std::string_view name) {
    for (auto it = headers.rbegin(); it != headers.rend(); ++it)
        if (it->name == name) return std::string_view(it->value);
    return std::nullopt;
}

HttpResponse text(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    if (!body.empty()) {
        body += '\n';
        r.headers.push_back({"content-type", "text/plain; charset=utf-8"});
    }
    r.body = std::move(body);
    return r;
}

HttpResponse method_not_allowed(std::string_view allow) {
    auto r = text(405, "method not allowed");
    r.headers.push_back({"allow", std::string(allow)});
    return r;
}

// Every response: web apps may read it (pkarr relays are CORS-open).
void add_cors(HttpResponse& r) {
    r.headers.push_back({"access-control-allow-origin", "*"});
    r.headers.push_back(
        {"access-control-expose-headers", "Pkarr-Invalid-Signed-Packet-Seq, Pkarr-Dht-Stored-Nodes"});
}

HttpResponse preflight(const HttpRequest& request) {
    HttpResponse r;
    r.status = 204;
    r.headers.push_back({"access-control-allow-methods", "GET, POST, PUT, OPTIONS"});
    auto wanted = request.header("access-control-request-headers");
    r.headers.push_back(
        {"access-control-allow-headers", wanted && !trim(*wanted).empty()
                                             ? std::string(trim(*wanted))
                                             : "Content-Type, If-Modified-Since, Cache-Control"});
    r.headers.push_back({"access-control-max-age", "86400"});
    return r;
}

bool is_dns_message_type(std::string_view content_type) {
    auto semi = content_type.find(';');
    return lower(trim(content_type.substr(0, semi))) == dns_message_type;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// SOA rdata (uncompressed): mname, rname, serial, refresh, retry, expire, minimum.
std::optional<std::uint32_t> soa_minimum(const Bytes& rdata) {
    if (rdata.size() < 22) return std::nullopt;
    return get_u32(rdata.data() + rdata.size() - 4);
}

}  // namespace

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
    return find_header(headers, name);
}

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
    return find_header(headers, name);
}

std::string_view to_string(HttpRoute route) {
    switch (route) {
        case HttpRoute::doh:
            return "doh";
        case HttpRoute::relay_get:
            return "relay_get";
        case HttpRoute::relay_put:
            return "relay_put";
        case HttpRoute::healthz:
            return "healthz";
        case HttpRoute::metrics:
            return "metrics";
        case HttpRoute::options:
            return "options";
        case HttpRoute::other:
            return "other";
    }
    return "other";
}

IpAddress client_address(const HttpRequest& request, const std::vector<Cidr>& trusted_proxies) {
    const IpAddress& peer = request.peer.ip;
    bool trusted = std::any_of(trusted_proxies.begin(), trusted_proxies.end(),
                               [&](const Cidr& c) { return c.contains(peer); });
    if (!trusted) return peer;
    auto xff = request.header("x-forwarded-for");
    if (!xff) return peer;
    std::string_view list = *xff;
    auto comma = list.rfind(',');
    std::string_view last = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
    auto ip = IpAddress::parse(last);
    return ip ? *ip : peer;
}

Result<Bytes> base64url_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return make_error("bad base64url length");
    if (text.size() > 4 * (max_doh_body / 3 + 2)) return make_error("base64url text too long");
    std::string std_text;
    std_text.reserve(text.size() + 3);
    for (char c : text) {
        if (c == '-')
            std_text += '+';
        else if (c == '_')
            std_text += '/';
        else if (std::isalnum(static_cast<unsigned char>(c)))
            std_text += c;
        else
            return make_error("bad base64url character");
    }
    std::size_t pad = (4 - std_text.size() % 4) % 4;
    std_text.append(pad, '=');
    Bytes out(std_text.size() / 4 * 3);
    if (std_text.empty()) return out;
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(std_text.data()),
                            static_cast<int>(std_text.size()));
    if (n < 0 || static_cast<std::size_t>(n) < pad) return make_error("bad base64url");
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string base64url_encode(ByteView bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (auto& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) != name) continue;
        std::string_view raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        std::string value;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 &&
                hex_value(raw[i + 2]) >= 0) {
                value += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
                i += 2;
            } else if (raw[i] == '+') {
                value += ' ';
            } else {
                value += raw[i];
            }
        }
        return value;
    }
    return std::nullopt;
}

std::string doh_cache_control(ByteView reply) {
    auto packet = dns::parse_packet(reply);
    if (!packet) return "no-store";
    std::uint8_t rcode = packet->rcode();
    if (rcode != 0 && rcode != 3) return "no-store";  // SERVFAIL, REFUSED, FORMERR...: do not keep
    std::optional<std::uint32_t> min_ttl;
    auto consider = [&](std::uint32_t ttl) { min_ttl = min_ttl ? std::min(*min_ttl, ttl) : ttl; };
    for (const auto& rr : packet->answers) consider(rr.ttl);
    for (const auto& rr : packet->authority) {
        consider(rr.ttl);
        if (rr.type == dns::type::SOA) {
            if (auto minimum = soa_minimum(rr.rdata)) consider(*minimum);
        }
    }
    return "max-age=" + std::to_string(min_ttl.value_or(0));
}

Result<pkarr::PublicKey> relay_path_key(std::string_view path) {
    if (path.size() < 2 || path.front() != '/') return make_error("no key in the path");
    std::string_view segment = path.substr(1);
    if (segment.find('/') != std::string_view::npos) return make_error("not a single path segment");
    auto key = pkarr::PublicKey::parse(segment);
    if (!key) return make_error("invalid public key: " + key.error().message);
    return *key;
}

HttpApi::HttpApi(HttpApiConfig config, HttpBackends backends, HttpClocks clocks)
    : config_(std::move(config)),
      backends_(std::move(backends)),
      clocks_(std::move(clocks)),
      put_limiter_(config_.put_rate, config_.put_burst),
      lookup_limiter_(config_.get_lookup_rate, config_.get_lookup_burst) {}

HttpApi::~HttpApi() = default;

void HttpApi::handle(const HttpRequest& request, Respond respond) {
    const std::string& m = request.method;
    const std::string& path = request.path;
    // Every response passes through here once: CORS headers and statistics.
    auto done = [this, alive = std::weak_ptr<int>(alive_), respond = std::move(respond)](HttpRoute route) {
        return [this, alive, respond, route](HttpResponse r) {
            add_cors(r);
            if (!alive.expired()) ++stats_.responses[{route, r.status}];
            respond(std::move(r));
        };
    };

    if (m == "OPTIONS") return done(HttpRoute::options)(preflight(request));
    if (path == "/dns-query") {
        if (m != "GET" && m != "POST") return done(HttpRoute::doh)(method_not_allowed("GET, POST, OPTIONS"));
        return doh(request, client_address(request, config_.trusted_proxies), done(HttpRoute::doh));
    }
    if (path == "/healthz") {
        if (m != "GET" && m != "HEAD")
            return done(HttpRoute::healthz)(method_not_allowed("GET, HEAD, OPTIONS"));
        Health health = backends_.health ? backends_.health() : Health{true, "{\"healthy\":true}"};
        HttpResponse r;
        r.status = health.healthy ? 200 : 503;
        r.headers.push_back({"content-type", "application/json"});
        r.headers.push_back({"cache-control", "no-store"});
        r.body = std::move(health.body) + "\n";
        return done(HttpRoute::healthz)(std::move(r));
    }
    if (path == "/metrics") {
        if (!backends_.metrics) return done(HttpRoute::metrics)(text(404, "not found"));
        if (m != "GET" && m != "HEAD")
            return done(HttpRoute::metrics)(method_not_allowed("GET, HEAD, OPTIONS"));
        HttpResponse r;
        r.headers.push_back({"content-type", "text/plain; version=0.0.4; charset=utf-8"});
        r.headers.push_back({"cache-control", "no-store"});
        r.body = backends_.metrics();
        return done(HttpRoute::metrics)(std::move(r));
    }
    if (path == "/") {
        if (m != "GET" && m != "HEAD")
            return done(HttpRoute::other)(method_not_allowed("GET, HEAD, OPTIONS"));
        return done(HttpRoute::other)(
            text(200, "pkdns: DNS over HTTPS at /dns-query, PKARR relay at /{public key}"));
    }
    if (path.size() > 1 && path.find('/', 1) == std::string::npos) {
        if (m == "GET" || m == "HEAD" || m == "PUT") {
            IpAddress client = client_address(request, config_.trusted_proxies);
            if (m == "PUT") {
                // The per-IP limit comes first, like the relay's rate-limiting layer.
                if (!put_limiter_.allow(client, clocks_.mono_ms())) {
                    ++stats_.put_rate_limited;
                    return done(HttpRoute::relay_put)(text(429, "rate limited"));
                }
            }
            HttpRoute rt = m == "PUT" ? HttpRoute::relay_put : HttpRoute::relay_get;
            auto key = relay_path_key(path);
            if (!key) return done(rt)(text(400, key.error().message));
            if (m == "PUT") return relay_put(request, *key, client, done(rt));
            return relay_get(request, *key, client, done(rt));
        }
        return done(HttpRoute::other)(method_not_allowed("GET, PUT, OPTIONS"));
    }
    return done(HttpRoute::other)(text(404, "not found"));
}

void HttpApi::doh(const HttpRequest& request, const IpAddress& client, Respond respond) {
    std::string wire;
    if (request.method == "GET") {
        auto param = query_param(request.query, "dns");
        if (!param || param->empty()) return respond(text(400, "missing dns parameter"));
        if (param->size() > 4 * (max_doh_body / 3 + 2)) return respond(text(413, "dns parameter too large"));
        auto decoded = base64url_decode(*param);
        if (!decoded) return respond(text(400, "dns parameter: " + decoded.error().message));
        wire.assign(decoded->begin(), decoded->end());
    } else {
        auto type = request.header("content-type");
        if (!type || !is_dns_message_type(*type))
            return respond(text(415, "Content-Type must be application/dns-message"));
        if (request.body.size() > max_doh_body) return respond(text(413, "DNS message over 65535 bytes"));
        wire = request.body;
    }
    if (!backends_.dns) return respond(text(503, "DNS unavailable"));
    auto answer = [](ByteView reply) {
        HttpResponse r;
        r.headers.push_back({"content-type", std::string(dns_message_type)});
        r.headers.push_back({"cache-control", doh_cache_control(reply)});
        r.body.assign(reply.begin(), reply.end());
        return r;
    };
    const pipeline::ClientInfo info{SocketAddress{client, request.peer.port}, pipeline::Transport::https, 0};
    const pipeline::Outcome outcome = backends_.dns(as_bytes(wire), info, [&] {
        return pipeline::ReplyFn([answer, respond](Bytes reply) { respond(answer(reply)); });
    });
    switch (outcome.verdict) {
        case pipeline::Verdict::drop:  // what a DNS server would not answer is not a DNS query
            return respond(text(400, "not a DNS query"));
        case pipeline::Verdict::answer:
            return respond(answer(outcome.reply));
        case pipeline::Verdict::later:
            return;
    }
}

HttpResponse HttpApi::packet_response(const HttpRequest& request, const pkarr::SignedPacket& packet) const {
    HttpResponse r;
    r.headers.push_back({"content-type", std::string(relay_payload_type)});
    r.headers.push_back(
        {"cache-control",
         "public, max-age=" + std::to_string(packet.ttl(config_.relay_min_ttl, config_.relay_max_ttl))});
    r.headers.push_back({"last-modified", pkarr::last_modified_for(packet.timestamp())});
    r.headers.push_back({"memento-datetime", pkarr::format_http_date(packet.last_seen() / 1'000'000)});
    auto ims = request.header("if-modified-since");
    if (ims && pkarr::not_modified(packet.timestamp(), *ims)) {
        r.status = 304;
        return r;
    }
    r.status = 200;
    if (request.method != "HEAD") {
        Bytes payload = packet.relay_payload();
        r.body.assign(payload.begin(), payload.end());
    }
    return r;
}

void HttpApi::relay_get(const HttpRequest& request, const pkarr::PublicKey& key, const IpAddress& client,
                        Respond respond) {
    pkarr::ResolvePolicy policy = pkarr::default_relay_policy;
    if (auto p = query_param(request.query, "policy")) {
        auto parsed = pkarr::parse_resolve_policy(*p);
        if (!parsed) return respond(text(400, parsed.error().message));
        policy = *parsed;
    }
    if (policy == pkarr::ResolvePolicy::cache_only || !backends_.lookup) {
        auto packet = backends_.cached ? backends_.cached(key) : nullptr;
        if (!packet) return respond(HttpResponse{404, {}, {}});
        return respond(packet_response(request, *packet));
    }
    // NetworkOnly is served like CacheFirst: the resolver refreshes expired packets itself.
    std::weak_ptr<int> alive = alive_;
    std::uint64_t now_ms = clocks_.mono_ms();
    auto admit = [this, alive, client, now_ms] {
        return !alive.expired() && lookup_limiter_.allow(client, now_ms);
    };
    backends_.lookup(
        key, admit,
        [this, alive, request_copy = HttpRequest{request.method, {}, {}, request.headers, {}, {}},
         respond = std::move(respond)](pipeline::PacketLookup result) {
            switch (result.status) {
                case pipeline::PacketLookup::Status::found:
                    if (alive.expired()) return respond(HttpResponse{503, {}, {}});
                    return respond(packet_response(request_copy, *result.packet));
                case pipeline::PacketLookup::Status::not_found:
                    return respond(HttpResponse{404, {}, {}});
                case pipeline::PacketLookup::Status::rate_limited:
                    return respond(text(429, "rate limited"));
                case pipeline::PacketLookup::Status::failed:
                    break;
            }
            respond(text(503, "DHT unavailable: " + result.error));
        });
}

void HttpApi::relay_put(const HttpRequest& request, const pkarr::PublicKey& key, const IpAddress& /*client*/,
                        Respond respond) {
    if (request.body.size() > pkarr::max_signed_packet_bytes) return respond(text(413, "payload too large"));
    auto packet = pkarr::SignedPacket::from_relay_payload(key, as_bytes(request.body), clocks_.wall_micros());
    if (!packet) return respond(text(400, packet.error().message));
    if (backends_.offer && backends_.offer(*packet) == pipeline::PacketStore::Offer::older)
        return respond(text(409, "not most recent: a more recent packet is stored for this key"));
    if (!backends_.publish) return respond(text(503, "DHT unavailable"));
    std::weak_ptr<int> alive = alive_;
    auto shared = std::make_shared<pkarr::SignedPacket>(std::move(*packet));
    backends_.publish(*shared,
                      [this, alive, shared, respond = std::move(respond)](Result<std::size_t> stored) {
                          if (!stored)
                              return respond(text(500, "DHT publish failed: " + stored.error().message));
                          if (*stored == 0)
                              return respond(text(500, "DHT publish failed: no node stored the packet"));
                          if (!alive.expired()) {
                              ++stats_.packets_accepted;
                              if (backends_.on_accepted) backends_.on_accepted(*shared);
                          }
                          HttpResponse r;
                          r.status = 204;
                          r.headers.push_back({"pkarr-dht-stored-nodes", std::to_string(*stored)});
                          respond(std::move(r));
                      });
}

}  // namespace pkdns::server
