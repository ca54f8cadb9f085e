#include "resolver/pipeline/access.hpp"

#include <algorithm>
#include <utility>

namespace pkdns::pipeline {

namespace {

// ::ffff:a.b.c.d -> a.b.c.d, so dual-stack sockets see IPv4 clients as IPv4.
IpAddress unmapped(const IpAddress& ip) {
    if (!ip.is_v4_mapped()) return ip;
    const auto& b = ip.bytes();
    return IpAddress::v4(b[12], b[13], b[14], b[15]);
}

}  // namespace

AllowList::AllowList(std::vector<Cidr> allow)
    : allow_(allow.empty() ? default_prefixes() : std::move(allow)) {}

std::vector<Cidr> AllowList::default_prefixes() {
    std::vector<Cidr> out;
    for (auto text :
         {"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}) {
        out.push_back(Cidr::parse(text).value());
    }
    return out;
}

bool AllowList::allows(const IpAddress& client) const {
    const IpAddress ip = unmapped(client);
    return std::any_of(allow_.begin(), allow_.end(), [&](const Cidr& c) { return c.contains(ip); });
}

std::size_t RateLimiter::KeyHash::operator()(const Key& k) const noexcept {
    // splitmix64 finalizer: cheap and spreads neighbouring addresses.
    std::uint64_t x = k.bits ^ (std::uint64_t{k.family} << 56);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::size_t>(x ^ (x >> 31));
}

RateLimiter::RateLimiter(std::uint32_t rate, std::uint32_t burst, std::size_t max_clients)
    : rate_(rate),
      capacity_(std::uint64_t{burst > 0 ? burst : rate} * 1000),
      buckets_({.max_entries = std::max<std::size_t>(max_clients, 1)}) {}

RateLimiter::Key RateLimiter::key_of(const IpAddress& client) {
    const IpAddress ip = unmapped(client);
    const auto& b = ip.bytes();
    std::uint64_t bits = 0;
    const std::size_t n = ip.is_v4() ? 4 : 8;  // IPv6: the /64
    for (std::size_t i = 0; i < n; ++i) bits = bits << 8 | b[i];
    return Key{static_cast<std::uint8_t>(ip.is_v4() ? 4 : 6), bits};
}

bool RateLimiter::allow(const IpAddress& client, std::uint64_t now_ms) {
    if (rate_ == 0) return true;
    const Key key = key_of(client);
    Bucket* found = buckets_.find(key);
    // A new client, or one forgotten to make room, starts with a full bucket.
    Bucket& bucket = found ? *found : *buckets_.insert_or_assign(key, Bucket{capacity_, now_ms});
    if (now_ms > bucket.last_ms) {
        // Clamp before multiplying so a long absence cannot overflow.
        const std::uint64_t elapsed = std::min<std::uint64_t>(now_ms - bucket.last_ms, capacity_ / rate_ + 1);
        bucket.millitokens = std::min(capacity_, bucket.millitokens + elapsed * rate_);
        bucket.last_ms = now_ms;
    }
    if (bucket.millitokens < 1000) return false;
    bucket.millitokens -= 1000;
    return true;
}

AccessControl::AccessControl(std::vector<Cidr> allow, std::uint32_t rate, std::uint32_t burst,
                             std::size_t max_clients)
    : allow_(std::move(allow)), limiter_(rate, burst, max_clients) {}

Admission AccessControl::admit(const IpAddress& client, std::uint64_t now_ms) {
    if (!allow_.allows(client)) return Admission::not_allowed;
    if (!limiter_.allow(client, now_ms)) return Admission::rate_limited;
    return Admission::allowed;
}

}  // namespace pkdns::pipeline
