#include "pkarr/zbase32.hpp"

#include <array>
#include <cstdint>

namespace pkdns::pkarr {

namespace {

constexpr std::string_view alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769";

// -1 for characters outside the alphabet (case-sensitive, like base32 0.5.1 Alphabet::Z).
constexpr std::array<std::int8_t, 256> make_reverse() {
    std::array<std::int8_t, 256> table{};
    for (auto& v : table) v = -1;
    for (std::size_t i = 0; i < alphabet.size(); ++i)
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return table;
}
constexpr auto reverse = make_reverse();

int symbol_value(char c) {
    return reverse[static_cast<unsigned char>(c)];
}

}  // namespace

std::string zbase32_encode(ByteView bytes) {
    std::string out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    std::uint32_t buffer = 0;  // holds at most 12 pending bits
    int bits = 0;
    for (std::uint8_t b : bytes) {
        buffer = (buffer << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(alphabet[(buffer >> bits) & 0x1f]);
        }
        buffer &= (1u << bits) - 1;
    }
    if (bits > 0) out.push_back(alphabet[(buffer << (5 - bits)) & 0x1f]);
    return out;
}

Result<Bytes> zbase32_decode(std::string_view text) {
    Bytes out;
    out.reserve(text.size() * 5 / 8);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        int v = symbol_value(text[i]);
        if (v < 0) return make_error("not a z-base-32 character at offset " + std::to_string(i));
        buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>(buffer >> bits));
        }
        buffer &= (1u << bits) - 1;
    }
    // Leftover bits (< 8) are dropped unchecked: floor(len*5/8) bytes, as pkarr >= 3 decodes.
    return out;
}

bool zbase32_is_canonical(std::string_view text) {
    const std::size_t leftover = text.size() * 5 % 8;
    if (leftover >= 5) return false;  // a whole character of padding: encode never emits it
    for (char c : text)
        if (symbol_value(c) < 0) return false;
    if (leftover == 0) return true;
    const int last = symbol_value(text.back());
    return (last & ((1 << leftover) - 1)) == 0;
}

}  // namespace pkdns::pkarr
