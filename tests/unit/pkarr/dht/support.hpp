#pragma once
// Helpers for the DHT node tests: keys and signed items (loop helpers: support/uv_loop.hpp).

#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>

#include "support/dht_items.hpp"
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

}  // namespace pkdns::test
