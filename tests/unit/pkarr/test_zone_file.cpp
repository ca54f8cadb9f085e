// load_zone_file / parse_zone: BIND-style files relative to the key, errors naming file and line.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>

#include "pkarr/keys.hpp"
#include "pkarr/zone_file.hpp"

using namespace pkdns;
namespace fs = std::filesystem;
namespace type = pkdns::dns::type;

namespace {

pkarr::PublicKey test_key() {
    pkarr::Keypair::Seed seed{};
    return pkarr::Keypair::from_seed(seed).public_key();
}

// A scratch directory removed at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("pkdns-zonefile-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
    fs::path write(const std::string& name, const std::string& text) const {
        fs::path p = path / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
};

dns::Name under_key(const std::string& rel) {
    const std::string z32 = test_key().to_z32();
    auto n = dns::Name::parse(rel.empty() ? z32 : rel + "." + z32);
    REQUIRE(n.ok());
    return *n;
}

}  // namespace

TEST_CASE("zone file: relative names @ $TTL and explicit TTLs") {
    TempDir dir;
    auto file = dir.write("home.zone",
                          "$TTL 60\n"
                          "@ A 1.1.1.1\n"
                          "www 30 AAAA ::1\n"
                          "alias CNAME www\n"
                          "; a comment\n"
                          "\n"
                          "mail.example.invalid.invalid MX 10 mx.example.com.\n");
    auto records = pkarr::load_zone_file(file, test_key());
    REQUIRE(records.ok());
    REQUIRE(records->size() == 4);
    CHECK((*records)[0].name == under_key(""));
    CHECK((*records)[0].type == type::A);
    CHECK((*records)[0].ttl == 60);
    CHECK((*records)[1].name == under_key("www"));
    CHECK((*records)[1].type == type::AAAA);
    CHECK((*records)[1].ttl == 30);
    CHECK((*records)[2].type == type::CNAME);
    REQUIRE((*records)[2].target());
    CHECK(*(*records)[2].target() == under_key("www"));
    // A relative name with dots is still relative: it lands below the key.
    CHECK((*records)[3].name == under_key("mail.example.invalid.invalid"));
    CHECK((*records)[3].type == type::MX);
}

TEST_CASE("zone file: absolute names inside the key are accepted any case") {
    TempDir dir;
    std::string upper = test_key().to_z32();
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto file =
        dir.write("abs.zone", "www." + upper + ". 120 A 10.0.0.1\n" + test_key().to_z32() + ". TXT \"x\"\n");
    auto records = pkarr::load_zone_file(file, test_key());
    REQUIRE(records.ok());
    REQUIRE(records->size() == 2);
    CHECK((*records)[0].name == under_key("www"));
    CHECK((*records)[1].name == under_key(""));
}

TEST_CASE("zone file: names outside the key are errors naming the file and line") {
    TempDir dir;
    auto file = dir.write("home.zone", "ok A 1.1.1.1\n@ TXT \"a(b\"\nfoo.example. A 1.2.3.4\n");
    auto r = pkarr::load_zone_file(file, test_key());
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().message.rfind(file.string() + ": line 3: ", 0) == 0);
    CHECK(r.error().message.find("foo.example.") != std::string::npos);
    CHECK(r.error().message.find("outside") != std::string::npos);

    auto origin = dir.write("origin.zone", "$ORIGIN example.com.\nwww A 1.2.3.4\n");
    auto o = pkarr::load_zone_file(origin, test_key());
    REQUIRE_FALSE(o.ok());
    INFO(o.error().message);
    CHECK(o.error().message.find("line 1: ") != std::string::npos);
    CHECK(o.error().message.find("outside") != std::string::npos);
}

TEST_CASE("zone file: names in rdata and continuation lines may be outside the key") {
    TempDir dir;
    auto file = dir.write("multi.zone",
                          "@ 300 IN MX ( 10\n"
                          "mx.example.com. )\n"
                          "ext CNAME example.com.\n");
    auto r = pkarr::load_zone_file(file, test_key());
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].type == type::MX);
    CHECK((*r)[1].name == under_key("ext"));
}

TEST_CASE("zone file: syntax errors keep the parser line prefixed with the file") {
    TempDir dir;
    auto file = dir.write("bad.zone", "www A 1.1.1.1\nwww A not-an-ip\n");
    auto r = pkarr::load_zone_file(file, test_key());
    REQUIRE_FALSE(r.ok());
    INFO(r.error().message);
    CHECK(r.error().message.rfind(file.string() + ": line 2", 0) == 0);
}

TEST_CASE("zone file: missing file directory and oversize file are clear errors") {
    TempDir dir;
    auto missing = pkarr::load_zone_file(dir.path / "nope.zone", test_key());
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("nope.zone") != std::string::npos);

    auto directory = pkarr::load_zone_file(dir.path, test_key());
    REQUIRE_FALSE(directory.ok());
    CHECK(directory.error().message.find("directory") != std::string::npos);

    std::string big;
    while (big.size() <= pkarr::max_zone_file_bytes) big += "; padding padding padding padding\n";
    auto huge = pkarr::load_zone_file(dir.write("big.zone", big), test_key());
    REQUIRE_FALSE(huge.ok());
    CHECK(huge.error().message.find("larger than") != std::string::npos);
}

TEST_CASE("parse_zone on text names its source") {
    auto ok = pkarr::parse_zone("@ A 1.2.3.4\n", test_key(), "inline");
    REQUIRE(ok.ok());
    CHECK(ok->size() == 1);
    auto bad = pkarr::parse_zone("x.example. A 1.2.3.4\n", test_key(), "inline");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.rfind("inline: line 1: ", 0) == 0);
}
