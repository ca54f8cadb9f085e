#pragma once
// A signed BEP44 mutable item for DHT tests (no salt).

#include <cstdint>
#include <cstring>
#include <string_view>

#include "pkarr/dht/item_store.hpp"
#include "pkarr/keys.hpp"

namespace pkdns::test {

inline dht::MutableItem sign_item(const pkarr::Keypair& kp, std::int64_t seq, std::string_view value) {
    dht::MutableItem item;
    std::memcpy(item.key.data(), kp.public_key().bytes().data(), 32);
    item.seq = seq;
    item.value = Bytes(value.begin(), value.end());
    item.signature = kp.sign(dht::mutable_signable({}, item.seq, item.value));
    return item;
}

}  // namespace pkdns::test
