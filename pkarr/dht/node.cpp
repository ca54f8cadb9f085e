#include "pkarr/dht/node.hpp"

#include <algorithm>
#include <cassert>

#include <spdlog/spdlog.h>

#include "pkarr/dht/node_core.hpp"
#include "pkarr/dht/node_ops.hpp"

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

}  // namespace

void Operation::finish(std::function<void()> completion) {
    assert(!finished_);
    finished_ = true;
    if (completion) node_.post(std::move(completion));
}

// ---------------------------------------------------------------- NodeCore: lifecycle

NodeCore::NodeCore(uv::Loop& loop, DhtNodeConfig config, const NodeId& id)
    : loop_(loop), config_(std::move(config)), table_(id) {
    if (config_.server_mode) {
        ServerConfig sc;
        sc.rate = config_.rate;
        server_.emplace(table_, Clock::now(), sc);
    }
    system_random(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&next_tid_), sizeof next_tid_));
}

NodeCore::~NodeCore() {
    *alive_ = false;
}

Result<void> NodeCore::open() {
    socket_ = std::make_unique<uv::UdpSocket>(loop_);
    auto r = socket_->bind(config_.bind);
    if (r) r = socket_->start_recv([this](ByteView d, const SocketAddress& from) { on_datagram(d, from); });
    if (!r) {
        closed_ = true;
        socket_.reset();
        return make_error("DHT socket: " + r.error().message);
    }
    auto local = socket_->local_address();
    if (!local) return make_error("DHT socket: " + local.error().message);
    local_ = local.value();
    sweep_timer_ = std::make_unique<uv::Timer>(loop_);
    sweep_timer_->start(sweep_interval_ms, sweep_interval_ms, [this] { sweep(); });
    kick_timer_ = std::make_unique<uv::Timer>(loop_);
    return {};
}

void NodeCore::start(DhtNode::ReadyCallback ready) {
    if (closed_) {
        if (ready) ready(node_closed_error());
        return;
    }
    if (!started_) {
        started_ = true;
        last_ping_ = Clock::now();
        maintenance_timer_ = std::make_unique<uv::Timer>(loop_);
        maintenance_timer_->start(maintenance_interval_ms, maintenance_interval_ms,
                                  [this] { maintenance(); });
    }
    if (config_.bootstrap.empty()) {
        last_refresh_ = Clock::now();
        if (ready) post([ready, n = table_.size()] { ready(n); });
        return;
    }
    refresh(std::move(ready));
}

void NodeCore::close() {
    if (closed_) return;
    closed_ = true;
    for (auto& [id, op] : ops_) op->cancel();
    ops_.clear();
    transactions_.clear();
    waiting_.clear();
    held_for_bootstrap_.clear();
    resolver_.reset();  // its own callback sees `closed_` and returns
    sweep_timer_.reset();
    maintenance_timer_.reset();
    kick_timer_.reset();
    socket_.reset();
    flush();
}

// ---------------------------------------------------------------- NodeCore: operations

// Runs f on the operation if it still exists, and destroys it once it finished.
template <class F>
void NodeCore::with_op(OpId id, F&& f) {
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    f(*it->second);
    if (it->second->finished()) ops_.erase(it);
}

OpId NodeCore::add_op(std::unique_ptr<Operation> op) {
    OpId id = next_op_++;
    op->id_ = id;
    bool needs_bootstrap = op->needs_bootstrap();
    ops_.emplace(id, std::move(op));
    if (needs_bootstrap) {
        ensure_bootstrap_resolution();
        if (bootstrap_state_ != BootstrapState::resolved) {
            held_for_bootstrap_.push_back(id);  // begun when resolved
            return id;
        }
    }
    with_op(id, [](Operation& o) { o.begin(); });
    return id;
}

void NodeCore::refresh(DhtNode::ReadyCallback ready) {
    last_refresh_ = Clock::now();
    if (ops_.count(refresh_op_) != 0) {  // only one refresh at a time
        if (ready) post([ready] { ready(make_error("a bootstrap is already running")); });
        return;
    }
    refresh_op_ = add_op(std::make_unique<RefreshOp>(*this, std::move(ready)));
}

bool NodeCore::hold_for_capacity(OpId op) {
    if (transactions_.size() < config_.max_in_flight) return false;
    if (std::find(waiting_.begin(), waiting_.end(), op) == waiting_.end()) waiting_.push_back(op);
    return true;
}

