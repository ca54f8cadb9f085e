#pragma once
// Pure admission control for DNS clients (design.md §3 step 2): the `allow` list and a
// per-client token bucket (IPv4 per address, IPv6 per /64). Time is passed in.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/cidr.hpp"
#include "common/lru.hpp"
#include "common/socket_address.hpp"

namespace pkdns::pipeline {

class AllowList {
public:
    // Empty list: the defaults (loopback and private ranges), as in conf::DnsConfig.
    explicit AllowList(std::vector<Cidr> allow = {});
    // IPv4-mapped IPv6 clients are matched as IPv4.
    bool allows(const IpAddress& client) const;
    const std::vector<Cidr>& prefixes() const { return allow_; }

    static std::vector<Cidr> default_prefixes();

private:
    std::vector<Cidr> allow_;
};

// Token bucket per client: `rate` tokens/s, capacity `burst` (or `rate` when burst is 0).
// rate 0 disables limiting. The table holds at most `max_clients` buckets; when full, the
// least recently seen client is forgotten (it comes back with a full bucket).
class RateLimiter {
public:
    RateLimiter(std::uint32_t rate, std::uint32_t burst, std::size_t max_clients = 65536);

    // Takes one token for `client`; false when its bucket is empty.
    bool allow(const IpAddress& client, std::uint64_t now_ms);
    std::size_t tracked_clients() const { return buckets_.size(); }

private:
    struct Key {
        std::uint8_t family;  // 4 or 6
        std::uint64_t bits;   // IPv4 address, or the top 64 bits of an IPv6 address
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept;
    };
    struct Bucket {
        std::uint64_t millitokens;
        std::uint64_t last_ms;
    };
    static Key key_of(const IpAddress& client);

    std::uint64_t rate_;      // tokens per second (= millitokens per ms)
    std::uint64_t capacity_;  // in millitokens
    Lru<Key, Bucket, KeyHash> buckets_;
};

enum class Admission : std::uint8_t { allowed, not_allowed, rate_limited };

// Both checks in order; anything but `allowed` is answered REFUSED.
class AccessControl {
public:
    AccessControl(std::vector<Cidr> allow, std::uint32_t rate, std::uint32_t burst,
                  std::size_t max_clients = 65536);
    Admission admit(const IpAddress& client, std::uint64_t now_ms);

private:
    AllowList allow_;
    RateLimiter limiter_;
};

}  // namespace pkdns::pipeline
