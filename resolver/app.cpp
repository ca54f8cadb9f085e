#include "resolver/app.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "common/uv.hpp"
#include "conf/config.hpp"
#include "pkarr/dht/node.hpp"
#include "pkarr/dht/pkarr_dht.hpp"
#include "pkarr/relay/relay_client.hpp"
#include "resolver/metrics.hpp"
#include "resolver/pipeline/frontend.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/resolver.hpp"
#include "resolver/republish/republisher.hpp"
#include "resolver/server/dns_listener.hpp"
#include "resolver/server/http_api.hpp"
#include "resolver/server/http_server.hpp"
#include "resolver/upstream/forwarder.hpp"
#include "resolver/upstream/packet_sources.hpp"
#include "storage/database.hpp"
#include "storage/keep_alive.hpp"
#include "storage/packet_cache.hpp"

namespace pkdns::resolver {

namespace {

constexpr std::uint64_t maintenance_interval_ms = 30'000;
constexpr std::size_t max_front_packets = 10000;

using PublishDone = std::function<void(Result<std::size_t>)>;

// A DHT put (no cas: pkarr-spec §5.4) reported as how many nodes stored it.
void publish_to_dht(dht::DhtNode& node, const pkarr::SignedPacket& packet, PublishDone done) {
    dht::publish(node, packet, std::nullopt, [done = std::move(done)](Result<dht::PutOutcome> r) {
        if (!r) return done(r.error());
        done(r->stored_at);
    });
}

class DhtPublisher final : public republish::PacketPublisher {
public:
    explicit DhtPublisher(dht::DhtNode& node) : node_(node) {}
    void publish(const pkarr::SignedPacket& packet, Done done) override {
        publish_to_dht(node_, packet, std::move(done));
    }

private:
    dht::DhtNode& node_;
};

// PUT to every configured relay; "stored" counts the relays that accepted it.
class RelayPublisher final : public republish::PacketPublisher {
public:
    explicit RelayPublisher(relay::RelayClient& client) : client_(client) {}
    void publish(const pkarr::SignedPacket& packet, Done done) override {
        client_.put(packet, [done = std::move(done)](relay::PutOutcome out) {
            if (out.succeeded > 0) return done(out.succeeded);
            std::string why;
            for (const auto& r : out.relays) why += (why.empty() ? "" : "; ") + r.relay + ": " + r.error;
            done(make_error(why.empty() ? "no relay accepted it" : why));
        });
    }

private:
    relay::RelayClient& client_;
};

// Latency histograms for /metrics, filled by the timing decorators below.
struct Latency {
    Histogram dht_found, dht_not_found, dht_failed;
    Histogram upstream_ok, upstream_error;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Times DHT lookups by outcome.
class TimedSource final : public pipeline::PacketSource {
public:
    TimedSource(PacketSource& inner, Latency& latency) : inner_(inner), latency_(latency) {}
    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override {
        auto start = std::chrono::steady_clock::now();
        inner_.resolve(
            key, newer_than,
            [this, start, done = std::move(done)](std::optional<pkarr::SignedPacket> p, std::string error) {
                Histogram& h =
                    p ? latency_.dht_found : (error.empty() ? latency_.dht_not_found : latency_.dht_failed);
                h.observe(seconds_since(start));
                done(std::move(p), std::move(error));
            });
    }

private:
    PacketSource& inner_;
    Latency& latency_;
};

// Times upstream queries by outcome and remembers the last one (for /healthz).
class TimedUpstream final : public pipeline::Upstream {
public:
    TimedUpstream(Upstream& inner, Latency& latency) : inner_(inner), latency_(latency) {}
    void forward(const dns::Question& question, bool dnssec_ok, Done done) override {
        auto start = std::chrono::steady_clock::now();
        inner_.forward(question, dnssec_ok, [this, start, done = std::move(done)](Result<dns::Packet> r) {
            (r ? latency_.upstream_ok : latency_.upstream_error).observe(seconds_since(start));
            last_ok_ = r.ok();
            done(std::move(r));
        });
    }
    // The last upstream answer or failure, nullopt before the first one.
    std::optional<bool> last_ok() const { return last_ok_; }
    void set_last_ok(bool ok) { last_ok_ = ok; }

private:
    Upstream& inner_;
    Latency& latency_;
    std::optional<bool> last_ok_;
};

std::string join(const std::vector<SocketAddress>& addrs, std::string_view sep = ", ",
                 std::string_view quote = "") {
    std::string out;
    for (const auto& a : addrs)
        out += std::string(out.empty() ? "" : sep) + std::string(quote) + a.to_string() + std::string(quote);
    return out;
}

// The config's level, unless the command line already asked for more detail (-v).
void apply_log_level(const std::string& level) {
    auto wanted = spdlog::level::from_str(level);
    if (level != "off" && wanted == spdlog::level::off) return;  // unknown: config validation says no
    if (wanted < spdlog::get_level()) spdlog::set_level(wanted);
}

Result<storage::Database> open_database(const std::string& path) {
    if (path != ":memory:") {
        std::filesystem::path dir = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!dir.empty()) std::filesystem::create_directories(dir, ec);
        if (ec) return make_error("cannot create " + dir.string() + ": " + ec.message());
    }
    return storage::Database::open(path);
}

// ---- Config translation: each component gets the plain settings it needs, from here only.

pipeline::FrontendConfig frontend_config(const conf::Config& c) {
    pipeline::FrontendConfig f;
    f.allow = c.dns.allow;
    f.query_rate_limit = c.dns.query_rate_limit;
    f.query_rate_limit_burst = c.dns.query_rate_limit_burst;
    f.wire_cache_bytes = static_cast<std::size_t>(c.cache.wire_mb) * 1024 * 1024;
    return f;
}

pipeline::ResolverConfig resolver_config(const conf::Config& c) {
    pipeline::ResolverConfig r;
    r.min_ttl = c.dns.min_ttl;
    r.max_ttl = c.dns.max_ttl;
    r.max_recursion_depth = c.dns.max_recursion_depth;
    r.top_level_domain = c.dns.top_level_domain;
    r.disable_any_queries = c.dns.disable_any_queries;
    r.dht_query_rate_limit = c.dht.query_rate_limit;
    r.dht_query_rate_limit_burst = c.dht.query_rate_limit_burst;
    r.answer_cache.max_ttl = c.dns.max_ttl;
    r.answer_cache.max_bytes = static_cast<std::size_t>(c.cache.icann_mb) * 1024 * 1024;
    return r;
}

pipeline::PacketStoreConfig packet_store_config(const conf::Config& c) {
    pipeline::PacketStoreConfig p;
    p.min_ttl = c.dns.min_ttl;
    p.max_ttl = c.dns.max_ttl;
    p.front_capacity =
        static_cast<std::size_t>(std::min<std::uint64_t>(c.cache.max_packets, max_front_packets));
    return p;
}

upstream::ForwarderConfig forwarder_config(const conf::Config& c) {
    upstream::ForwarderConfig f;
    f.upstreams = c.upstream.servers;
    f.timeout_ms = c.upstream.timeout_ms;
    return f;
}

dht::DhtNodeConfig dht_config(const conf::Config& c) {
    dht::DhtNodeConfig d;
    d.bind = SocketAddress{IpAddress{}, c.dht.port};
    d.server_mode = c.dht.server;
    d.bootstrap = c.dht.bootstrap;
    if (!c.upstream.servers.empty()) d.dns_upstream = c.upstream.servers.front();
    d.dns_timeout = std::chrono::milliseconds(c.upstream.timeout_ms);
    return d;
}

server::HttpApiConfig http_api_config(const conf::Config& c) {
    server::HttpApiConfig a;
    a.trusted_proxies = c.http.trusted_proxies;
    a.get_lookup_rate = c.dht.query_rate_limit;
    a.get_lookup_burst = c.dht.query_rate_limit_burst;
    return a;
}

// ---- The running daemon.

// Everything that lives on the loop; members are destroyed in reverse order (listeners first).
struct Services {
    explicit Services(uv::Loop& l) : loop(l), maintenance(l), sigint(l), sigterm(l) {}

