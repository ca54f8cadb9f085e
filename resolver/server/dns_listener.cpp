#include "resolver/server/dns_listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>

#include "common/uv_tcp.hpp"
#include "resolver/server/tcp_session.hpp"

namespace pkdns::server {

namespace {

constexpr std::size_t max_tcp_message = 65535;
constexpr int udp_batch = 32;                 // datagrams per recvmmsg/sendmmsg
constexpr int udp_rounds = 4;                 // batches per readiness event (fairness with TCP)
constexpr std::size_t udp_slot = 4096;        // larger queries are dropped (MSG_TRUNC)
constexpr std::size_t udp_max_queued = 4096;  // replies waiting for a full socket buffer

std::string errno_text() {
    return std::strerror(errno);
}

// UDP read and written in batches from a uv_poll_t: under load one recvmmsg/sendmmsg moves up
// to `udp_batch` datagrams, where uv_udp_t makes one recvmsg and one sendmsg per query.
// Replies given while a batch is handled leave together at its end; later ones (after an
// upstream answered) are sent at once. Replies that meet a full socket buffer wait (bounded).
class BatchUdp {
public:
    using OnDatagram = std::function<void(ByteView data, const SocketAddress& from)>;

    static Result<std::unique_ptr<BatchUdp>> open(uv::Loop& loop, const SocketAddress& address);
    ~BatchUdp();
    BatchUdp(const BatchUdp&) = delete;
    BatchUdp& operator=(const BatchUdp&) = delete;

    Result<void> start(OnDatagram cb);
    void send(ByteView data, const SocketAddress& to);
    Result<SocketAddress> local_address() const;

private:
    struct Out {
        Bytes data;
        sockaddr_storage addr{};
        socklen_t len = 0;
    };
    // Freed in the poll handle's close callback (design.md §4), which also closes the socket.
    struct Block {
        uv_poll_t poll;
        int fd = -1;
        OnDatagram cb;  // never reset while a callback may run; dies with the block
        bool closing = false;
        bool batching = false;
        int events = 0;
        Bytes in = Bytes(udp_batch * udp_slot);
        std::array<mmsghdr, udp_batch> msgs{};
        std::array<iovec, udp_batch> iov{};
        std::array<sockaddr_storage, udp_batch> peers{};
        std::vector<Out> out;  // this batch's replies: the first out_used slots
        std::size_t out_used = 0;
        std::deque<Out> queued;

        void read();
        void flush();
        void drain();
        void watch();
        void enqueue(Out o) {
            if (queued.size() < udp_max_queued) queued.push_back(std::move(o));
        }
    };
    explicit BatchUdp(Block* block) : block_(block) {}
    Block* block_;
};

Result<std::unique_ptr<BatchUdp>> BatchUdp::open(uv::Loop& loop, const SocketAddress& address) {
    sockaddr_storage ss{};
    address.to_sockaddr(ss);
    const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("socket: " + errno_text());
    if (address.ip.is_v6()) {
        const int one = 1;  // v6-only, so [::]:53 and 0.0.0.0:53 can both be bound
        (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss),
               static_cast<socklen_t>(address.sockaddr_length())) != 0) {
        auto e = make_error("bind " + address.to_string() + ": " + errno_text());
        ::close(fd);
        return e;
    }
    auto* b = new Block{};
    if (int rc = uv_poll_init(loop.get(), &b->poll, fd); rc != 0) {
        ::close(fd);
        delete b;
        return make_error(std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    b->fd = fd;
    b->poll.data = b;
    return std::unique_ptr<BatchUdp>(new BatchUdp(b));
}

BatchUdp::~BatchUdp() {
    block_->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->poll), [](uv_handle_t* h) {
        auto* b = static_cast<Block*>(h->data);
        ::close(b->fd);
        delete b;
    });
}

Result<void> BatchUdp::start(OnDatagram cb) {
    block_->cb = std::move(cb);
    block_->events = 0;
    block_->watch();
    if (block_->events == 0) return make_error("uv_poll_start failed");
    return {};
}

void BatchUdp::Block::watch() {
    const int want = UV_READABLE | (queued.empty() ? 0 : UV_WRITABLE);
    if (want == events) return;
    int rc = uv_poll_start(&poll, want, [](uv_poll_t* h, int status, int ready) {
        auto* b = static_cast<Block*>(h->data);
        if (status < 0 || b->closing) return;
        if ((ready & UV_WRITABLE) != 0) b->drain();
        if ((ready & UV_READABLE) != 0) b->read();
    });
    if (rc == 0) events = want;
}

void BatchUdp::Block::read() {
    for (int round = 0; round < udp_rounds && !closing; ++round) {
        for (int i = 0; i < udp_batch; ++i) {
            iov[i] = iovec{in.data() + i * udp_slot, udp_slot};
            msgs[i].msg_hdr = msghdr{};
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_len = 0;
        }
        const int n = ::recvmmsg(fd, msgs.data(), udp_batch, MSG_DONTWAIT, nullptr);
        if (n <= 0) return;  // EAGAIN, or an error for this read: the next readiness retries
        batching = true;
        for (int i = 0; i < n && !closing; ++i) {
            if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) continue;
            auto from = SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&peers[i]));
            if (!from) continue;
            try {
                cb(ByteView(in.data() + i * udp_slot, msgs[i].msg_len), from.value());
            } catch (...) {  // no exception crosses libuv; the query is dropped
            }
        }
        batching = false;
        if (closing) return;
        flush();
        if (n < udp_batch) return;
    }
}

