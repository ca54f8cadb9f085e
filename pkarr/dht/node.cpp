#include "pkarr/dht/node.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "pkarr/dht/bootstrap_resolver.hpp"
#include "pkarr/dht/routing_table.hpp"
#include "pkarr/dht/server.hpp"

namespace pkdns::dht {

std::vector<HostPort> default_bootstrap() {
    return {{"router.bittorrent.com", 6881},
            {"dht.transmissionbt.com", 6881},
            {"dht.libtorrent.org", 25401},
            {"relay.pkarr.org", 6881}};
}

namespace {

// Our client version: "PK" + 0.1, always 4 bytes (mainline drops other lengths).
constexpr krpc::Version our_version{'P', 'K', 0, 1};
constexpr auto sweep_interval_ms = 100;
constexpr auto maintenance_interval_ms = 30'000;
constexpr std::size_t max_verify_pings = 16;
constexpr std::size_t max_cached_targets = 1000;
constexpr auto responder_cache_ttl = std::chrono::minutes(2);  // tokens live >= 5 min
constexpr auto idle_ping_after = std::chrono::minutes(10);

Address to_dht(const SocketAddress& s) {
    if (s.ip.is_v4()) {
        const auto& b = s.ip.bytes();
        return Address::v4(std::array<std::uint8_t, 4>{b[0], b[1], b[2], b[3]}, s.port);
    }
    return Address::v6(s.ip.bytes(), s.port);
}

SocketAddress to_socket(const Address& a) {
    auto ip = a.ip_bytes();
    if (a.is_v4()) return SocketAddress{IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), a.port()};
    std::array<std::uint8_t, 16> b{};
    std::copy(ip.begin(), ip.end(), b.begin());
    return SocketAddress{IpAddress::v6(b), a.port()};
}

Error cancelled() {
    return make_error("DHT node closed before the operation finished");
}

}  // namespace

struct DhtNode::Impl {
    enum class OpKind : std::uint8_t { ping, find_node, bootstrap, refresh, get, put };
    enum class Purpose : std::uint8_t { lookup, ping, store, verify, maintenance };

    struct Transaction {
        Address to;
        TimePoint deadline;
        std::uint64_t op = 0;  // 0: no operation (verify / maintenance ping)
        Purpose purpose = Purpose::lookup;
        std::optional<NodeId> node;
    };

    struct Op {
        OpKind kind = OpKind::ping;
        bool started = false;  // false while waiting for bootstrap host names
        // lookup parameters
        NodeId target;
        krpc::PublicKeyBytes key{};
        Bytes salt;
        std::optional<std::int64_t> seq;
        std::optional<Lookup> lookup;
        std::vector<std::pair<MutableItem, NodeInfo>> items;  // valid items not yet delivered
        std::unordered_map<NodeId, std::pair<std::int64_t, krpc::SignatureBytes>, NodeIdHash> seen;
        // put
        std::optional<MutableItem> item;
        std::optional<std::int64_t> cas;
        PutTally tally;
        std::size_t outstanding = 0;
        std::unordered_set<NodeId, NodeIdHash> same_item;  // answered get with exactly our item
        bool discovering = false;                          // put: the find_node phase before the get
        bool put_get_phase = false;  // put: the get phase (tokens, items already stored)
        // ping
        Address ping_to;
        // callbacks (exactly one of the completion callbacks is set)
        PingCallback ping_cb;
        FindNodeCallback find_cb;
        ItemCallback item_cb;
        GetCallback get_cb;
        PutCallback put_cb;
        ReadyCallback ready_cb;
    };

    struct CacheEntry {
        std::vector<Responder> responders;
        std::unordered_map<NodeId, std::pair<std::int64_t, krpc::SignatureBytes>, NodeIdHash> seen;
        TimePoint at;
    };

    enum class BootstrapState : std::uint8_t { idle, resolving, resolved };

