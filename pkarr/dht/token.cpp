#include "pkarr/dht/token.hpp"

#include "common/sha1.hpp"

namespace pkdns::dht {

TokenManager::TokenManager(TimePoint now, Duration rotate_every, RandomFn rng)
    : rotate_every_(rotate_every), rng_(std::move(rng)), rotated_at_(now) {
    rng_(current_);
    rng_(previous_);
}

void TokenManager::rotate_if_due(TimePoint now) {
    // Two rotations invalidate everything, so more than two is pointless.
    for (int i = 0; i < 2 && now - rotated_at_ >= rotate_every_; ++i) {
        previous_ = current_;
        rng_(current_);
        rotated_at_ += rotate_every_;
    }
    if (now - rotated_at_ >= rotate_every_) rotated_at_ = now;
}

Bytes TokenManager::make(const Address& from, const Secret& secret) const {
    ByteView ip = from.ip_bytes();
    Bytes buf(ip.begin(), ip.end());
    buf.insert(buf.end(), secret.begin(), secret.end());
    Sha1 h = sha1(buf);
    return Bytes(h.begin(), h.end());
}

Bytes TokenManager::generate(const Address& from, TimePoint now) {
    rotate_if_due(now);
    return make(from, current_);
}

bool TokenManager::validate(ByteView token, const Address& from, TimePoint now) {
    rotate_if_due(now);
    if (token.size() != token_size) return false;
    auto equal = [&](const Secret& s) {
        Bytes expected = make(from, s);
        return std::equal(expected.begin(), expected.end(), token.begin());
    };
    return equal(current_) || equal(previous_);
}

}  // namespace pkdns::dht
