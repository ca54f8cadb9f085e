#pragma once
// Helpers for libuv-driven tests: run a loop until a condition holds, bounded by a timer (no
// sleeps), and close it the way design.md §4 requires.

#include <cstdint>
#include <functional>

#include "common/socket_address.hpp"
#include "common/uv.hpp"

namespace pkdns::test {

// Runs `loop` until `done()` or `deadline_ms` passed. Returns done().
inline bool run_until(uv::Loop& loop, const std::function<bool()>& done, std::uint64_t deadline_ms = 10000) {
    bool expired = false;
    {
        uv::Timer deadline(loop), tick(loop);
        deadline.start(deadline_ms, 0, [&] { expired = true; });
        // libuv 1.44's UV_RUN_ONCE runs due timers and then still blocks in poll: a result
        // produced by a timer callback would wait for the next unrelated event without a tick.
        tick.start(5, 5, [] {});
        while (!done() && !expired) loop.run_once();
    }
    return done();
}

// Lets pending close callbacks run, then closes the loop (uv_loop_close must return 0).
inline bool close_loop(uv::Loop& loop) {
    loop.run();
    return loop.close().ok();
}

inline SocketAddress loopback(std::uint16_t port = 0) {
    return SocketAddress{IpAddress::v4(127, 0, 0, 1), port};
}

}  // namespace pkdns::test