    uv::Loop& loop;
    DhtNodeConfig config;
    RoutingTable table;
    std::optional<Server> server;
    std::unique_ptr<uv::UdpSocket> socket;
    std::unique_ptr<uv::Timer> sweep_timer;
    std::unique_ptr<uv::Timer> maintenance_timer;
    std::unique_ptr<uv::Timer> kick_timer;
    std::unique_ptr<BootstrapResolver> resolver;
    SocketAddress local;
    NodeStats stats;
    bool closed = false;
    bool started = false;

    BootstrapState bootstrap_state = BootstrapState::idle;
    std::vector<Address> bootstrap_addrs;
    std::vector<std::string> bootstrap_errors;
    ReadyCallback ready_cb;

    std::uint32_t next_tid = 0;
    std::unordered_map<std::uint32_t, Transaction> transactions;
    std::uint64_t next_op = 1;
    std::map<std::uint64_t, Op> ops;
    std::deque<std::uint64_t> waiting;  // lookups held back by the in-flight bound
    std::size_t verify_in_flight = 0;
    std::map<NodeId, CacheEntry> cache;
    std::map<Address, std::size_t> ip_votes;
    TimePoint last_refresh{};
    TimePoint last_ping{};

    std::vector<std::function<void()>> completions;
    bool flushing = false;
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);

    Impl(uv::Loop& l, DhtNodeConfig c, const NodeId& id) : loop(l), config(std::move(c)), table(id) {
        if (config.server_mode) {
            ServerConfig sc;
            sc.rate = config.rate;
            server.emplace(table, Clock::now(), sc);
        }
        system_random(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&next_tid), sizeof next_tid));
    }

    ~Impl() { *alive = false; }

    LookupConfig lookup_config() const {
        LookupConfig lc;
        lc.request_timeout = config.request_timeout;
        return lc;
    }

    // ------------------------------------------------------------ delivery

    // User callbacks run only from here, after the node's state is consistent.
    void flush() {
        if (flushing) return;
        flushing = true;
        auto token = alive;
        while (!completions.empty()) {
            auto batch = std::move(completions);
            completions.clear();
            for (auto& f : batch) {
                try {
                    f();
                } catch (const std::exception& e) {
                    spdlog::error("dht: exception in a completion callback: {}", e.what());
                }
                if (!*token) return;  // the node was destroyed by the callback
            }
        }
        flushing = false;
    }

    // Queues a user callback; it runs at the end of the current event or from the next loop turn.
    void post(std::function<void()> f) {
        completions.push_back(std::move(f));
        if (!flushing && kick_timer) kick_timer->start(0, 0, [this] { flush(); });
    }

    // ------------------------------------------------------------ sending

    bool send(const krpc::Message& message, const Address& to) {
        if (!socket) return false;
        auto r = socket->send(krpc::encode(message), to_socket(to));
        if (!r) {
            spdlog::debug("dht: {}", r.error().message);
            return false;
        }
        ++stats.sent;
        return true;
    }

    bool send_query(krpc::Query query, const Address& to, std::uint64_t op, Purpose purpose,
                    std::optional<NodeId> node) {
        std::uint32_t tid = next_tid++;
        while (transactions.count(tid) != 0) tid = next_tid++;
        Bytes t;
        put_u32(t, tid);
        krpc::Message m = krpc::make_query(std::move(query), std::move(t));
        m.version = our_version;
        m.read_only = !config.server_mode;
        if (!send(m, to)) return false;
        transactions.emplace(tid, Transaction{to, Clock::now() + config.request_timeout, op, purpose, node});
        return true;
    }

    krpc::Query ping_query() const {
        krpc::Query q;
        q.method = krpc::Method::ping;
        q.id = table.self();
        return q;
    }

    // ------------------------------------------------------------ operations

    std::uint64_t add_op(Op op) {
        std::uint64_t id = next_op++;
        ops.emplace(id, std::move(op));
        return id;
    }

    bool too_many_ops() const { return ops.size() >= config.max_operations; }

    void ensure_bootstrap_resolution() {
        if (bootstrap_state != BootstrapState::idle) return;
        std::vector<HostPort> names;
        for (const auto& hp : config.bootstrap) {
            auto ip = IpAddress::parse(hp.host);
            if (ip)
                bootstrap_addrs.push_back(to_dht(SocketAddress{ip.value(), hp.port}));
            else
                names.push_back(hp);
        }
        if (names.empty()) {
            bootstrap_state = BootstrapState::resolved;
            return;
        }
        bootstrap_state = BootstrapState::resolving;
        resolver = std::make_unique<BootstrapResolver>(
            loop, config.dns_upstream, static_cast<std::uint64_t>(config.dns_timeout.count()));
        resolver->resolve(std::move(names), [this](BootstrapResolver::Outcome out) {
            if (closed) return;
            for (const auto& a : out.addresses) {
                Address d = to_dht(a);
                if (std::find(bootstrap_addrs.begin(), bootstrap_addrs.end(), d) == bootstrap_addrs.end())
                    bootstrap_addrs.push_back(d);
            }
            for (auto& e : out.errors) {
                spdlog::warn("dht bootstrap: {}", e);
                bootstrap_errors.push_back(std::move(e));
            }
            bootstrap_state = BootstrapState::resolved;
            std::vector<std::uint64_t> pending;
            for (auto& [id, op] : ops)
                if (!op.started) pending.push_back(id);
            for (auto id : pending) begin(id);
            flush();
        });
    }

    // Starts an operation once bootstrap addresses are known.
    void begin(std::uint64_t id) {
        auto it = ops.find(id);
        if (it == ops.end()) return;
        Op& op = it->second;
        if (op.kind == OpKind::ping) {
            op.started = true;
            if (!send_query(ping_query(), op.ping_to, id, Purpose::ping, std::nullopt)) {
                auto cb = std::move(op.ping_cb);
                ops.erase(it);
                post([cb] { cb(make_error("could not send ping")); });
            }
            return;
        }
        ensure_bootstrap_resolution();
        if (bootstrap_state != BootstrapState::resolved) return;  // begun again when resolved
        op.started = true;
        if (op.kind == OpKind::put && start_store_from_cache(id)) return;
        auto initial = table.closest(op.target, 20);
        std::vector<Address> boot;
        if (initial.size() < std::max<std::size_t>(bootstrap_addrs.size(), 1) || initial.size() < 8)
            boot = bootstrap_addrs;
        if (op.kind == OpKind::put && !op.put_get_phase) {
            // A put first finds the closest nodes with find_node: bittorrent-dht nodes that hold a
            // value answer `get` without `nodes`, which would stop a get lookup at the first of them.
            op.discovering = true;
            op.lookup.emplace(Lookup::find_node(table.self(), op.target, initial, boot, lookup_config()));
        } else if (op.kind == OpKind::get || op.kind == OpKind::put) {
            start_get_lookup(id, initial, boot);
            return;
        } else {
            op.lookup.emplace(Lookup::find_node(table.self(), op.target, initial, boot, lookup_config()));
        }
        step(id);
    }

    void start_get_lookup(std::uint64_t id, const std::vector<NodeInfo>& initial,
                          const std::vector<Address>& boot) {
        Op& op = ops.at(id);
        op.lookup.emplace(
            Lookup::get_mutable(table.self(), op.key, op.salt, op.seq, initial, boot, lookup_config()));
        op.lookup->on_item([this, id](const MutableItem& item, const NodeInfo& from) {
            auto o = ops.find(id);
            if (o == ops.end()) return;
            o->second.seen[from.id] = {item.seq, item.signature};
            if (o->second.item_cb) o->second.items.emplace_back(item, from);
        });
        step(id);
    }

    void step(std::uint64_t id) {
        for (int guard = 0; guard < 1000; ++guard) {
            auto it = ops.find(id);
            if (it == ops.end() || !it->second.lookup) return;
            Op& op = it->second;
            deliver_items(op);
            if (op.lookup->done()) {
                finish_lookup(id);
                return;
            }
            if (transactions.size() >= config.max_in_flight) {
                if (std::find(waiting.begin(), waiting.end(), id) == waiting.end()) waiting.push_back(id);
                return;
            }
            TimePoint now = Clock::now();
            auto requests = op.lookup->next_requests(now);
            std::vector<Address> failed;
            for (auto& r : requests)
                if (!send_query(std::move(r.query), r.to, id, Purpose::lookup, r.expected_id))
                    failed.push_back(r.to);
            if (failed.empty()) {
                if (op.lookup->done()) {
                    finish_lookup(id);
                }
                return;
            }
            for (const auto& a : failed) op.lookup->on_timeout(a, now);
        }
    }

    void deliver_items(Op& op) {
        if (op.items.empty() || !op.item_cb) return;
        for (auto& [item, from] : op.items)
            post([cb = op.item_cb, item = std::move(item), from] { cb(item, from); });
        op.items.clear();
    }

    void remember(const Op& op) {
        if (cache.size() >= max_cached_targets && cache.find(op.target) == cache.end()) {
            auto oldest = std::min_element(cache.begin(), cache.end(), [](const auto& a, const auto& b) {
                return a.second.at < b.second.at;
            });
            cache.erase(oldest);
        }
        CacheEntry& e = cache[op.target];
        e.responders = op.lookup->closest_responders(std::max<std::size_t>(config.put_nodes, 20));
        e.seen = op.seen;
        e.at = Clock::now();
    }

    void finish_lookup(std::uint64_t id) {
        auto it = ops.find(id);
        if (it == ops.end()) return;
        Op& op = it->second;
        deliver_items(op);
        switch (op.kind) {
            case OpKind::find_node: {
                post([cb = std::move(op.find_cb), nodes = op.lookup->closest_nodes(20)] { cb(nodes); });
                ops.erase(it);
                break;
            }
            case OpKind::bootstrap:
            case OpKind::refresh: {
                if (op.ready_cb) {
                    Result<std::size_t> r = table.size();
                    if (table.empty()) {
                        std::string why = bootstrap_addrs.empty() ? "no bootstrap node could be resolved"
                                                                  : "no bootstrap node answered";
                        for (const auto& e : bootstrap_errors) why += "; " + e;
                        r = make_error(why);
                    }
                    post([cb = std::move(op.ready_cb), r] { cb(r); });
                }
                ops.erase(it);
                break;
            }
            case OpKind::get: {
                remember(op);
                GetOutcome out{op.lookup->best_item(), op.lookup->stats(), op.lookup->closest_responders(20)};
                post([cb = std::move(op.get_cb), out = std::move(out)] { cb(out); });
                ops.erase(it);
                break;
            }
            case OpKind::put: {
                if (op.discovering) {
                    auto nodes = op.lookup->closest_nodes(20);
                    for (const auto& n : table.closest(op.target, 20))
                        if (std::find(nodes.begin(), nodes.end(), n) == nodes.end()) nodes.push_back(n);
                    op.lookup.reset();
                    start_get_lookup_phase(id, nodes);
                    break;
                }
                remember(op);
                for (const auto& [node, s] : op.seen)
                    if (s.first == op.item->seq && s.second == op.item->signature) op.same_item.insert(node);
                auto responders = op.lookup->closest_responders(config.put_nodes);
                op.lookup.reset();
                start_store(id, responders);
                break;
            }
            default:
                ops.erase(it);
        }
    }

    void start_get_lookup_phase(std::uint64_t id, const std::vector<NodeInfo>& nodes) {
        std::vector<Address> boot;
        if (nodes.size() < 8) boot = bootstrap_addrs;
        ops.at(id).discovering = false;
        ops.at(id).put_get_phase = true;
        start_get_lookup(id, nodes, boot);
    }

    bool start_store_from_cache(std::uint64_t id) {
        Op& op = ops.at(id);
        auto c = cache.find(op.target);
        // Only a lookup that reached a full set of token holders is worth reusing.
        if (c == cache.end() || Clock::now() - c->second.at > responder_cache_ttl ||
            c->second.responders.size() < config.put_nodes)
            return false;
        for (const auto& [node, s] : c->second.seen)
            if (s.first == op.item->seq && s.second == op.item->signature) op.same_item.insert(node);
        auto responders = c->second.responders;
        if (responders.size() > config.put_nodes) responders.resize(config.put_nodes);
        start_store(id, responders);
        return true;
    }

    void start_store(std::uint64_t id, const std::vector<Responder>& responders) {
        Op& op = ops.at(id);
        for (const auto& r : responders) {
            if (r.token.empty()) continue;
            op.tally.sent();
            if (send_query(make_put_query(table.self(), *op.item, r.token, op.cas), r.node.address, id,
                           Purpose::store, r.node.id))
                ++op.outstanding;
            else
                op.tally.on_timeout();
        }
        if (op.outstanding == 0) finish_put(id);
    }

    void finish_put(std::uint64_t id) {
        auto it = ops.find(id);
        if (it == ops.end()) return;
        Op& op = it->second;
        Result<PutOutcome> result = make_error("");
        if (op.tally.sent_count() == 0) {
            result = make_error("no DHT node to store at (the lookup found no node that gave a write token)");
        } else {
            auto r = op.tally.outcome();
            if (r) {
                result = PutOutcome{r.value(), op.tally.sent_count()};
            } else {
                std::string why = r.error().code == krpc::error_seq_too_low
                                      ? "a newer item is already stored (302)"
                                  : r.error().code == krpc::error_cas_mismatch ? "CAS mismatch (301)"
                                                                               : r.error().message;
                result = make_error("no node stored the item: " + why + " (" +
                                        std::to_string(op.tally.sent_count()) + " contacted)",
                                    static_cast<int>(r.error().code));
            }
        }
        post([cb = std::move(op.put_cb), result] { cb(result); });
        ops.erase(it);
    }

    void pump_waiting() {
        while (!waiting.empty() && transactions.size() < config.max_in_flight) {
            auto id = waiting.front();
            waiting.pop_front();
            step(id);
        }
    }

    // ------------------------------------------------------------ receiving

    void on_datagram(ByteView data, const SocketAddress& from_s) {
        if (closed) return;
        ++stats.received;
        Address from = to_dht(from_s);
        auto decoded = krpc::decode(data);
        if (!decoded) {
            ++stats.undecodable;
            return;
        }
        krpc::Message& msg = decoded.value();
        if (msg.is_query()) {
            handle_query(msg, from);
        } else {
            handle_reply(msg, from);
            pump_waiting();
        }
        flush();
    }

    void handle_query(const krpc::Message& msg, const Address& from) {
        if (!server) {  // client mode answers nothing (BEP43)
            ++stats.queries_dropped;
            return;
        }
        TimePoint now = Clock::now();
        auto reply = server->handle(msg, from, now);
        if (!reply) {
            ++stats.queries_dropped;
            return;
        }
        reply->version = our_version;
        reply->read_only = false;
        if (send(*reply, from)) ++stats.queries_answered;
        // A querier we do not know yet is added only after it answers a ping of ours.
        const auto& q = msg.query();
        if (!msg.read_only && verify_in_flight < max_verify_pings && table.find(q.id) == nullptr &&
            q.id != table.self() && from.port() != 0) {
            if (send_query(ping_query(), from, 0, Purpose::verify, q.id)) ++verify_in_flight;
        }
    }

    void handle_reply(const krpc::Message& msg, const Address& from) {
        if (msg.t.size() != 4) {
            ++stats.unmatched;
            return;
        }
        auto tx_it = transactions.find(get_u32(msg.t.data()));
        if (tx_it == transactions.end() || !(tx_it->second.to == from)) {
            ++stats.unmatched;
            return;
        }
        Transaction tx = tx_it->second;
        transactions.erase(tx_it);
        TimePoint now = Clock::now();
        if (msg.is_response() && !msg.read_only) {
            table.add(NodeInfo{msg.response().id, from}, now);
            if (msg.ip && ip_votes.size() < 64) ++ip_votes[msg.ip->ip_only()];
        }
        if (tx.purpose == Purpose::verify || tx.purpose == Purpose::maintenance) {
            if (tx.purpose == Purpose::verify && verify_in_flight > 0) --verify_in_flight;
            return;
        }
        auto it = ops.find(tx.op);
        if (it == ops.end()) return;
        Op& op = it->second;
        switch (tx.purpose) {
            case Purpose::ping: {
                Result<NodeInfo> r = make_error("");
                if (msg.is_response())
                    r = NodeInfo{msg.response().id, from};
                else
                    r = make_error("ping answered with error " + std::to_string(msg.error().code) + ": " +
                                   msg.error().message);
                post([cb = std::move(op.ping_cb), r] { cb(r); });
                ops.erase(it);
                break;
            }
            case Purpose::lookup:
                if (op.lookup) {
                    op.lookup->on_response(from, msg, now);
                    step(tx.op);
                }
                break;
            case Purpose::store:
                if (msg.is_response()) {
                    op.tally.on_success();
                } else if (msg.error().code == krpc::error_seq_too_low && tx.node &&
                           op.same_item.count(*tx.node)) {
                    op.tally.on_success();  // it already holds exactly this item (bittorrent-dht answers 302)
                } else {
                    spdlog::debug("dht: put to {} failed: {} {}", from.to_string(), msg.error().code,
                                  msg.error().message);
                    op.tally.on_error(msg.error().code);
                }
                if (--op.outstanding == 0) finish_put(tx.op);
                break;
            default:
                break;
        }
    }

    void sweep() {
        if (closed) return;
        TimePoint now = Clock::now();
        std::vector<std::pair<std::uint32_t, Transaction>> expired;
        for (const auto& [tid, tx] : transactions)
            if (tx.deadline <= now) expired.emplace_back(tid, tx);
        std::vector<std::uint64_t> touched;
        for (auto& [tid, tx] : expired) {
            transactions.erase(tid);
            ++stats.timeouts;
            if (tx.node) table.mark_failed(*tx.node, now);
            if (tx.purpose == Purpose::verify || tx.purpose == Purpose::maintenance) {
                if (tx.purpose == Purpose::verify && verify_in_flight > 0) --verify_in_flight;
                continue;
            }
            auto it = ops.find(tx.op);
            if (it == ops.end()) continue;
            Op& op = it->second;
            if (tx.purpose == Purpose::ping) {
                post([cb = std::move(op.ping_cb), to = tx.to] {
                    cb(make_error("no answer from " + to.to_string() + " (timeout)"));
                });
                ops.erase(it);
            } else if (tx.purpose == Purpose::lookup) {
                if (op.lookup) op.lookup->on_timeout(tx.to, now);
                touched.push_back(tx.op);
            } else if (tx.purpose == Purpose::store) {
                op.tally.on_timeout();
                if (--op.outstanding == 0) finish_put(tx.op);
            }
        }
        // Lookups with nothing in flight (e.g. every send failed) get another step too.
        for (auto& [id, op] : ops)
            if (op.lookup && op.started && op.lookup->in_flight() == 0) touched.push_back(id);
        for (auto id : touched) step(id);
        pump_waiting();
        flush();
    }

    void maintenance() {
        if (closed) return;
        TimePoint now = Clock::now();
        if (server) server->expire(now);
        for (auto it = cache.begin(); it != cache.end();)
            it = now - it->second.at > responder_cache_ttl ? cache.erase(it) : std::next(it);
        update_bep42_id();
        if (now - last_ping >= config.ping_interval) {
            last_ping = now;
            table.purge(now);
            auto idle = table.idle_nodes(now, idle_ping_after);
            if (idle.size() > 32) idle.resize(32);
            for (const auto& n : idle) send_query(ping_query(), n.address, 0, Purpose::maintenance, n.id);
        }
        bool table_low = table.empty() && !config.bootstrap.empty();
        if (now - last_refresh >= config.refresh_interval || table_low) refresh(nullptr);
        flush();
    }

    // BEP42: once peers agree on our public IP and our id is not valid for it, take a secure id.
    void update_bep42_id() {
        if (ip_votes.empty()) return;
        auto best = std::max_element(ip_votes.begin(), ip_votes.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
        Address ip = best->first;
        std::size_t votes = best->second;
        ip_votes.clear();
        if (votes < 3 || ip.is_local() || is_valid_bep42(table.self(), ip)) return;
        NodeId fresh = secure_id_for(ip);
        spdlog::info("dht: public address {} seen; new BEP42 node id {}", ip.ip_string(), fresh.to_hex());
        auto nodes = table.all();
        table.reset(fresh);
        for (const auto& n : nodes) table.add(n.info, n.last_seen);
        last_refresh = {};
    }

    void refresh(ReadyCallback cb) {
        last_refresh = Clock::now();
        // Only one refresh at a time.
        for (auto& [id, op] : ops)
            if (op.kind == OpKind::refresh || op.kind == OpKind::bootstrap) {
                if (cb) post([cb] { cb(make_error("a bootstrap is already running")); });
                return;
            }
        Op op;
        op.kind = cb ? OpKind::bootstrap : OpKind::refresh;
        op.target = table.self();
        op.ready_cb = std::move(cb);
        begin(add_op(std::move(op)));
    }

    // ------------------------------------------------------------ shutdown

    void close() {
        if (closed) return;
        closed = true;
        for (auto& [id, op] : ops) {
            switch (op.kind) {
                case OpKind::ping:
                    post([cb = std::move(op.ping_cb)] { cb(cancelled()); });
                    break;
                case OpKind::find_node:
                    post([cb = std::move(op.find_cb)] { cb({}); });
                    break;
                case OpKind::bootstrap:
                case OpKind::refresh:
                    if (op.ready_cb) post([cb = std::move(op.ready_cb)] { cb(cancelled()); });
                    break;
                case OpKind::get: {
                    GetOutcome out;
                    if (op.lookup) {
                        out.best = op.lookup->best_item();
                        out.stats = op.lookup->stats();
                    }
                    post([cb = std::move(op.get_cb), out] { cb(out); });
                    break;
                }
                case OpKind::put:
                    post([cb = std::move(op.put_cb)] { cb(cancelled()); });
                    break;
            }
        }
        ops.clear();
        transactions.clear();
        waiting.clear();
        resolver.reset();  // its own callback sees `closed` and returns
        sweep_timer.reset();
        maintenance_timer.reset();
        kick_timer.reset();
        socket.reset();
        flush();
    }
};

