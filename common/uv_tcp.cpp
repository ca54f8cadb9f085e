#include "common/uv_tcp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <exception>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <uv.h>

#include "common/guarded.hpp"

namespace pkdns::uv {

namespace {

using pkdns::guarded;

Error uv_error(const std::string& what, int rc) {
    return make_error(what + ": " + uv_strerror(rc), rc);
}

constexpr std::size_t read_buffer_size = 64 * 1024;

struct WriteReq {
    uv_write_t req;
    Bytes data;
};

}  // namespace

// ---------------------------------------------------------------- TcpConnection

struct TcpConnection::Block {
    uv_tcp_t tcp;
    uv_timer_t timer;  // connect timeout, then shutdown linger
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    int open_handles = 2;
    bool owner_gone = false;
    bool closing = false;
    bool closed = false;
    bool in_close_cb = false;
    bool connecting = false;
    bool shutting_down = false;
    bool shutdown_done = false;
    bool reading = false;
    ConnectCallback connect_cb;
    DataCallback data_cb;
    EofCallback eof_cb;
    CloseCallback close_cb;
    std::optional<Error> close_reason;
    std::unique_ptr<char[]> buffer = std::make_unique<char[]>(read_buffer_size);
    bool buffer_in_use = false;

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }

    void clear_callbacks() {
        connect_cb = nullptr;
        data_cb = nullptr;
        eof_cb = nullptr;
        close_cb = nullptr;
    }

    static void on_handle_closed(uv_handle_t* h) {
        auto* b = static_cast<Block*>(h->data);
        if (--b->open_handles > 0) return;
        b->closed = true;
        if (!b->owner_gone) {
            auto cb = std::move(b->close_cb);
            b->clear_callbacks();
            if (cb) {
                Result<void> why = b->close_reason ? Result<void>(*b->close_reason) : Result<void>();
                b->in_close_cb = true;
                guarded("tcp close", [&] { cb(why); });
                b->in_close_cb = false;
            }
        }
        if (b->owner_gone) delete b;
    }

    // Closes both handles once; `reason` is reported to on_close (the first reason wins).
    void close_handles(std::optional<Error> reason) {
        if (closing) return;
        closing = true;
        close_reason = std::move(reason);
        // A pending connect gets its error too, before on_close.
        if (connecting) {
            connecting = false;
            auto cb = std::move(connect_cb);
            connect_cb = nullptr;
            if (cb) {
                Result<void> r =
                    close_reason ? Result<void>(*close_reason) : Result<void>(make_error("closed"));
                guarded("tcp connect", [&] { cb(r); });
            }
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_handle_closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_handle_closed);
    }
};

TcpConnection::TcpConnection(Loop& loop) : block_(new Block{}) {
    uv_tcp_init(loop.get(), &block_->tcp);
    uv_timer_init(loop.get(), &block_->timer);
    block_->tcp.data = block_;
    block_->timer.data = block_;
}

TcpConnection::~TcpConnection() {
    Block* b = block_;
    if (b->closed) {
        // Handles already closed; when we are inside on_close, the close callback frees it.
        if (b->in_close_cb)
            b->owner_gone = true;
        else
            delete b;
        return;
    }
    b->owner_gone = true;
    b->clear_callbacks();
    b->connecting = false;
    b->close_handles(std::nullopt);
}