void NodeCore::pump_waiting() {
    while (!waiting_.empty() && transactions_.size() < config_.max_in_flight) {
        auto id = waiting_.front();
        waiting_.pop_front();
        with_op(id, [](Operation& op) { op.resume(); });
    }
}

LookupConfig NodeCore::lookup_config() const {
    LookupConfig lc;
    lc.request_timeout = config_.request_timeout;
    return lc;
}

const CachedResponders* NodeCore::cached(const NodeId& target) const {
    auto c = cache_.find(target);
    if (c == cache_.end() || Clock::now() - c->second.at > responder_cache_ttl) return nullptr;
    return &c->second;
}

void NodeCore::remember(const Lookup& lookup, const SeenItems& seen) {
    if (cache_.size() >= max_cached_targets && cache_.find(lookup.target()) == cache_.end()) {
        auto oldest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
            return a.second.at < b.second.at;
        });
        cache_.erase(oldest);
    }
    CachedResponders& e = cache_[lookup.target()];
    e.responders = lookup.closest_responders(std::max<std::size_t>(config_.put_nodes, 20));
    e.seen = seen;
    e.at = Clock::now();
}

// ---------------------------------------------------------------- NodeCore: bootstrap

void NodeCore::ensure_bootstrap_resolution() {
    if (bootstrap_state_ != BootstrapState::idle) return;
    std::vector<HostPort> names;
    for (const auto& hp : config_.bootstrap) {
        auto ip = IpAddress::parse(hp.host);
        if (ip)
            bootstrap_addrs_.push_back(to_dht(SocketAddress{ip.value(), hp.port}));
        else
            names.push_back(hp);
    }
    if (names.empty()) {
        bootstrap_state_ = BootstrapState::resolved;
        return;
    }
    bootstrap_state_ = BootstrapState::resolving;
    resolver_ = std::make_unique<BootstrapResolver>(loop_, config_.dns_upstream,
                                                    static_cast<std::uint64_t>(config_.dns_timeout.count()));
    resolver_->resolve(std::move(names), [this](BootstrapResolver::Outcome out) {
        if (!closed_) on_bootstrap_resolved(std::move(out));
    });
}

void NodeCore::on_bootstrap_resolved(BootstrapResolver::Outcome out) {
    for (const auto& a : out.addresses) {
        Address d = to_dht(a);
        if (std::find(bootstrap_addrs_.begin(), bootstrap_addrs_.end(), d) == bootstrap_addrs_.end())
            bootstrap_addrs_.push_back(d);
    }
    for (auto& e : out.errors) {
        spdlog::warn("dht bootstrap: {}", e);
        bootstrap_errors_.push_back(std::move(e));
    }
    bootstrap_state_ = BootstrapState::resolved;
    auto held = std::move(held_for_bootstrap_);
    held_for_bootstrap_.clear();
    for (auto id : held) with_op(id, [](Operation& op) { op.begin(); });
    flush();
}

// ---------------------------------------------------------------- NodeCore: delivery

// User callbacks run only from here, after the node's state is consistent.
void NodeCore::flush() {
    if (flushing_) return;
    flushing_ = true;
    auto token = alive_;
    while (!completions_.empty()) {
        auto batch = std::move(completions_);
        completions_.clear();
        for (auto& f : batch) {
            try {
                f();
            } catch (const std::exception& e) {
                spdlog::error("dht: exception in a completion callback: {}", e.what());
            }
            if (!*token) return;  // the node was destroyed by the callback
        }
    }
    flushing_ = false;
}

void NodeCore::post(std::function<void()> f) {
    completions_.push_back(std::move(f));
    if (!flushing_ && kick_timer_) kick_timer_->start(0, 0, [this] { flush(); });
}

// ---------------------------------------------------------------- NodeCore: sending

bool NodeCore::send(const krpc::Message& message, const Address& to) {
    if (!socket_) return false;
    auto r = socket_->send(krpc::encode(message), to_socket(to));
    if (!r) {
        spdlog::debug("dht: {}", r.error().message);
        return false;
    }
    ++stats_.sent;
    return true;
}

