#include "common/uv.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>
#include <uv.h>

#include "common/guarded.hpp"

namespace pkdns::uv {

namespace {

using pkdns::guarded;

Error uv_error(const char* what, int rc) {
    return make_error(std::string(what) + ": " + uv_strerror(rc), rc);
}

}  // namespace

// ---------------------------------------------------------------- Loop

Loop::Loop() : loop_(std::make_unique<uv_loop_t>()) {
    uv_loop_init(loop_.get());
}

Loop::~Loop() {
    if (!closed_) {
        auto r = close();
        if (!r) {
            spdlog::error("event loop: {}", r.error().message);
            (void)loop_.release();  // handles still point at it: leak rather than free under them
        }
    }
}

void Loop::run() {
    uv_run(loop_.get(), UV_RUN_DEFAULT);
}
bool Loop::run_once() {
    return uv_run(loop_.get(), UV_RUN_ONCE) != 0;
}
void Loop::stop() {
    uv_stop(loop_.get());
}
std::uint64_t Loop::now_ms() {
    return uv_now(loop_.get());
}
void Loop::update_time() {
    uv_update_time(loop_.get());
}

Result<void> Loop::close() {
    if (closed_) return {};
    // Owners already called uv_close(); a few non-blocking turns run the close callbacks.
    int rc = UV_EBUSY;
    for (int i = 0; i < 16; ++i) {
        uv_run(loop_.get(), UV_RUN_NOWAIT);
        rc = uv_loop_close(loop_.get());
        if (rc == 0) break;
    }
    if (rc != 0) {
        std::string open;
        uv_walk(
            loop_.get(),
            [](uv_handle_t* h, void* arg) {
                auto* s = static_cast<std::string*>(arg);
                *s += std::string(s->empty() ? "" : ", ") + uv_handle_type_name(uv_handle_get_type(h));
            },
            &open);
        return make_error("uv_loop_close failed, handles still open: " + open, rc);
    }
    closed_ = true;
    return {};
}

// ---------------------------------------------------------------- Timer

struct Timer::Block {
    uv_timer_t handle;
    std::function<void()> cb;
};

Timer::Timer(Loop& loop) : block_(new Block{}) {
    uv_timer_init(loop.get(), &block_->handle);
    block_->handle.data = block_;
}

Timer::~Timer() {
    block_->cb = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->handle),
             [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

void Timer::start(std::uint64_t timeout_ms, std::uint64_t repeat_ms, std::function<void()> cb) {
    block_->cb = std::move(cb);
    uv_timer_start(
        &block_->handle,
        [](uv_timer_t* t) {
            auto* b = static_cast<Block*>(t->data);
            // Copy: the callback may restart or destroy this timer.
            auto cb = b->cb;
            if (cb) guarded("timer", cb);
        },
        timeout_ms, repeat_ms);
}

void Timer::stop() {
    uv_timer_stop(&block_->handle);
}
void Timer::unref() {
    uv_unref(reinterpret_cast<uv_handle_t*>(&block_->handle));
}

// ---------------------------------------------------------------- Signal

struct Signal::Block {
    uv_signal_t handle;
    std::function<void(int)> cb;
};

Signal::Signal(Loop& loop) : block_(new Block{}) {
    uv_signal_init(loop.get(), &block_->handle);
    block_->handle.data = block_;
}

Signal::~Signal() {
    block_->cb = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->handle),
             [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

Result<void> Signal::start(int signum, std::function<void(int)> cb) {
    block_->cb = std::move(cb);
    int rc = uv_signal_start(
        &block_->handle,
        [](uv_signal_t* s, int signum) {
            auto* b = static_cast<Block*>(s->data);
            auto cb = b->cb;
            if (cb) guarded("signal", [&] { cb(signum); });
        },
        signum);
    if (rc != 0) return uv_error("uv_signal_start", rc);
    return {};
}

void Signal::stop() {
    uv_signal_stop(&block_->handle);
}

// ---------------------------------------------------------------- UdpSocket

namespace {
constexpr std::size_t recv_buffer_size = 64 * 1024;

struct SendReq {
    uv_udp_send_t req;
    Bytes data;
};
}  // namespace

struct UdpSocket::Block {
    uv_udp_t handle;
    RecvCallback cb;
    // Not zero-filled: uv only hands us the bytes it wrote (a memset per socket cost ~44% of
    // an upstream query).
    std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(recv_buffer_size);
    bool buffer_in_use = false;
};

UdpSocket::UdpSocket(Loop& loop) : block_(new Block{}) {
    uv_udp_init(loop.get(), &block_->handle);
    block_->handle.data = block_;
}

UdpSocket::~UdpSocket() {
    block_->cb = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->handle),
             [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

Result<void> UdpSocket::bind(const SocketAddress& addr) {
    sockaddr_storage ss{};
    addr.to_sockaddr(ss);
    // v6-only like TcpListener, so [::]:53 and 0.0.0.0:53 can both be bound.
    unsigned flags = addr.ip.is_v6() ? UV_UDP_IPV6ONLY : 0;
    int rc = uv_udp_bind(&block_->handle, reinterpret_cast<const sockaddr*>(&ss), flags);
    if (rc != 0) return uv_error(("bind " + addr.to_string()).c_str(), rc);
    return {};
}

Result<void> UdpSocket::start_recv(RecvCallback cb) {
    block_->cb = std::move(cb);
    int rc = uv_udp_recv_start(
        &block_->handle,
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
            auto* b = static_cast<Block*>(h->data);
            if (b->buffer_in_use) {  // never hand the same buffer out twice
                *buf = uv_buf_init(nullptr, 0);
                return;
            }
            b->buffer_in_use = true;
            *buf = uv_buf_init(b->buffer.get(), recv_buffer_size);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned) {
            auto* b = static_cast<Block*>(h->data);
            if (buf->base == b->buffer.get()) b->buffer_in_use = false;
            if (nread <= 0 || addr == nullptr) return;  // nothing read, or an error on this datagram
            auto cb = b->cb;
            if (!cb) return;
            ByteView data(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
            auto from = SocketAddress::from_sockaddr(addr);
            if (!from) return;
            guarded("udp recv", [&] { cb(data, from.value()); });
        });
    if (rc != 0) return uv_error("uv_udp_recv_start", rc);
    return {};
}

Result<void> UdpSocket::send(ByteView data, const SocketAddress& to) {
    sockaddr_storage ss{};
    to.to_sockaddr(ss);
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())),
                               static_cast<unsigned>(data.size()));
    int rc = uv_udp_try_send(&block_->handle, &buf, 1, reinterpret_cast<const sockaddr*>(&ss));
    if (rc >= 0) return {};
    if (rc != UV_EAGAIN) return uv_error(("send to " + to.to_string()).c_str(), rc);
    auto* req = new SendReq{};
    req->req.data = req;
    req->data.assign(data.begin(), data.end());
    buf = uv_buf_init(reinterpret_cast<char*>(req->data.data()), static_cast<unsigned>(req->data.size()));
    rc = uv_udp_send(&req->req, &block_->handle, &buf, 1, reinterpret_cast<const sockaddr*>(&ss),
                     [](uv_udp_send_t* r, int) { delete static_cast<SendReq*>(r->data); });
    if (rc != 0) {
        delete req;
        return uv_error(("send to " + to.to_string()).c_str(), rc);
    }
    return {};
}

Result<SocketAddress> UdpSocket::local_address() const {
    sockaddr_storage ss{};
    int len = sizeof ss;
    int rc = uv_udp_getsockname(&block_->handle, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0) return uv_error("getsockname", rc);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace pkdns::uv