// ---------------------------------------------------------------- DhtNode

DhtNode::DhtNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DhtNode::~DhtNode() {
    if (impl_) impl_->close();
}

Result<std::unique_ptr<DhtNode>> DhtNode::create(uv::Loop& loop, DhtNodeConfig config) {
    NodeId id;
    if (config.id)
        id = *config.id;
    else if (config.public_ip)
        id = secure_id_for(to_dht(SocketAddress{*config.public_ip, 0}));
    else
        id = NodeId::random();
    if (config.max_in_flight == 0) config.max_in_flight = 1;
    auto impl = std::make_unique<Impl>(loop, std::move(config), id);
    Impl* p = impl.get();
    p->socket = std::make_unique<uv::UdpSocket>(loop);
    auto r = p->socket->bind(p->config.bind);
    if (r) r = p->socket->start_recv([p](ByteView d, const SocketAddress& from) { p->on_datagram(d, from); });
    if (!r) {
        p->closed = true;
        p->socket.reset();
        return make_error("DHT socket: " + r.error().message);
    }
    auto local = p->socket->local_address();
    if (!local) return make_error("DHT socket: " + local.error().message);
    p->local = local.value();
    p->sweep_timer = std::make_unique<uv::Timer>(loop);
    p->sweep_timer->start(sweep_interval_ms, sweep_interval_ms, [p] { p->sweep(); });
    p->kick_timer = std::make_unique<uv::Timer>(loop);
    return std::unique_ptr<DhtNode>(new DhtNode(std::move(impl)));
}