bool NodeCore::send_query(krpc::Query query, const Address& to, OpId op, Purpose purpose,
                          std::optional<NodeId> node) {
    std::uint32_t tid = next_tid_++;
    while (transactions_.count(tid) != 0) tid = next_tid_++;
    Bytes t;
    put_u32(t, tid);
    krpc::Message m = krpc::make_query(std::move(query), std::move(t));
    m.version = our_version;
    m.read_only = !config_.server_mode;
    if (!send(m, to)) return false;
    transactions_.emplace(tid, Transaction{to, Clock::now() + config_.request_timeout, op, purpose, node});
    return true;
}

krpc::Query NodeCore::ping_query() const {
    krpc::Query q;
    q.method = krpc::Method::ping;
    q.id = table_.self();
    return q;
}

// ---------------------------------------------------------------- NodeCore: receiving

void NodeCore::on_datagram(ByteView data, const SocketAddress& from_s) {
    if (closed_) return;
    ++stats_.received;
    Address from = to_dht(from_s);
    auto decoded = krpc::decode(data);
    if (!decoded) {
        ++stats_.undecodable;
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

void NodeCore::handle_query(const krpc::Message& msg, const Address& from) {
    if (!server_) {  // client mode answers nothing (BEP43)
        ++stats_.queries_dropped;
        return;
    }
    auto reply = server_->handle(msg, from, Clock::now());
    if (!reply) {
        ++stats_.queries_dropped;
        return;
    }
    reply->version = our_version;
    reply->read_only = false;
    if (send(*reply, from)) ++stats_.queries_answered;
    // A querier we do not know yet is added only after it answers a ping of ours.
    const auto& q = msg.query();
    if (!msg.read_only && verify_in_flight_ < max_verify_pings && table_.find(q.id) == nullptr &&
        q.id != table_.self() && from.port() != 0) {
        if (send_query(ping_query(), from, 0, Purpose::verify, q.id)) ++verify_in_flight_;
    }
}

void NodeCore::handle_reply(const krpc::Message& msg, const Address& from) {
    auto tx = take_transaction(msg, from);
    if (!tx) {
        ++stats_.unmatched;
        return;
    }
    TimePoint now = Clock::now();
    if (msg.is_response() && !msg.read_only) {
        table_.add(NodeInfo{msg.response().id, from}, now);
        if (msg.ip && ip_votes_.size() < 64) ++ip_votes_[msg.ip->ip_only()];
    }
    if (own_ping_ended(*tx)) return;
    with_op(tx->op, [&](Operation& op) { op.on_reply(*tx, msg, from, now); });
}

// The transaction `msg` answers, removed from the table; none unless it came from where it went.
std::optional<Transaction> NodeCore::take_transaction(const krpc::Message& msg, const Address& from) {
    if (msg.t.size() != 4) return std::nullopt;
    auto it = transactions_.find(get_u32(msg.t.data()));
    if (it == transactions_.end() || !(it->second.to == from)) return std::nullopt;
    Transaction tx = it->second;
    transactions_.erase(it);
    return tx;
}

// True for the node's own verify / maintenance pings (answered or timed out).
bool NodeCore::own_ping_ended(const Transaction& tx) {
    if (tx.purpose != Purpose::verify && tx.purpose != Purpose::maintenance) return false;
    if (tx.purpose == Purpose::verify && verify_in_flight_ > 0) --verify_in_flight_;
    return true;
}

// ---------------------------------------------------------------- NodeCore: timers

void NodeCore::sweep() {
    if (closed_) return;
    TimePoint now = Clock::now();
    std::vector<std::pair<std::uint32_t, Transaction>> expired;
    for (const auto& [tid, tx] : transactions_)
        if (tx.deadline <= now) expired.emplace_back(tid, tx);
    std::vector<OpId> touched;
    for (auto& [tid, tx] : expired) {
        transactions_.erase(tid);
        ++stats_.timeouts;
        if (tx.node) table_.mark_failed(*tx.node, now);
        if (own_ping_ended(tx)) continue;
        with_op(tx.op, [&](Operation& op) { op.on_timeout(tx, now); });
        touched.push_back(tx.op);
    }
    for (const auto& [id, op] : ops_)
        if (op->stalled()) touched.push_back(id);
    for (auto id : touched) with_op(id, [](Operation& op) { op.resume(); });
    pump_waiting();
    flush();
}

void NodeCore::maintenance() {
    if (closed_) return;
    TimePoint now = Clock::now();
    if (server_) server_->expire(now);
    for (auto it = cache_.begin(); it != cache_.end();)
        it = now - it->second.at > responder_cache_ttl ? cache_.erase(it) : std::next(it);
    update_bep42_id();
    if (now - last_ping_ >= config_.ping_interval) ping_idle_nodes(now);
    bool table_low = table_.empty() && !config_.bootstrap.empty();
    if (now - last_refresh_ >= config_.refresh_interval || table_low) refresh(nullptr);
    flush();
}

void NodeCore::ping_idle_nodes(TimePoint now) {
    last_ping_ = now;
    table_.purge(now);
    auto idle = table_.idle_nodes(now, idle_ping_after);
    if (idle.size() > 32) idle.resize(32);
    for (const auto& n : idle) send_query(ping_query(), n.address, 0, Purpose::maintenance, n.id);
}

// BEP42: once peers agree on our public IP and our id is not valid for it, take a secure id.
void NodeCore::update_bep42_id() {
    if (ip_votes_.empty()) return;
    auto best = std::max_element(ip_votes_.begin(), ip_votes_.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    Address ip = best->first;
    std::size_t votes = best->second;
    ip_votes_.clear();
    if (votes < 3 || ip.is_local() || is_valid_bep42(table_.self(), ip)) return;
    NodeId fresh = secure_id_for(ip);
    spdlog::info("dht: public address {} seen; new BEP42 node id {}", ip.ip_string(), fresh.to_hex());
    auto nodes = table_.all();
    table_.reset(fresh);
    for (const auto& n : nodes) table_.add(n.info, n.last_seen);
    last_refresh_ = {};
}

// ---------------------------------------------------------------- DhtNode

struct DhtNode::Impl : NodeCore {
    using NodeCore::NodeCore;
};

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
    auto opened = impl->open();
    if (!opened) return opened.error();
    return std::unique_ptr<DhtNode>(new DhtNode(std::move(impl)));
}

void DhtNode::start(ReadyCallback ready) {
    impl_->start(std::move(ready));
}
void DhtNode::close() {
    impl_->close();
}
bool DhtNode::closed() const {
    return impl_->closed();
}
const NodeId& DhtNode::id() const {
    return impl_->table().self();
}
SocketAddress DhtNode::local_address() const {
    return impl_->local();
}
bool DhtNode::server_mode() const {
    return impl_->config().server_mode;
}
std::size_t DhtNode::routing_table_size() const {
    return impl_->table().size();
}
const NodeStats& DhtNode::stats() const {
    return impl_->stats();
}
std::size_t DhtNode::items_stored() const {
    return impl_->items_stored();
}
const std::vector<std::string>& DhtNode::bootstrap_errors() const {
    return impl_->bootstrap_errors();
}
void DhtNode::add_node(const NodeInfo& node) {
    impl_->add_node(node);
}

void DhtNode::ping(const SocketAddress& to, PingCallback cb) {
    if (impl_->closed() || impl_->too_many_ops()) {
        cb(impl_->closed() ? node_closed_error() : make_error("too many DHT operations"));
        return;
    }
    impl_->add_op(std::make_unique<PingOp>(*impl_, to_dht(to), std::move(cb)));
}

void DhtNode::find_node(const NodeId& target, FindNodeCallback cb) {
    if (impl_->closed() || impl_->too_many_ops()) {
        cb({});
        return;
    }
    impl_->add_op(std::make_unique<FindNodeOp>(*impl_, target, std::move(cb)));
}

void DhtNode::get_mutable(const krpc::PublicKeyBytes& key, Bytes salt,
                          std::optional<std::int64_t> more_recent_than, ItemCallback on_item,
                          GetCallback done) {
    if (impl_->closed() || impl_->too_many_ops()) {
        done(GetOutcome{});
        return;
    }
    impl_->add_op(std::make_unique<GetOp>(*impl_, key, std::move(salt), more_recent_than, std::move(on_item),
                                          std::move(done)));
}

void DhtNode::put_mutable(const MutableItem& item, std::optional<std::int64_t> cas, PutCallback done) {
    if (impl_->closed() || impl_->too_many_ops()) {
        done(impl_->closed() ? node_closed_error() : make_error("too many DHT operations"));
        return;
    }
    if (item.value.size() > krpc::max_value_size) {
        done(make_error("value larger than 1000 bytes", krpc::error_value_too_big));
        return;
    }
    impl_->add_op(std::make_unique<PutOp>(*impl_, item, cas, std::move(done)));
}

}  // namespace pkdns::dht
