#pragma once
// Upstream (ICANN) forwarder on libuv (design.md §3 step 5).
//
// Each query gets a fresh 16-bit ID from getrandom(2), RD=1 and an EDNS(0) OPT (1232-byte UDP
// size, DO when asked), and goes out on a randomly chosen socket of a pool of `udp_sockets` UDP
// sockets, each bound to port 0 (a kernel-chosen random ephemeral port). A reply is accepted
// only when it arrives on that socket, comes from the upstream's address and port, is a
// response (QR=1) to a QUERY with our ID, and echoes our question (name case-insensitive, type,
// class); anything else is ignored and we keep waiting.
// Why a pool and not a socket per query: socket/bind/close per query (and the 64 KiB receive
// buffer) cost more than the rest of the query. A spoofer must still guess 16 bits of ID and
// one of the pool's random ports, and the ports keep moving: a socket is retired after
// `queries_per_socket` queries or when it was idle for `socket_idle_ms` (closed once its last
// in-flight query is done) and replaced by a new one on a fresh random port, as unbound's
// outgoing-range does. In-flight queries are keyed by (socket, upstream, ID); an ID already in
// flight on the same socket and upstream is never reused (another ID is drawn).
// TC=1 -> the same upstream is asked again
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
#include "resolver/pipeline/upstream.hpp"

namespace pkdns::upstream {

struct ForwarderConfig {
    std::vector<SocketAddress> upstreams;  // tried in order
    std::uint64_t timeout_ms = 2000;       // per upstream, per transport (UDP, then TCP on TC)
    std::size_t max_in_flight = 1024;
    std::uint16_t edns_udp_size = 1232;
    std::size_t udp_sockets = 32;           // pool size (at least 1)
    std::size_t queries_per_socket = 1024;  // then the socket is replaced (new random port)
    std::uint64_t socket_idle_ms = 10000;   // a socket unused this long is replaced when picked
    // Tests only: the random source for IDs (low 16 bits) and socket choice; null = getrandom(2).
    std::function<std::uint32_t()> random_for_tests;
};

// Error codes in Error::code for the resolver's logs and metrics.
namespace forward_error {
inline constexpr int all_failed = 1, overloaded = 2, closed = 3, bad_request = 4;
}

class Forwarder final : public pipeline::Upstream {
public:
    Forwarder(uv::Loop& loop, ForwarderConfig config);
    ~Forwarder() override;  // = close()
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    void forward(const dns::Question& question, bool dnssec_ok, Done done) override;
    // Fails every pending query; later forward() calls fail at once.
    void close();

    std::size_t in_flight() const { return pending_.size(); }
    // Open UDP sockets (pool plus retired ones still waiting for replies), and how many were
    // opened in total; for tests and metrics.
    std::size_t udp_sockets_open() const { return sockets_.size(); }
    std::uint64_t udp_sockets_opened() const { return next_socket_ - 1; }

    // The query sent upstream (exposed for tests and the fuzz/packet tools).
    static dns::Packet make_query(const dns::Question& question, std::uint16_t id, bool dnssec_ok,
                                  std::uint16_t udp_size);
    // True when `reply` answers `query`: QR set, same ID, opcode QUERY, one question equal to ours.
    static bool reply_matches(const dns::Packet& query, const dns::Packet& reply);

private:
    struct Pending;
    struct PoolSocket {
        std::unique_ptr<uv::UdpSocket> udp;
        std::size_t sent = 0, outstanding = 0;
        std::uint64_t last_used_ms = 0;
        bool retired = false;
    };
    struct FlightKey {
        std::uint64_t socket;
        std::size_t upstream;
        std::uint16_t id;
        bool operator==(const FlightKey&) const = default;
    };
    struct FlightKeyHash {
        std::size_t operator()(const FlightKey& k) const {
            return std::hash<std::uint64_t>{}((k.socket * 0x9e3779b97f4a7c15ull) ^
                                              (std::uint64_t{k.upstream} << 16) ^ k.id);
        }
    };

    void send_udp(std::uint64_t id);
    void send_tcp(std::uint64_t id);
    void on_udp(std::uint64_t socket, ByteView data, const SocketAddress& from);
    std::uint32_t random32();
    // A pool socket of that address family (opening or replacing one as needed): its serial.
    Result<std::uint64_t> pick_socket(bool v6, std::uint32_t random);
    void release_udp(Pending& p);
    void on_tcp_data(std::uint64_t id, ByteView data);
    void next_upstream(std::uint64_t id, const std::string& why);
    void finish(std::uint64_t id, Result<dns::Packet> result);

    uv::Loop& loop_;
    ForwarderConfig config_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending_;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, PoolSocket> sockets_;  // by serial: pool and retired
    std::vector<std::uint64_t> pool_v4_, pool_v6_;           // serials; 0 = not open yet
    std::uint64_t next_socket_ = 1;
    std::unordered_map<FlightKey, std::uint64_t, FlightKeyHash> flights_;  // -> query id
    bool closed_ = false;
};

}  // namespace pkdns::upstream
