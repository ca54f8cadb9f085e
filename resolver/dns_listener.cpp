#include "resolver/dns_listener.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>

#include "common/uv_tcp.hpp"

namespace pkdns::resolver {

namespace {

constexpr std::size_t max_tcp_message = 65535;

struct Conn {
    std::uint64_t id = 0;
    std::unique_ptr<uv::TcpConnection> tcp;
    SocketAddress peer;
    Bytes inbuf;                         // received bytes not yet dispatched
    std::size_t pending = 0;             // queries handed to the handler, reply not yet given
    std::uint64_t last_activity_ms = 0;  // last byte received or reply sent
    std::uint64_t partial_since_ms = 0;  // when the incomplete frame at the buffer's end began (0 = none)
    bool eof = false;
    bool closing = false;
    bool processing = false;  // inside process_frames (a synchronous reply must not re-enter it)
};

// A throwing handler must not leave the query's slot taken: release it with an empty reply
// (the reply function ignores any later call).
void call_handler(const Handler& handler, Request request, const ClientInfo& client, const ReplyFn& reply) {
    try {
        handler(std::move(request), client, reply);
    } catch (...) {
        reply(Bytes{});
    }
}

}  // namespace

struct DnsListener::State : std::enable_shared_from_this<DnsListener::State> {
    State(uv::Loop& l, Handler h, ListenerOptions o) : loop(l), handler(std::move(h)), options(o) {}

