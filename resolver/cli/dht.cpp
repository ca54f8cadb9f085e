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

// --bootstrap of a testnet: other loopback nodes to join.
Result<std::vector<HostPort>> testnet_bootstrap(const std::vector<std::string>& bootstrap) {
    std::vector<HostPort> extra;
    for (const auto& b : bootstrap) {
        auto hp = HostPort::parse(b);
        if (!hp) return make_error("--bootstrap " + b + ": " + hp.error().message);
        auto ip = IpAddress::parse(hp->host);
        if (!ip || !(ip->is_v4() && ip->bytes()[0] == 127))
            return make_error("--bootstrap must be a 127.x.x.x address: " + b);
        extra.push_back(hp.value());
    }
    return extra;
}

Result<std::vector<std::unique_ptr<dht::DhtNode>>> create_testnet_nodes(uv::Loop& loop, std::size_t count,
                                                                        std::uint16_t port_base,
                                                                        const std::vector<HostPort>& extra) {
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
            for (auto& n : nodes) n->close();
            return node.error();
        }
        nodes.push_back(std::move(node.value()));
    }
    return nodes;
}

// Full mesh, like mainline's seeded Testnet; the bootstrap list goes to stdout once every node
// is up (after joining `extra`, when given).
void start_testnet(std::vector<std::unique_ptr<dht::DhtNode>>& nodes, bool join_extra) {
    for (auto& a : nodes)
        for (auto& b : nodes)
            if (a != b) a->add_node({b->id(), dht::Address::parse(b->local_address().to_string()).value()});
    nlohmann::json j;
    j["bootstrap"] = nlohmann::json::array();
    for (auto& n : nodes) j["bootstrap"].push_back(n->local_address().to_string());
    auto print = [line = j.dump()] {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    };
    auto pending = std::make_shared<std::size_t>(nodes.size());
    for (auto& n : nodes) {
        if (!join_extra) {
            n->start();
            continue;
        }
        n->start([pending, print](Result<std::size_t> r) {
            if (!r) spdlog::warn("testnet bootstrap: {}", r.error().message);
            if (--*pending == 0) print();
        });
    }
    if (!join_extra) print();
    spdlog::info("testnet: {} nodes on 127.0.0.1", nodes.size());
}

