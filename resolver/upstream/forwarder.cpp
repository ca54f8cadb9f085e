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
    Pending(const dns::Question& q, bool do_bit, AttemptsConfig config, Done d)
        : attempts(q, do_bit, config), done(std::move(d)) {}

    Attempts attempts;
    Done done;
    std::optional<FlightKey> flight;         // while a UDP query is in flight
    std::unique_ptr<uv::TcpConnection> tcp;  // while asking over TCP
    std::optional<std::uint64_t> deadline;   // as entered in deadlines_
};

Forwarder::Forwarder(uv::Loop& loop, ForwarderConfig config) : loop_(loop), config_(std::move(config)) {}

Forwarder::~Forwarder() {
    close();
}

void Forwarder::forward(const dns::Question& question, bool dnssec_ok, Done done) {
    if (closed_) return run_done(done, make_error("forwarder closed", forward_error::closed));
    if (pending_.size() >= config_.max_in_flight)
        return run_done(done, make_error("too many upstream queries in flight", forward_error::overloaded));
    const std::uint64_t id = next_id_++;
    const AttemptsConfig attempts{config_.upstreams, config_.timeout_ms, config_.edns_udp_size};
    auto& p = *pending_.emplace(id, std::make_unique<Pending>(question, dnssec_ok, attempts, std::move(done)))
                   .first->second;
    apply(id, p.attempts.start());
}

void Forwarder::apply(std::uint64_t id, Step step) {
    for (;;) {
        auto it = pending_.find(id);
        if (it == pending_.end() || step.kind == Step::Kind::wait) break;
        Pending& p = *it->second;
        if (!step.failed.empty()) spdlog::debug("upstream {}", step.failed);
        release_transport(p);  // any step but wait ends the current attempt
        if (step.kind == Step::Kind::finished) return finish(id, std::move(*step.result));
        if (step.kind == Step::Kind::send_tcp) {
            send_tcp(id, p, std::move(step.frame));
            break;
        }
        step = send_udp(id, p, step.upstream);
    }
    if (auto it = pending_.find(id); it != pending_.end()) track_deadline(id, *it->second);
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

void Forwarder::release_transport(Pending& p) {
    p.tcp.reset();
    if (!p.flight) return;
    const FlightKey key = *p.flight;
    p.flight.reset();
    flights_.erase(key);
    auto it = sockets_.find(key.socket);
    if (it == sockets_.end()) return;
    if (it->second.outstanding > 0) --it->second.outstanding;
    if (it->second.retired && it->second.outstanding == 0) sockets_.erase(it);
}

Step Forwarder::send_udp(std::uint64_t id, Pending& p, std::size_t upstream) {
    const SocketAddress& to = config_.upstreams[upstream];
    // A random socket and a random ID not in flight on that socket to that upstream (bounded:
    // with max_in_flight far below 65536 a free ID is found in a try or two).
    FlightKey key{};
    bool placed = false;
    for (int attempt = 0; attempt < 64 && !placed; ++attempt) {
        const std::uint32_t r = random32();
        auto socket = pick_socket(to.ip.is_v6(), r >> 16);
        if (!socket) return p.attempts.udp_failed(socket.error().message);
        key = FlightKey{socket.value(), upstream, static_cast<std::uint16_t>(r & 0xffff)};
        placed = flights_.emplace(key, id).second;
    }
    if (!placed) return p.attempts.udp_failed("no free query id");
    PoolSocket& socket = sockets_.at(key.socket);
    p.flight = key;
    ++socket.sent;
    ++socket.outstanding;
    socket.last_used_ms = loop_.now_ms();
    const Bytes wire = p.attempts.udp_placed(key.socket, key.id, loop_.now_ms());
    if (auto r = socket.udp->send(wire, to); !r) return p.attempts.udp_failed(r.error().message);
    return Step{};
}

void Forwarder::on_udp(std::uint64_t socket, ByteView data, const SocketAddress& from) {
    if (data.size() < 12) return;
    const std::uint16_t dns_id = get_u16(data.data());
    // Only routing: the core checks socket, source, ID and question again.
    for (std::size_t upstream = 0; upstream < config_.upstreams.size(); ++upstream) {
        if (from != config_.upstreams[upstream]) continue;
        auto flight = flights_.find(FlightKey{socket, upstream, dns_id});
        if (flight == flights_.end()) continue;
        const std::uint64_t id = flight->second;
        auto it = pending_.find(id);
        if (it == pending_.end()) return;
        return apply(id, it->second->attempts.on_udp(socket, from, data, loop_.now_ms()));
    }
}

void Forwarder::send_tcp(std::uint64_t id, Pending& p, Bytes frame) {
    p.tcp = std::make_unique<uv::TcpConnection>(loop_);
    auto on_step = [this, id](auto event) {
        if (auto it = pending_.find(id); it != pending_.end()) apply(id, event(it->second->attempts));
    };
    // Any close before a full reply (refused, reset, EOF) fails this upstream.
    p.tcp->set_on_close([on_step](Result<void> why) {
        on_step([&](Attempts& a) {
            return a.on_tcp_closed(why ? std::string("tcp closed before the reply")
                                       : "tcp " + why.error().message);
        });
    });
    const SocketAddress& to = config_.upstreams[p.attempts.upstream()];
    p.tcp->connect(to, 0, [this, id, on_step, frame = std::move(frame)](Result<void> r) {
        if (!r) return;  // on_close reports it
        auto it = pending_.find(id);
        if (it == pending_.end() || !it->second->tcp) return;
        auto& tcp = *it->second->tcp;
        if (auto w = tcp.write(frame); !w) return tcp.close();
        auto read = tcp.start_read(
            [on_step](ByteView data) { on_step([&](Attempts& a) { return a.on_tcp_data(data); }); });
        if (!read) tcp.close();
    });
}

void Forwarder::finish(std::uint64_t id, Result<dns::Packet> result) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    release_transport(*p);
    if (p->deadline) deadlines_.erase({*p->deadline, id});
    arm_sweep();
    Done done = std::move(p->done);
    p.reset();
    run_done(done, std::move(result));
}