    uv::Loop& loop;
    std::optional<storage::Database> db;  // a second handle on the cache's connection (keep-alive)
    std::optional<storage::PacketCache> cache;
    std::unique_ptr<dht::DhtNode> dht_node;
    std::unique_ptr<upstream::DhtSource> dht_source;
    Latency latency;
    std::unique_ptr<TimedSource> timed_source;
    std::unique_ptr<relay::RelayClient> relay_client;  // [relay] enabled: DHT + relays combined
    std::unique_ptr<upstream::RelaySource> relay_source;
    std::unique_ptr<upstream::CombinedSource> combined_source;
    pipeline::PacketSource* packet_source = nullptr;  // one of the sources above
    std::unique_ptr<upstream::Forwarder> forwarder;
    std::unique_ptr<TimedUpstream> timed_upstream;
    std::unique_ptr<pipeline::PacketStore> packets;
    std::unique_ptr<pipeline::Resolver> resolver;
    std::unique_ptr<pipeline::Frontend> frontend;
    std::unique_ptr<server::DnsListener> listener;
    std::unique_ptr<server::HttpApi> http_api;
    std::unique_ptr<server::HttpServer> http_server;
    std::optional<storage::KeepAliveStore> keep_alive;
    std::unique_ptr<DhtPublisher> dht_publisher;
    std::unique_ptr<RelayPublisher> relay_publisher;
    std::unique_ptr<republish::FanOutPublisher> publishers;  // DHT + relays
    std::unique_ptr<republish::Republisher> republisher;
    uv::Timer maintenance;
    uv::Signal sigint, sigterm;
    bool stopping = false;