int run_testnet(std::size_t count, std::uint16_t port_base, const std::vector<std::string>& bootstrap) {
    if (count == 0 || count > max_testnet_nodes)
        return fail("testnet", "--nodes must be 1.." + std::to_string(max_testnet_nodes), 2);
    if (port_base != 0 && port_base + count - 1 > 65535)
        return fail("testnet", "--port-base too high for --nodes", 2);
    auto extra = testnet_bootstrap(bootstrap);
    if (!extra) return fail("testnet", extra.error().message, 2);
    uv::Loop loop;
    int rc = 0;
    {
        auto created = create_testnet_nodes(loop, count, port_base, *extra);
        std::vector<std::unique_ptr<dht::DhtNode>> nodes;
        if (created)
            nodes = std::move(*created);
        else
            rc = fail("testnet", created.error().message);
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
            start_testnet(nodes, !extra->empty());
            if (!s1 || !s2)
                rc = fail("testnet", "cannot install signal handlers");
            else
                loop.run();
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

// What one publish run did.
struct PublishRun {
    std::string error;  // no packet could be made
    std::string dht_error;
    std::optional<pkarr::SignedPacket> published;
    std::size_t stored = 0;
    std::optional<relay::PutOutcome> relays;
    bool timed_out = false, clean = true;
};

// Signs at `timestamp`, or at max(now, newest seen + 1) so that we never publish below what the
// DHT or the relays hold, and puts the packet everywhere asked.
PublishRun publish_everywhere(uv::Loop& loop, Clients& c, const pkarr::Keypair& keypair,
                              const std::vector<dns::Record>& records,
                              std::optional<std::uint64_t> timestamp) {
    PublishRun run;
    bool done = false;
    std::size_t put_pending = 0;
    auto put_done = [&] {
        if (--put_pending == 0) done = true;
    };
    auto put = [&](pkarr::Micros ts) {
        if (c.stopping) return;
        auto packet = pkarr::SignedPacket::sign(keypair, records, ts);
        if (!packet) {
            run.error = packet.error().message;
            done = true;
            return;
        }
        run.published = packet.value();
        put_pending = (c.node ? 1 : 0) + (c.relays ? 1 : 0);
        if (c.node) {
            dht::publish(*c.node, packet.value(), std::nullopt, [&](Result<dht::PutOutcome> r) {
                if (r)
                    run.stored = r->stored_at;
                else
                    run.dht_error = r.error().message + bootstrap_hint(c.node.get());
                put_done();
            });
        }
        if (c.relays) {
            c.relays->put(packet.value(), [&](relay::PutOutcome o) {
                run.relays = std::move(o);
                put_done();
            });
        }
    };
    if (timestamp) {
        put(*timestamp);
    } else {
        auto newest = std::make_shared<pkarr::Micros>(0);
        auto pending = std::make_shared<std::size_t>((c.node ? 1 : 0) + (c.relays ? 1 : 0));
        auto seen = [&, newest, pending](const std::optional<pkarr::SignedPacket>& p) {
            if (p) *newest = std::max(*newest, p->timestamp());
            if (--*pending > 0) return;
            pkarr::Micros ts = pkarr::now_micros();
            if (*newest >= ts) ts = *newest + 1;
            if (c.stopping) {
                run.error = "stopped";
                done = true;
                return;
            }
            put(ts);
        };
        const pkarr::PublicKey& key = keypair.public_key();
        if (c.node)
            dht::resolve(*c.node, key, std::nullopt, [seen](dht::ResolveOutcome o) { seen(o.packet); });
        if (c.relays) {
            relay::GetOptions options;
            options.wait_all = true;
            c.relays->get(key, options, [seen](relay::GetOutcome o) { seen(o.packet); });
        }
    }
    run.clean = run_until_done(loop, c, done, run.timed_out);
    c.node.reset();
    c.relays.reset();
    return run;
}

// Prints what was stored where; the exit code.
int report_publish(const PublishArgs& a, const pkarr::PublicKey& key, const PublishRun& run) {
    if (run.timed_out)
        return fail("publish", "timed out after " + std::to_string(command_deadline_ms / 1000) + " s");
    if (!run.error.empty()) return fail("publish", run.error);
    if (!run.published) return fail("publish", "nothing was published");
    std::printf("key: %s\ntimestamp: %llu\n", key.to_z32().c_str(),
                static_cast<unsigned long long>(run.published->timestamp()));
    if (a.dht.use_dht()) std::printf("stored: %zu\n", run.stored);
    std::size_t relays_ok = 0;
    if (run.relays) {
        for (const auto& r : run.relays->relays)
            std::printf("relay %s: %s\n", r.relay.c_str(), describe(r).c_str());
        relays_ok = run.relays->succeeded;
        std::printf("relays: %zu of %zu stored it\n", relays_ok, run.relays->relays.size());
    }
    std::fflush(stdout);
    const bool dht_ok = a.dht.use_dht() && run.stored > 0;
    if (a.dht.use_dht() && !dht_ok) {
        const std::string why = run.dht_error.empty() ? "no DHT node stored the packet" : run.dht_error;
        if (relays_ok == 0) return fail("publish", why);
        std::fprintf(stderr, "pkdns publish: warning: %s\n", why.c_str());
    }
    if (run.relays && relays_ok == 0) {
        if (!dht_ok) return fail("publish", "no relay stored the packet");
        std::fprintf(stderr, "pkdns publish: warning: no relay stored the packet\n");
    }
    return run.clean ? 0 : 1;
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
    return report_publish(a, key, publish_everywhere(loop, c, keypair.value(), records.value(), a.timestamp));
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

// What `resolve` asks: the key, the name below it and the type.
struct ResolveTarget {
    pkarr::PublicKey key;
    dns::Name qname, apex;
    std::uint16_t qtype = dns::type::ANY;
};

Result<ResolveTarget> resolve_target(const ResolveArgs& a) {
    std::uint16_t qtype = dns::type::ANY;
    if (!a.type.empty()) {
        auto t = dns::type_from_string(a.type);
        if (!t) return make_error("--type " + a.type + ": " + t.error().message);
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
            return make_error("'" + a.name + "' does not end in a PKARR public key: " + key.error().message);
        key = parsed;
        name = parsed->to_z32();
    }
    auto qname = dns::Name::parse(name);
    if (!qname) return make_error("'" + a.name + "': " + qname.error().message);
    return ResolveTarget{key.value(), qname.value(), dns::Name::parse(key->to_z32()).value(), qtype};
}

// Every source asked and waited for.
struct Fetched {
    std::optional<dht::ResolveOutcome> dht;
    std::optional<relay::GetOutcome> relays;
    double lookup_ms = 0;
    bool timed_out = false, clean = true;
    std::string hint;  // bootstrap errors, for failure messages
};

Fetched fetch_all(uv::Loop& loop, Clients& c, const pkarr::PublicKey& key) {
    Fetched f;
    bool done = false;
    const auto started = std::chrono::steady_clock::now();
    std::size_t pending = (c.node ? 1 : 0) + (c.relays ? 1 : 0);
    auto finished = [&] {
        if (--pending > 0) return;
        f.lookup_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        done = true;
    };
    if (c.node) {
        dht::resolve(*c.node, key, std::nullopt, [&](dht::ResolveOutcome o) {
            f.dht = std::move(o);
            finished();
        });
    }
    if (c.relays) {
        relay::GetOptions options;
        options.wait_all = true;
        c.relays->get(key, options, [&](relay::GetOutcome o) {
            f.relays = std::move(o);
            finished();
        });
    }
    f.clean = run_until_done(loop, c, done, f.timed_out);
    f.hint = bootstrap_hint(c.node.get());
    c.node.reset();
    c.relays.reset();
    return f;
}

// The most recent packet of all sources, and where it came from.
std::optional<std::pair<pkarr::SignedPacket, std::string>> most_recent(const Fetched& f) {
    std::optional<pkarr::SignedPacket> best;
    std::string source;
    if (f.dht && f.dht->packet) {
        best = f.dht->packet;
        source = "DHT";
    }
    if (f.relays && f.relays->packet && (!best || f.relays->packet->more_recent_than(*best))) {
        best = f.relays->packet;
        for (const auto& r : f.relays->relays)
            if (r.packet && r.packet->same_as(*best)) {
                source = "relay " + r.relay;
                break;
            }
    }
    if (!best) return std::nullopt;
    return std::make_pair(std::move(*best), std::move(source));
}

std::string resolve_failure(const Fetched& f) {
    if (f.timed_out) return "timed out after " + std::to_string(command_deadline_ms / 1000) + " s" + f.hint;
    std::string why;
    if (f.dht) why = "DHT: " + dht::describe_failure(*f.dht) + f.hint;
    if (f.relays) {
        if (!why.empty()) why += "; ";
        why += f.relays->error.empty() ? "relays: not found" : "relays: " + f.relays->error;
    }
    return why;
}

struct Shown {
    pkarr::ZoneAnswer answer;
    std::vector<dns::Record> records;
};

// A bare key without --type shows the whole packet (like pkdns-cli); otherwise NAME/TYPE is
// answered with zone semantics (CNAME, wildcards, delegations).
Shown shown_records(const ResolveArgs& a, const ResolveTarget& t, const pkarr::SignedPacket& packet) {
    Shown s;
    if (t.qname == t.apex && a.type.empty()) {
        s.records = packet.records();
        return s;
    }
    s.answer = pkarr::answer_from_zone(packet.records(), t.apex, t.qname, t.qtype);
    s.records = s.answer.answer;
    if (s.answer.delegation)
        s.records.insert(s.records.end(), s.answer.authority.begin(), s.answer.authority.end());
    return s;
}

void print_resolve_json(const ResolveTarget& t, const pkarr::SignedPacket& packet, const std::string& source,
                        const Fetched& f, const Shown& s) {
    nlohmann::json j;
    j["key"] = t.key.to_z32();
    j["name"] = t.qname.to_string();
    j["type"] = dns::type_to_string(t.qtype);
    j["timestamp"] = packet.timestamp();
    j["rcode"] = dns::rcode_to_string(s.answer.rcode);
    j["source"] = source;
    j["nodes_answered"] = f.dht ? f.dht->stats.responded : 0;
    j["lookup_ms"] = static_cast<double>(static_cast<long long>(f.lookup_ms * 10)) / 10;
    if (f.relays) {
        j["relays"] = nlohmann::json::array();
        for (const auto& r : f.relays->relays) {
            nlohmann::json rj{{"url", r.relay}, {"status", status_name(r.status)}};
            if (r.packet) rj["timestamp"] = r.packet->timestamp();
            if (!r.error.empty()) rj["error"] = r.error;
            j["relays"].push_back(rj);
        }
    }
    j["records"] = nlohmann::json::array();
    for (const auto& rr : s.records) {
        std::string line = dns::record_to_text(rr);
        j["records"].push_back({{"name", rr.name.to_string()},
                                {"ttl", rr.ttl},
                                {"type", dns::type_to_string(rr.type)},
                                {"data", rdata_text(line)}});
    }
    std::printf("%s\n", j.dump().c_str());
}

void print_resolve_text(const ResolveTarget& t, const pkarr::SignedPacket& packet, const std::string& source,
                        const Fetched& f, const Shown& s) {
    std::printf(";; key %s, timestamp %llu (%s), %s, %zu records in the packet\n", t.key.to_z32().c_str(),
                static_cast<unsigned long long>(packet.timestamp()), utc_time(packet.timestamp()).c_str(),
                dns::rcode_to_string(s.answer.rcode).c_str(), packet.records().size());
    std::printf(";; source: %s\n", source.c_str());
    if (f.dht)
        std::printf(";; %zu of %zu queried DHT nodes answered\n", f.dht->stats.responded,
                    f.dht->stats.queried);
    if (f.relays)
        for (const auto& r : f.relays->relays)
            std::printf(";; relay %s: %s%s\n", r.relay.c_str(), status_name(r.status),
                        r.error.empty() ? "" : (" (" + r.error + ")").c_str());
    for (const auto& rr : s.records) std::printf("%s\n", dns::record_to_text(rr).c_str());
    if (s.records.empty())
        std::printf(";; no %s records at %s\n", dns::type_to_string(t.qtype).c_str(),
                    t.qname.to_string().c_str());
}

int run_resolve(const ResolveArgs& a) {
    auto target = resolve_target(a);
    if (!target) return fail("resolve", target.error().message, 2);
    uv::Loop loop;
    Clients c;
    if (auto code = open_clients("resolve", loop, a.dht, target->key, c)) return *code;
    const Fetched fetched = fetch_all(loop, c, target->key);
    auto best = most_recent(fetched);
    if (!best) {
        if (fetched.timed_out) return fail("resolve", resolve_failure(fetched));
        return fail("resolve", target->key.to_z32() + ": " + resolve_failure(fetched));
    }
    const Shown shown = shown_records(a, *target, best->first);
    if (a.json)
        print_resolve_json(*target, best->first, best->second, fetched, shown);
    else
        print_resolve_text(*target, best->first, best->second, fetched, shown);
    std::fflush(stdout);
    return fetched.clean ? 0 : 1;
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