    uv::Loop& loop;
    Handler handler;
    ListenerOptions options;
    ListenerStats stats;
    std::vector<std::unique_ptr<uv::UdpSocket>> udp;  // indexes are captured by UDP replies
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
    void on_accept(std::unique_ptr<uv::TcpConnection> tcp_conn);
    void on_tcp_data(std::uint64_t id, ByteView data);
    void process_frames(const std::shared_ptr<Conn>& c);
    void on_tcp_reply(std::uint64_t id, Bytes reply);
    void write_frame(const std::shared_ptr<Conn>& c, ByteView message);
    void maybe_finish(const std::shared_ptr<Conn>& c);
    void close_conn(const std::shared_ptr<Conn>& c);
    void on_sweep();
    void start_sweep();
};

void DnsListener::State::on_udp(std::size_t index, ByteView data, const SocketAddress& from) {
    if (closed) return;
    auto parsed = parse_request(data);
    if (auto* rejection = std::get_if<Rejection>(&parsed)) {
        ++stats.rejected;
        if (!rejection->reply.empty()) (void)udp[index]->send(rejection->reply, from);
        return;
    }
    ++stats.udp_queries;
    std::weak_ptr<State> weak = weak_from_this();
    auto done = std::make_shared<bool>(false);
    ReplyFn reply = [weak, index, from, done](Bytes bytes) {
        if (*done) return;
        *done = true;
        auto s = weak.lock();
        if (!s || s->closed || index >= s->udp.size() || !s->udp[index] || bytes.empty()) return;
        (void)s->udp[index]->send(bytes, from);
    };
    call_handler(handler, std::move(std::get<Request>(parsed)), ClientInfo{from, Transport::udp, 0}, reply);
}

void DnsListener::State::on_accept(std::unique_ptr<uv::TcpConnection> tcp_conn) {
    if (closed) return;
    if (conns.size() >= options.max_tcp_connections) {
        // Make room by closing the connection idle the longest; with none idle, refuse.
        std::shared_ptr<Conn> victim;
        for (auto& [id, c] : conns) {
            if (c->closing || c->pending > 0) continue;
            if (!victim || c->last_activity_ms < victim->last_activity_ms) victim = c;
        }
        if (!victim) {
            ++stats.tcp_refused;
            return;  // tcp_conn is destroyed, which closes it
        }
        ++stats.tcp_closed_idle;
        close_conn(victim);
        conns.erase(victim->id);
    }
    ++stats.tcp_accepted;
    auto c = std::make_shared<Conn>();
    c->id = next_conn_id++;
    c->tcp = std::move(tcp_conn);
    if (auto peer = c->tcp->peer_address()) c->peer = peer.value();
    c->last_activity_ms = loop.now_ms();
    (void)c->tcp->set_nodelay(true);

    std::weak_ptr<State> weak = weak_from_this();
    const std::uint64_t id = c->id;
    c->tcp->set_on_close([weak, id](Result<void>) {
        if (auto s = weak.lock()) s->conns.erase(id);
    });
    c->tcp->set_on_eof([weak, id] {
        auto s = weak.lock();
        if (!s) return;
        if (auto conn = s->find(id)) {
            conn->eof = true;
            s->maybe_finish(conn);
        }
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
    c->last_activity_ms = loop.now_ms();
    // Room for every frame we may hold back (pending cap reached) plus one being received.
    const std::size_t cap = (options.max_pending_per_connection + 1) * (options.max_tcp_query_bytes + 2);
    if (c->inbuf.size() + data.size() > cap) {
        ++stats.tcp_closed_protocol;
        close_conn(c);
        return;
    }
    c->inbuf.insert(c->inbuf.end(), data.begin(), data.end());
    process_frames(c);
}

void DnsListener::State::process_frames(const std::shared_ptr<Conn>& c) {
    if (c->processing || c->closing) return;
    c->processing = true;
    auto self = shared_from_this();  // the handler may drop the listener
    std::size_t pos = 0;
    while (!c->closing && !closed && c->pending < options.max_pending_per_connection &&
           c->inbuf.size() - pos >= 2) {
        const std::size_t len = get_u16(c->inbuf.data() + pos);
        if (len == 0 || len > options.max_tcp_query_bytes) {
            ++stats.tcp_closed_protocol;
            close_conn(c);
            break;
        }
        if (c->inbuf.size() - pos - 2 < len) break;
        auto parsed = parse_request(ByteView(c->inbuf).subspan(pos + 2, len));
        pos += 2 + len;
        if (auto* rejection = std::get_if<Rejection>(&parsed)) {
            ++stats.rejected;
            if (rejection->reply.empty()) {  // a response or a runt: not a DNS client
                ++stats.tcp_closed_protocol;
                close_conn(c);
                break;
            }
            write_frame(c, rejection->reply);
            continue;
        }
        ++stats.tcp_queries;
        ++c->pending;
        std::weak_ptr<State> weak = weak_from_this();
        auto done = std::make_shared<bool>(false);
        const std::uint64_t id = c->id;
        ReplyFn reply = [weak, id, done](Bytes bytes) {
            if (*done) return;
            *done = true;
            if (auto s = weak.lock()) s->on_tcp_reply(id, std::move(bytes));
        };
        call_handler(handler, std::move(std::get<Request>(parsed)), ClientInfo{c->peer, Transport::tcp, id},
                     reply);
    }
    c->processing = false;
    if (c->closing || closed) return;
    c->inbuf.erase(c->inbuf.begin(), c->inbuf.begin() + static_cast<std::ptrdiff_t>(pos));
    // A frame that stays incomplete is a stalled (or slowloris) client; frames held back by
    // the pending cap are our delay, not theirs.
    const bool incomplete = !c->inbuf.empty() && c->pending < options.max_pending_per_connection;
    if (!incomplete) {
        c->partial_since_ms = 0;
    } else if (c->partial_since_ms == 0) {
        c->partial_since_ms = std::max<std::uint64_t>(loop.now_ms(), 1);
    }
    maybe_finish(c);
}

void DnsListener::State::on_tcp_reply(std::uint64_t id, Bytes reply) {
    auto c = find(id);
    if (!c) return;
    if (c->pending > 0) --c->pending;
    if (c->closing) return;
    if (!reply.empty()) {
        c->last_activity_ms = loop.now_ms();
        write_frame(c, reply);
        if (c->closing) return;
    }
    process_frames(c);  // frames held back by the pending cap
}

void DnsListener::State::write_frame(const std::shared_ptr<Conn>& c, ByteView message) {
    if (message.size() > max_tcp_message) return;  // finalize() never makes one; not sendable
    Bytes framed;
    framed.reserve(message.size() + 2);
    put_u16(framed, static_cast<std::uint16_t>(message.size()));
    framed.insert(framed.end(), message.begin(), message.end());
    if (!c->tcp->write(framed) || c->tcp->write_queue_bytes() > options.max_tcp_write_queue_bytes) {
        ++stats.tcp_closed_protocol;
        close_conn(c);
    }
}

// After the client's FIN: once every reply is out, end our side too.
void DnsListener::State::maybe_finish(const std::shared_ptr<Conn>& c) {
    if (!c->eof || c->closing || c->processing || c->pending > 0) return;
    if (c->inbuf.size() >= 2 && c->inbuf.size() - 2 >= get_u16(c->inbuf.data()))
        return;  // a complete frame waits
    c->closing = true;
    c->tcp->shutdown();
}

void DnsListener::State::close_conn(const std::shared_ptr<Conn>& c) {
    if (c->closing) return;
    c->closing = true;
    c->tcp->close();  // on_close erases it from the table
}

void DnsListener::State::on_sweep() {
    const std::uint64_t now = loop.now_ms();
    const std::uint64_t idle = options.tcp_idle_timeout_ms;
    std::vector<std::shared_ptr<Conn>> expired;
    for (auto& [id, c] : conns) {
        if (c->closing || c->pending > 0) continue;
        const bool idle_too_long = now - c->last_activity_ms >= idle;
        const bool stalled = c->partial_since_ms != 0 && now - c->partial_since_ms >= idle;
        if (idle_too_long || stalled) expired.push_back(c);
    }
    for (auto& c : expired) {
        ++stats.tcp_closed_idle;
        close_conn(c);
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

DnsListener::DnsListener(uv::Loop& loop, Handler handler, ListenerOptions options)
    : state_(std::make_shared<State>(loop, std::move(handler), options)) {
    if (state_->options.max_tcp_connections == 0) state_->options.max_tcp_connections = 1;
    if (state_->options.max_pending_per_connection == 0) state_->options.max_pending_per_connection = 1;
    state_->options.max_tcp_query_bytes =
        std::clamp<std::size_t>(state_->options.max_tcp_query_bytes, 12, max_tcp_message);
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
        auto udp = std::make_unique<uv::UdpSocket>(s.loop);
        if (auto r = udp->bind(address); !r) {
            return make_error("UDP bind " + address.to_string() + ": " + r.error().message);
        }
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
        if (auto r = udp->start_recv([weak, index](ByteView data, const SocketAddress& from) {
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

}  // namespace pkdns::resolver
