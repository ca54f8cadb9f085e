#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/sha1.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/zbase32.hpp"
#include "unit/pkarr/helpers.hpp"

using namespace pkdns;
using namespace pkdns::pkarr;
using namespace pkdns::pkarr::test;

namespace {

constexpr std::string_view example_key = "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no";

int code(const Error& e) {
    return e.code;
}
int code(KeyError k) {
    return static_cast<int>(k);
}

// A fresh directory under /tmp, removed with everything in it when the test ends.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = "/tmp/pkdns-keys-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::filesystem::path& p, std::string_view text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

unsigned mode_of(const std::filesystem::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("zbase32 round-trips every length and flags non-canonical text", "[zbase32]") {
    Bytes data;
    std::uint32_t x = 0x12345678;
    for (std::size_t len = 0; len <= 70; ++len) {
        const std::string text = zbase32_encode(data);
        CAPTURE(len, text);
        CHECK(text.size() == (len * 8 + 4) / 5);
        CHECK(zbase32_is_canonical(text));
        auto back = zbase32_decode(text);
        REQUIRE(back.ok());
        CHECK(back.value() == data);
        x = x * 1103515245u + 12345u;
        data.push_back(static_cast<std::uint8_t>(x >> 16));
    }
    // A whole character of padding (length 1, 3, 6 mod 8) is never produced by the encoder.
    for (std::string_view t : {"y", "yyy", "yyyyyy"}) {
        CHECK_FALSE(zbase32_is_canonical(t));
        CHECK(zbase32_encode(zbase32_decode(t).value()) != t);
    }
    CHECK(zbase32_is_canonical(""));
    CHECK_FALSE(zbase32_is_canonical("yb"));  // 'b' = 00001: the 2 pad bits are not zero
    CHECK(zbase32_is_canonical("yy"));
}

TEST_CASE("zbase32 decode rejects characters outside the lowercase alphabet, naming the offset",
          "[zbase32]") {
    for (std::string_view bad : {"ybnA", "ybn0", "ybn2", "ybnl", "ybnv", "ybn ", "ybn\xc3\xa9"}) {
        auto r = zbase32_decode(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.find("offset 3") != std::string::npos);
        CHECK_FALSE(zbase32_is_canonical(bad));
    }
}

TEST_CASE("PublicKey::from_z32 is strict and tells the failures apart", "[keys]") {
    auto ok = PublicKey::from_z32(example_key);
    REQUIRE(ok.ok());
    CHECK(ok->to_z32() == example_key);

    auto shorter = PublicKey::from_z32(example_key.substr(1));
    REQUIRE_FALSE(shorter.ok());
    CHECK(code(shorter.error()) == code(KeyError::not_a_key));

    std::string upper(example_key);
    upper[0] = 'Y';
    auto up = PublicKey::from_z32(upper);
    REQUIRE_FALSE(up.ok());
    CHECK(code(up.error()) == code(KeyError::not_a_key));
    CHECK(PublicKey::parse(upper).ok() == false);  // pkarr never lowercases either

    std::string noncanonical(example_key);
    noncanonical.back() = 't';  // same data bit as 'o', pad bits set
    auto nc = PublicKey::from_z32(noncanonical);
    REQUIRE_FALSE(nc.ok());
    CHECK(code(nc.error()) == code(KeyError::not_canonical));
    REQUIRE(PublicKey::parse(noncanonical).ok());
    CHECK(PublicKey::parse(noncanonical).value() == ok.value());

    // With a z32 string that is canonical but not a point.
    const Bytes not_point = hex("6482a31e25b0007a31038ae9a2d3835afa10df86366fb3c4bacaf70a1e9f5867");
    auto np = PublicKey::from_z32(zbase32_encode(not_point));
    REQUIRE_FALSE(np.ok());
    CHECK(code(np.error()) == code(KeyError::invalid_point));
}

TEST_CASE("PublicKey::from_bytes: length and the libsodium point rule", "[keys]") {
    auto short_key = PublicKey::from_bytes(Bytes(31, 1));
    REQUIRE_FALSE(short_key.ok());
    CHECK(code(short_key.error()) == code(KeyError::bad_length));
    // The identity point (small order) decompresses, so dalek would take it; we do not.
    Bytes identity(32, 0);
    identity[0] = 1;
    auto small = PublicKey::from_bytes(identity);
    REQUIRE_FALSE(small.ok());
    CHECK(code(small.error()) == code(KeyError::invalid_point));
    // Every derived key is accepted.
    for (std::uint8_t fill = 0; fill < 20; ++fill) {
        const auto kp = Keypair::from_seed(seed_of(fill));
        auto again = PublicKey::from_bytes(kp.public_key().view());
        REQUIRE(again.ok());
        CHECK(again.value() == kp.public_key());
    }
}

TEST_CASE("PublicKey::parse follows pkarr's heuristic, pitfalls included", "[keys]") {
    const auto key = PublicKey::from_z32(example_key).value();
    const std::string k(example_key);
    for (const std::string& ok :
         {"_foo." + k, k + ".", "pk:" + k, "http://a.b.c." + k + "/x?y#z", "pk:" + k + "."}) {
        CAPTURE(ok);
        auto r = PublicKey::parse(ok);
        REQUIRE(r.ok());
        CHECK(r.value() == key);
    }
    // '@' in the path cuts at the wrong place (pkarr fails too).
    CHECK_FALSE(PublicKey::parse("https://" + k + "/a@b").ok());
    CHECK_FALSE(PublicKey::parse(k + "x").ok());
    CHECK_FALSE(PublicKey::parse("https://example.com/").ok());
}

TEST_CASE("PublicKey representations", "[keys]") {
    const auto key = PublicKey::from_z32(example_key).value();
    CHECK(key.to_uri() == "pk:" + std::string(example_key));
    const Bytes der = key.spki_der();
    REQUIRE(der.size() == 44);
    CHECK(std::equal(key.bytes().begin(), key.bytes().end(), der.begin() + 12));
    CHECK(key.dht_target() == pkdns::sha1(key.view()));
    const auto other = Keypair::from_seed(seed_of(3)).public_key();
    CHECK(key != other);
    CHECK((key < other) != (other < key));
}

TEST_CASE("Keypair signs deterministically and PublicKey::verify checks it", "[keys]") {
    const auto a = Keypair::from_seed(seed_of(1));
    const auto b = Keypair::from_seed(seed_of(1));
    CHECK(a.public_key() == b.public_key());
    const std::string msg = "hello pkarr";
    const auto sig = a.sign(as_bytes(msg));
    CHECK(sig == b.sign(as_bytes(msg)));
    CHECK(a.public_key().verify(as_bytes(msg), sig));
    CHECK_FALSE(a.public_key().verify(as_bytes("hello pkarR"), sig));
    CHECK_FALSE(Keypair::from_seed(seed_of(2)).public_key().verify(as_bytes(msg), sig));
    CHECK_FALSE(a.public_key().verify(as_bytes(msg), ByteView(sig.data(), 63)));
    auto bad = sig;
    bad[10] ^= 0x01;
    CHECK_FALSE(a.public_key().verify(as_bytes(msg), bad));

    const auto r1 = Keypair::random();
    const auto r2 = Keypair::random();
    CHECK(r1.seed() != r2.seed());
    CHECK(Keypair::from_seed(r1.seed()).public_key() == r1.public_key());
}

TEST_CASE("Keypair::save writes 64 hex chars with mode 0600 and load reads them back", "[keys]") {
    TempDir dir;
    const auto kp =
        Keypair::from_seed(seed_from_hex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"));
    const auto file = dir.path / "key";

    const mode_t old_umask = ::umask(0);  // a permissive umask must not widen the mode
    auto saved = kp.save(file);
    ::umask(old_umask);
    REQUIRE(saved.ok());
    CHECK(mode_of(file) == 0600);
    CHECK(read_file(file) == "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");

    auto loaded = Keypair::load(file);
    REQUIRE(loaded.ok());
    CHECK(loaded->seed() == kp.seed());
    CHECK(loaded->public_key() == kp.public_key());

    // No overwrite unless asked.
    const auto other = Keypair::from_seed(seed_of(0xaa));
    auto refused = other.save(file);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("already exists") != std::string::npos);
    CHECK(Keypair::load(file).value().seed() == kp.seed());

    // Overwriting a world-readable file tightens it.
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    REQUIRE(other.save(file, true).ok());
    CHECK(mode_of(file) == 0600);
    CHECK(Keypair::load(file).value().seed() == other.seed());

    auto no_dir = kp.save(dir.path / "missing" / "key");
    REQUIRE_FALSE(no_dir.ok());
    CHECK(no_dir.error().message.find("missing") != std::string::npos);
}

TEST_CASE("Keypair::load trims whitespace and explains bad files", "[keys]") {
    TempDir dir;
    const std::string hex64 = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
    const auto file = dir.path / "seed";

    write_file(file, " \n\t" + hex64 + "\r\n\n");
    auto trimmed = Keypair::load(file);
    REQUIRE(trimmed.ok());
    CHECK(to_hex(ByteView(trimmed->seed().data(), 32)) == hex64);

    std::string upper = hex64;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    write_file(file, upper);
    REQUIRE(Keypair::load(file).ok());

    write_file(file, hex64.substr(1));
    auto short_file = Keypair::load(file);
    REQUIRE_FALSE(short_file.ok());
    CHECK(short_file.error().message.find("expected 64 hex characters, got 63") != std::string::npos);

    write_file(file, "");
    CHECK(Keypair::load(file).error().message.find("got 0") != std::string::npos);

    std::string bad = hex64;
    bad[10] = 'g';
    write_file(file, "  " + bad);
    auto bad_char = Keypair::load(file);
    REQUIRE_FALSE(bad_char.ok());
    CHECK(bad_char.error().message.find("offset 12") != std::string::npos);

    write_file(file, hex64 + " " + hex64);
    CHECK_FALSE(Keypair::load(file).ok());

    write_file(file, std::string(100000, '0'));
    auto huge = Keypair::load(file);
    REQUIRE_FALSE(huge.ok());
    CHECK(huge.error().message.find("too large") != std::string::npos);

    auto missing = Keypair::load(dir.path / "nope");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("nope") != std::string::npos);
    CHECK(missing.error().message.find("No such file") != std::string::npos);

    auto directory = Keypair::load(dir.path);
    CHECK_FALSE(directory.ok());
}