void TcpConnection::connect(const SocketAddress& to, std::uint64_t timeout_ms, ConnectCallback cb) {
    Block* b = block_;
    if (b->closing || b->connecting) {
        guarded("tcp connect", [&] { cb(make_error("connect: connection not usable")); });
        return;
    }
    sockaddr_storage ss{};
    to.to_sockaddr(ss);
    b->connect_req.data = b;
    int rc = uv_tcp_connect(&b->connect_req, &b->tcp, reinterpret_cast<const sockaddr*>(&ss),
                            [](uv_connect_t* req, int status) {
                                auto* b = static_cast<Block*>(req->data);
                                if (!b->connecting) return;  // closed meanwhile: already reported
                                b->connecting = false;
                                uv_timer_stop(&b->timer);
                                auto cb = std::move(b->connect_cb);
                                b->connect_cb = nullptr;
                                if (status != 0) {
                                    Error e = uv_error("connect", status);
                                    b->close_handles(e);
                                    if (cb) guarded("tcp connect", [&] { cb(e); });
                                    return;
                                }
                                if (cb) guarded("tcp connect", [&] { cb(Result<void>()); });
                            });
    if (rc != 0) {
        Error e = uv_error("connect " + to.to_string(), rc);
        b->close_handles(e);
        guarded("tcp connect", [&] { cb(e); });
        return;
    }
    b->connecting = true;
    b->connect_cb = std::move(cb);
    if (timeout_ms > 0) {
        uv_timer_start(
            &b->timer,
            [](uv_timer_t* t) {
                auto* b = static_cast<Block*>(t->data);
                // close_handles reports the error to the connect callback.
                b->close_handles(make_error("connect: timed out", UV_ETIMEDOUT));
            },
            timeout_ms, 0);
    }
}

Result<void> TcpConnection::start_read(DataCallback on_data) {
    Block* b = block_;
    if (b->closing) return make_error("read: connection closed");
    b->data_cb = std::move(on_data);
    int rc = uv_read_start(
        b->stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
            auto* b = static_cast<Block*>(h->data);
            if (b->buffer_in_use) {
                *buf = uv_buf_init(nullptr, 0);
                return;
            }
            b->buffer_in_use = true;
            *buf = uv_buf_init(b->buffer.get(), read_buffer_size);
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
            auto* b = static_cast<Block*>(s->data);
            if (buf->base == b->buffer.get()) b->buffer_in_use = false;
            if (b->closing) return;
            if (nread == UV_EOF) {
                uv_read_stop(s);
                b->reading = false;
                if (b->shutting_down) {
                    // Both sides finished once our FIN is out too.
                    if (b->shutdown_done) b->close_handles(std::nullopt);
                    return;
                }
                auto cb = b->eof_cb;
                if (cb) {
                    guarded("tcp eof", cb);
                } else {
                    // Graceful by default: what is queued still goes out before the close.
                    TcpConnection::shutdown_block(b, 2000);
                }
                return;
            }
            if (nread < 0) {
                b->close_handles(uv_error("read", static_cast<int>(nread)));
                return;
            }
            if (nread == 0 || b->shutting_down) return;  // after our FIN, input is discarded
            auto cb = b->data_cb;
            if (!cb) return;
            ByteView data(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
            guarded("tcp read", [&] { cb(data); });
        });
    if (rc != 0) return uv_error("uv_read_start", rc);
    b->reading = true;
    return {};
}

void TcpConnection::set_on_eof(EofCallback cb) {
    block_->eof_cb = std::move(cb);
}
void TcpConnection::set_on_close(CloseCallback cb) {
    block_->close_cb = std::move(cb);
}

Result<void> TcpConnection::write(ByteView data) {
    Block* b = block_;
    if (b->closing) return make_error("write: connection closed");
    if (b->shutting_down) return make_error("write: connection shutting down");
    if (data.empty()) return {};
    auto* req = new WriteReq{};
    req->req.data = req;
    req->data.assign(data.begin(), data.end());
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(req->data.data()), static_cast<unsigned>(req->data.size()));
    int rc = uv_write(&req->req, b->stream(), &buf, 1, [](uv_write_t* r, int status) {
        auto* w = static_cast<WriteReq*>(r->data);
        auto* b = static_cast<Block*>(r->handle->data);
        delete w;
        // ECANCELED comes from our own close; other errors end the connection.
        if (status != 0 && status != UV_ECANCELED) b->close_handles(uv_error("write", status));
    });
    if (rc != 0) {
        delete req;
        return uv_error("write", rc);
    }
    return {};
}

void TcpConnection::shutdown(std::uint64_t linger_ms) {
    shutdown_block(block_, linger_ms);
}

