#pragma once
// Small owners for libuv handles (design.md §4). Each owner holds a heap block with the uv
// handle; destroying the owner calls uv_close() and the block is freed only in the close
// callback. Callbacks are std::function stored in that block and run inside a try/catch, so no
// C++ exception crosses libuv. After the owner is gone no user callback runs again.
// libuv types stay out of this header except the opaque loop pointer.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"

struct uv_loop_s;

namespace pkdns::uv {

// Owns a uv_loop_t. close() closes every handle still open, runs the loop until their close
// callbacks ran, and reports whether uv_loop_close() returned 0.
class Loop {
public:
    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    uv_loop_s* get() { return loop_.get(); }
    void run();       // until no active handles remain or stop() is called
    bool run_once();  // one blocking iteration; false when nothing is left to do
    void stop();
    std::uint64_t now_ms();  // the loop's cached monotonic time
    void update_time();
    Result<void> close();

private:
    std::unique_ptr<uv_loop_s> loop_;
    bool closed_ = false;
};

class Timer {
public:
    explicit Timer(Loop& loop);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // repeat_ms 0 = one shot. Restarting replaces the callback.
    void start(std::uint64_t timeout_ms, std::uint64_t repeat_ms, std::function<void()> cb);
    void stop();
    // An unreferenced timer does not keep uv_run alive.
    void unref();

private:
    struct Block;
    Block* block_;
};

class Signal {
public:
    explicit Signal(Loop& loop);
    ~Signal();
    Signal(const Signal&) = delete;
    Signal& operator=(const Signal&) = delete;

    Result<void> start(int signum, std::function<void(int)> cb);
    void stop();

private:
    struct Block;
    Block* block_;
};

// A UDP socket. Datagrams are received into a 64 KiB buffer; send copies the bytes.
class UdpSocket {
public:
    using RecvCallback = std::function<void(ByteView data, const SocketAddress& from)>;

    explicit UdpSocket(Loop& loop);
    ~UdpSocket();
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;

    Result<void> bind(const SocketAddress& addr);
    Result<void> start_recv(RecvCallback cb);
    // Fire and forget; a failure is returned only when libuv refuses the send outright.
    Result<void> send(ByteView data, const SocketAddress& to);
    Result<SocketAddress> local_address() const;

private:
    struct Block;
    Block* block_;
};

}  // namespace pkdns::uv