void BatchUdp::Block::flush() {
    std::size_t done = 0;
    while (done < out_used) {
        const std::size_t n = std::min<std::size_t>(out_used - done, udp_batch);
        for (std::size_t i = 0; i < n; ++i) {
            Out& o = out[done + i];
            iov[i] = iovec{o.data.data(), o.data.size()};
            msgs[i].msg_hdr = msghdr{};
            msgs[i].msg_hdr.msg_name = &o.addr;
            msgs[i].msg_hdr.msg_namelen = o.len;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const int sent = ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), MSG_DONTWAIT);
        if (sent > 0) {
            done += static_cast<std::size_t>(sent);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            break;
        } else {
            ++done;  // this datagram cannot be sent (e.g. unreachable): drop it
        }
    }
    for (; done < out_used; ++done) enqueue(std::move(out[done]));
    out_used = 0;
    watch();
}

void BatchUdp::Block::drain() {
    while (!queued.empty()) {
        const Out& o = queued.front();
        const ssize_t rc = ::sendto(fd, o.data.data(), o.data.size(), MSG_DONTWAIT,
                                    reinterpret_cast<const sockaddr*>(&o.addr), o.len);
        if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) break;
        queued.pop_front();
    }
    watch();
}

void BatchUdp::send(ByteView data, const SocketAddress& to) {
    Block& b = *block_;
    if (b.closing) return;
    Out* o;
    Out direct;
    if (b.batching) {
        if (b.out_used == b.out.size()) b.out.emplace_back();
        o = &b.out[b.out_used++];
    } else {
        o = &direct;
    }
    o->data.assign(data.begin(), data.end());
    to.to_sockaddr(o->addr);
    o->len = static_cast<socklen_t>(to.sockaddr_length());
    if (b.batching) return;
    if (!b.queued.empty()) {  // keep order behind what waits
        b.enqueue(std::move(direct));
        return;
    }
    const ssize_t rc = ::sendto(b.fd, o->data.data(), o->data.size(), MSG_DONTWAIT,
                                reinterpret_cast<const sockaddr*>(&o->addr), o->len);
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        b.enqueue(std::move(direct));
        b.watch();
    }
}

