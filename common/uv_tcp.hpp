#pragma once
// libuv TCP owners in the style of common/uv.hpp: each owner holds a heap block with the uv
// handles; destroying the owner closes them and the block is freed only in the last close
// callback. User callbacks run inside a try/catch and never after the owner is gone, so a
// callback may destroy its own owner.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"

namespace pkdns::uv {

// One TCP stream: either connected by us (connect()) or handed out by a TcpListener.
//
// Lifecycle: reading starts with start_read(). The peer's FIN calls on_eof when set (the owner
// then typically writes what it still owes and calls shutdown()); without on_eof the connection
// is shut down (queued writes still go out, then it closes). on_close runs exactly once when the handle has
// closed for any reason (close(), shutdown() finished, EOF without on_eof, a read/write error, a failed
// connect): its argument is ok for an orderly end and the error otherwise. Nothing runs after the owner is
// destroyed.
class TcpConnection {
public:
    using ConnectCallback = std::function<void(Result<void>)>;
    using DataCallback = std::function<void(ByteView data)>;
    using EofCallback = std::function<void()>;
    using CloseCallback = std::function<void(Result<void>)>;

    explicit TcpConnection(Loop& loop);
    ~TcpConnection();
    TcpConnection(const TcpConnection&) = delete;
    TcpConnection& operator=(const TcpConnection&) = delete;

    // Connects, failing with "timed out" after timeout_ms (0 = no timeout). `cb` runs exactly
    // once unless the owner is destroyed first. A failed connect also closes the connection
    // (on_close runs with the same error).
    void connect(const SocketAddress& to, std::uint64_t timeout_ms, ConnectCallback cb);
    // Delivers bytes as they arrive (each view is valid only during the call).
    Result<void> start_read(DataCallback on_data);
    void set_on_eof(EofCallback cb);
    void set_on_close(CloseCallback cb);
    // Queues a copy of `data`. Errors when the connection is closing or closed.
    Result<void> write(ByteView data);
    // Graceful end: flushes queued writes, sends FIN, then waits up to linger_ms for the peer's
    // FIN (discarding anything it still sends, so unread data does not make the kernel reset
    // the connection and lose our last bytes) and closes.
    void shutdown(std::uint64_t linger_ms = 2000);
    // Immediate close; queued writes are dropped.
    void close();
    Result<void> set_nodelay(bool enable);

    bool is_open() const;                   // not closing or closed
    std::size_t write_queue_bytes() const;  // bytes accepted by write() not yet handed to the kernel
    Result<SocketAddress> peer_address() const;
    Result<SocketAddress> local_address() const;

    struct Block;

private:
    friend class TcpListener;
    static void shutdown_block(Block* b, std::uint64_t linger_ms);
    Block* block_;
};

class TcpListener {
public:
    // The new connection is not reading yet: call start_read() on it.
    using AcceptCallback = std::function<void(std::unique_ptr<TcpConnection>)>;

    explicit TcpListener(Loop& loop);
    ~TcpListener();
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;

    // IPv6 addresses are bound v6-only so "[::]:53" and "0.0.0.0:53" can coexist.
    Result<void> bind(const SocketAddress& addr);
    Result<void> listen(int backlog, AcceptCallback cb);
    Result<SocketAddress> local_address() const;

    struct Block;

private:
    Block* block_;
};

}  // namespace pkdns::uv
