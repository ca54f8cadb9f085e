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

inline constexpr std::size_t max_dns_bytes = 1000;         // accepted on input
inline constexpr std::size_t max_publish_dns_bytes = 996;  // libtorrent counts the bencoding
inline constexpr std::size_t max_signed_packet_bytes = 1104;
inline constexpr std::size_t max_relay_payload_bytes = 1072;
inline constexpr std::uint32_t default_min_ttl = 300;
inline constexpr std::uint32_t default_max_ttl = 86400;
// Timestamps are BEP44 `seq` values, an i64 on the DHT: anything >= 2^63 is rejected.
inline constexpr std::uint64_t max_timestamp = (std::uint64_t{1} << 63) - 1;

// Error codes (Error::code) of the SignedPacket factories; names follow pkarr's errors.
enum class PacketError : int {
    invalid_length = 1,     // shorter than 104 bytes (InvalidSignedPacketBytesLength)
    too_large = 2,          // over 1104 bytes, DNS part over the limit (PacketTooLarge)
    invalid_key = 3,        // first 32 bytes are not a valid public key
    bad_signature = 4,      // Ed25519 verification failed (SignatureError)
    invalid_dns = 5,        // the DNS packet does not parse / a record cannot be encoded
    invalid_timestamp = 6,  // timestamp >= 2^63 (or a negative DHT seq)
};

// Microseconds since the Unix epoch.
using Micros = std::uint64_t;
Micros now_micros();

// BEP44 signable: "3:seqi<seq>e1:v<len>:<v>".
Bytes bep44_signable(std::int64_t seq, ByteView value);
// With a salt (pkarr never uses one): "4:salt<len>:<salt>3:seqi<seq>e1:v<len>:<v>".
Bytes bep44_signable(std::int64_t seq, ByteView value, ByteView salt);

// BEP44 / pkarr ordering: higher seq wins; on equal seq the lexicographically larger value
// (byte-wise, a proper prefix is smaller). Identical -> false both ways.
bool is_more_recent(std::uint64_t seq, ByteView value, std::uint64_t other_seq, ByteView other_value);

// pkarr's normalize_name(origin, name) on presentation strings (no trailing dot in the result).
std::string normalize_name(std::string_view origin, std::string_view name);
// The same rule on a dns::Name's labels (used when signing): ends in the `origin` label
// (exact, case-sensitive) -> unchanged; the root or last label "@" -> the apex; otherwise
// `origin` is appended. Error when the result exceeds 255 wire bytes.
Result<dns::Name> normalize_owner(std::string_view origin, const dns::Name& name);

// TXT rdata from one string the way pkarr's builder makes it: 254-byte character-strings;
// the empty string gives a single empty character-string.
Bytes txt_rdata(std::string_view text);

class SignedPacket {
public:
    // Canonical bytes pk|sig|ts|dns. Checks (in pkarr's order): length, key, signature, DNS parse,
    // and ts < 2^63. Error codes: PacketError.
    static Result<SignedPacket> from_bytes(ByteView bytes, Micros last_seen = now_micros());
    // Relay payload sig|ts|dns for a known key.
    static Result<SignedPacket> from_relay_payload(const PublicKey& key, ByteView payload,
                                                   Micros last_seen = now_micros());
    // From BEP44 parts as they arrive from the DHT (k, seq, v, sig). Also enforces len(v) <= 1000
    // and seq >= 0. The caller checks that `key` is the key it asked for.
    static Result<SignedPacket> from_parts(const PublicKey& key, std::int64_t seq, ByteView dns,
                                           ByteView signature, Micros last_seen = now_micros());
    // Records' names are normalized (relative names get the key appended); answers only,
    // id 0, flags 0x8000, pkarr-style compression. Error if the DNS packet is over `max_dns`
    // (never more than max_dns_bytes) or the timestamp is >= 2^63.
    static Result<SignedPacket> sign(const Keypair& keypair, const std::vector<dns::Record>& records,
                                     Micros timestamp, std::size_t max_dns = max_publish_dns_bytes);
    // Our own database: trusted bytes, no signature check (still parsed).
    static Result<SignedPacket> from_trusted_bytes(ByteView bytes, Micros last_seen);

    const PublicKey& public_key() const { return key_; }
    Micros timestamp() const { return timestamp_; }
    Micros last_seen() const { return last_seen_; }
    void set_last_seen(Micros t) { last_seen_ = t; }

    const Bytes& bytes() const { return bytes_; }  // canonical pk|sig|ts|dns
    Bytes relay_payload() const;                   // sig|ts|dns
    ByteView signature() const { return ByteView(bytes_).subspan(32, 64); }
    ByteView dns_bytes() const { return ByteView(bytes_).subspan(104); }
    // Answer-section records with absolute names as they are in the packet (normally ending in
    // the key label; like pkarr, not enforced for received packets).
    const std::vector<dns::Record>& records() const { return records_; }

    // pkarr's resource_records(name): `name` is normalized (§3.2) and compared exactly
    // (case-sensitive) with the records' names; "*.rest" lists the records exactly one label
    // below "rest" (a query-side wildcard, no DNS wildcard semantics). "@" or "." is the apex.
    std::vector<dns::Record> resource_records(std::string_view name) const;
    // The same, keeping only records with ttl > whole seconds elapsed since last_seen.
    std::vector<dns::Record> fresh_resource_records(std::string_view name, Micros now) const;
    // Whole seconds since last_seen (0 when `now` is earlier), saturating at UINT32_MAX.
    std::uint32_t elapsed_seconds(Micros now) const;

    // Timestamp, then larger DNS bytes (pkarr's more_recent_than).
    bool more_recent_than(const SignedPacket& other) const;
    bool same_as(const SignedPacket& other) const { return bytes_ == other.bytes_; }

    // min over records' TTLs clamped to [min,max]; no records -> min. If min > max, max wins.
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
        : key_(key),
          timestamp_(timestamp),
          last_seen_(last_seen),
          bytes_(std::move(bytes)),
          records_(std::move(records)) {}
    PublicKey key_;
    Micros timestamp_ = 0;
    Micros last_seen_ = 0;
    Bytes bytes_;
    std::vector<dns::Record> records_;
};

}  // namespace pkdns::pkarr