Result<SocketAddress> BatchUdp::local_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(block_->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return make_error("getsockname: " + errno_text());
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

struct Conn {
    Conn(std::uint64_t i, std::unique_ptr<uv::TcpConnection> t, const TcpSessionLimits& limits,
         std::uint64_t now_ms)
        : id(i), tcp(std::move(t)), session(limits, now_ms) {}

    std::uint64_t id;
    std::unique_ptr<uv::TcpConnection> tcp;
    SocketAddress peer;
    TcpSession session;
    bool closing = false;  // the session's close or shutdown has been carried out
    bool pumping = false;  // inside pump (a synchronous reply must not re-enter it)
};

}  // namespace

struct DnsListener::State : std::enable_shared_from_this<DnsListener::State> {
    State(uv::Loop& l, pipeline::Process p, ListenerOptions o) : loop(l), process(std::move(p)), options(o) {}

    uv::Loop& loop;
    pipeline::Process process;
    ListenerOptions options;
    TcpSessionLimits limits;
    ListenerStats stats;
    std::vector<std::unique_ptr<BatchUdp>> udp;  // indexes are captured by UDP replies
    std::vector<std::unique_ptr<uv::TcpListener>> tcp;
    std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;
    std::uint64_t next_conn_id = 1;
    std::unique_ptr<uv::Timer> sweep;
    std::vector<SocketAddress> addresses;
    bool closed = false;

    std::shared_ptr<Conn> find(std::uint64_t id) {
        auto it = conns.find(id);
        return it == conns.end() ? nullptr : it->second;
    }

    void on_udp(std::size_t index, ByteView data, const SocketAddress& from);
    bool make_room();
    void on_accept(std::unique_ptr<uv::TcpConnection> tcp_conn);
    void on_tcp_data(std::uint64_t id, ByteView data);
    void on_tcp_eof(std::uint64_t id);
    void on_tcp_reply(std::uint64_t id, Bytes reply);
    void pump(const std::shared_ptr<Conn>& c);
    void hand_over(const std::shared_ptr<Conn>& c, ByteView message);
    void write(const std::shared_ptr<Conn>& c, const Bytes& framed);
    void settle(const std::shared_ptr<Conn>& c);
    void on_sweep();
    void start_sweep();
};

void DnsListener::State::on_udp(std::size_t index, ByteView data, const SocketAddress& from) {
    if (closed) return;
    ++stats.udp_messages;
    std::weak_ptr<State> weak = weak_from_this();
    const pipeline::Outcome outcome =
        process(data, pipeline::ClientInfo{from, pipeline::Transport::udp, 0}, [&] {
            return pipeline::ReplyFn([weak, index, from](Bytes bytes) {
                auto s = weak.lock();
                if (!s || s->closed || index >= s->udp.size() || !s->udp[index]) return;
                s->udp[index]->send(bytes, from);
            });
        });
    if (outcome.verdict == pipeline::Verdict::answer) udp[index]->send(outcome.reply, from);
}

// At the connection cap: closes the connection idle the longest; false with none idle.
bool DnsListener::State::make_room() {
    auto victim = oldest_idle(conns.begin(), conns.end(),
                              [](const auto& entry) -> const TcpSession& { return entry.second->session; });
    if (victim == conns.end()) return false;
    const std::shared_ptr<Conn> c = victim->second;
    c->session.close(TcpClose::evicted);
    settle(c);
    conns.erase(c->id);
    return true;
}

void DnsListener::State::on_accept(std::unique_ptr<uv::TcpConnection> tcp_conn) {
    if (closed) return;
    if (conns.size() >= options.max_tcp_connections && !make_room()) {
        ++stats.tcp_refused;
        return;  // tcp_conn is destroyed, which closes it
    }
    ++stats.tcp_accepted;
    const std::uint64_t id = next_conn_id++;
    auto c = std::make_shared<Conn>(id, std::move(tcp_conn), limits, loop.now_ms());
    if (auto peer = c->tcp->peer_address()) c->peer = peer.value();
    (void)c->tcp->set_nodelay(true);

    std::weak_ptr<State> weak = weak_from_this();
    c->tcp->set_on_close([weak, id](Result<void>) {
        if (auto s = weak.lock()) s->conns.erase(id);
    });
    c->tcp->set_on_eof([weak, id] {
        if (auto s = weak.lock()) s->on_tcp_eof(id);
    });
    if (!c->tcp->start_read([weak, id](ByteView data) {
            if (auto s = weak.lock()) s->on_tcp_data(id, data);
        })) {
        return;
    }
    conns.emplace(id, std::move(c));
}

