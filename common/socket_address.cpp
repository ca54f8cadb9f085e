#include "common/socket_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace pkdns {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

Result<std::uint16_t> parse_port(std::string_view text, std::string_view whole) {
    if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
        return make_error("'" + std::string(whole) + "': port must be a number 0-65535");
    }
    unsigned value = 0;
    for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 65535) return make_error("'" + std::string(whole) + "': port must be a number 0-65535");
    return static_cast<std::uint16_t>(value);
}

struct HostAndPortText {
    std::string_view host;
    std::string_view port;
    bool bracketed = false;
};

// Splits "host:port" / "[v6]:port" without judging the parts.
Result<HostAndPortText> split_host_port(std::string_view text) {
    if (text.empty()) return make_error("empty address (expected HOST:PORT)");
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return make_error("'" + std::string(text) + "': missing ']'");
        if (close + 1 >= text.size() || text[close + 1] != ':') {
            return make_error("'" + std::string(text) + "': expected [IPv6]:PORT");
        }
        return HostAndPortText{text.substr(1, close - 1), text.substr(close + 2), true};
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return make_error("'" + std::string(text) + "': missing port (expected HOST:PORT)");
    }
    if (text.find(':') != colon) {
        return make_error("'" + std::string(text) + "': IPv6 addresses need brackets, as in [::1]:53");
    }
    return HostAndPortText{text.substr(0, colon), text.substr(colon + 1), false};
}

bool valid_host_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::size_t label_len = 0;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c == '.') {
            if (label_len == 0) return false;
            label_len = 0;
            continue;
        }
        bool ok = is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
        if (!ok || ++label_len > 63) return false;
    }
    return true;  // a trailing dot (label_len == 0 at the end) is allowed: "host.example."
}

}  // namespace

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    IpAddress ip;
    ip.family_ = Family::v4;
    ip.bytes_[0] = a;
    ip.bytes_[1] = b;
    ip.bytes_[2] = c;
    ip.bytes_[3] = d;
    return ip;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
    IpAddress ip;
    ip.family_ = Family::v6;
    ip.bytes_ = bytes;
    return ip;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
    // inet_pton needs a NUL-terminated string; bound it first (longest IPv6 text is 45 chars).
    if (text.empty() || text.size() > 45)
        return make_error("'" + std::string(text) + "' is not an IP address");
    std::string s(text);
    IpAddress ip;
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), ip.bytes_.data()) != 1) {
            return make_error("'" + s + "' is not an IP address");
        }
        ip.family_ = Family::v4;
    } else {
        if (inet_pton(AF_INET6, s.c_str(), ip.bytes_.data()) != 1) {
            return make_error("'" + s + "' is not an IP address");
        }
        ip.family_ = Family::v6;
    }
    return ip;
}

bool IpAddress::is_v4_mapped() const {
    if (!is_v6()) return false;
    for (int i = 0; i < 10; ++i) {
        if (bytes_[static_cast<std::size_t>(i)] != 0) return false;
    }
    return bytes_[10] == 0xff && bytes_[11] == 0xff;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
    return buf;
}

Result<SocketAddress> SocketAddress::parse(std::string_view text) {
    auto parts = split_host_port(text);
    if (!parts) return parts.error();
    auto ip = IpAddress::parse(parts->host);
    if (!ip || (parts->bracketed != ip->is_v6())) {
        return make_error("'" + std::string(text) + "': expected IP:PORT (IPv6 as [addr]:PORT)");
    }
    auto port = parse_port(parts->port, text);
    if (!port) return port.error();
    return SocketAddress{*ip, *port};
}

std::string SocketAddress::to_string() const {
    std::string host = ip.to_string();
    if (ip.is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(port);
}

Result<SocketAddress> SocketAddress::from_sockaddr(const sockaddr* sa) {
    if (sa == nullptr) return make_error("no address");
    if (sa->sa_family == AF_INET) {
        sockaddr_in sin;
        std::memcpy(&sin, sa, sizeof sin);
        const auto* b = reinterpret_cast<const std::uint8_t*>(&sin.sin_addr);
        return SocketAddress{IpAddress::v4(b[0], b[1], b[2], b[3]), ntohs(sin.sin_port)};
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 sin6;
        std::memcpy(&sin6, sa, sizeof sin6);
        std::array<std::uint8_t, 16> b{};
        std::memcpy(b.data(), &sin6.sin6_addr, 16);
        return SocketAddress{IpAddress::v6(b), ntohs(sin6.sin6_port)};
    }
    return make_error("unsupported address family " + std::to_string(sa->sa_family));
}

void SocketAddress::to_sockaddr(sockaddr_storage& out) const {
    std::memset(&out, 0, sizeof out);
    if (ip.is_v4()) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        std::memcpy(&sin.sin_addr, ip.bytes().data(), 4);
        std::memcpy(&out, &sin, sizeof sin);
    } else {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        std::memcpy(&sin6.sin6_addr, ip.bytes().data(), 16);
        std::memcpy(&out, &sin6, sizeof sin6);
    }
}

std::size_t SocketAddress::sockaddr_length() const {
    return ip.is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

Result<HostPort> HostPort::parse(std::string_view text) {
    auto parts = split_host_port(text);
    if (!parts) return parts.error();
    if (parts->bracketed) {
        auto ip = IpAddress::parse(parts->host);
        if (!ip || !ip->is_v6())
            return make_error("'" + std::string(text) + "': bad IPv6 address in brackets");
    } else if (!valid_host_name(parts->host)) {
        return make_error("'" + std::string(text) + "': bad host name");
    }
    auto port = parse_port(parts->port, text);
    if (!port) return port.error();
    return HostPort{std::string(parts->host), *port};
}

std::string HostPort::to_string() const {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace pkdns
