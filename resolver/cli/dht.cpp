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
#include "pkarr/relay/relay_client.hpp"
#include "pkarr/signed_packet.hpp"
#include "pkarr/zone.hpp"
#include "pkarr/zone_file.hpp"
#include "resolver/cli/cli.hpp"

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
    std::vector<std::string> relays;

    // --relay alone means relays only: no DHT node is started at all.
    bool use_dht() const { return relays.empty() || !bootstrap.empty(); }
    bool use_relays() const { return !relays.empty(); }
};

void add_dht_options(CLI::App* cmd, DhtOptions& o) {
    cmd->add_option("--bootstrap", o.bootstrap,
                    "bootstrap node HOST:PORT (repeatable or comma-separated; replaces the defaults)")
        ->delimiter(',')
        ->type_name("H:P");
    cmd->add_option("--upstream", o.upstream, "DNS server used to resolve bootstrap host names")
        ->capture_default_str()
        ->type_name("IP:PORT");
    cmd->add_option("--relay", o.relays,
                    "PKARR relay base URL (repeatable); without --bootstrap only the relays are used")
        ->type_name("URL");
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

// The DHT node and/or the relay client of one publish/resolve run.
struct Clients {
    std::unique_ptr<dht::DhtNode> node;
    std::unique_ptr<relay::RelayClient> relays;
    bool stopping = false;

    void close() {
        stopping = true;
        if (node) node->close();
        if (relays) relays->close();
    }
};

// Checks the options and starts what they ask for; an exit code when that fails.
std::optional<int> open_clients(const char* cmd, uv::Loop& loop, const DhtOptions& o,
                                const pkarr::PublicKey& key, Clients& c) {
    if (o.use_relays()) {
        for (const auto& u : o.relays)
            if (auto r = relay::relay_url(u, key); !r) return fail(cmd, "--relay: " + r.error().message, 2);
    }
    if (o.use_dht()) {
        auto config = client_config(o);
        if (!config) return fail(cmd, config.error().message, 2);
        auto node = dht::DhtNode::create(loop, config.value());
        if (!node) return fail(cmd, node.error().message);
        c.node = std::move(node.value());
    }
    if (o.use_relays()) {
        relay::RelayClientConfig rc;
        rc.urls = o.relays;
        c.relays = std::make_unique<relay::RelayClient>(loop, rc);
    }
    return std::nullopt;
}

// Runs the loop until `done` is set or the deadline passes; closes everything; returns whether
// the loop closed cleanly.
bool run_until_done(uv::Loop& loop, Clients& clients, const bool& done, bool& timed_out) {
    {
        uv::Timer deadline(loop);
        deadline.start(command_deadline_ms, 0, [&] {
            timed_out = true;
            clients.close();
        });
        // libuv 1.44 runs due timers before polling and then still blocks in the poll: a result
        // delivered from a timer callback would wait for the next event. The tick bounds that wait.
        uv::Timer tick(loop);
        tick.start(20, 20, [] {});
        while (!done && !timed_out && loop.run_once()) {
        }
        clients.close();
    }
    loop.run();
    auto closed = loop.close();
    if (!closed) spdlog::error("{}", closed.error().message);
    return closed.ok();
}

std::string bootstrap_hint(const dht::DhtNode* node) {
    if (!node) return "";
    std::string out;
    for (const auto& e : node->bootstrap_errors()) out += "; " + e;
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

std::string describe(const relay::RelayPut& r) {
    switch (r.status) {
        case relay::RelayPut::Status::ok: {
            std::string s = "ok (HTTP " + std::to_string(r.http_status);
            if (r.stored_nodes) s += ", stored on " + std::to_string(*r.stored_nodes) + " DHT nodes";
            return s + ")";
        }
        case relay::RelayPut::Status::conflict:
            return "conflict: " + r.error;
        case relay::RelayPut::Status::failed:
            break;
    }
    return "error: " + r.error;
}

int run_publish(const PublishArgs& a) {
    auto keypair = pkarr::Keypair::load(a.key_file);
    if (!keypair) return fail("publish", a.key_file + ": " + keypair.error().message);
    const auto& key = keypair->public_key();
    auto records = pkarr::load_zone_file(a.zone_file, key);
    if (!records) return fail("publish", records.error().message);
    // Fail on size before touching the network.
    auto probe = pkarr::SignedPacket::sign(keypair.value(), records.value(), pkarr::now_micros());
    if (!probe) return fail("publish", probe.error().message);

    uv::Loop loop;
    Clients c;
    if (auto code = open_clients("publish", loop, a.dht, key, c)) return *code;

    bool done = false;
    bool timed_out = false;
    std::string error;  // no packet could be made
    std::string dht_error;
    std::optional<pkarr::SignedPacket> published;
    std::size_t stored = 0;
    std::optional<relay::PutOutcome> relay_outcome;

    std::size_t put_pending = 0;
    auto put_done = [&] {
        if (--put_pending == 0) done = true;
    };
    auto put = [&](pkarr::Micros ts) {
        if (c.stopping) return;
        auto packet = pkarr::SignedPacket::sign(keypair.value(), records.value(), ts);
        if (!packet) {
            error = packet.error().message;
            done = true;
            return;
        }
        published = packet.value();
        put_pending = (c.node ? 1 : 0) + (c.relays ? 1 : 0);
        if (c.node) {
            dht::publish(*c.node, packet.value(), std::nullopt, [&](Result<dht::PutOutcome> r) {
                if (r)
                    stored = r->stored_at;
                else
                    dht_error = r.error().message + bootstrap_hint(c.node.get());
                put_done();
            });
        }
        if (c.relays) {
            c.relays->put(packet.value(), [&](relay::PutOutcome o) {
                relay_outcome = std::move(o);
                put_done();
            });
        }
    };
    if (a.timestamp) {
        put(*a.timestamp);
    } else {
        // timestamp = max(now, newest seen + 1): never publish below what the DHT or relays hold.
        auto newest = std::make_shared<pkarr::Micros>(0);
        auto pending = std::make_shared<std::size_t>((c.node ? 1 : 0) + (c.relays ? 1 : 0));
        auto seen = [&, newest, pending](const std::optional<pkarr::SignedPacket>& p) {
            if (p) *newest = std::max(*newest, p->timestamp());
            if (--*pending > 0) return;
            pkarr::Micros ts = pkarr::now_micros();
            if (*newest >= ts) ts = *newest + 1;
            if (c.stopping) {
                error = "stopped";
                done = true;
                return;
            }
            put(ts);
        };
        if (c.node)
            dht::resolve(*c.node, key, std::nullopt, [seen](dht::ResolveOutcome o) { seen(o.packet); });
        if (c.relays) {
            relay::GetOptions options;
            options.wait_all = true;
            c.relays->get(key, options, [seen](relay::GetOutcome o) { seen(o.packet); });
        }
    }
    bool clean = run_until_done(loop, c, done, timed_out);
    c.node.reset();
    c.relays.reset();
    if (timed_out)
        return fail("publish", "timed out after " + std::to_string(command_deadline_ms / 1000) + " s");
    if (!error.empty()) return fail("publish", error);
    if (!published) return fail("publish", "nothing was published");
    std::printf("key: %s\ntimestamp: %llu\n", key.to_z32().c_str(),
                static_cast<unsigned long long>(published->timestamp()));
    if (a.dht.use_dht()) std::printf("stored: %zu\n", stored);
    std::size_t relays_ok = 0;
    if (relay_outcome) {
        for (const auto& r : relay_outcome->relays)
            std::printf("relay %s: %s\n", r.relay.c_str(), describe(r).c_str());
        relays_ok = relay_outcome->succeeded;
        std::printf("relays: %zu of %zu stored it\n", relays_ok, relay_outcome->relays.size());
    }
    std::fflush(stdout);
    const bool dht_ok = a.dht.use_dht() && stored > 0;
    if (a.dht.use_dht() && !dht_ok) {
        const std::string why = dht_error.empty() ? "no DHT node stored the packet" : dht_error;
        if (relays_ok == 0) return fail("publish", why);
        std::fprintf(stderr, "pkdns publish: warning: %s\n", why.c_str());
    }
    if (relay_outcome && relays_ok == 0) {
        if (!dht_ok) return fail("publish", "no relay stored the packet");
        std::fprintf(stderr, "pkdns publish: warning: no relay stored the packet\n");
    }
    return clean ? 0 : 1;
}

// ------------------------------------------------------------------ resolve

struct ResolveArgs {
    std::string name;
    std::string type;
    bool json = false;
    DhtOptions dht;
};

const char* status_name(relay::RelayGet::Status s) {
    switch (s) {
        case relay::RelayGet::Status::found:
            return "found";
        case relay::RelayGet::Status::not_found:
            return "not found";
        case relay::RelayGet::Status::failed:
            break;
    }
    return "failed";
}

int run_resolve(const ResolveArgs& a) {
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
    Clients c;
    if (auto code = open_clients("resolve", loop, a.dht, key.value(), c)) return *code;
    bool done = false;
    bool timed_out = false;
    std::optional<dht::ResolveOutcome> dht_outcome;
    std::optional<relay::GetOutcome> relay_outcome;
    const auto started = std::chrono::steady_clock::now();
    double lookup_ms = 0;
    // Every source is asked and waited for: the most recent packet wins.
    std::size_t pending = (c.node ? 1 : 0) + (c.relays ? 1 : 0);
    auto finished = [&] {
        if (--pending > 0) return;
        lookup_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        done = true;
    };
    if (c.node) {
        dht::resolve(*c.node, key.value(), std::nullopt, [&](dht::ResolveOutcome o) {
            dht_outcome = std::move(o);
            finished();
        });
    }
    if (c.relays) {
        relay::GetOptions options;
        options.wait_all = true;
        c.relays->get(key.value(), options, [&](relay::GetOutcome o) {
            relay_outcome = std::move(o);
            finished();
        });
    }
    bool clean = run_until_done(loop, c, done, timed_out);
    std::string hint = bootstrap_hint(c.node.get());
    c.node.reset();
    c.relays.reset();

    std::optional<pkarr::SignedPacket> best;
    std::string source;
    if (dht_outcome && dht_outcome->packet) {
        best = dht_outcome->packet;
        source = "DHT";
    }
    if (relay_outcome && relay_outcome->packet && (!best || relay_outcome->packet->more_recent_than(*best))) {
        best = relay_outcome->packet;
        for (const auto& r : relay_outcome->relays)
            if (r.packet && r.packet->same_as(*best)) {
                source = "relay " + r.relay;
                break;
            }
    }
    if (!best) {
        if (timed_out)
            return fail("resolve",
                        "timed out after " + std::to_string(command_deadline_ms / 1000) + " s" + hint);
        std::string why;
        if (dht_outcome) why = "DHT: " + dht::describe_failure(*dht_outcome) + hint;
        if (relay_outcome) {
            if (!why.empty()) why += "; ";
            why += relay_outcome->error.empty() ? "relays: not found" : "relays: " + relay_outcome->error;
        }
        return fail("resolve", key->to_z32() + ": " + why);
    }
    const pkarr::SignedPacket& packet = *best;
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
        j["source"] = source;
        j["nodes_answered"] = dht_outcome ? dht_outcome->stats.responded : 0;
        j["lookup_ms"] = static_cast<double>(static_cast<long long>(lookup_ms * 10)) / 10;
        if (relay_outcome) {
            j["relays"] = nlohmann::json::array();
            for (const auto& r : relay_outcome->relays) {
                nlohmann::json rj{{"url", r.relay}, {"status", status_name(r.status)}};
                if (r.packet) rj["timestamp"] = r.packet->timestamp();
                if (!r.error.empty()) rj["error"] = r.error;
                j["relays"].push_back(rj);
            }
        }
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
        std::printf(";; source: %s\n", source.c_str());
        if (dht_outcome)
            std::printf(";; %zu of %zu queried DHT nodes answered\n", dht_outcome->stats.responded,
                        dht_outcome->stats.queried);
        if (relay_outcome)
            for (const auto& r : relay_outcome->relays)
                std::printf(";; relay %s: %s%s\n", r.relay.c_str(), status_name(r.status),
                            r.error.empty() ? "" : (" (" + r.error + ")").c_str());
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
        "DHT and/or on PKARR relays (--relay; relays only unless --bootstrap is also given). The\n"
        "timestamp is max(now, newest already published + 1) unless --timestamp is given.\n"
        "Prints key, timestamp, how many nodes stored it and each relay's answer; exit 1 when\n"
        "nothing stored it.");
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
        "Look up a public key (or sub.<key>) in the DHT and/or on PKARR relays (--relay; relays only\n"
        "unless --bootstrap is also given), verify it, and print the records of NAME from the most\n"
        "recent packet (dig-like text, or JSON with --json); a bare key without --type prints the\n"
        "whole packet.\n"
        "Exit 1 when no valid packet was found.");
    resolve->add_option("NAME", r->name, "z-base-32 key or a name below it")->required();
    resolve->add_option("--type", r->type, "record type (default: all)")->type_name("T");
    resolve->add_flag("--json", r->json, "JSON output");
    add_dht_options(resolve, r->dht);
    resolve->callback([&ctx, r] { ctx.exit_code = run_resolve(*r); });
}

}  // namespace pkdns::cli
