#pragma once
// Signed packets for the relay tests.

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "common/dns/name.hpp"
#include "common/uv.hpp"
#include "common/dns/record.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::relay::test {

inline constexpr pkarr::Micros t0 = 1'700'000'000'000'000;

inline pkarr::Keypair keypair(std::uint8_t fill) {
    pkarr::Keypair::Seed seed{};
    seed.fill(fill);
    return pkarr::Keypair::from_seed(seed);
}

// One A record at the apex whose last octet tells packets apart.
inline pkarr::SignedPacket packet(const pkarr::Keypair& kp, pkarr::Micros ts, std::uint8_t octet = 1) {
    dns::Record r;
    auto name = dns::Name::parse("@");
    REQUIRE(name.ok());
    r.name = name.value();
    r.type = dns::type::A;
    r.ttl = 300;
    r.rdata = {192, 0, 2, octet};
    auto p = pkarr::SignedPacket::sign(kp, {r}, ts);
    REQUIRE(p.ok());
    return p.value();
}

// run_until (support/uv_loop.hpp) with a 5 ms tick: libuv 1.44 runs due timers before it polls and
// then still blocks in the poll, so a result delivered from a timer callback (curl timeouts,
// posted completions) would otherwise wait for the next unrelated event.
inline bool pump_until(uv::Loop& loop, const std::function<bool()>& done, std::uint64_t deadline_ms = 10000) {
    bool expired = false;
    {
        uv::Timer deadline(loop), tick(loop);
        deadline.start(deadline_ms, 0, [&] { expired = true; });
        tick.start(5, 5, [] {});
        while (!done() && !expired) loop.run_once();
    }
    return done();
}

inline Bytes bytes_of(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

inline std::string payload_string(const pkarr::SignedPacket& p) {
    auto b = p.relay_payload();
    return std::string(b.begin(), b.end());
}

}  // namespace pkdns::relay::test