void DnsListener::State::on_tcp_data(std::uint64_t id, ByteView data) {
    auto c = find(id);
    if (!c || c->closing) return;
    c->session.receive(data, loop.now_ms());
    pump(c);
}

void DnsListener::State::on_tcp_eof(std::uint64_t id) {
    auto c = find(id);
    if (!c || c->closing) return;
    c->session.receive_fin();
    pump(c);
}

void DnsListener::State::on_tcp_reply(std::uint64_t id, Bytes reply) {
    auto c = find(id);
    if (!c) return;
    write(c, c->session.reply(reply, loop.now_ms()));
    pump(c);  // frames held back by the pending cap
}

// Hands every frame the session lets go to the pipeline, then carries out what it asks.
void DnsListener::State::pump(const std::shared_ptr<Conn>& c) {
    if (c->pumping || c->closing) return;
    c->pumping = true;
    auto self = shared_from_this();  // the pipeline may drop the listener
    while (!closed) {
        const std::optional<ByteView> message = c->session.next_frame(loop.now_ms());
        if (!message) break;
        ++stats.tcp_messages;
        hand_over(c, *message);
    }
    c->pumping = false;
    if (!closed) settle(c);
}

void DnsListener::State::hand_over(const std::shared_ptr<Conn>& c, ByteView message) {
    std::weak_ptr<State> weak = weak_from_this();
    const std::uint64_t id = c->id;
    pipeline::Outcome outcome{pipeline::Verdict::later, {}};
    try {
        outcome = process(message, pipeline::ClientInfo{c->peer, pipeline::Transport::tcp, id}, [&] {
            c->session.reply_owed();
            return pipeline::ReplyFn([weak, id](Bytes bytes) {
                if (auto s = weak.lock()) s->on_tcp_reply(id, std::move(bytes));
            });
        });
    } catch (...) {  // a bug in the pipeline: this message goes unanswered, the connection lives on
    }
    if (outcome.verdict == pipeline::Verdict::drop) {  // a response or a runt: not a DNS client
        c->session.dropped();
    } else if (outcome.verdict == pipeline::Verdict::answer) {
        write(c, c->session.answer(outcome.reply));
    }
}

void DnsListener::State::write(const std::shared_ptr<Conn>& c, const Bytes& framed) {
    if (framed.empty() || c->closing) return;
    if (c->tcp->write(framed)) {
        c->session.written(c->tcp->write_queue_bytes());
    } else {
        c->session.write_failed();
    }
}

void DnsListener::State::settle(const std::shared_ptr<Conn>& c) {
    if (c->closing) return;
    if (c->session.should_shut_down()) c->session.close(TcpClose::finished);
    switch (c->session.close_reason()) {
        case TcpClose::none:
            return;
        case TcpClose::finished:  // the client's FIN and every reply out: end our side too
            c->closing = true;
            c->tcp->shutdown();
            return;
        case TcpClose::idle:
        case TcpClose::stalled:
        case TcpClose::evicted:
            ++stats.tcp_closed_idle;
            break;
        case TcpClose::bad_frame:
        case TcpClose::dropped:
        case TcpClose::input_full:
        case TcpClose::write_full:
        case TcpClose::write_failed:
            ++stats.tcp_closed_protocol;
            break;
    }
    c->closing = true;
    c->tcp->close();  // on_close erases it from the table
}

void DnsListener::State::on_sweep() {
    const std::uint64_t now = loop.now_ms();
    std::vector<std::pair<std::shared_ptr<Conn>, TcpClose>> expired;
    for (auto& [id, c] : conns) {
        if (c->closing) continue;
        if (const TcpClose reason = c->session.expiry(now); reason != TcpClose::none)
            expired.emplace_back(c, reason);
    }
    for (auto& [c, reason] : expired) {
        c->session.close(reason);
        settle(c);
    }
}

