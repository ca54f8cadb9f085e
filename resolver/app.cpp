#include "resolver/app.hpp"

#include <csignal>
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
#include "resolver/dns_listener.hpp"
#include "resolver/forwarder.hpp"
#include "resolver/pkarr_resolver.hpp"
#include "resolver/query.hpp"
#include "resolver/resolver.hpp"
#include "storage/database.hpp"
#include "storage/packet_cache.hpp"

namespace pkdns::resolver {

namespace {

constexpr std::uint64_t maintenance_interval_ms = 30'000;

// PKARR lookups on the DHT node.
class DhtSource final : public PacketSource {
public:
    explicit DhtSource(dht::DhtNode& node) : node_(node) {}
    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override {
        dht::resolve(node_, key, newer_than, [done = std::move(done)](dht::ResolveOutcome outcome) {
            if (outcome.packet) return done(std::move(outcome.packet), "");
            // Nobody answered: a failure (serve stale / SERVFAIL), not "this key has nothing".
            if (outcome.stats.queried == 0 || outcome.stats.responded == 0)
                return done(std::nullopt, dht::describe_failure(outcome));
            done(std::nullopt, "");
        });
    }

private:
    dht::DhtNode& node_;
};

std::string join(const std::vector<SocketAddress>& addrs) {
    std::string out;
    for (const auto& a : addrs) out += (out.empty() ? "" : ", ") + a.to_string();
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

// Everything that lives on the loop; members are destroyed in reverse order (listeners first).
struct Services {
    explicit Services(uv::Loop& l) : loop(l), maintenance(l), sigint(l), sigterm(l) {}

    uv::Loop& loop;
    std::optional<storage::PacketCache> cache;
    std::unique_ptr<dht::DhtNode> dht_node;
    std::unique_ptr<DhtSource> source;
    std::unique_ptr<Forwarder> forwarder;
    std::unique_ptr<ForwarderUpstream> upstream;
    std::unique_ptr<PkarrResolver> pkarr;
    std::unique_ptr<Resolver> resolver;
    std::unique_ptr<DnsListener> listener;
    uv::Timer maintenance;
    uv::Signal sigint, sigterm;
    bool stopping = false;

    // Stops accepting work, fails what is pending, closes every handle; the loop then ends.
    void stop() {
        if (stopping) return;
        stopping = true;
        if (listener) listener->close();
        if (pkarr) pkarr->close();
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

// Returns 0, or 2 after logging why start-up failed.
int start(Services& s, const conf::Config& config) {
    // SQLite packet cache.
    auto db = open_database(config.cache.path);
    if (!db) {
        spdlog::error("cannot open the cache database {}: {}", config.cache.path, db.error().message);
        return 2;
    }
    storage::PacketCacheOptions cache_options;
    cache_options.max_packets = static_cast<std::size_t>(config.cache.max_packets);
    auto cache = storage::PacketCache::open(std::move(*db), cache_options);
    if (!cache) {
        spdlog::error("cannot use the cache database {}: {}", config.cache.path, cache.error().message);
        return 2;
    }
    s.cache.emplace(std::move(*cache));
    spdlog::info("packet cache: {}", config.cache.path);

    // Upstream forwarder.
    ForwarderConfig fwd;
    fwd.upstreams = config.upstream.servers;
    fwd.timeout_ms = config.upstream.timeout_ms;
    s.forwarder = std::make_unique<Forwarder>(s.loop, fwd);
    s.upstream = std::make_unique<ForwarderUpstream>(*s.forwarder);
    spdlog::info("upstreams: {}", join(config.upstream.servers));

    // DHT node.
    dht::DhtNodeConfig dc;
    dc.bind = SocketAddress{IpAddress{}, config.dht.port};
    dc.server_mode = config.dht.server;
    dc.bootstrap = config.dht.bootstrap;
    if (!config.upstream.servers.empty()) dc.dns_upstream = config.upstream.servers.front();
    dc.dns_timeout = std::chrono::milliseconds(config.upstream.timeout_ms);
    auto node = dht::DhtNode::create(s.loop, dc);
    if (!node) {
        spdlog::error("cannot start the DHT node on {}: {}", dc.bind.to_string(), node.error().message);
        return 2;
    }
    s.dht_node = std::move(*node);
    s.source = std::make_unique<DhtSource>(*s.dht_node);
    spdlog::info("DHT node on {} ({} mode), bootstrapping from {} entries",
                 s.dht_node->local_address().to_string(), config.dht.server ? "server" : "client",
                 config.dht.bootstrap.size());
    if (config.dht.bootstrap.empty())
        spdlog::warn("DHT: no bootstrap entries; PKARR names are answered from the cache only");

    // The pipeline.
    PkarrResolverConfig pc;
    pc.min_ttl = config.dns.min_ttl;
    pc.max_ttl = config.dns.max_ttl;
    pc.front_capacity = static_cast<std::size_t>(std::min<std::uint64_t>(config.cache.max_packets, 10000));
    s.pkarr = std::make_unique<PkarrResolver>(*s.source, &*s.cache, pc);
    ResolverClocks clocks;
    uv::Loop* loop = &s.loop;
    clocks.mono_ms = [loop] { return loop->now_ms(); };
    s.resolver = std::make_unique<Resolver>(ResolverConfig::from(config), *s.pkarr, *s.upstream, clocks);

    // Listeners: the finalize step (ID, question, flags, OPT, truncation) happens here.
    Resolver* resolver = s.resolver.get();
    s.listener =
        std::make_unique<DnsListener>(s.loop, [resolver](Request request, ClientInfo client, ReplyFn reply) {
            const Transport transport = client.transport;
            resolver->resolve(request, client,
                              [request, transport, reply = std::move(reply)](dns::Packet answer) {
                                  reply(finalize(request, std::move(answer), transport));
                              });
        });
    for (const auto& addr : config.dns.listen) {
        if (auto r = s.listener->listen(addr); !r) {
            spdlog::error("cannot listen on {}: {}", addr.to_string(), r.error().message);
            return 2;
        }
    }
    spdlog::info("listening on {} (UDP and TCP)", join(s.listener->addresses()));

    // Signals and housekeeping.
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

    // Start-up checks that only warn: the daemon keeps running and answers SERVFAIL meanwhile.
    s.dht_node->start([sp](Result<std::size_t> ready) {
        if (sp->stopping) return;
        if (!ready) return spdlog::warn("DHT bootstrap failed: {}", ready.error().message);
        for (const auto& e : sp->dht_node->bootstrap_errors()) spdlog::warn("DHT bootstrap entry {}", e);
        if (*ready == 0)
            spdlog::warn("DHT bootstrap: no node answered; PKARR names fail until one does");
        else
            spdlog::info("DHT bootstrap done: {} nodes in the routing table", *ready);
    });
    dns::Question probe;  // the root NS: any working upstream answers it
    probe.type = dns::type::NS;
    s.forwarder->forward(probe, false, [sp](Result<dns::Packet> r) {
        if (sp->stopping) return;
        if (!r)
            spdlog::warn("upstream check failed: {}; ICANN names fail until an upstream answers",
                         r.error().message);
        else
            spdlog::info("upstream check: answered ({})", dns::rcode_to_string(r->rcode()));
    });
    return 0;
}

}  // namespace

int run_serve(const conf::Config& config) {
    apply_log_level(config.log.level);
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
