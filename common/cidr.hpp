#pragma once
// CIDR prefixes ("10.0.0.0/8", "::1/128") for access-control lists.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/socket_address.hpp"

namespace pkdns {

class Cidr {
public:
    Cidr() = default;  // 0.0.0.0/0
    // Host bits must be zero ("10.0.0.1/8" is rejected: it is almost always a typo).
    // A bare address means a single host (/32 or /128).
    static Result<Cidr> parse(std::string_view text);

    const IpAddress& network() const { return network_; }
    int prefix_length() const { return prefix_; }
    // An IPv4 prefix also matches IPv4-mapped IPv6 addresses (::ffff:a.b.c.d).
    bool contains(const IpAddress& ip) const;
    std::string to_string() const;

    auto operator<=>(const Cidr&) const = default;

private:
    IpAddress network_;
    int prefix_ = 0;
};

}  // namespace pkdns