void DhtNode::start(ReadyCallback ready) {
    Impl& s = *impl_;
    if (s.closed) {
        if (ready) ready(cancelled());
        return;
    }
    if (!s.started) {
        s.started = true;
        s.last_ping = Clock::now();
        s.maintenance_timer = std::make_unique<uv::Timer>(s.loop);
        s.maintenance_timer->start(maintenance_interval_ms, maintenance_interval_ms,
                                   [p = impl_.get()] { p->maintenance(); });
    }
    if (s.config.bootstrap.empty()) {
        s.last_refresh = Clock::now();
        if (ready) s.post([ready, n = s.table.size()] { ready(n); });
        return;
    }
    s.refresh(std::move(ready));
}

void DhtNode::close() {
    impl_->close();
}
bool DhtNode::closed() const {
    return impl_->closed;
}
const NodeId& DhtNode::id() const {
    return impl_->table.self();
}
SocketAddress DhtNode::local_address() const {
    return impl_->local;
}
bool DhtNode::server_mode() const {
    return impl_->config.server_mode;
}
std::size_t DhtNode::routing_table_size() const {
    return impl_->table.size();
}
const NodeStats& DhtNode::stats() const {
    return impl_->stats;
}
std::size_t DhtNode::items_stored() const {
    return impl_->server ? impl_->server->items().size() : 0;
}