// Why one timer at the earliest deadline and not a fixed tick: timeouts stay exact (timeout_ms
// is configuration and tests measure it), an idle forwarder never wakes the loop, and the
// ordered set finds what is due without scanning every pending query. Every query has the same
// timeout, so a new deadline is rarely earlier than the armed one: re-arming is rare too.
void Forwarder::track_deadline(std::uint64_t id, Pending& p) {
    const std::optional<std::uint64_t> deadline = p.attempts.deadline();
    if (deadline == p.deadline) return;
    if (p.deadline) deadlines_.erase({*p.deadline, id});
    if (deadline) deadlines_.emplace(*deadline, id);
    p.deadline = deadline;
    arm_sweep();
}

void Forwarder::arm_sweep() {
    if (closed_ || sweeping_) return;
    if (deadlines_.empty()) {
        if (sweep_) sweep_->stop();
        sweep_at_.reset();
        return;
    }
    const std::uint64_t at = deadlines_.begin()->first;
    if (sweep_at_ == at) return;
    if (!sweep_) sweep_ = std::make_unique<uv::Timer>(loop_);
    const std::uint64_t now = loop_.now_ms();
    // At least 1 ms: a 0 ms timer started inside the sweep would run again in the same pass.
    sweep_->start(at > now ? at - now : 1, 0, [this] { sweep(); });
    sweep_at_ = at;
}

void Forwarder::sweep() {
    sweep_at_.reset();  // a one-shot timer that fired
    const std::uint64_t now = loop_.now_ms();
    std::vector<std::uint64_t> due;
    for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now; ++it)
        due.push_back(it->second);
    sweeping_ = true;  // armed once below, not per expired query
    // A done callback may forward(), close() or even destroy this: looked up again each time.
    const std::weak_ptr<char> alive = alive_;
    for (std::uint64_t id : due) {
        if (auto it = pending_.find(id); it != pending_.end()) apply(id, it->second->attempts.on_time(now));
        if (alive.expired()) return;
    }
    sweeping_ = false;
    arm_sweep();
}

void Forwarder::close() {
    closed_ = true;
    sweep_.reset();
    sweep_at_.reset();
    deadlines_.clear();
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
