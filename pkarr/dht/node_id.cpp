#include "pkarr/dht/node_id.hpp"

#include <sys/random.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <random>

namespace pkdns::dht {

void system_random(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            // getrandom is unavailable only on ancient kernels; random_device reads /dev/urandom.
            std::random_device rd;
            for (; done < out.size(); ++done) out[done] = static_cast<std::uint8_t>(rd());
        }
    }
}

Result<NodeId> NodeId::from_bytes(ByteView bytes) {
    if (bytes.size() != size)
        return make_error("node id must be 20 bytes, got " + std::to_string(bytes.size()));
    Raw raw{};
    std::memcpy(raw.data(), bytes.data(), size);
    return NodeId(raw);
}

Result<NodeId> NodeId::from_hex(std::string_view hex) {
    if (hex.size() != 2 * size)
        return make_error("node id must be 40 hex characters, got " + std::to_string(hex.size()));
    auto bytes = pkdns::from_hex(hex);
    if (!bytes) return bytes.error();
    return from_bytes(*bytes);
}

NodeId NodeId::random(const RandomFn& rng) {
    Raw raw{};
    rng(raw);
    return NodeId(raw);
}

std::string NodeId::to_hex() const {
    return pkdns::to_hex(view());
}

NodeId NodeId::operator^(const NodeId& other) const {
    Raw out{};
    for (std::size_t i = 0; i < size; ++i) out[i] = bytes_[i] ^ other.bytes_[i];
    return NodeId(out);
}

int NodeId::leading_zero_bits() const {
    for (std::size_t i = 0; i < size; ++i)
        if (bytes_[i] != 0) return static_cast<int>(i) * 8 + std::countl_zero(bytes_[i]);
    return bits;
}

int NodeId::common_prefix_bits(const NodeId& other) const {
    return (*this ^ other).leading_zero_bits();
}

std::size_t NodeIdHash::operator()(const NodeId& id) const noexcept {
    // Ids are (mostly) uniformly random; 8 bytes of them are a fine hash. Attackers choosing ids
    // can collide buckets, but every table using this hash is bounded.
    std::uint64_t h = get_u64(id.bytes().data() + 4);
    return static_cast<std::size_t>(h ^ (h >> 29));
}

namespace {

constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}
constexpr auto crc32c_table = make_crc32c_table();

// First 21 bits of the BEP42 prefix for this IP and r, as the top bits of a u32.
std::uint32_t bep42_prefix(const Address& addr, std::uint8_t r) {
    if (addr.is_v4()) {
        std::uint32_t ip = (addr.ipv4() & 0x030f3fffu) | (std::uint32_t{r} << 29);
        Bytes buf;
        put_u32(buf, ip);
        return crc32c(buf);
    }
    std::uint64_t ip = get_u64(addr.ip_bytes().data()) & 0x0103070f1f3f7fffull;
    ip |= std::uint64_t{r & 0x7u} << 61;
    Bytes buf;
    put_u64(buf, ip);
    return crc32c(buf);
}

}  // namespace

std::uint32_t crc32c(ByteView data) {
    std::uint32_t c = 0xffffffffu;
    for (std::uint8_t b : data) c = crc32c_table[(c ^ b) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

NodeId secure_id_for(const Address& addr, std::uint8_t r, const NodeId& random_base) {
    std::uint32_t crc = bep42_prefix(addr, r);
    NodeId::Raw raw = random_base.bytes();
    raw[0] = static_cast<std::uint8_t>(crc >> 24);
    raw[1] = static_cast<std::uint8_t>(crc >> 16);
    raw[2] = static_cast<std::uint8_t>((crc >> 8) & 0xf8) | (raw[2] & 0x07);
    raw[19] = r;
    return NodeId(raw);
}

NodeId secure_id_for(const Address& addr, const RandomFn& rng) {
    NodeId base = NodeId::random(rng);
    return secure_id_for(addr, base.bytes()[19], base);
}

bool same_bep42_prefix(const NodeId& a, const NodeId& b) {
    return a.common_prefix_bits(b) >= 21;
}

bool matches_bep42(const NodeId& id, const Address& addr) {
    NodeId expected = secure_id_for(addr, id.bytes()[19], id);
    return same_bep42_prefix(id, expected);
}

bool is_valid_bep42(const NodeId& id, const Address& addr) {
    return addr.is_local() || matches_bep42(id, addr);
}

}  // namespace pkdns::dht
