#include "resolver/upstream/forwarder.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <random>
#include <string>

#include <spdlog/spdlog.h>

#include "common/guarded.hpp"
#include "common/uv_tcp.hpp"

namespace pkdns::upstream {

namespace {

// Query IDs and sockets must not be predictable (cache poisoning): the OS CSPRNG.
std::uint32_t os_random32() {
    std::uint32_t v = 0;
    auto* p = reinterpret_cast<std::uint8_t*>(&v);
    std::size_t got = 0;
    while (got < sizeof v) {
        ssize_t n = getrandom(p + got, sizeof v - got, 0);
        if (n > 0) {
            got += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            std::random_device rd;  // reads /dev/urandom
            return static_cast<std::uint32_t>(rd());
        }
    }
    return v;
}

void run_done(Forwarder::Done& done, Result<dns::Packet> result) noexcept {
    if (done) guarded("forward", [&] { done(std::move(result)); });
}

}  // namespace

struct Forwarder::Pending {
    Pending(uv::Loop& loop, const dns::Question& q, bool do_bit, Done d)
        : question(q), dnssec_ok(do_bit), done(std::move(d)), timer(loop) {}

    dns::Question question;
    bool dnssec_ok;
    Done done;
    std::size_t upstream = 0;
    dns::Packet query;
    Bytes wire;
    std::uint64_t socket = 0;  // pool socket serial while waiting on UDP, 0 = none
    std::unique_ptr<uv::TcpConnection> tcp;
    Bytes tcp_buffer;
    uv::Timer timer;
    std::string errors;
};

Forwarder::Forwarder(uv::Loop& loop, ForwarderConfig config) : loop_(loop), config_(std::move(config)) {}

Forwarder::~Forwarder() {
    close();
}

dns::Packet Forwarder::make_query(const dns::Question& question, std::uint16_t id, bool dnssec_ok,
                                  std::uint16_t udp_size) {
    dns::Packet q;
    q.id = id;
    q.flags = dns::flag::RD;
    q.questions.push_back(question);
    dns::Record opt;  // owner = root
    opt.type = dns::type::OPT;
    opt.klass = udp_size;
    opt.ttl = dnssec_ok ? 0x8000u : 0u;  // extended rcode 0, version 0, DO flag
    q.additional.push_back(std::move(opt));
    return q;
}

bool Forwarder::reply_matches(const dns::Packet& query, const dns::Packet& reply) {
    if ((reply.flags & dns::flag::QR) == 0 || reply.id != query.id || reply.opcode() != 0) return false;
    if (reply.questions.size() != 1 || query.questions.size() != 1) return false;
    const auto& a = query.questions.front();
    const auto& b = reply.questions.front();
    return a.name == b.name && a.type == b.type && a.klass == b.klass;
}

void Forwarder::forward(const dns::Question& question, bool dnssec_ok, Done done) {
    if (closed_) return run_done(done, make_error("forwarder closed", forward_error::closed));
    if (config_.upstreams.empty())
        return run_done(done, make_error("no upstream servers configured", forward_error::all_failed));
    if (pending_.size() >= config_.max_in_flight)
        return run_done(done, make_error("too many upstream queries in flight", forward_error::overloaded));
    const std::uint64_t id = next_id_++;
    pending_.emplace(id, std::make_unique<Pending>(loop_, question, dnssec_ok, std::move(done)));
    send_udp(id);
}

std::uint32_t Forwarder::random32() {
    return config_.random_for_tests ? config_.random_for_tests() : os_random32();
}

Result<std::uint64_t> Forwarder::pick_socket(bool v6, std::uint32_t random) {
    auto& pool = v6 ? pool_v6_ : pool_v4_;
    if (pool.empty()) pool.assign(std::max<std::size_t>(1, config_.udp_sockets), 0);
    std::uint64_t& slot = pool[random % pool.size()];
    const std::uint64_t now = loop_.now_ms();
    if (slot != 0) {
        auto it = sockets_.find(slot);
        if (it != sockets_.end() && it->second.sent < config_.queries_per_socket &&
            now - it->second.last_used_ms < config_.socket_idle_ms)
            return slot;
        // Retire: closed now if nothing waits on it, else when its last query is done.
        if (it != sockets_.end()) {
            it->second.retired = true;
            if (it->second.outstanding == 0) sockets_.erase(it);
        }
        slot = 0;
    }
    const std::uint64_t serial = next_socket_++;
    auto udp = std::make_unique<uv::UdpSocket>(loop_);
    // Port 0: the kernel picks a random free ephemeral port.
    if (auto r = udp->bind(SocketAddress{v6 ? IpAddress::v6({}) : IpAddress{}, 0}); !r) return r.error();
    if (auto r = udp->start_recv(
            [this, serial](ByteView data, const SocketAddress& from) { on_udp(serial, data, from); });
        !r)
        return r.error();
    sockets_.emplace(serial, PoolSocket{std::move(udp), 0, 0, now, false});
    slot = serial;
    return serial;
}

void Forwarder::release_udp(Pending& p) {
    if (p.socket == 0) return;
    flights_.erase(FlightKey{p.socket, p.upstream, p.query.id});
    auto it = sockets_.find(p.socket);
    p.socket = 0;
    if (it == sockets_.end()) return;
    if (it->second.outstanding > 0) --it->second.outstanding;
    if (it->second.retired && it->second.outstanding == 0) sockets_.erase(it);
}

void Forwarder::send_udp(std::uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    if (p.upstream >= config_.upstreams.size())
        return finish(id, make_error("all upstreams failed: " + p.errors, forward_error::all_failed));
    const SocketAddress& upstream = config_.upstreams[p.upstream];
    p.tcp.reset();

    // A random socket and a random ID not in flight on that socket to that upstream (bounded:
    // with max_in_flight far below 65536 a free ID is found in a try or two).
    FlightKey key{};
    bool placed = false;
    for (int attempt = 0; attempt < 64 && !placed; ++attempt) {
        const std::uint32_t r = random32();
        auto socket = pick_socket(upstream.ip.is_v6(), r >> 16);
        if (!socket) return next_upstream(id, socket.error().message);
        key = FlightKey{socket.value(), p.upstream, static_cast<std::uint16_t>(r & 0xffff)};
        placed = flights_.emplace(key, id).second;
    }
    if (!placed) return next_upstream(id, "no free query id");
    PoolSocket& socket = sockets_.at(key.socket);
    p.socket = key.socket;
    ++socket.sent;
    ++socket.outstanding;
    socket.last_used_ms = loop_.now_ms();
    p.query = make_query(p.question, key.id, p.dnssec_ok, config_.edns_udp_size);
    p.wire = dns::encode_packet(p.query);
    if (auto r = socket.udp->send(p.wire, upstream); !r) return next_upstream(id, r.error().message);
    p.timer.start(config_.timeout_ms, 0, [this, id] { next_upstream(id, "udp timeout"); });
}

void Forwarder::on_udp(std::uint64_t socket, ByteView data, const SocketAddress& from) {
    if (data.size() < 12) return;
    const std::uint16_t dns_id = get_u16(data.data());
    // Spoofing defence: the socket, the upstream's address, our ID and our question must match.
    for (std::size_t upstream = 0; upstream < config_.upstreams.size(); ++upstream) {
        if (from != config_.upstreams[upstream]) continue;
        auto flight = flights_.find(FlightKey{socket, upstream, dns_id});
        if (flight == flights_.end()) continue;
        const std::uint64_t id = flight->second;
        auto it = pending_.find(id);
        if (it == pending_.end()) return;
        auto reply = dns::parse_packet(data);
        if (!reply || !reply_matches(it->second->query, reply.value())) return;
        if ((reply->flags & dns::flag::TC) != 0) return send_tcp(id);
        return finish(id, std::move(reply).value());
    }
}

void Forwarder::send_tcp(std::uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    release_udp(p);
    p.tcp_buffer.clear();
    p.tcp = std::make_unique<uv::TcpConnection>(loop_);
    p.timer.start(config_.timeout_ms, 0, [this, id] { next_upstream(id, "tcp timeout"); });
    // Any close before a full reply (refused, reset, EOF) fails this upstream.
    p.tcp->set_on_close([this, id](Result<void> why) {
        next_upstream(id, why ? std::string("tcp closed before the reply") : "tcp " + why.error().message);
    });
    Bytes frame;
    put_u16(frame, static_cast<std::uint16_t>(p.wire.size()));
    frame.insert(frame.end(), p.wire.begin(), p.wire.end());
    p.tcp->connect(config_.upstreams[p.upstream], 0, [this, id, frame = std::move(frame)](Result<void> r) {
        if (!r) return;  // on_close reports it
        auto it = pending_.find(id);
        if (it == pending_.end() || !it->second->tcp) return;
        auto& tcp = *it->second->tcp;
        if (auto w = tcp.write(frame); !w) return tcp.close();
        if (auto s = tcp.start_read([this, id](ByteView data) { on_tcp_data(id, data); }); !s) tcp.close();
    });
}

void Forwarder::on_tcp_data(std::uint64_t id, ByteView data) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    p.tcp_buffer.insert(p.tcp_buffer.end(), data.begin(), data.end());
    if (p.tcp_buffer.size() < 2) return;
    const std::size_t length = get_u16(p.tcp_buffer.data());
    if (p.tcp_buffer.size() < 2 + length) return;  // bounded: length <= 65535
    auto reply = dns::parse_packet(ByteView(p.tcp_buffer).subspan(2, length));
    if (!reply) return next_upstream(id, "bad tcp reply: " + reply.error().message);
    // One query per connection: any other message means the upstream is broken.
    if (!reply_matches(p.query, reply.value()))
        return next_upstream(id, "tcp reply does not match the query");
    finish(id, std::move(reply).value());
}

void Forwarder::next_upstream(std::uint64_t id, const std::string& why) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    const std::string name = config_.upstreams[p.upstream].to_string();
    spdlog::debug("upstream {}: {}", name, why);
    if (!p.errors.empty()) p.errors += "; ";
    p.errors += name + ": " + why;
    p.timer.stop();
    release_udp(p);
    p.tcp.reset();
    ++p.upstream;
    send_udp(id);
}

void Forwarder::finish(std::uint64_t id, Result<dns::Packet> result) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    release_udp(*p);
    Done done = std::move(p->done);
    p.reset();  // closes its sockets and timer before the caller sees the result
    run_done(done, std::move(result));
}

void Forwarder::close() {
    closed_ = true;
    flights_.clear();
    auto sockets = std::move(sockets_);
    sockets_.clear();
    pool_v4_.clear();
    pool_v6_.clear();
    sockets.clear();
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, p] : pending) {
        Done done = std::move(p->done);
        p.reset();
        run_done(done, make_error("forwarder closed", forward_error::closed));
    }
}

}  // namespace pkdns::upstream
