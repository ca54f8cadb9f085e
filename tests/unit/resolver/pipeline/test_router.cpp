#include <catch2/catch.hpp>

#include <string>

#include "common/dns/name.hpp"
#include "pkarr/keys.hpp"
#include "resolver/pipeline/router.hpp"

using namespace pkdns;
using pipeline::RouteKind;

namespace {

const std::string key = "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no";
const std::string noncanonical = "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5nt";

dns::Name N(const std::string& text) {
    auto n = dns::Name::parse(text);
    REQUIRE(n.ok());
    return n.value();
}

std::string upper(std::string s) {
    for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return s;
}

}  // namespace

TEST_CASE("router: a bare key and a subdomain of it go to PKARR", "[router]") {
    auto r = pipeline::route_name(N(key), "key");
    REQUIRE(r.kind == RouteKind::pkarr);
    REQUIRE(r.key.has_value());
    CHECK(r.key->to_z32() == key);
    CHECK(r.name.to_string() == key);
    CHECK_FALSE(r.had_tld);

    auto sub = pipeline::route_name(N("_foo.www." + key + "."), "key");
    REQUIRE(sub.kind == RouteKind::pkarr);
    CHECK(sub.name.to_string() == "_foo.www." + key);
}

TEST_CASE("router: the TLD is stripped only after a key label", "[router]") {
    auto r = pipeline::route_name(N("www." + key + ".key"), "key");
    REQUIRE(r.kind == RouteKind::pkarr);
    CHECK(r.had_tld);
    CHECK(r.name.to_string() == "www." + key);

    auto upper_tld = pipeline::route_name(N(key + ".KEY"), "key");
    REQUIRE(upper_tld.kind == RouteKind::pkarr);
    CHECK(upper_tld.name.to_string() == key);

    auto plain = pipeline::route_name(N("example.key"), "key");
    CHECK(plain.kind == RouteKind::icann);
    CHECK(plain.name.to_string() == "example.key");
    CHECK_FALSE(plain.had_tld);

    // With no TLD configured "<key>.key" is an ICANN name (last label "key").
    auto none = pipeline::route_name(N(key + ".key"), "");
    CHECK(none.kind == RouteKind::icann);

    // Another TLD configured: "key" is not stripped, but "<key>.pk" is.
    CHECK(pipeline::route_name(N(key + ".key"), "pk").kind == RouteKind::icann);
    auto pk = pipeline::route_name(N(key + ".pk"), "pk");
    REQUIRE(pk.kind == RouteKind::pkarr);
    CHECK(pk.had_tld);
}

TEST_CASE("router: the key label is matched case-insensitively and lowercased", "[router]") {
    auto r = pipeline::route_name(N("WwW." + upper(key)), "key");
    REQUIRE(r.kind == RouteKind::pkarr);
    CHECK(r.key->to_z32() == key);
    CHECK(r.name.labels().back() == key);
    CHECK(r.name.labels().front() == "WwW");  // only the key label is lowercased
}

TEST_CASE("router: a non-canonical key is NXDOMAIN with or without the TLD", "[router]") {
    CHECK(pipeline::route_name(N(noncanonical), "key").kind == RouteKind::nxdomain);
    CHECK(pipeline::route_name(N("a." + noncanonical + ".key"), "key").kind == RouteKind::nxdomain);
}

TEST_CASE("router: ICANN names and near-keys are forwarded", "[router]") {
    CHECK(pipeline::route_name(N("example.com"), "key").kind == RouteKind::icann);
    CHECK(pipeline::route_name(N("."), "key").kind == RouteKind::icann);
    CHECK(pipeline::route_name(N(key.substr(1)), "key").kind == RouteKind::icann);  // 51 chars
    std::string bad_char = key;
    bad_char[3] = 'l';  // not in the z-base-32 alphabet
    CHECK(pipeline::route_name(N(bad_char), "key").kind == RouteKind::icann);
    // The key as a middle label is not a PKARR name.
    CHECK(pipeline::route_name(N(key + ".example.com"), "key").kind == RouteKind::icann);
}

TEST_CASE("router: 32 bytes that are not a curve point go to ICANN", "[router]") {
    // A canonical z32 string whose 32 bytes fail point decompression.
    const std::string not_point = "c1bkg8tfsyy8wcedtmw4fwhdmm7bbzhgg3z58tf43m5ow8w9mbuo";
    auto k = pkarr::PublicKey::from_z32(not_point);
    REQUIRE_FALSE(k.ok());
    REQUIRE(k.error().code == static_cast<int>(pkarr::KeyError::invalid_point));
    CHECK(pipeline::route_name(N(not_point), "key").kind == RouteKind::icann);
}