void TcpConnection::shutdown_block(Block* b, std::uint64_t linger_ms) {
    if (b->closing || b->shutting_down) return;
    b->shutting_down = true;
    b->shutdown_req.data = b;
    int rc = uv_shutdown(&b->shutdown_req, b->stream(), [](uv_shutdown_t* req, int status) {
        auto* b = static_cast<Block*>(req->data);
        if (b->closing) return;
        if (status != 0) {
            b->close_handles(uv_error("shutdown", status));
            return;
        }
        b->shutdown_done = true;
        // Not reading (never started, or the peer's FIN already came): nothing to wait for.
        if (!b->reading) b->close_handles(std::nullopt);
    });
    if (rc != 0) {
        b->close_handles(uv_error("shutdown", rc));
        return;
    }
    uv_timer_stop(&b->timer);
    uv_timer_start(
        &b->timer,
        [](uv_timer_t* t) {
            auto* b = static_cast<Block*>(t->data);
            b->close_handles(std::nullopt);
        },
        linger_ms, 0);
}

void TcpConnection::close() {
    block_->close_handles(std::nullopt);
}

Result<void> TcpConnection::set_nodelay(bool enable) {
    if (block_->closing) return make_error("nodelay: connection closed");
    int rc = uv_tcp_nodelay(&block_->tcp, enable ? 1 : 0);
    if (rc != 0) return uv_error("nodelay", rc);
    return {};
}

bool TcpConnection::is_open() const {
    return !block_->closing;
}

std::size_t TcpConnection::write_queue_bytes() const {
    return block_->tcp.write_queue_size;
}

Result<SocketAddress> TcpConnection::peer_address() const {
    if (block_->closing) return make_error("getpeername: connection closed");
    sockaddr_storage ss{};
    int len = sizeof ss;
    int rc = uv_tcp_getpeername(&block_->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0) return uv_error("getpeername", rc);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

Result<SocketAddress> TcpConnection::local_address() const {
    if (block_->closing) return make_error("getsockname: connection closed");
    sockaddr_storage ss{};
    int len = sizeof ss;
    int rc = uv_tcp_getsockname(&block_->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0) return uv_error("getsockname", rc);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

// ---------------------------------------------------------------- TcpListener

struct TcpListener::Block {
    uv_tcp_t tcp;
    Loop* loop;
    AcceptCallback cb;
};

TcpListener::TcpListener(Loop& loop) : block_(new Block{}) {
    block_->loop = &loop;
    uv_tcp_init(loop.get(), &block_->tcp);
    block_->tcp.data = block_;
}

TcpListener::~TcpListener() {
    block_->cb = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->tcp),
             [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

Result<void> TcpListener::bind(const SocketAddress& addr) {
    sockaddr_storage ss{};
    addr.to_sockaddr(ss);
    unsigned flags = addr.ip.is_v6() ? UV_TCP_IPV6ONLY : 0;
    int rc = uv_tcp_bind(&block_->tcp, reinterpret_cast<const sockaddr*>(&ss), flags);
    if (rc != 0) return uv_error("bind " + addr.to_string(), rc);
    return {};
}

Result<void> TcpListener::listen(int backlog, AcceptCallback cb) {
    block_->cb = std::move(cb);
    int rc =
        uv_listen(reinterpret_cast<uv_stream_t*>(&block_->tcp), backlog, [](uv_stream_t* server, int status) {
            auto* b = static_cast<Block*>(server->data);
            if (status != 0) {
                spdlog::warn("tcp accept: {}", uv_strerror(status));
                return;
            }
            auto conn = std::make_unique<TcpConnection>(*b->loop);
            int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->block_->tcp));
            if (rc != 0) {
                spdlog::warn("tcp accept: {}", uv_strerror(rc));
                return;  // conn's destructor closes the unused handle
            }
            auto accept_cb = b->cb;
            if (accept_cb) guarded("tcp accept", [&] { accept_cb(std::move(conn)); });
        });
    if (rc != 0) return uv_error("listen", rc);
    return {};
}

Result<SocketAddress> TcpListener::local_address() const {
    sockaddr_storage ss{};
    int len = sizeof ss;
    int rc = uv_tcp_getsockname(&block_->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0) return uv_error("getsockname", rc);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace pkdns::uv