void DnsListener::State::start_sweep() {
    if (sweep) return;
    sweep = std::make_unique<uv::Timer>(loop);
    const std::uint64_t interval = std::clamp<std::uint64_t>(options.tcp_idle_timeout_ms / 4, 10, 1000);
    std::weak_ptr<State> weak = weak_from_this();
    sweep->start(interval, interval, [weak] {
        if (auto s = weak.lock()) s->on_sweep();
    });
    sweep->unref();  // the listening sockets keep the loop alive, not the sweep
}

DnsListener::DnsListener(uv::Loop& loop, pipeline::Process process, ListenerOptions options)
    : state_(std::make_shared<State>(loop, std::move(process), options)) {
    if (state_->options.max_tcp_connections == 0) state_->options.max_tcp_connections = 1;
    if (state_->options.max_pending_per_connection == 0) state_->options.max_pending_per_connection = 1;
    state_->options.max_tcp_query_bytes =
        std::clamp<std::size_t>(state_->options.max_tcp_query_bytes, 12, max_tcp_message);
    const ListenerOptions& o = state_->options;
    state_->limits = TcpSessionLimits{o.max_pending_per_connection, o.max_tcp_query_bytes,
                                      o.max_tcp_write_queue_bytes, o.tcp_idle_timeout_ms};
}

DnsListener::~DnsListener() {
    close();
}

Result<void> DnsListener::listen(const SocketAddress& address) {
    State& s = *state_;
    if (s.closed) return make_error("listener is closed");
    // With port 0 the UDP port is picked first; TCP may find it taken, so try a few times.
    const int attempts = address.port == 0 ? 8 : 1;
    Error last = make_error("no attempt");
    for (int attempt = 0; attempt < attempts; ++attempt) {
        auto opened = BatchUdp::open(s.loop, address);
        if (!opened) return make_error("UDP " + opened.error().message);
        std::unique_ptr<BatchUdp> udp = std::move(opened.value());
        auto bound = udp->local_address();
        if (!bound) return make_error("UDP " + address.to_string() + ": " + bound.error().message);

        auto tcp = std::make_unique<uv::TcpListener>(s.loop);
        if (auto r = tcp->bind(bound.value()); !r) {
            last = make_error("TCP bind " + bound->to_string() + ": " + r.error().message);
            continue;
        }
        std::weak_ptr<State> weak = state_;
        if (auto r = tcp->listen(s.options.tcp_backlog,
                                 [weak](std::unique_ptr<uv::TcpConnection> conn) {
                                     if (auto st = weak.lock()) st->on_accept(std::move(conn));
                                 });
            !r) {
            last = make_error("TCP listen " + bound->to_string() + ": " + r.error().message);
            continue;
        }
        const std::size_t index = s.udp.size();
        if (auto r = udp->start([weak, index](ByteView data, const SocketAddress& from) {
                if (auto st = weak.lock()) st->on_udp(index, data, from);
            });
            !r) {
            return make_error("UDP receive " + bound->to_string() + ": " + r.error().message);
        }
        s.udp.push_back(std::move(udp));
        s.tcp.push_back(std::move(tcp));
        s.addresses.push_back(bound.value());
        s.start_sweep();
        return {};
    }
    return last;
}

const std::vector<SocketAddress>& DnsListener::addresses() const {
    return state_->addresses;
}

std::size_t DnsListener::tcp_connections() const {
    return state_->conns.size();
}

const ListenerStats& DnsListener::stats() const {
    return state_->stats;
}

void DnsListener::close() {
    State& s = *state_;
    if (s.closed) return;
    s.closed = true;
    s.sweep.reset();
    auto conns = std::move(s.conns);
    s.conns.clear();
    conns.clear();  // destroying each TcpConnection closes it
    s.tcp.clear();
    for (auto& u : s.udp) u.reset();  // keep the slots: UDP replies hold indexes
}

}  // namespace pkdns::server
