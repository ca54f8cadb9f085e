#pragma once
// Ed25519 keys as PKARR uses them. Holding a PublicKey means: 32 bytes that decompress to a
// curve point. Keypair is built from a 32-byte seed (libsodium).

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace pkdns::pkarr {

enum class KeyError : int {
    not_a_key = 1,      // wrong characters / wrong length: not a z-base-32 key at all
    not_canonical = 2,  // decodes to 32 bytes but the padding bits are not zero
    invalid_point = 3,  // 32 bytes that are not an Ed25519 point
    bad_length = 4,     // raw bytes of the wrong length
};

class PublicKey {
public:
    using Raw = std::array<std::uint8_t, 32>;

    // Raw 32 bytes; error codes from KeyError.
    static Result<PublicKey> from_bytes(ByteView bytes);
    // Strict: exactly 52 lowercase z-base-32 characters, canonical padding, valid point.
    // Error code distinguishes not_a_key / not_canonical / invalid_point.
    static Result<PublicKey> from_z32(std::string_view z32);
    // pkarr's FromStr heuristic: "pk:<k>", URLs "https://foo.<k>:8888/path?q#f", "sub.<k>." ...
    static Result<PublicKey> parse(std::string_view text);

    const Raw& bytes() const { return bytes_; }
    ByteView view() const { return {bytes_.data(), bytes_.size()}; }
    std::string to_z32() const;
    std::string to_uri() const { return "pk:" + to_z32(); }
    // sha1(key): the BEP44 target / DHT cache key.
    std::array<std::uint8_t, 20> dht_target() const;
    // SubjectPublicKeyInfo DER (RFC 7250 raw public key).
    Bytes spki_der() const;

    bool verify(ByteView message, ByteView signature) const;

    friend bool operator==(const PublicKey&, const PublicKey&) = default;
    friend auto operator<=>(const PublicKey&, const PublicKey&) = default;

private:
    friend class Keypair;  // a key derived from a seed is valid by construction
    explicit PublicKey(const Raw& raw) : bytes_(raw) {}
    Raw bytes_{};
};

class Keypair {
public:
    using Seed = std::array<std::uint8_t, 32>;

    static Keypair from_seed(const Seed& seed);
    static Keypair random();
    // Seed file: 64 hex chars (whitespace around it trimmed). Clear errors for wrong length or
    // characters, missing/unreadable file.
    static Result<Keypair> load(const std::filesystem::path& file);
    // Writes 64 lowercase hex chars, no newline, with mode 0600 (created so, never world-readable
    // in between). Refuses to overwrite unless `overwrite`.
    Result<void> save(const std::filesystem::path& file, bool overwrite = false) const;

    const PublicKey& public_key() const { return public_key_; }
    const Seed& seed() const { return seed_; }
    std::array<std::uint8_t, 64> sign(ByteView message) const;

private:
    Keypair(const Seed& seed, const PublicKey& pk, const std::array<std::uint8_t, 64>& sk)
        : seed_(seed), public_key_(pk), secret_(sk) {}
    Seed seed_{};
    PublicKey public_key_;
    std::array<std::uint8_t, 64> secret_{};  // libsodium's expanded secret key
};

}  // namespace pkdns::pkarr
