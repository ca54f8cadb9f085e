#pragma once
// SignedPacket: pk(32) | sig(64) | timestamp u64 BE (8) | DNS packet (12..1000 bytes).
// Holding one means it was verified (or loaded from our own database).

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "pkarr/keys.hpp"

namespace pkdns::pkarr {

inline constexpr std::size_t max_dns_bytes = 1000;          // accepted on input
inline constexpr std::size_t max_publish_dns_bytes = 996;   // libtorrent counts the bencoding
inline constexpr std::size_t max_signed_packet_bytes = 1104;
inline constexpr std::size_t max_relay_payload_bytes = 1072;
inline constexpr std::uint32_t default_min_ttl = 300;
inline constexpr std::uint32_t default_max_ttl = 86400;

// Microseconds since the Unix epoch.
using Micros = std::uint64_t;
Micros now_micros();

// BEP44 signable: "3:seqi<seq>e1:v<len>:<v>".
Bytes bep44_signable(std::int64_t seq, ByteView value);

// pkarr's normalize_name(origin, name) on presentation strings (no trailing dot in the result).
std::string normalize_name(std::string_view origin, std::string_view name);

class SignedPacket {
public:
    // Canonical bytes pk|sig|ts|dns. Checks (in pkarr's order): length, key, signature, DNS parse,
    // and ts < 2^63.
    static Result<SignedPacket> from_bytes(ByteView bytes, Micros last_seen = now_micros());
    // Relay payload sig|ts|dns for a known key.
    static Result<SignedPacket> from_relay_payload(const PublicKey& key, ByteView payload,
                                                   Micros last_seen = now_micros());
    // From BEP44 parts as they arrive from the DHT (k, seq, v, sig).
    static Result<SignedPacket> from_parts(const PublicKey& key, std::int64_t seq, ByteView dns,
                                           ByteView signature, Micros last_seen = now_micros());
    // Records' names are normalized (relative names get the key appended); answers only,
    // id 0, flags 0x8000, pkarr-style compression. Error if the DNS packet is over `max_dns`.
    static Result<SignedPacket> sign(const Keypair& keypair, const std::vector<dns::Record>& records,
                                     Micros timestamp, std::size_t max_dns = max_publish_dns_bytes);
    // Our own database: trusted bytes, no signature check (still parsed).
    static Result<SignedPacket> from_trusted_bytes(ByteView bytes, Micros last_seen);

    const PublicKey& public_key() const { return key_; }
    Micros timestamp() const { return timestamp_; }
    Micros last_seen() const { return last_seen_; }
    void set_last_seen(Micros t) { last_seen_ = t; }

    const Bytes& bytes() const { return bytes_; }           // canonical pk|sig|ts|dns
    Bytes relay_payload() const;                            // sig|ts|dns
    ByteView signature() const { return ByteView(bytes_).subspan(32, 64); }
    ByteView dns_bytes() const { return ByteView(bytes_).subspan(104); }
    // Answer-section records, absolute names (ending in the key label).
    const std::vector<dns::Record>& records() const { return records_; }

    // Timestamp, then larger DNS bytes (pkarr's more_recent_than).
    bool more_recent_than(const SignedPacket& other) const;
    bool same_as(const SignedPacket& other) const { return bytes_ == other.bytes_; }

    // min over records' TTLs clamped to [min,max]; no records -> min.
    std::uint32_t ttl(std::uint32_t min_ttl = default_min_ttl, std::uint32_t max_ttl = default_max_ttl) const;
    std::uint32_t expires_in(Micros now, std::uint32_t min_ttl = default_min_ttl,
                             std::uint32_t max_ttl = default_max_ttl) const;
    bool is_expired(Micros now, std::uint32_t min_ttl = default_min_ttl,
                    std::uint32_t max_ttl = default_max_ttl) const {
        return expires_in(now, min_ttl, max_ttl) == 0;
    }

private:
    SignedPacket(const PublicKey& key, Micros timestamp, Micros last_seen, Bytes bytes,
                 std::vector<dns::Record> records)
        : key_(key), timestamp_(timestamp), last_seen_(last_seen), bytes_(std::move(bytes)),
          records_(std::move(records)) {}
    PublicKey key_;
    Micros timestamp_ = 0;
    Micros last_seen_ = 0;
    Bytes bytes_;
    std::vector<dns::Record> records_;
};

}  // namespace pkdns::pkarr
