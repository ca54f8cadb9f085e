#include "resolver/forwarder.hpp"

#include <sys/random.h>

#include <cerrno>
#include <exception>
#include <random>
#include <string>

#include <spdlog/spdlog.h>

#include "common/uv_tcp.hpp"

namespace pkdns::resolver {

namespace {

// Query IDs must not be predictable (cache poisoning): the OS CSPRNG.
std::uint16_t random_id() {
    std::uint16_t v = 0;
    auto* p = reinterpret_cast<std::uint8_t*>(&v);
    std::size_t got = 0;
    while (got < sizeof v) {
        ssize_t n = getrandom(p + got, sizeof v - got, 0);
        if (n > 0) {
            got += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            std::random_device rd;  // reads /dev/urandom
            return static_cast<std::uint16_t>(rd());
        }
    }
    return v;
}

void run_done(Forwarder::Done& done, Result<dns::Packet> result) noexcept {
    if (!done) return;
    try {
        done(std::move(result));
    } catch (const std::exception& e) {
        spdlog::error("uncaught exception in forward callback: {}", e.what());
    } catch (...) {
        spdlog::error("uncaught exception in forward callback");
    }
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
    std::unique_ptr<uv::UdpSocket> udp;
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

void Forwarder::send_udp(std::uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    if (p.upstream >= config_.upstreams.size())
        return finish(id, make_error("all upstreams failed: " + p.errors, forward_error::all_failed));
    const SocketAddress& upstream = config_.upstreams[p.upstream];

    p.tcp.reset();
    p.query = make_query(p.question, random_id(), p.dnssec_ok, config_.edns_udp_size);
    p.wire = dns::encode_packet(p.query);

    // A new socket per query: the kernel picks a random ephemeral source port.
    p.udp = std::make_unique<uv::UdpSocket>(loop_);
    SocketAddress any{upstream.ip.is_v6() ? IpAddress::v6({}) : IpAddress{}, 0};
    if (auto r = p.udp->bind(any); !r) return next_upstream(id, r.error().message);
    if (auto r = p.udp->start_recv(
            [this, id](ByteView data, const SocketAddress& from) { on_udp(id, data, from); });
        !r)
        return next_upstream(id, r.error().message);
    if (auto r = p.udp->send(p.wire, upstream); !r) return next_upstream(id, r.error().message);
    p.timer.start(config_.timeout_ms, 0, [this, id] { next_upstream(id, "udp timeout"); });
}

void Forwarder::on_udp(std::uint64_t id, ByteView data, const SocketAddress& from) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    // Spoofing defence: only the upstream's address, our ID and our question count.
    if (from != config_.upstreams[p.upstream]) return;
    auto reply = dns::parse_packet(data);
    if (!reply || !reply_matches(p.query, reply.value())) return;
    if ((reply->flags & dns::flag::TC) != 0) return send_tcp(id);
    finish(id, std::move(reply).value());
}

void Forwarder::send_tcp(std::uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    p.udp.reset();
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
    p.udp.reset();
    p.tcp.reset();
    ++p.upstream;
    send_udp(id);
}

void Forwarder::finish(std::uint64_t id, Result<dns::Packet> result) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    Done done = std::move(p->done);
    p.reset();  // closes its sockets and timer before the caller sees the result
    run_done(done, std::move(result));
}

void Forwarder::close() {
    closed_ = true;
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, p] : pending) {
        Done done = std::move(p->done);
        p.reset();
        run_done(done, make_error("forwarder closed", forward_error::closed));
    }
}

}  // namespace pkdns::resolver
