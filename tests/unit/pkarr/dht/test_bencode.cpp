#include <catch2/catch.hpp>

#include <limits>
#include <string>

#include "pkarr/dht/bencode.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using bencode::Value;

namespace {
Result<Value> dec(std::string_view s) {
    return bencode::decode(as_bytes(s));
}
std::string enc(const Value& v) {
    Bytes b = bencode::encode(v);
    return std::string(b.begin(), b.end());
}
std::string err(std::string_view s) {
    auto r = dec(s);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}
}  // namespace

TEST_CASE("bencode decodes integers", "[bencode]") {
    CHECK(dec("i0e")->as_int() == 0);
    CHECK(dec("i42e")->as_int() == 42);
    CHECK(dec("i-42e")->as_int() == -42);
    CHECK(dec("i9223372036854775807e")->as_int() == std::numeric_limits<std::int64_t>::max());
    CHECK(dec("i-9223372036854775808e")->as_int() == std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("bencode rejects malformed integers with the offset", "[bencode]") {
    CHECK_THAT(err("i03e"), Catch::Contains("leading zero") && Catch::Contains("offset 1"));
    CHECK_THAT(err("i-0e"), Catch::Contains("negative zero"));
    CHECK_THAT(err("ie"), Catch::Contains("missing digits"));
    CHECK_THAT(err("i-e"), Catch::Contains("missing digits"));
    CHECK_THAT(err("i9223372036854775808e"), Catch::Contains("too large"));
    CHECK_THAT(err("i-9223372036854775809e"), Catch::Contains("too large"));
    CHECK_THAT(err("i12"), Catch::Contains("end of input"));
    CHECK_THAT(err("i1x"), Catch::Contains("expected 'e'") && Catch::Contains("offset 2"));
    CHECK_THAT(err("i+1e"), Catch::Contains("missing digits"));
}

TEST_CASE("bencode strings", "[bencode]") {
    CHECK(dec("0:")->as_string().empty());
    CHECK(dec("4:spam")->as_text() == "spam");
    std::string with_nul("3:a\0b", 5);
    CHECK(dec(with_nul)->as_string() == Bytes{'a', 0, 'b'});
    CHECK_THAT(err("05:hello"), Catch::Contains("leading zero"));
    CHECK_THAT(err("5:abc"), Catch::Contains("past end of input"));
    CHECK_THAT(err("5abc"), Catch::Contains("expected ':'"));
    CHECK_THAT(err("99999999999999999999:a"), Catch::Contains("too large"));
    CHECK_THAT(err("4294967295:a"), Catch::Contains("limit"));
}

TEST_CASE("bencode lists and dicts", "[bencode]") {
    auto v = dec("l4:spami7ee");
    REQUIRE(v.ok());
    REQUIRE(v->as_list().size() == 2);
    CHECK(v->as_list()[0].as_text() == "spam");
    CHECK(v->as_list()[1].as_int() == 7);

    auto d = dec("d3:bar4:spam3:fooi42ee");
    REQUIRE(d.ok());
    CHECK(d->find("bar")->as_text() == "spam");
    CHECK(d->find("foo")->as_int() == 42);
    CHECK(d->find("baz") == nullptr);
    CHECK(dec("le")->as_list().empty());
    CHECK(dec("de")->as_dict().empty());
}

TEST_CASE("bencode rejects bad dictionaries", "[bencode]") {
    CHECK_THAT(err("d3:fooi1e3:bari2ee"), Catch::Contains("unsorted") && Catch::Contains("offset 9"));
    CHECK_THAT(err("d3:fooi1e3:fooi2ee"), Catch::Contains("duplicate"));
    CHECK_THAT(err("di1ei2ee"), Catch::Contains("not a string"));
    CHECK_THAT(err("d3:foo"), Catch::Contains("end of input"));
    CHECK_THAT(err("d3:fooi1e"), Catch::Contains("unterminated dictionary"));
    CHECK_THAT(err("l"), Catch::Contains("unterminated list"));
    // Raw byte order: 0xff sorts after 'a' (unsigned comparison).
    CHECK(dec("d1:ai1e1:\xffi2ee").ok());
    CHECK_FALSE(dec("d1:\xffi2e1:ai1ee").ok());

    bencode::DecodeLimits lax;
    lax.require_sorted_keys = false;
    CHECK(bencode::decode(as_bytes("d3:fooi1e3:bari2ee"), lax).ok());
    CHECK_FALSE(bencode::decode(as_bytes("d3:fooi1e3:bari2e3:fooi3ee"), lax).ok());
}

TEST_CASE("bencode rejects trailing bytes, empty input and junk", "[bencode]") {
    CHECK_THAT(err("i1ei2e"), Catch::Contains("trailing") && Catch::Contains("offset 3"));
    CHECK_THAT(err(""), Catch::Contains("end of input"));
    CHECK_THAT(err("x"), Catch::Contains("unexpected byte"));
    CHECK_THAT(err("e"), Catch::Contains("unexpected byte"));
    std::size_t consumed = 0;
    auto v = bencode::decode_prefix(as_bytes("i1ei2e"), consumed);
    REQUIRE(v.ok());
    CHECK(consumed == 3);
}

TEST_CASE("bencode nesting depth and value count are bounded", "[bencode]") {
    std::string deep(10000, 'l');
    CHECK_THAT(err(deep), Catch::Contains("nesting"));
    std::string ok_depth = std::string(32, 'l') + std::string(32, 'e');
    CHECK(dec(ok_depth).ok());
    std::string too_deep = std::string(33, 'l') + std::string(33, 'e');
    CHECK_THAT(err(too_deep), Catch::Contains("nesting"));

    bencode::DecodeLimits small;
    small.max_values = 10;
    std::string many = "l" + std::string(20 * 3, ' ') + "e";
    many = "l";
    for (int i = 0; i < 20; ++i) many += "i1e";
    many += "e";
    auto r = bencode::decode(as_bytes(many), small);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("too many values"));
}

TEST_CASE("bencode encodes canonically and round trips", "[bencode]") {
    bencode::Dict d;
    d["zeta"] = Value(1);
    d["alpha"] = Value(bencode::List{Value::str("x"), Value(-3)});
    d["mid"] = Value(bencode::Dict{{"k", Value::str("")}});
    std::string out = enc(Value(d));
    CHECK(out == "d5:alphal1:xi-3ee3:midd1:k0:e4:zetai1ee");
    auto back = dec(out);
    REQUIRE(back.ok());
    CHECK(*back == Value(d));
    CHECK(enc(Value(std::numeric_limits<std::int64_t>::min())) == "i-9223372036854775808e");
    for (const char* s : {"i0e", "0:", "le", "de", "d1:ad1:bl1:ceee", "l0:i-1ed0:0:ee"}) {
        auto v = dec(s);
        REQUIRE(v.ok());
        CHECK(enc(*v) == s);
    }
}
