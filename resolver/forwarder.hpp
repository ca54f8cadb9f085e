#pragma once
// Upstream (ICANN) forwarder on libuv (design.md §3 step 5).
//
// Each query gets a fresh 16-bit ID from getrandom(2) and its own UDP socket bound to port 0
// (a kernel-chosen ephemeral source port), RD=1 and an EDNS(0) OPT (1232-byte UDP size, DO when
// asked). A reply is accepted only when it comes from the upstream's address and port, is a
// response (QR=1) to a QUERY with our ID, and echoes our question (name case-insensitive, type,
// class); anything else is ignored and we keep waiting. TC=1 -> the same upstream is asked again
// over TCP (2-byte length framing). A timeout (timeout_ms per upstream and transport) or a
// failure moves on to the next upstream; when every upstream failed the result is an error.
//
// Every `done` runs exactly once: with the reply, with an error, immediately (inside forward())
// when the forwarder is closed or max_in_flight queries are pending, or with an error from
// close() / the destructor for queries still pending.
//
// Handle callbacks capture `this` and a query id: the sockets and timers are owned (through
// the pending table) by this object, and an owner that is gone runs no callback (common/uv.hpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"

namespace pkdns::resolver {

struct ForwarderConfig {
    std::vector<SocketAddress> upstreams;  // tried in order
    std::uint64_t timeout_ms = 2000;       // per upstream, per transport (UDP, then TCP on TC)
    std::size_t max_in_flight = 1024;
    std::uint16_t edns_udp_size = 1232;
};

// Error codes in Error::code for the resolver's logs and metrics.
namespace forward_error {
inline constexpr int all_failed = 1, overloaded = 2, closed = 3, bad_request = 4;
}

class Forwarder {
public:
    using Done = std::function<void(Result<dns::Packet>)>;

    Forwarder(uv::Loop& loop, ForwarderConfig config);
    ~Forwarder();  // = close()
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    void forward(const dns::Question& question, bool dnssec_ok, Done done);
    // Fails every pending query; later forward() calls fail at once.
    void close();

    std::size_t in_flight() const { return pending_.size(); }

    // The query sent upstream (exposed for tests and the fuzz/packet tools).
    static dns::Packet make_query(const dns::Question& question, std::uint16_t id, bool dnssec_ok,
                                  std::uint16_t udp_size);
    // True when `reply` answers `query`: QR set, same ID, opcode QUERY, one question equal to ours.
    static bool reply_matches(const dns::Packet& query, const dns::Packet& reply);

private:
    struct Pending;

    void send_udp(std::uint64_t id);
    void send_tcp(std::uint64_t id);
    void on_udp(std::uint64_t id, ByteView data, const SocketAddress& from);
    void on_tcp_data(std::uint64_t id, ByteView data);
    void next_upstream(std::uint64_t id, const std::string& why);
    void finish(std::uint64_t id, Result<dns::Packet> result);

    uv::Loop& loop_;
    ForwarderConfig config_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending_;
    std::uint64_t next_id_ = 1;
    bool closed_ = false;
};

}  // namespace pkdns::resolver