const std::vector<std::string>& DhtNode::bootstrap_errors() const {
    return impl_->bootstrap_errors;
}

std::vector<SocketAddress> DhtNode::bootstrap_addresses() const {
    std::vector<SocketAddress> out;
    for (const auto& a : impl_->bootstrap_addrs) out.push_back(to_socket(a));
    return out;
}

std::vector<NodeInfo> DhtNode::routing_table_nodes() const {
    std::vector<NodeInfo> out;
    for (const auto& n : impl_->table.all()) out.push_back(n.info);
    return out;
}

void DhtNode::add_node(const NodeInfo& node) {
    impl_->table.add(node, Clock::now());
}

void DhtNode::ping(const SocketAddress& to, PingCallback cb) {
    Impl& s = *impl_;
    if (s.closed || s.too_many_ops()) {
        cb(s.closed ? cancelled() : make_error("too many DHT operations"));
        return;
    }
    Impl::Op op;
    op.kind = Impl::OpKind::ping;
    op.ping_to = to_dht(to);
    op.ping_cb = std::move(cb);
    s.begin(s.add_op(std::move(op)));
}

void DhtNode::find_node(const NodeId& target, FindNodeCallback cb) {
    Impl& s = *impl_;
    if (s.closed || s.too_many_ops()) {
        cb({});
        return;
    }
    Impl::Op op;
    op.kind = Impl::OpKind::find_node;
    op.target = target;
    op.find_cb = std::move(cb);
    s.begin(s.add_op(std::move(op)));
}

