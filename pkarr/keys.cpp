#include "pkarr/keys.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/sha1.hpp"
#include "pkarr/zbase32.hpp"

namespace pkdns::pkarr {

namespace {

constexpr std::size_t z32_key_length = 52;
constexpr std::size_t seed_hex_length = 64;
constexpr std::size_t max_seed_file_bytes = 4096;  // a seed file is 64 chars plus whitespace

// sodium_init is thread-safe and idempotent; it selects the fast implementations and seeds the
// RNG. Every libsodium entry point here goes through it.
void ensure_sodium() {
    static const int rc = sodium_init();
    (void)rc;  // < 0 only when /dev/urandom is unusable; randombytes then aborts loudly
}

Error key_error(std::string message, KeyError code) {
    return make_error(std::move(message), static_cast<int>(code));
}

std::string errno_text(int err) {
    return std::strerror(err);
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

// What counts as a valid point: libsodium's crypto_core_ed25519_is_valid_point, which is
// stricter than ed25519-dalek's VerifyingKey::from_bytes (decompression only). The extra
// rejections are small-order points, non-canonical y encodings (y >= p) and points outside the
// prime-order subgroup. No honest key generator produces those (public key = a*B), libsodium's
// verify rejects small-order keys anyway (so no packet under them could ever verify here), and
// under dalek's non-strict verify a small-order key lets anyone forge packets. So the stricter
// rule loses no real key and stops junk keys at the door (no DHT lookup for them).
// The vector `key-invalid-point` (c1bkg8...) does not decompress at all, so both rules reject it.
Result<PublicKey> PublicKey::from_bytes(ByteView bytes) {
    if (bytes.size() != 32)
        return key_error("public key must be 32 bytes, got " + std::to_string(bytes.size()),
                         KeyError::bad_length);
    ensure_sodium();
    if (crypto_core_ed25519_is_valid_point(bytes.data()) != 1)
        return key_error("not a valid Ed25519 public key (point)", KeyError::invalid_point);
    Raw raw{};
    std::memcpy(raw.data(), bytes.data(), raw.size());
    return PublicKey(raw);
}

Result<PublicKey> PublicKey::from_z32(std::string_view z32) {
    if (z32.size() != z32_key_length)
        return key_error("a z-base-32 key has 52 characters, got " + std::to_string(z32.size()),
                         KeyError::not_a_key);
    auto decoded = zbase32_decode(z32);
    if (!decoded) return key_error(decoded.error().message, KeyError::not_a_key);
    if (!zbase32_is_canonical(z32))
        return key_error("non-canonical z-base-32 key (padding bits of the last character are set)",
                         KeyError::not_canonical);
    auto key = from_bytes(decoded.value());
    if (!key) return key_error(key.error().message, KeyError::invalid_point);
    return key;
}

// pkarr's `impl TryFrom<&str> for PublicKey` (keys.rs): each step applies only while the
// remainder is still longer than a bare key. Padding bits are ignored, like pkarr's decoder.
Result<PublicKey> PublicKey::parse(std::string_view text) {
    std::string_view s = text;
    auto longer = [&] { return s.size() > z32_key_length; };
    auto after_first = [&](char c) {
        if (auto i = s.find(c); i != std::string_view::npos) s = s.substr(i + 1);
    };
    auto before_first = [&](char c) {
        if (auto i = s.find(c); i != std::string_view::npos) s = s.substr(0, i);
    };
    if (longer()) after_first(':');  // scheme or "pk:"
    if (longer() && s.starts_with("//")) s.remove_prefix(2);
    if (longer()) after_first('@');   // userinfo
    if (longer()) before_first(':');  // port
    if (longer()) before_first('/');  // path
    if (longer()) before_first('?');  // query
    if (longer()) before_first('#');  // fragment
    if (longer()) {
        if (s.ends_with('.')) {
            while (!s.empty() && s.front() == '.') s.remove_prefix(1);
            while (!s.empty() && s.back() == '.') s.remove_suffix(1);
        }
        if (auto i = s.rfind('.'); i != std::string_view::npos) s = s.substr(i + 1);  // the TLD
    }
    auto decoded = zbase32_decode(s);
    if (!decoded)
        return key_error("invalid public key encoding: " + decoded.error().message, KeyError::not_a_key);
    if (decoded->size() != 32)
        return key_error("invalid public key length: " + std::to_string(decoded->size()) + " bytes",
                         KeyError::not_a_key);
    return from_bytes(decoded.value());
}

std::string PublicKey::to_z32() const {
    return zbase32_encode(view());
}

std::array<std::uint8_t, 20> PublicKey::dht_target() const {
    return sha1(view());
}

Bytes PublicKey::spki_der() const {
    // SEQUENCE { SEQUENCE { OID 1.3.101.112 (Ed25519) } BIT STRING (0 unused bits) key }
    static constexpr std::uint8_t prefix[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                              0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    // Sized up front: GCC 12 reports a false -Warray-bounds for insert() into a growing vector.
    Bytes out(sizeof(prefix) + bytes_.size());
    std::memcpy(out.data(), prefix, sizeof(prefix));
    std::memcpy(out.data() + sizeof(prefix), bytes_.data(), bytes_.size());
    return out;
}

bool PublicKey::verify(ByteView message, ByteView signature) const {
    if (signature.size() != crypto_sign_BYTES) return false;
    ensure_sodium();
    return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), bytes_.data()) == 0;
}

Keypair Keypair::from_seed(const Seed& seed) {
    ensure_sodium();
    PublicKey::Raw pk{};
    std::array<std::uint8_t, 64> sk{};
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
    return Keypair(seed, PublicKey(pk), sk);
}

Keypair Keypair::random() {
    ensure_sodium();
    Seed seed{};
    randombytes_buf(seed.data(), seed.size());
    Keypair kp = from_seed(seed);
    sodium_memzero(seed.data(), seed.size());
    return kp;
}

Result<Keypair> Keypair::load(const std::filesystem::path& file) {
    const std::string where = file.string();
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error("cannot open key file " + where + ": " + errno_text(errno));
    std::string text(max_seed_file_bytes + 1, '\0');
    std::size_t have = 0;
    while (have < text.size()) {
        ssize_t n = ::read(fd, text.data() + have, text.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return make_error("cannot read key file " + where + ": " + errno_text(err));
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (have > max_seed_file_bytes)
        return make_error("key file " + where + " is too large (expected 64 hex characters)");
    text.resize(have);

    std::size_t begin = 0, end = text.size();
    while (begin < end && is_space(text[begin])) ++begin;
    while (end > begin && is_space(text[end - 1])) --end;
    std::string_view hex = std::string_view(text).substr(begin, end - begin);
    auto fail = [&](const std::string& what) {
        sodium_memzero(text.data(), text.size());
        return make_error("key file " + where + ": " + what);
    };
    if (hex.size() != seed_hex_length)
        return fail("expected 64 hex characters, got " + std::to_string(hex.size()));
    for (std::size_t i = 0; i < hex.size(); ++i) {
        if (!std::isxdigit(static_cast<unsigned char>(hex[i])))
            return fail("invalid hex character at offset " + std::to_string(begin + i));
    }
    auto bytes = from_hex(hex);
    if (!bytes) return fail(bytes.error().message);
    Seed seed{};
    std::memcpy(seed.data(), bytes->data(), seed.size());
    sodium_memzero(bytes->data(), bytes->size());
    sodium_memzero(text.data(), text.size());
    Keypair kp = from_seed(seed);
    sodium_memzero(seed.data(), seed.size());
    return kp;
}

Result<void> Keypair::save(const std::filesystem::path& file, bool overwrite) const {
    const std::string where = file.string();
    // Created with 0600 from the start (umask can only remove bits); O_EXCL refuses to replace
    // an existing file (and a symlink planted in its place).
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    int fd = ::open(file.c_str(), flags, S_IRUSR | S_IWUSR);
    if (fd < 0) {
        if (errno == EEXIST) return make_error("key file " + where + " already exists (not overwriting)");
        return make_error("cannot create key file " + where + ": " + errno_text(errno));
    }
    auto fail = [&](const std::string& what) {
        int err = errno;
        ::close(fd);
        if (!overwrite) ::unlink(file.c_str());  // we created it: leave no partial key behind
        return make_error(what + " " + where + ": " + errno_text(err));
    };
    // An existing file we truncated keeps its old mode: tighten it before writing the secret.
    if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) return fail("cannot chmod key file");
    std::string hex = to_hex(ByteView(seed_.data(), seed_.size()));
    std::size_t written = 0;
    while (written < hex.size()) {
        ssize_t n = ::write(fd, hex.data() + written, hex.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            sodium_memzero(hex.data(), hex.size());
            return fail("cannot write key file");
        }
        written += static_cast<std::size_t>(n);
    }
    sodium_memzero(hex.data(), hex.size());
    if (::fsync(fd) != 0) return fail("cannot sync key file");
    if (::close(fd) != 0) {
        int err = errno;
        return make_error("cannot close key file " + where + ": " + errno_text(err));
    }
    return {};
}

std::array<std::uint8_t, 64> Keypair::sign(ByteView message) const {
    std::array<std::uint8_t, 64> sig{};
    crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
    return sig;
}

}  // namespace pkdns::pkarr
