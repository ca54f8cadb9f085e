#pragma once
// A UDP endpoint (IPv4 or IPv6 + port) as the DHT sees it: compact wire forms (BEP5: 4-byte IP ‖
// 2-byte BE port = 6 bytes; IPv6: 16 ‖ 2 = 18 bytes), text forms, address classes (BEP42 exempts
// loopback/private addresses). Pure value type; no sockets, no name resolution.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace pkdns::dht {

inline constexpr std::size_t compact_v4_size = 6;
inline constexpr std::size_t compact_v6_size = 18;

class Address {
public:
    enum class Family : std::uint8_t { v4 = 4, v6 = 6 };

    Address() = default;  // 0.0.0.0:0
    static Address v4(const std::array<std::uint8_t, 4>& ip, std::uint16_t port);
    // `ip` in host order: 0x7f000001 is 127.0.0.1.
    static Address v4(std::uint32_t ip, std::uint16_t port);
    static Address v6(const std::array<std::uint8_t, 16>& ip, std::uint16_t port);

    // Literal IP and port only (no names): "1.2.3.4:6881", "[::1]:6881". Port 0..65535.
    static Result<Address> parse(std::string_view text);
    // Literal IP without a port ("1.2.3.4", "::1") plus the given port.
    static Result<Address> parse_ip(std::string_view ip, std::uint16_t port);
    // Exactly 6 bytes (IPv4) or 18 bytes (IPv6).
    static Result<Address> from_compact(ByteView bytes);

    Family family() const { return family_; }
    bool is_v4() const { return family_ == Family::v4; }
    bool is_v6() const { return family_ == Family::v6; }
    std::uint16_t port() const { return port_; }
    // 4 bytes for IPv4, 16 for IPv6 (network order).
    ByteView ip_bytes() const { return {ip_.data(), is_v4() ? std::size_t{4} : std::size_t{16}}; }
    // IPv4 only (host order); 0 for IPv6.
    std::uint32_t ipv4() const;
    // The same IP with port 0: handy as a per-IP map key.
    Address ip_only() const { return with_port(0); }
    Address with_port(std::uint16_t port) const {
        Address a = *this;
        a.port_ = port;
        return a;
    }

    // 6 or 18 bytes.
    Bytes compact() const;
    void append_compact(Bytes& out) const;
    std::string ip_string() const;  // "1.2.3.4", "::1"
    std::string to_string() const;  // "1.2.3.4:6881", "[::1]:6881"

    bool is_loopback() const;  // 127/8, ::1, and IPv4-mapped 127/8
    // RFC1918, 100.64/10 (CGNAT), 169.254/16 link-local, fc00::/7, fe80::/10 (and IPv4-mapped forms).
    bool is_private() const;
    bool is_unspecified() const;  // 0.0.0.0 or ::
    // Loopback or private: BEP42 treats these as always secure (mainline-dht.md A.6).
    bool is_local() const { return is_loopback() || is_private(); }

    friend bool operator==(const Address&, const Address&) = default;
    friend auto operator<=>(const Address&, const Address&) = default;

private:
    Family family_ = Family::v4;
    std::array<std::uint8_t, 16> ip_{};  // IPv4 uses the first 4 bytes; the rest stay zero
    std::uint16_t port_ = 0;
};

struct AddressHash {
    std::size_t operator()(const Address& a) const noexcept;
};

// "host:port" / "[v6]:port" split without resolving (for bootstrap names like
// "router.bittorrent.com:6881"). Error for a missing/invalid port or empty host.
Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text);

}  // namespace pkdns::dht
