#pragma once
// Upstream (ICANN) forwarder on libuv (design.md §3 step 5): the driver of Attempts
// (attempts.hpp), which decides per question what to send where, which replies count, TCP on
// TC=1 and when to move to the next upstream.
//
// Each query gets a fresh 16-bit ID from getrandom(2) and goes out on a randomly chosen socket
// of a pool of `udp_sockets` UDP sockets, each bound to port 0 (a kernel-chosen random
// ephemeral port).
// Why a pool and not a socket per query: socket/bind/close per query (and the 64 KiB receive
// buffer) cost more than the rest of the query. A spoofer must still guess 16 bits of ID and
// one of the pool's random ports, and the ports keep moving: a socket is retired after
// `queries_per_socket` queries or when it was idle for `socket_idle_ms` (closed once its last
// in-flight query is done) and replaced by a new one on a fresh random port, as unbound's
// outgoing-range does. In-flight queries are keyed by (socket, upstream, ID); an ID already in
// flight on the same socket and upstream is never reused (another ID is drawn).
// Timeouts: one sweep timer for the whole forwarder, armed at the earliest deadline.
//
// Every `done` runs exactly once: with the reply, with an error, immediately (inside forward())
// when the forwarder is closed or max_in_flight queries are pending, or with an error from
// close() / the destructor for queries still pending.
//
// Handle callbacks capture `this` and a query id: the sockets and the timer are owned by this
// object, and an owner that is gone runs no callback (common/uv.hpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "common/uv.hpp"
#include "resolver/pipeline/upstream.hpp"
#include "resolver/upstream/attempts.hpp"

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

    // Carries out the core's steps for query `id` until it waits or is finished.
    void apply(std::uint64_t id, Step step);
    // Places a send_udp step: the core's next step when that failed, else wait.
    Step send_udp(std::uint64_t id, Pending& p, std::size_t upstream);
    void send_tcp(std::uint64_t id, Pending& p, Bytes frame);
    void on_udp(std::uint64_t socket, ByteView data, const SocketAddress& from);
    std::uint32_t random32();
    // A pool socket of that address family (opening or replacing one as needed): its serial.
    Result<std::uint64_t> pick_socket(bool v6, std::uint32_t random);
    void release_transport(Pending& p);
    void finish(std::uint64_t id, Result<dns::Packet> result);
    // The sweep timer: deadlines_ follows each core's deadline(); the timer fires at the first.
    void track_deadline(std::uint64_t id, Pending& p);
    void arm_sweep();
    void sweep();

    uv::Loop& loop_;
    ForwarderConfig config_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending_;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, PoolSocket> sockets_;  // by serial: pool and retired
    std::vector<std::uint64_t> pool_v4_, pool_v6_;           // serials; 0 = not open yet
    std::uint64_t next_socket_ = 1;
    std::unordered_map<FlightKey, std::uint64_t, FlightKeyHash> flights_;  // -> query id
    std::set<std::pair<std::uint64_t, std::uint64_t>> deadlines_;          // (deadline, query id)
    std::unique_ptr<uv::Timer> sweep_;                                     // null until needed
    std::optional<std::uint64_t> sweep_at_;                                // when it is armed for
    bool sweeping_ = false;
    std::shared_ptr<char> alive_ = std::make_shared<char>();  // expires with this (for sweep())
    bool closed_ = false;
};

}  // namespace pkdns::upstream