    // Stops accepting work, fails what is pending, closes every handle; the loop then ends.
    void stop() {
        if (stopping) return;
        stopping = true;
        if (listener) listener->close();
        if (http_server) http_server->close();
        if (republisher) republisher->close();
        if (packets) packets->close();
        if (relay_client) relay_client->close();
        if (forwarder) forwarder->close();
        if (dht_node) dht_node->close();
        maintenance.stop();
        sigint.stop();
        sigterm.stop();
        if (cache) {
            if (auto r = cache->flush_touches(); !r) spdlog::warn("packet cache: {}", r.error().message);
        }
    }
};

std::string render_app_metrics(Services& s) {
    MetricsSnapshot m;
    m.frontend = &s.frontend->stats();
    m.resolver = &s.resolver->stats();
    m.packets = &s.packets->stats();
    m.packets_front_size = s.packets->front_size();
    m.packets_in_flight = s.packets->in_flight();
    m.answer_cache_entries = s.resolver->answer_cache().size();
    m.answer_cache_bytes = s.resolver->answer_cache().bytes();
    m.listener = &s.listener->stats();
    m.dns_tcp_connections = s.listener->tcp_connections();
    if (s.dht_node && !s.dht_node->closed()) {
        m.dht = &s.dht_node->stats();
        m.dht_routing_table_size = s.dht_node->routing_table_size();
        m.dht_items_stored = s.dht_node->items_stored();
    }
    m.http = &s.http_api->stats();
    m.http_server = &s.http_server->stats();
    m.http_connections = s.http_server->connections();
    m.dht_lookup_seconds = {{"found", &s.latency.dht_found},
                            {"not_found", &s.latency.dht_not_found},
                            {"failed", &s.latency.dht_failed}};
    m.upstream_seconds = {{"ok", &s.latency.upstream_ok}, {"error", &s.latency.upstream_error}};
    if (s.republisher) m.republisher = &s.republisher->stats();
    return render_metrics(m);
}

// Healthy when the DHT routing table has nodes and the upstream is not known to fail.
server::Health app_health(Services& s) {
    std::size_t nodes = s.dht_node && !s.dht_node->closed() ? s.dht_node->routing_table_size() : 0;
    std::optional<bool> upstream = s.timed_upstream ? s.timed_upstream->last_ok() : std::nullopt;
    server::Health h;
    h.healthy = !s.stopping && nodes > 0 && upstream.value_or(true);
    h.body = "{\"healthy\":" + std::string(h.healthy ? "true" : "false") +
             ",\"dht_routing_table_nodes\":" + std::to_string(nodes) + ",\"upstream\":\"" +
             (upstream ? (*upstream ? "ok" : "failing") : "unknown") + "\"}";
    return h;
}

// Each start_* returns 0, or 2 after logging why start-up failed.

int open_cache(Services& s, const conf::Config& config) {
    auto db = open_database(config.cache.path);
    if (!db) {
        spdlog::error("cannot open the cache database {}: {}", config.cache.path, db.error().message);
        return 2;
    }
    s.db.emplace(*db);
    storage::PacketCacheOptions options;
    options.max_packets = static_cast<std::size_t>(config.cache.max_packets);
    auto cache = storage::PacketCache::open(std::move(*db), options);
    if (!cache) {
        spdlog::error("cannot use the cache database {}: {}", config.cache.path, cache.error().message);
        return 2;
    }
    s.cache.emplace(std::move(*cache));
    spdlog::info("packet cache: {}", config.cache.path);
    return 0;
}

int start_dht(Services& s, const conf::Config& config) {
    const dht::DhtNodeConfig dc = dht_config(config);
    auto node = dht::DhtNode::create(s.loop, dc);
    if (!node) {
        spdlog::error("cannot start the DHT node on {}: {}", dc.bind.to_string(), node.error().message);
        return 2;
    }
    s.dht_node = std::move(*node);
    s.dht_source = std::make_unique<upstream::DhtSource>(*s.dht_node);
    s.timed_source = std::make_unique<TimedSource>(*s.dht_source, s.latency);
    s.packet_source = s.timed_source.get();
    spdlog::info("DHT node on {} ({} mode), bootstrapping from {} entries",
                 s.dht_node->local_address().to_string(), config.dht.server ? "server" : "client",
                 config.dht.bootstrap.size());
    if (config.dht.bootstrap.empty())
        spdlog::warn("DHT: no bootstrap entries; PKARR names are answered from the cache only");
    return 0;
}

// Relays in parallel with the DHT; a more recent packet arriving after the answer is stored.
void start_relays(Services& s, const conf::Config& config) {
    if (!config.relay.enabled || config.relay.urls.empty()) {
        spdlog::info("PKARR relays: disabled, DHT only");
        return;
    }
    relay::RelayClientConfig rc;
    rc.urls = config.relay.urls;
    s.relay_client = std::make_unique<relay::RelayClient>(s.loop, rc);
    auto offer = [sp = &s](pkarr::SignedPacket packet) {
        if (!sp->stopping && sp->packets) sp->packets->offer(std::move(packet));
    };
    s.relay_source = std::make_unique<upstream::RelaySource>(*s.relay_client, offer);
    s.combined_source = std::make_unique<upstream::CombinedSource>(
        std::vector<pipeline::PacketSource*>{s.timed_source.get(), s.relay_source.get()}, offer);
    s.packet_source = s.combined_source.get();
    spdlog::info(
        "PKARR relays: {}", s.relay_client->urls().empty() ? "none usable" : [&] {
            std::string urls;
            for (const auto& u : s.relay_client->urls()) urls += (urls.empty() ? "" : ", ") + u;
            return urls;
        }());
}

// [[publish]] zones, and relay packets kept alive (the relay API needs [http]).
int start_republisher(Services& s, const conf::Config& config) {
    const bool keep_alive = config.relay.keep_alive && config.http.listen.has_value();
    if (config.publish.empty() && !keep_alive) return 0;
    if (keep_alive) {
        auto store = storage::KeepAliveStore::open(*s.db);
        if (!store) {
            spdlog::error("cannot use the cache database {}: {}", config.cache.path, store.error().message);
            return 2;
        }
        s.keep_alive.emplace(std::move(*store));
    }
    s.dht_publisher = std::make_unique<DhtPublisher>(*s.dht_node);
    s.publishers = std::make_unique<republish::FanOutPublisher>();
    s.publishers->add(*s.dht_publisher, "DHT");
    if (s.relay_client) {
        s.relay_publisher = std::make_unique<RelayPublisher>(*s.relay_client);
        s.publishers->add(*s.relay_publisher, "relays");
    }
    republish::RepublisherConfig rc;
    rc.zones = config.publish;
    rc.keep_alive = keep_alive;
    auto rep = republish::Republisher::create(s.loop, rc, *s.publishers, &*s.cache,
                                              s.keep_alive ? &*s.keep_alive : nullptr);
    if (!rep) {
        spdlog::error("[[publish]]: {}", rep.error().message);
        return 2;
    }
    s.republisher = std::move(*rep);
    spdlog::info("republisher: {} zones{}", config.publish.size(),
                 keep_alive ? ", keeping relay API packets alive" : "");
    return 0;
}

void start_pipeline(Services& s, const conf::Config& config) {
    s.forwarder = std::make_unique<upstream::Forwarder>(s.loop, forwarder_config(config));
    s.timed_upstream = std::make_unique<TimedUpstream>(*s.forwarder, s.latency);
    spdlog::info("upstreams: {}", join(config.upstream.servers));
    s.packets =
        std::make_unique<pipeline::PacketStore>(*s.packet_source, &*s.cache, packet_store_config(config));
    uv::Loop* loop = &s.loop;
    pipeline::ResolverClocks clocks;
    clocks.mono_ms = [loop] { return loop->now_ms(); };
    s.resolver =
        std::make_unique<pipeline::Resolver>(resolver_config(config), *s.packets, *s.timed_upstream, clocks);
    s.frontend = std::make_unique<pipeline::Frontend>(frontend_config(config), *s.resolver,
                                                      [loop] { return loop->now_ms(); });
}

pipeline::Process entry_point(Services& s) {
    pipeline::Frontend* frontend = s.frontend.get();
    return [frontend](ByteView message, const pipeline::ClientInfo& client, pipeline::MakeReply later) {
        return frontend->process(message, client, later);
    };
}

int start_dns(Services& s, const conf::Config& config) {
    s.listener = std::make_unique<server::DnsListener>(s.loop, entry_point(s));
    for (const auto& addr : config.dns.listen) {
        if (auto r = s.listener->listen(addr); !r) {
            spdlog::error("cannot listen on {}: {}", addr.to_string(), r.error().message);
            return 2;
        }
    }
    spdlog::info("listening on {} (UDP and TCP)", join(s.listener->addresses()));
    return 0;
}

server::HttpBackends http_backends(Services& s) {
    Services* sp = &s;
    server::HttpBackends b;
    b.dns = entry_point(s);
    b.lookup = [sp](const pkarr::PublicKey& key, pipeline::PacketStore::Admit admit,
                    pipeline::PacketStore::Done done) { sp->packets->lookup(key, admit, std::move(done)); };
    b.cached = [sp](const pkarr::PublicKey& key) { return sp->packets->cached(key); };
    b.offer = [sp](const pkarr::SignedPacket& packet) { return sp->packets->offer(packet); };
    b.publish = [sp](const pkarr::SignedPacket& packet, PublishDone done) {
        if (sp->stopping) return done(make_error("shutting down"));
        publish_to_dht(*sp->dht_node, packet, std::move(done));
    };
    b.on_accepted = [sp](const pkarr::SignedPacket& packet) {
        if (sp->republisher && !sp->stopping) sp->republisher->on_accepted(packet);
    };
    b.metrics = [sp] { return render_app_metrics(*sp); };
    b.health = [sp] { return app_health(*sp); };
    return b;
}

// [http] listen: DoH, the relay API, /healthz and /metrics on one listener.
int start_http(Services& s, const conf::Config& config) {
    if (!config.http.listen) return 0;
    uv::Loop* loop = &s.loop;
    server::HttpClocks hc;
    hc.mono_ms = [loop] { return loop->now_ms(); };
    s.http_api = std::make_unique<server::HttpApi>(http_api_config(config), http_backends(s), hc);

    server::HttpServerOptions so;
    so.tls_cert = config.http.tls_cert;
    so.tls_key = config.http.tls_key;
    server::HttpApi* api = s.http_api.get();
    auto server = server::HttpServer::create(
        s.loop,
        [api](server::HttpRequest request, server::HttpServer::Respond respond) {
            api->handle(request, std::move(respond));
        },
        so);
    if (!server) {
        spdlog::error("[http]: {}", server.error().message);
        return 2;
    }
    s.http_server = std::move(*server);
    if (auto r = s.http_server->listen(*config.http.listen); !r) {
        spdlog::error("cannot listen on {} (HTTP): {}", config.http.listen->to_string(), r.error().message);
        return 2;
    }
    spdlog::info("HTTP listening on {} ({}; DoH at /dns-query, relay API, /healthz, /metrics)",
                 s.http_server->address().to_string(), s.http_server->tls() ? "HTTPS" : "plain HTTP");
    return 0;
}

void start_housekeeping(Services& s) {
    Services* sp = &s;
    auto on_signal = [sp](int signum) {
        spdlog::info("{} received, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
        sp->stop();
    };
    if (auto r = s.sigint.start(SIGINT, on_signal); !r) spdlog::warn("SIGINT handler: {}", r.error().message);
    if (auto r = s.sigterm.start(SIGTERM, on_signal); !r)
        spdlog::warn("SIGTERM handler: {}", r.error().message);
    s.maintenance.start(maintenance_interval_ms, maintenance_interval_ms, [sp] {
        if (sp->stopping) return;
        sp->resolver->answer_cache().purge_expired(sp->loop.now_ms());
        if (auto r = sp->cache->flush_touches(); !r) spdlog::warn("packet cache: {}", r.error().message);
    });
}

// Start-up checks that only warn: the daemon keeps running and answers SERVFAIL meanwhile.
void start_checks(Services& s) {
    Services* sp = &s;
    s.dht_node->start([sp](Result<std::size_t> ready) {
        if (sp->stopping) return;
        if (!ready) return spdlog::warn("DHT bootstrap failed: {}", ready.error().message);
        for (const auto& e : sp->dht_node->bootstrap_errors()) spdlog::warn("DHT bootstrap entry {}", e);
        if (*ready == 0)
            spdlog::warn("DHT bootstrap: no node answered; PKARR names fail until one does");
        else
            spdlog::info("DHT bootstrap done: {} nodes in the routing table", *ready);
    });
    if (s.republisher) s.republisher->start();
    dns::Question probe;  // the root NS: any working upstream answers it
    probe.type = dns::type::NS;
    s.forwarder->forward(probe, false, [sp](Result<dns::Packet> r) {
        if (sp->stopping) return;
        if (!r)
            spdlog::warn("upstream check failed: {}; ICANN names fail until an upstream answers",
                         r.error().message);
        else
            spdlog::info("upstream check: answered ({})", dns::rcode_to_string(r->rcode()));
        sp->timed_upstream->set_last_ok(r.ok());
    });
}

// The first stdout line, once everything is bound: where the kernel put each listener (port 0
// in the config means "any"), e.g. {"dns":["127.0.0.1:41234"],"http":"127.0.0.1:40001",...}.
void print_bound_addresses(const Services& s) {
    std::string line = "{\"dns\":[" + join(s.listener->addresses(), ",", "\"") + "]";
    if (s.http_server) line += ",\"http\":\"" + s.http_server->address().to_string() + "\"";
    line += ",\"dht\":\"" + s.dht_node->local_address().to_string() + "\"}\n";
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
}

int start(Services& s, const conf::Config& config) {
    for (auto step : {open_cache, start_dht}) {
        if (int code = step(s, config); code != 0) return code;
    }
    start_relays(s, config);
    if (int code = start_republisher(s, config); code != 0) return code;
    start_pipeline(s, config);
    for (auto step : {start_dns, start_http}) {
        if (int code = step(s, config); code != 0) return code;
    }
    start_housekeeping(s);
    start_checks(s);
    print_bound_addresses(s);
    return 0;
}

}  // namespace

int run_serve(const conf::Config& config) {
    apply_log_level(config.log.level);
    // A client that goes away while we write (TCP DNS, HTTP) must be an EPIPE, not process death.
    std::signal(SIGPIPE, SIG_IGN);
    uv::Loop loop;
    int code = 0;
    {
        Services services(loop);
        code = start(services, config);
        if (code == 0) loop.run();
        services.stop();
    }  // every handle owner is gone: only close callbacks remain
    if (auto r = loop.close(); !r) {
        spdlog::error("event loop did not close cleanly: {}", r.error().message);
        if (code == 0) code = 1;
    }
    if (code == 0) spdlog::info("stopped");
    return code;
}

}  // namespace pkdns::resolver
