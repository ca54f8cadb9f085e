#include "common/cidr.hpp"

#include <algorithm>

namespace pkdns {

namespace {

// True when the first `bits` bits of a and b are equal.
bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, int bits) {
    int full = bits / 8;
    if (!std::equal(a, a + full, b)) return false;
    int rest = bits % 8;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

Result<Cidr> Cidr::parse(std::string_view text) {
    auto bad = [&](const std::string& why) { return make_error("'" + std::string(text) + "': " + why); };
    auto slash = text.find('/');
    auto ip = IpAddress::parse(text.substr(0, slash));
    if (!ip) return bad("not an IP address or CIDR prefix");
    int max_bits = ip->is_v4() ? 32 : 128;
    int bits = max_bits;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3 ||
            !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return bad("prefix length must be a number");
        }
        bits = 0;
        for (char c : digits) bits = bits * 10 + (c - '0');
        if (bits > max_bits) return bad("prefix length must be at most " + std::to_string(max_bits));
    }
    const auto& b = ip->bytes();
    for (int i = bits; i < max_bits; ++i) {
        if (b[static_cast<std::size_t>(i / 8)] & (0x80 >> (i % 8)))
            return bad("host bits set after the prefix");
    }
    Cidr c;
    c.network_ = *ip;
    c.prefix_ = bits;
    return c;
}

bool Cidr::contains(const IpAddress& ip) const {
    if (network_.is_v4() && ip.is_v4_mapped()) {
        return prefix_equal(network_.bytes().data(), ip.bytes().data() + 12, prefix_);
    }
    if (network_.family() != ip.family()) return false;
    return prefix_equal(network_.bytes().data(), ip.bytes().data(), prefix_);
}

std::string Cidr::to_string() const {
    return network_.to_string() + "/" + std::to_string(prefix_);
}

}  // namespace pkdns
