#pragma once
// Helpers for the libuv-driven tests: run a loop until a condition holds, bounded by a timer.

#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>

#include "common/uv.hpp"
#include "pkarr/dht/item_store.hpp"
#include "pkarr/keys.hpp"

namespace pkdns::test {

// Runs `loop` until `done()` or `deadline_ms` passed. Returns done().
inline bool run_until(uv::Loop& loop, const std::function<bool()>& done, std::uint64_t deadline_ms = 10000) {
    bool expired = false;
    {
        uv::Timer deadline(loop);
        deadline.start(deadline_ms, 0, [&] { expired = true; });
        while (!done() && !expired) loop.run_once();
    }
    return done();
}

// Lets pending close callbacks run, then closes the loop (must return 0 per design.md §4).
inline bool close_loop(uv::Loop& loop) {
    loop.run();
    return loop.close().ok();
}

inline pkarr::Keypair keypair(std::uint8_t last) {
    pkarr::Keypair::Seed seed{};
    seed[31] = last;
    return pkarr::Keypair::from_seed(seed);
}

inline dht::MutableItem sign_item(const pkarr::Keypair& kp, std::int64_t seq, std::string_view value) {
    dht::MutableItem item;
    std::memcpy(item.key.data(), kp.public_key().bytes().data(), 32);
    item.seq = seq;
    item.value = Bytes(value.begin(), value.end());
    item.signature = kp.sign(dht::mutable_signable({}, item.seq, item.value));
    return item;
}

inline SocketAddress loopback(std::uint16_t port = 0) {
    return SocketAddress{IpAddress::v4(127, 0, 0, 1), port};
}

}  // namespace pkdns::test