void DhtNode::get_mutable(const krpc::PublicKeyBytes& key, Bytes salt,
                          std::optional<std::int64_t> more_recent_than, ItemCallback on_item,
                          GetCallback done) {
    Impl& s = *impl_;
    if (s.closed || s.too_many_ops()) {
        done(GetOutcome{});
        return;
    }
    Impl::Op op;
    op.kind = Impl::OpKind::get;
    op.key = key;
    op.salt = std::move(salt);
    op.target = mutable_target(ByteView(key.data(), key.size()), op.salt);
    op.seq = more_recent_than;
    op.item_cb = std::move(on_item);
    op.get_cb = std::move(done);
    s.begin(s.add_op(std::move(op)));
}

void DhtNode::put_mutable(const MutableItem& item, std::optional<std::int64_t> cas, PutCallback done) {
    Impl& s = *impl_;
    if (s.closed || s.too_many_ops()) {
        done(s.closed ? cancelled() : make_error("too many DHT operations"));
        return;
    }
    if (item.value.size() > krpc::max_value_size) {
        done(make_error("value larger than 1000 bytes", krpc::error_value_too_big));
        return;
    }
    Impl::Op op;
    op.kind = Impl::OpKind::put;
    op.key = item.key;
    op.salt = item.salt;
    op.target = item.target();
    op.item = item;
    op.cas = cas;
    op.put_cb = std::move(done);
    s.begin(s.add_op(std::move(op)));
}

}  // namespace pkdns::dht
