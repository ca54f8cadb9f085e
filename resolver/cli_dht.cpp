// pkdns testnet / publish / resolve: the DHT node driven from the command line.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"
#include "pkarr/dht/node.hpp"
#include "pkarr/dht/pkarr_dht.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "pkarr/zone.hpp"
#include "pkarr/zone_file.hpp"
#include "resolver/cli.hpp"

namespace pkdns::cli {

namespace {

// Upper bound for one publish/resolve run: DNS for the bootstrap names, then a lookup whose
// requests time out after 2 s each; a dead network must end well within this.
constexpr std::uint64_t command_deadline_ms = 30'000;
constexpr std::size_t max_testnet_nodes = 1000;

int fail(const char* cmd, const std::string& reason, int code = 1) {
    std::fprintf(stderr, "pkdns %s: %s\n", cmd, reason.c_str());
    return code;
}

struct DhtOptions {
    std::vector<std::string> bootstrap;
    std::string upstream = "1.1.1.1:53";
};

void add_dht_options(CLI::App* cmd, DhtOptions& o) {
    cmd->add_option("--bootstrap", o.bootstrap,
                    "bootstrap node HOST:PORT (repeatable or comma-separated; replaces the defaults)")
        ->delimiter(',')
        ->type_name("H:P");
    cmd->add_option("--upstream", o.upstream, "DNS server used to resolve bootstrap host names")
        ->capture_default_str()
        ->type_name("IP:PORT");
}

// Parses the options into a client-mode node config; error text for a usage error.
Result<dht::DhtNodeConfig> client_config(const DhtOptions& o) {
    dht::DhtNodeConfig config;
    config.server_mode = false;
    if (o.bootstrap.empty()) {
        config.bootstrap = dht::default_bootstrap();
    } else {
        for (const auto& b : o.bootstrap) {
            auto hp = HostPort::parse(b);
            if (!hp) return make_error("--bootstrap " + b + ": " + hp.error().message);
            config.bootstrap.push_back(hp.value());
        }
    }
    auto up = SocketAddress::parse(o.upstream);
    if (!up) return make_error("--upstream " + o.upstream + ": " + up.error().message);
    config.dns_upstream = up.value();
    // Loopback bootstrap only: bind there too, so a test never sends off the host.
    bool all_loopback = !config.bootstrap.empty();
    for (const auto& b : config.bootstrap) {
        auto ip = IpAddress::parse(b.host);
        if (!ip || !(ip->is_v4() && ip->bytes()[0] == 127)) all_loopback = false;
    }
    if (all_loopback) config.bind = SocketAddress{IpAddress::v4(127, 0, 0, 1), 0};
    return config;
}

// Runs the loop until `done` is set or the deadline passes; closes everything; returns whether
// the loop closed cleanly.
bool run_until_done(uv::Loop& loop, dht::DhtNode& node, const bool& done, bool& timed_out) {
    {
        uv::Timer deadline(loop);
        deadline.start(command_deadline_ms, 0, [&] {
            timed_out = true;
            node.close();
        });
        while (!done && !timed_out && loop.run_once()) {
        }
        node.close();
    }
    loop.run();
    auto closed = loop.close();
    if (!closed) spdlog::error("{}", closed.error().message);
    return closed.ok();
}

std::string bootstrap_hint(const dht::DhtNode& node) {
    std::string out;
    for (const auto& e : node.bootstrap_errors()) out += "; " + e;
    return out;
}

std::string utc_time(pkarr::Micros ts) {
    std::time_t secs = static_cast<std::time_t>(ts / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// "name ttl class type rdata..." -> the rdata part.
std::string rdata_text(const std::string& line) {
    std::istringstream in(line);
    std::string field;
    for (int i = 0; i < 4 && (in >> field); ++i) {
    }
    std::string rest;
    std::getline(in, rest);
    auto start = rest.find_first_not_of(" \t");
    return start == std::string::npos ? "" : rest.substr(start);
}

// ------------------------------------------------------------------ testnet

int run_testnet(std::size_t count, std::uint16_t port_base, const std::vector<std::string>& bootstrap) {
    if (count == 0 || count > max_testnet_nodes)
        return fail("testnet", "--nodes must be 1.." + std::to_string(max_testnet_nodes), 2);
    if (port_base != 0 && port_base + count - 1 > 65535)
        return fail("testnet", "--port-base too high for --nodes", 2);
    std::vector<HostPort> extra;
    for (const auto& b : bootstrap) {
        auto hp = HostPort::parse(b);
        if (!hp) return fail("testnet", "--bootstrap " + b + ": " + hp.error().message, 2);
        auto ip = IpAddress::parse(hp->host);
        if (!ip || !(ip->is_v4() && ip->bytes()[0] == 127))
            return fail("testnet", "--bootstrap must be a 127.x.x.x address: " + b, 2);
        extra.push_back(hp.value());
    }
    uv::Loop loop;
    int rc = 0;
    {
        std::vector<std::unique_ptr<dht::DhtNode>> nodes;
        for (std::size_t i = 0; i < count; ++i) {
            dht::DhtNodeConfig config;
            config.server_mode = true;
            config.bind = SocketAddress{IpAddress::v4(127, 0, 0, 1),
                                        static_cast<std::uint16_t>(port_base == 0 ? 0 : port_base + i)};
            config.bootstrap = extra;
            config.rate.exempt_loopback = true;  // every client of a testnet is on loopback
            auto node = dht::DhtNode::create(loop, config);
            if (!node) {
                rc = fail("testnet", node.error().message);
                break;
            }
            nodes.push_back(std::move(node.value()));
        }
        // Handlers first: a supervisor may signal us as soon as it read the first line.
        uv::Signal sigint(loop), sigterm(loop);
        auto stop = [&](int signum) {
            spdlog::info("testnet: signal {}, stopping", signum);
            for (auto& n : nodes) n->close();
            sigint.stop();
            sigterm.stop();
        };
        auto s1 = sigint.start(SIGINT, stop);
        auto s2 = sigterm.start(SIGTERM, stop);
        if (rc == 0) {
            // Full mesh, like mainline's seeded Testnet.
            for (auto& a : nodes)
                for (auto& b : nodes)
                    if (a != b)
                        a->add_node({b->id(), dht::Address::parse(b->local_address().to_string()).value()});
            nlohmann::json j;
            j["bootstrap"] = nlohmann::json::array();
            for (auto& n : nodes) j["bootstrap"].push_back(n->local_address().to_string());
            auto print = [line = j.dump()] {
                std::printf("%s\n", line.c_str());
                std::fflush(stdout);
            };
            auto pending = std::make_shared<std::size_t>(nodes.size());
            for (auto& n : nodes) {
                if (extra.empty()) {
                    n->start();
                } else {
                    n->start([pending, print](Result<std::size_t> r) {
                        if (!r) spdlog::warn("testnet bootstrap: {}", r.error().message);
                        if (--*pending == 0) print();
                    });
                }
            }
            if (extra.empty()) print();
            spdlog::info("testnet: {} nodes on 127.0.0.1", nodes.size());

            if (!s1 || !s2) {
                rc = fail("testnet", "cannot install signal handlers");
                for (auto& n : nodes) n->close();
            } else {
                loop.run();
            }
        }
        for (auto& n : nodes) n->close();
    }
    loop.run();
    auto closed = loop.close();
    if (!closed) return fail("testnet", closed.error().message);
    return rc;
}

// ------------------------------------------------------------------ publish

struct PublishArgs {
    std::string key_file;
    std::string zone_file;
    std::optional<std::uint64_t> timestamp;
    DhtOptions dht;
};

int run_publish(const PublishArgs& a) {
    auto config = client_config(a.dht);
    if (!config) return fail("publish", config.error().message, 2);
    auto keypair = pkarr::Keypair::load(a.key_file);
    if (!keypair) return fail("publish", a.key_file + ": " + keypair.error().message);
    const auto& key = keypair->public_key();
    auto records = pkarr::load_zone_file(a.zone_file, key);
    if (!records) return fail("publish", records.error().message);
    // Fail on size before touching the network.
    auto probe = pkarr::SignedPacket::sign(keypair.value(), records.value(), pkarr::now_micros());
    if (!probe) return fail("publish", probe.error().message);

    uv::Loop loop;
    auto node = dht::DhtNode::create(loop, config.value());
    if (!node) return fail("publish", node.error().message);
    dht::DhtNode& n = *node.value();

    bool done = false;
    bool timed_out = false;
    std::string error;
    std::optional<pkarr::SignedPacket> published;
    std::size_t stored = 0;

    auto put = [&](pkarr::Micros ts) {
        auto packet = pkarr::SignedPacket::sign(keypair.value(), records.value(), ts);
        if (!packet) {
            error = packet.error().message;
            done = true;
            return;
        }
        published = packet.value();
        dht::publish(n, packet.value(), std::nullopt, [&](Result<dht::PutOutcome> r) {
            if (r)
                stored = r->stored_at;
            else
                error = r.error().message + bootstrap_hint(n);
            done = true;
        });
    };
    if (a.timestamp) {
        put(*a.timestamp);
    } else {
        // timestamp = max(now, newest seen + 1): never publish below what the DHT holds.
        dht::resolve(n, key, std::nullopt, [&](dht::ResolveOutcome o) {
            pkarr::Micros ts = pkarr::now_micros();
            if (o.packet && o.packet->timestamp() >= ts) ts = o.packet->timestamp() + 1;
            if (n.closed()) {
                error = "stopped";
                done = true;
                return;
            }
            put(ts);
        });
    }
    bool clean = run_until_done(loop, n, done, timed_out);
    node.value().reset();
    if (timed_out)
        return fail("publish", "timed out after " + std::to_string(command_deadline_ms / 1000) + " s");
    if (!error.empty()) return fail("publish", error);
    if (!published) return fail("publish", "nothing was published");
    std::printf("key: %s\ntimestamp: %llu\nstored: %zu\n", key.to_z32().c_str(),
                static_cast<unsigned long long>(published->timestamp()), stored);
    std::fflush(stdout);
    if (stored == 0) return fail("publish", "no DHT node stored the packet");
    return clean ? 0 : 1;
}

// ------------------------------------------------------------------ resolve

struct ResolveArgs {
    std::string name;
    std::string type;
    bool json = false;
    DhtOptions dht;
};

int run_resolve(const ResolveArgs& a) {
    auto config = client_config(a.dht);
    if (!config) return fail("resolve", config.error().message, 2);
    std::uint16_t qtype = dns::type::ANY;
    if (!a.type.empty()) {
        auto t = dns::type_from_string(a.type);
        if (!t) return fail("resolve", "--type " + a.type + ": " + t.error().message, 2);
        qtype = t.value();
    }
    std::string name = a.name;
    if (!name.empty() && name.back() == '.') name.pop_back();
    auto last_dot = name.rfind('.');
    std::string last = last_dot == std::string::npos ? name : name.substr(last_dot + 1);
    auto key = pkarr::PublicKey::from_z32(last);
    if (!key) {
        auto parsed = pkarr::PublicKey::parse(a.name);
        if (!parsed)
            return fail("resolve",
                        "'" + a.name + "' does not end in a PKARR public key: " + key.error().message, 2);
        key = parsed;
        name = parsed->to_z32();
    }
    auto qname = dns::Name::parse(name);
    if (!qname) return fail("resolve", "'" + a.name + "': " + qname.error().message, 2);
    auto apex = dns::Name::parse(key->to_z32()).value();

    uv::Loop loop;
    auto node = dht::DhtNode::create(loop, config.value());
    if (!node) return fail("resolve", node.error().message);
    dht::DhtNode& n = *node.value();
    bool done = false;
    bool timed_out = false;
    dht::ResolveOutcome outcome;
    const auto started = std::chrono::steady_clock::now();
    double lookup_ms = 0;
    dht::resolve(n, key.value(), std::nullopt, [&](dht::ResolveOutcome o) {
        outcome = std::move(o);
        lookup_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        done = true;
    });
    bool clean = run_until_done(loop, n, done, timed_out);
    std::string hint = bootstrap_hint(n);
    node.value().reset();
    if (!outcome.packet) {
        if (timed_out)
            return fail("resolve",
                        "timed out after " + std::to_string(command_deadline_ms / 1000) + " s" + hint);
        return fail("resolve", key->to_z32() + ": " + dht::describe_failure(outcome) + hint);
    }
    const pkarr::SignedPacket& packet = *outcome.packet;
    // A bare key without --type shows the whole packet (like pkdns-cli); otherwise NAME/TYPE is
    // answered with zone semantics (CNAME, wildcards, delegations).
    pkarr::ZoneAnswer answer;
    std::vector<dns::Record> shown;
    if (qname.value() == apex && a.type.empty()) {
        shown = packet.records();
    } else {
        answer = pkarr::answer_from_zone(packet.records(), apex, qname.value(), qtype);
        shown = answer.answer;
        if (answer.delegation) shown.insert(shown.end(), answer.authority.begin(), answer.authority.end());
    }

    if (a.json) {
        nlohmann::json j;
        j["key"] = key->to_z32();
        j["name"] = qname->to_string();
        j["type"] = dns::type_to_string(qtype);
        j["timestamp"] = packet.timestamp();
        j["rcode"] = dns::rcode_to_string(answer.rcode);
        j["nodes_answered"] = outcome.stats.responded;
        j["lookup_ms"] = static_cast<double>(static_cast<long long>(lookup_ms * 10)) / 10;
        j["records"] = nlohmann::json::array();
        for (const auto& rr : shown) {
            std::string line = dns::record_to_text(rr);
            j["records"].push_back({{"name", rr.name.to_string()},
                                    {"ttl", rr.ttl},
                                    {"type", dns::type_to_string(rr.type)},
                                    {"data", rdata_text(line)}});
        }
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf(";; key %s, timestamp %llu (%s), %s, %zu records in the packet\n", key->to_z32().c_str(),
                    static_cast<unsigned long long>(packet.timestamp()), utc_time(packet.timestamp()).c_str(),
                    dns::rcode_to_string(answer.rcode).c_str(), packet.records().size());
        std::printf(";; %zu of %zu queried DHT nodes answered\n", outcome.stats.responded,
                    outcome.stats.queried);
        for (const auto& rr : shown) std::printf("%s\n", dns::record_to_text(rr).c_str());
        if (shown.empty())
            std::printf(";; no %s records at %s\n", dns::type_to_string(qtype).c_str(),
                        qname->to_string().c_str());
    }
    std::fflush(stdout);
    return clean ? 0 : 1;
}

}  // namespace

void add_dht_commands(CLI::App& app, Context& ctx) {
    // testnet
    struct TestnetArgs {
        std::size_t nodes = 0;
        std::uint16_t port_base = 0;
        std::vector<std::string> bootstrap;
    };
    auto t = std::make_shared<TestnetArgs>();
    auto* testnet = app.add_subcommand(
        "testnet",
        "Run N DHT server nodes on 127.0.0.1 in one process (full mesh). The first stdout line is\n"
        "{\"bootstrap\":[\"127.0.0.1:P\",...]}; runs until SIGINT/SIGTERM.");
    testnet->add_option("--nodes", t->nodes, "number of nodes")->required();
    testnet->add_option("--port-base", t->port_base, "first UDP port (0: ephemeral ports)");
    testnet->add_option("--bootstrap", t->bootstrap, "also join these nodes (127.x.x.x:PORT; repeatable)")
        ->delimiter(',');
    testnet->callback([&ctx, t] { ctx.exit_code = run_testnet(t->nodes, t->port_base, t->bootstrap); });

    // publish
    auto p = std::make_shared<PublishArgs>();
    auto* publish = app.add_subcommand(
        "publish",
        "Sign the records of a zone file (names relative to the key, @ = apex) and store them in the\n"
        "DHT. The timestamp is max(now, newest already published + 1) unless --timestamp is given.\n"
        "Prints key, timestamp and how many nodes stored it; exit 1 when none did.");
    publish->add_option("--key", p->key_file, "seed file (64 hex chars)")->required()->type_name("FILE");
    publish->add_option("ZONEFILE", p->zone_file, "BIND-style zone file")->required();
    publish->add_option("--timestamp", p->timestamp, "sign with exactly this timestamp (µs)")
        ->type_name("MICROS");
    add_dht_options(publish, p->dht);
    publish->callback([&ctx, p] { ctx.exit_code = run_publish(*p); });

    // resolve
    auto r = std::make_shared<ResolveArgs>();
    auto* resolve = app.add_subcommand(
        "resolve",
        "Look up a public key (or sub.<key>) in the DHT, verify it, and print the records of NAME\n"
        "(dig-like text, or JSON with --json); a bare key without --type prints the whole packet.\n"
        "Exit 1 when no valid packet was found.");
    resolve->add_option("NAME", r->name, "z-base-32 key or a name below it")->required();
    resolve->add_option("--type", r->type, "record type (default: all)")->type_name("T");
    resolve->add_flag("--json", r->json, "JSON output");
    add_dht_options(resolve, r->dht);
    resolve->callback([&ctx, r] { ctx.exit_code = run_resolve(*r); });
}

}  // namespace pkdns::cli
