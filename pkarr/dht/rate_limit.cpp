#include "pkarr/dht/rate_limit.hpp"

#include <algorithm>
#include <chrono>

namespace pkdns::dht {

bool RateLimiter::allow(const Address& from, TimePoint now) {
    if (config_.rate_per_second <= 0) return true;
    if (config_.exempt_loopback && from.is_loopback()) return true;
    const Address key = from.ip_only();
    Bucket* bucket = table_.find(key);
    if (!bucket) {
        bucket = table_.insert_or_assign(key, Bucket{config_.burst, now});
    } else {
        // steady time never goes back, but a caller could pass an older `now`: treat as no time.
        double elapsed = std::chrono::duration<double>(now - bucket->updated).count();
        if (elapsed > 0) {
            bucket->tokens = std::min(config_.burst, bucket->tokens + elapsed * config_.rate_per_second);
            bucket->updated = now;
        }
    }
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return true;
    }
    return false;
}

}  // namespace pkdns::dht
