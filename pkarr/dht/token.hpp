#pragma once
// Write tokens for get_peers/get answers (mainline-dht.md A.5): token = sha1(ip bytes ‖ secret),
// 20 bytes, for the IP only (not the port). Two secrets, current and previous; the current one
// rotates every `rotate_every` (5 min), checked lazily against `now`. A token is accepted under
// either secret, so it stays valid for 5-10 minutes.

#include <array>
#include <cstdint>

#include "common/bytes.hpp"
#include "pkarr/dht/address.hpp"
#include "pkarr/dht/node_id.hpp"

namespace pkdns::dht {

class TokenManager {
public:
    static constexpr std::size_t token_size = 20;

    explicit TokenManager(TimePoint now, Duration rotate_every = std::chrono::minutes(5),
                          RandomFn rng = system_random);

    Bytes generate(const Address& from, TimePoint now);
    bool validate(ByteView token, const Address& from, TimePoint now);
    // Rotates as many times as due (at most twice matters). Called by generate/validate.
    void rotate_if_due(TimePoint now);

private:
    using Secret = std::array<std::uint8_t, 20>;
    Bytes make(const Address& from, const Secret& secret) const;

    Duration rotate_every_;
    RandomFn rng_;
    Secret current_{};
    Secret previous_{};
    TimePoint rotated_at_;
};

}  // namespace pkdns::dht
