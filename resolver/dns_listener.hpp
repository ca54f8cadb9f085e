#pragma once
// DNS over UDP and TCP (RFC 7766) listeners on libuv. Each query that passes parse_request()
// goes to a Handler with a reply function; messages parse_request() rejects are answered (or
// dropped) here. The reply function may run later, exactly once (extra calls are ignored); if
// the client's connection or the listener is gone by then, the reply is dropped silently.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"
#include "resolver/query.hpp"

namespace pkdns::resolver {

struct ClientInfo {
    SocketAddress address;
    Transport transport = Transport::udp;
    std::uint64_t connection_id = 0;  // TCP connection (unique per listener), 0 for UDP
};

// The bytes are a complete DNS message (finalize() output); empty bytes send nothing and just
// release the query's slot.
using ReplyFn = std::function<void(Bytes)>;
using Handler = std::function<void(Request, ClientInfo, ReplyFn)>;
// Tried on every message before parse_request() (a cache of finished replies): true when it
// answered, with `reply` pointing at the bytes to send (valid during the call; empty = send
// nothing). False: the message goes the usual way.
using FastPath = std::function<bool(ByteView query, const ClientInfo& client, ByteView& reply)>;

struct ListenerOptions {
    std::uint64_t tcp_idle_timeout_ms = 10000;  // no query in flight and nothing received
    std::size_t max_tcp_connections = 512;      // then the oldest idle one is closed, or the new one refused
    std::size_t max_pending_per_connection = 32;      // further frames wait unread in the buffer
    std::size_t max_tcp_query_bytes = 4096;           // a larger (or zero-length) frame closes the connection
    std::size_t max_tcp_write_queue_bytes = 1 << 20;  // a client not reading its replies is closed
    int tcp_backlog = 128;
};

struct ListenerStats {
    std::uint64_t udp_queries = 0;
    std::uint64_t tcp_queries = 0;
    std::uint64_t rejected = 0;  // answered or dropped by parse_request()
    std::uint64_t tcp_accepted = 0;
    std::uint64_t tcp_refused = 0;          // over max_tcp_connections with none idle
    std::uint64_t tcp_closed_idle = 0;      // idle timeout, stalled partial frame, or evicted for a new one
    std::uint64_t tcp_closed_protocol = 0;  // bad frame, buffer or write queue over its cap
};

class DnsListener {
public:
    DnsListener(uv::Loop& loop, Handler handler, ListenerOptions options = {});
    ~DnsListener();
    DnsListener(const DnsListener&) = delete;
    DnsListener& operator=(const DnsListener&) = delete;

    void set_fast_path(FastPath fast_path);
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

}  // namespace pkdns::resolver
