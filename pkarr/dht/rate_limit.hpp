#pragma once
// Per-source-IP token bucket for incoming DHT queries. The table is bounded: when full, the
// least recently active source is evicted (it restarts with a full bucket, which errs on the side
// of answering). rate_per_second <= 0 disables limiting (allow() always true).

#include <algorithm>
#include <cstddef>

#include "common/lru.hpp"
#include "pkarr/dht/address.hpp"
#include "pkarr/dht/node_id.hpp"

namespace pkdns::dht {

struct RateLimitConfig {
    double rate_per_second = 5.0;  // [dht] query_rate_limit
    double burst = 20.0;           // bucket capacity
    std::size_t max_sources = 10000;
    bool exempt_loopback = false;  // e.g. a 127.0.0.1 testnet in one process
};

class RateLimiter {
public:
    explicit RateLimiter(RateLimitConfig config = {})
        : config_(config), table_({.max_entries = std::max<std::size_t>(config.max_sources, 1)}) {}

    // Port is ignored: the key is the IP.
    bool allow(const Address& from, TimePoint now);
    std::size_t size() const { return table_.size(); }
    const RateLimitConfig& config() const { return config_; }

private:
    struct Bucket {
        double tokens = 0;
        TimePoint updated{};
    };
    RateLimitConfig config_;
    Lru<Address, Bucket, AddressHash> table_;
};

}  // namespace pkdns::dht
