#include "pkarr/dht/rate_limit.hpp"

#include <algorithm>
#include <chrono>

namespace pkdns::dht {

bool RateLimiter::allow(const Address& from, TimePoint now) {
    if (config_.rate_per_second <= 0) return true;
    if (config_.exempt_loopback && from.is_loopback()) return true;
    Address key = from.ip_only();
    auto it = table_.find(key);
    if (it == table_.end()) {
        while (!lru_.empty() && table_.size() >= std::max<std::size_t>(config_.max_sources, 1)) {
            table_.erase(lru_.front());
            lru_.pop_front();
        }
        lru_.push_back(key);
        it = table_.emplace(key, Bucket{config_.burst, now, std::prev(lru_.end())}).first;
    } else {
        lru_.splice(lru_.end(), lru_, it->second.lru);
        // steady time never goes back, but a caller could pass an older `now`: treat as no time.
        double elapsed = std::chrono::duration<double>(now - it->second.updated).count();
        if (elapsed > 0) {
            it->second.tokens =
                std::min(config_.burst, it->second.tokens + elapsed * config_.rate_per_second);
            it->second.updated = now;
        }
    }
    if (it->second.tokens >= 1.0) {
        it->second.tokens -= 1.0;
        return true;
    }
    return false;
}

}  // namespace pkdns::dht
