#pragma once
// IP addresses and "host:port" values as plain parsed data (no sockets, no name resolution).
// Text forms: "192.0.2.1:53", "[2001:db8::1]:53"; bootstrap-style entries may name a host:
// "router.bittorrent.com:6881".

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

struct sockaddr;
struct sockaddr_storage;

namespace pkdns {

class IpAddress {
public:
    enum class Family : std::uint8_t { v4, v6 };

    IpAddress() = default;  // 0.0.0.0
    static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
    // 16 bytes in network order.
    static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);
    // A literal only ("10.0.0.1", "::1"); no brackets, no zone ids, no host names.
    static Result<IpAddress> parse(std::string_view text);

    Family family() const { return family_; }
    bool is_v4() const { return family_ == Family::v4; }
    bool is_v6() const { return family_ == Family::v6; }
    // Network-order bytes: 4 meaningful bytes for IPv4, 16 for IPv6.
    const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
    std::size_t size() const { return is_v4() ? 4 : 16; }
    // ::ffff:a.b.c.d (what a dual-stack socket reports for IPv4 peers).
    bool is_v4_mapped() const;
    std::string to_string() const;  // canonical text (RFC 5952 for IPv6)

    auto operator<=>(const IpAddress&) const = default;

private:
    Family family_ = Family::v4;
    std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first 4 bytes, the rest stay 0
};

// An IP literal and a port.
struct SocketAddress {
    IpAddress ip;
    std::uint16_t port = 0;

    // "a.b.c.d:port" or "[v6]:port"; the port is required (0..65535).
    static Result<SocketAddress> parse(std::string_view text);
    std::string to_string() const;

    // Conversions for the socket layers (sockaddr_in / sockaddr_in6).
    static Result<SocketAddress> from_sockaddr(const sockaddr* sa);
    void to_sockaddr(sockaddr_storage& out) const;
    std::size_t sockaddr_length() const;  // sizeof the struct to_sockaddr filled

    auto operator<=>(const SocketAddress&) const = default;
};

// A host (DNS name or IP literal) and a port, as in DHT bootstrap lists. IPv6 literals are
// stored without brackets.
struct HostPort {
    std::string host;
    std::uint16_t port = 0;

    // "name:port", "a.b.c.d:port" or "[v6]:port". Host names: dot-separated labels of letters,
    // digits, '-' and '_' (1..63 chars each, 253 total), case kept as written.
    static Result<HostPort> parse(std::string_view text);
    std::string to_string() const;

    bool operator==(const HostPort&) const = default;
};

}  // namespace pkdns
