#pragma once
// 160-bit DHT node ids / targets, the XOR metric, BEP42 secure ids (CRC32C), and the shared time
// and randomness types of the pure DHT layers (time is always passed in, never read).

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "pkarr/dht/address.hpp"

namespace pkdns::dht {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// Fills the span with random bytes. The default (system_random) is the OS CSPRNG (getrandom);
// tests inject a deterministic one.
using RandomFn = std::function<void(std::span<std::uint8_t>)>;
void system_random(std::span<std::uint8_t> out);

class NodeId {
public:
    static constexpr std::size_t size = 20;
    static constexpr int bits = 160;
    using Raw = std::array<std::uint8_t, size>;

    NodeId() = default;  // all zero
    explicit NodeId(const Raw& raw) : bytes_(raw) {}

    // Exactly 20 bytes.
    static Result<NodeId> from_bytes(ByteView bytes);
    // Exactly 40 hex characters.
    static Result<NodeId> from_hex(std::string_view hex);
    static NodeId random(const RandomFn& rng = system_random);

    const Raw& bytes() const { return bytes_; }
    ByteView view() const { return {bytes_.data(), bytes_.size()}; }
    std::string to_hex() const;

    // XOR distance as an id (compare distances with <).
    NodeId operator^(const NodeId& other) const;
    // Number of leading bits equal to `other`'s (0..160; 160 means equal).
    int common_prefix_bits(const NodeId& other) const;
    int leading_zero_bits() const;
    // Value of bit i (0 = most significant).
    bool bit(int i) const { return (bytes_[static_cast<std::size_t>(i) / 8] >> (7 - i % 8)) & 1; }

    // Byte order = numeric order, so for distances `a < b` means a is closer.
    friend bool operator==(const NodeId&, const NodeId&) = default;
    friend auto operator<=>(const NodeId&, const NodeId&) = default;

private:
    Raw bytes_{};
};

// True when `a` is strictly closer to `target` than `b` (XOR metric).
inline bool closer_to(const NodeId& target, const NodeId& a, const NodeId& b) {
    return (a ^ target) < (b ^ target);
}

// mainline's distance: 160 - common_prefix_bits (0 for the same id, 1..160 otherwise). Used as the
// routing-table bucket index.
inline int bucket_distance(const NodeId& self, const NodeId& other) {
    return NodeId::bits - self.common_prefix_bits(other);
}

struct NodeIdHash {
    std::size_t operator()(const NodeId& id) const noexcept;
};

// CRC32C (Castagnoli, reflected, init/xorout 0xffffffff) as BEP42 uses it.
std::uint32_t crc32c(ByteView data);

// BEP42 secure id for `addr`'s IP: first 21 bits from CRC32C((ip & mask) | r<<29) (IPv4; IPv6 uses
// the first 8 bytes with mask 0x0103070f1f3f7fff and r<<61), last byte = r, other bits from
// `random_base`. Only the low 3 bits of r enter the CRC.
NodeId secure_id_for(const Address& addr, std::uint8_t r, const NodeId& random_base);
NodeId secure_id_for(const Address& addr, const RandomFn& rng = system_random);

// Strict BEP42 check: the first 21 bits match secure_id_for(addr, id's last byte). No exemptions.
bool matches_bep42(const NodeId& id, const Address& addr);
// Policy check (mainline `is_valid_for_ip`): loopback/private/link-local addresses are always
// valid, so a 127.0.0.1 testnet with random ids works; otherwise matches_bep42.
bool is_valid_bep42(const NodeId& id, const Address& addr);
// True when the first 21 bits of the two ids are equal (mainline's sybil rule).
bool same_bep42_prefix(const NodeId& a, const NodeId& b);

}  // namespace pkdns::dht
