#pragma once
// DNS over UDP and TCP (RFC 7766) listeners on libuv: sockets only; a TCP connection's rules
// (framing, caps, timeouts) are its TcpSession's (tcp_session.hpp). Every message goes to the
// pipeline's entry point (pipeline::Frontend::process) and its outcome is carried out: drop,
// send now, or send when the reply comes (if the client's connection or the listener is gone
// by then, the reply is dropped silently).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"
#include "resolver/pipeline/frontend.hpp"

namespace pkdns::server {

struct ListenerOptions {
    std::uint64_t tcp_idle_timeout_ms = 10000;  // no query in flight and nothing received
    std::size_t max_tcp_connections = 512;      // then the oldest idle one is closed, or the new one refused
    std::size_t max_pending_per_connection = 32;      // further frames wait unread in the buffer
    std::size_t max_tcp_query_bytes = 4096;           // a larger (or zero-length) frame closes the connection
    std::size_t max_tcp_write_queue_bytes = 1 << 20;  // a client not reading its replies is closed
    int tcp_backlog = 128;
};

struct ListenerStats {
    std::uint64_t udp_messages = 0;  // datagrams handed to the pipeline
    std::uint64_t tcp_messages = 0;  // frames handed to the pipeline
    std::uint64_t tcp_accepted = 0;
    std::uint64_t tcp_refused = 0;          // over max_tcp_connections with none idle
    std::uint64_t tcp_closed_idle = 0;      // idle timeout, stalled partial frame, or evicted for a new one
    std::uint64_t tcp_closed_protocol = 0;  // bad frame, dropped message, buffer or write queue over its cap
};

class DnsListener {
public:
    DnsListener(uv::Loop& loop, pipeline::Process process, ListenerOptions options = {});
    ~DnsListener();
    DnsListener(const DnsListener&) = delete;
    DnsListener& operator=(const DnsListener&) = delete;

    // UDP and TCP on `address`; port 0 picks one free port for both.
    Result<void> listen(const SocketAddress& address);
    // The bound addresses (actual ports), in listen() order.
    const std::vector<SocketAddress>& addresses() const;
    std::size_t tcp_connections() const;
    const ListenerStats& stats() const;
    // Stops listening and closes every connection; replies still owed are dropped.
    void close();

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace pkdns::server
