#pragma once
// Helpers for the DHT node tests: keys and signed items (loop helpers: support/uv_loop.hpp).

#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>

#include "common/uv.hpp"
#include "support/uv_loop.hpp"
#include "pkarr/dht/item_store.hpp"
#include "pkarr/keys.hpp"

namespace pkdns::test {

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

}  // namespace pkdns::test
