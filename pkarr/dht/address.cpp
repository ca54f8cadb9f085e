#include "pkarr/dht/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace pkdns::dht {

Address Address::v4(const std::array<std::uint8_t, 4>& ip, std::uint16_t port) {
    Address a;
    a.family_ = Family::v4;
    std::memcpy(a.ip_.data(), ip.data(), 4);
    a.port_ = port;
    return a;
}

Address Address::v4(std::uint32_t ip, std::uint16_t port) {
    return v4(
        std::array<std::uint8_t, 4>{static_cast<std::uint8_t>(ip >> 24), static_cast<std::uint8_t>(ip >> 16),
                                    static_cast<std::uint8_t>(ip >> 8), static_cast<std::uint8_t>(ip)},
        port);
}

Address Address::v6(const std::array<std::uint8_t, 16>& ip, std::uint16_t port) {
    Address a;
    a.family_ = Family::v6;
    a.ip_ = ip;
    a.port_ = port;
    return a;
}

namespace {

Result<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return make_error("invalid port '" + std::string(text) + "'");
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value > 65535)
        return make_error("invalid port '" + std::string(text) + "'");
    return static_cast<std::uint16_t>(value);
}

}  // namespace

Result<Address> Address::parse_ip(std::string_view ip, std::uint16_t port) {
    if (ip.empty() || ip.size() > 45) return make_error("invalid IP address '" + std::string(ip) + "'");
    std::string text(ip);
    std::array<std::uint8_t, 16> buf{};
    if (inet_pton(AF_INET, text.c_str(), buf.data()) == 1)
        return v4(std::array<std::uint8_t, 4>{buf[0], buf[1], buf[2], buf[3]}, port);
    if (inet_pton(AF_INET6, text.c_str(), buf.data()) == 1) return v6(buf, port);
    return make_error("invalid IP address '" + text + "'");
}

Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return make_error("expected [IPv6]:port in '" + std::string(text) + "'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return make_error("missing port in '" + std::string(text) + "'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return make_error("IPv6 address needs brackets: '" + std::string(text) + "'");
    }
    if (host.empty()) return make_error("missing host in '" + std::string(text) + "'");
    auto p = parse_port(port);
    if (!p) return p.error();
    return std::pair<std::string, std::uint16_t>{std::string(host), *p};
}

Result<Address> Address::parse(std::string_view text) {
    auto hp = split_host_port(text);
    if (!hp) return hp.error();
    return parse_ip(hp->first, hp->second);
}

Result<Address> Address::from_compact(ByteView bytes) {
    if (bytes.size() == compact_v4_size)
        return v4(std::array<std::uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]},
                  get_u16(bytes.data() + 4));
    if (bytes.size() == compact_v6_size) {
        std::array<std::uint8_t, 16> ip{};
        std::memcpy(ip.data(), bytes.data(), 16);
        return v6(ip, get_u16(bytes.data() + 16));
    }
    return make_error("compact address must be 6 or 18 bytes, got " + std::to_string(bytes.size()));
}

std::uint32_t Address::ipv4() const {
    return is_v4() ? get_u32(ip_.data()) : 0;
}

Bytes Address::compact() const {
    Bytes out;
    append_compact(out);
    return out;
}

void Address::append_compact(Bytes& out) const {
    ByteView ip = ip_bytes();
    out.insert(out.end(), ip.begin(), ip.end());
    put_u16(out, port_);
}

std::string Address::ip_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, ip_.data(), buf, sizeof buf);
    return buf;
}

std::string Address::to_string() const {
    if (is_v4()) return ip_string() + ":" + std::to_string(port_);
    return "[" + ip_string() + "]:" + std::to_string(port_);
}

namespace {

bool v4_loopback(std::uint32_t ip) {
    return (ip >> 24) == 127;
}

bool v4_private(std::uint32_t ip) {
    return (ip >> 24) == 10 || (ip >> 20) == (172u << 4 | 1) || (ip >> 16) == (192u << 8 | 168) ||
           (ip >> 22) == (100u << 2 | 1) ||  // 100.64.0.0/10
           (ip >> 16) == (169u << 8 | 254);
}

// ::ffff:a.b.c.d
bool mapped_v4(const std::array<std::uint8_t, 16>& ip, std::uint32_t& v4) {
    for (int i = 0; i < 10; ++i)
        if (ip[static_cast<std::size_t>(i)] != 0) return false;
    if (ip[10] != 0xff || ip[11] != 0xff) return false;
    v4 = get_u32(ip.data() + 12);
    return true;
}

}  // namespace

bool Address::is_loopback() const {
    if (is_v4()) return v4_loopback(ipv4());
    std::uint32_t v4 = 0;
    if (mapped_v4(ip_, v4)) return v4_loopback(v4);
    for (int i = 0; i < 15; ++i)
        if (ip_[static_cast<std::size_t>(i)] != 0) return false;
    return ip_[15] == 1;
}

bool Address::is_private() const {
    if (is_v4()) return v4_private(ipv4());
    std::uint32_t v4 = 0;
    if (mapped_v4(ip_, v4)) return v4_private(v4);
    return (ip_[0] & 0xfe) == 0xfc ||                    // fc00::/7
           (ip_[0] == 0xfe && (ip_[1] & 0xc0) == 0x80);  // fe80::/10
}

bool Address::is_unspecified() const {
    for (std::size_t i = 0; i < (is_v4() ? 4u : 16u); ++i)
        if (ip_[i] != 0) return false;
    return true;
}

std::size_t AddressHash::operator()(const Address& a) const noexcept {
    // FNV-1a over family, IP and port.
    std::size_t h = 1469598103934665603ull;
    auto mix = [&h](std::uint8_t b) {
        h ^= b;
        h *= 1099511628211ull;
    };
    mix(static_cast<std::uint8_t>(a.family()));
    for (std::uint8_t b : a.ip_bytes()) mix(b);
    mix(static_cast<std::uint8_t>(a.port() >> 8));
    mix(static_cast<std::uint8_t>(a.port()));
    return h;
}

}  // namespace pkdns::dht
