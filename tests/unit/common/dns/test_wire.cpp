#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/dns/message.hpp"
#include "common/dns/record.hpp"

using namespace pkdns;
using namespace pkdns::dns;

namespace {

const nlohmann::json& vector_by_id(const std::string& id) {
    static const nlohmann::json doc = [] {
        std::ifstream in(PKDNS_VECTORS_PATH);
        return nlohmann::json::parse(in);
    }();
    for (const auto& v : doc.at("vectors")) {
        if (v.at("id") == id) return v;
    }
    throw std::runtime_error("no vector " + id);
}

Bytes hex(const std::string& s) {
    auto r = from_hex(s);
    REQUIRE(r.ok());
    return r.value();
}

// The DNS packet inside a signed packet: bytes 104.. (spec §2.1).
Bytes dns_of_signed_packet(const nlohmann::json& v, const char* where) {
    Bytes signed_packet = hex(v.at(where).at("signed_packet_hex").get<std::string>());
    REQUIRE(signed_packet.size() >= 104);
    return Bytes(signed_packet.begin() + 104, signed_packet.end());
}

Bytes header(std::uint16_t qd, std::uint16_t an, std::uint16_t ns = 0, std::uint16_t ar = 0) {
    Bytes b;
    put_u16(b, 0x1234);
    put_u16(b, 0x8180);
    put_u16(b, qd);
    put_u16(b, an);
    put_u16(b, ns);
    put_u16(b, ar);
    return b;
}

void append(Bytes& b, std::initializer_list<int> bytes) {
    for (int x : bytes) b.push_back(static_cast<std::uint8_t>(x));
}

}  // namespace

TEST_CASE("pkarr compressed packets round-trip byte for byte") {
    for (const char* id : {"signed-packet-rust-twin-of-js", "signed-packet-multi", "signed-packet-empty"}) {
        INFO(id);
        const auto& v = vector_by_id(id);
        Bytes dns = dns_of_signed_packet(v, "expected");
        CHECK(to_hex(dns) == v.at("expected").at("encoded_dns_packet_hex").get<std::string>());
        auto parsed = parse_packet(dns);
        REQUIRE(parsed.ok());
        CHECK(parsed->flags == 0x8000);
        CHECK(parsed->id == 0);
        Bytes again = encode_packet(*parsed);
        CHECK(to_hex(again) == to_hex(dns));
    }
}

TEST_CASE("signed-packet-multi decodes to the vector's records") {
    const auto& v = vector_by_id("signed-packet-multi");
    auto p = parse_packet(dns_of_signed_packet(v, "expected"));
    REQUIRE(p.ok());
    REQUIRE(p->answers.size() == 7);
    const std::string key = "xg4icmwxh3kx1odasrjqtkcmw6eb9bj4h4k57i9yhqeozmer131y";
    CHECK(p->answers[0].name.to_string() == key);
    CHECK(p->answers[0].type == type::A);
    CHECK(p->answers[0].rdata == Bytes{93, 184, 216, 34});
    CHECK(p->answers[2].name.to_string() == "www." + key);
    CHECK(p->answers[2].type == type::CNAME);
    REQUIRE(p->answers[2].target().has_value());
    CHECK(p->answers[2].target()->to_string() == "example.com");
    CHECK(p->answers[4].type == type::HTTPS);
    CHECK(p->answers[4].rdata == hex("0001000003000201bb"));
    CHECK(p->answers[4].target()->is_root());
    CHECK(p->answers[5].rdata.size() == 302);  // 254 + 46 + 2 length bytes
    CHECK(p->answers[6].name.to_string() == "sub.domain." + key);
    CHECK(record_to_text(p->answers[4]) == key + ". 3600 IN HTTPS 1 . port=443");
    CHECK(record_to_text(p->answers[6]) == "sub.domain." + key + ". 120 IN A 10.0.0.1");
}

TEST_CASE("JS 1.3.0 uncompressed packet parses, re-encoding compresses it like pkarr-rust") {
    const auto& js = vector_by_id("signed-packet-js-1.3.0");
    Bytes dns = dns_of_signed_packet(js, "computed_extra");
    auto p = parse_packet(dns);
    REQUIRE(p.ok());
    REQUIRE(p->answers.size() == 2);
    const std::string key = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo";
    CHECK(p->answers[0].name.to_string() == key);
    CHECK(p->answers[0].ttl == 0);
    CHECK(p->answers[0].rdata == Bytes{1, 1, 1, 1});
    CHECK(p->answers[1].name.to_string() == "foo." + key);
    CHECK(p->answers[1].type == type::TXT);
    CHECK(p->answers[1].ttl == 30);
    CHECK(p->answers[1].rdata == Bytes{3, 'b', 'a', 'r'});
    CHECK(record_to_text(p->answers[1]) == "foo." + key + ". 30 IN TXT \"bar\"");
    // Same records, compressed: exactly the Rust twin's DNS bytes.
    const auto& twin = vector_by_id("signed-packet-rust-twin-of-js");
    CHECK(to_hex(encode_packet(*p)) == twin.at("expected").at("encoded_dns_packet_hex").get<std::string>());
}

TEST_CASE("encode_packet compresses questions, owners and NS/MX/SOA rdata, not SRV") {
    Packet p;
    p.id = 7;
    p.flags = flag::QR | flag::RD;
    auto ex = Name::parse("example.com").value();
    p.questions.push_back({ex, type::MX, class_IN});
    Bytes mx;
    put_u16(mx, 10);
    ex.prepend("mail").append_wire(mx);
    p.answers.push_back({ex, type::MX, class_IN, 60, mx});
    Bytes srv = {0, 1, 0, 2, 0, 3};
    ex.prepend("mail").append_wire(srv);
    p.answers.push_back({ex.prepend("_s"), type::SRV, class_IN, 60, srv});
    Bytes soa;
    ex.prepend("ns").append_wire(soa);
    ex.prepend("host").append_wire(soa);
    for (int i = 0; i < 20; ++i) soa.push_back(static_cast<std::uint8_t>(i));
    p.authority.push_back({ex, type::SOA, class_IN, 60, soa});

    Bytes wire = encode_packet(p);
    Bytes want = header(1, 2, 1, 0);
    want[2] = 0x81;
    want[3] = 0x00;
    want[0] = 0;
    want[1] = 7;
    append(want, {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 15, 0, 1});  // question @12
    append(want, {0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 9, 0, 10, 4, 'm', 'a', 'i', 'l', 0xC0, 12});
    // SRV owner "_s" + pointer; its target is written in full.
    append(want, {2, '_', 's', 0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 24, 0, 1, 0, 2, 0, 3});
    append(want, {4, 'm', 'a', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0});
    append(want, {0xC0, 12,  0,   6,    0,  1, 0,   0,   0,   60,  0,    32,
                  2,    'n', 's', 0xC0, 12, 4, 'h', 'o', 's', 't', 0xC0, 12});
    for (int i = 0; i < 20; ++i) want.push_back(static_cast<std::uint8_t>(i));
    CHECK(to_hex(wire) == to_hex(want));

    auto back = parse_packet(wire);
    REQUIRE(back.ok());
    CHECK(back->questions.size() == 1);
    CHECK(back->answers == p.answers);
    CHECK(back->authority == p.authority);
    CHECK(back->answers[0].target()->to_string() == "mail.example.com");
    CHECK(back->answers[1].target()->to_string() == "mail.example.com");
}

TEST_CASE("compression map is case-sensitive like simple-dns") {
    Packet p;
    p.answers.push_back({Name::parse("a.Example").value(), type::A, class_IN, 1, {1, 2, 3, 4}});
    p.answers.push_back({Name::parse("b.example").value(), type::A, class_IN, 1, {1, 2, 3, 4}});
    p.answers.push_back({Name::parse("c.Example").value(), type::A, class_IN, 1, {1, 2, 3, 4}});
    Bytes wire = encode_packet(p);
    // second owner written in full (no pointer), third points at "Example" of the first (offset 14).
    Bytes second_owner = {1, 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    CHECK(std::search(wire.begin(), wire.end(), second_owner.begin(), second_owner.end()) != wire.end());
    Bytes third_owner = {1, 'c', 0xC0, 14};
    CHECK(std::search(wire.begin(), wire.end(), third_owner.begin(), third_owner.end()) != wire.end());
    auto back = parse_packet(wire);
    REQUIRE(back.ok());
    CHECK(back->answers == p.answers);
}

TEST_CASE("unknown record types keep opaque rdata") {
    Bytes w = header(0, 2);
    append(w, {0, 0xff, 0x00, 0, 1, 0, 0, 1, 0x2c, 0, 5, 1, 2, 3, 4, 5});
    append(w, {0, 0x12, 0x34, 0, 1, 0, 0, 1, 0x2c, 0, 0});
    auto p = parse_packet(w);
    REQUIRE(p.ok());
    REQUIRE(p->answers.size() == 2);
    CHECK(p->answers[0].type == 0xff00);
    CHECK(p->answers[0].rdata == Bytes{1, 2, 3, 4, 5});
    CHECK(p->answers[1].rdata.empty());
    CHECK(record_to_text(p->answers[0]) == ". 300 IN TYPE65280 \\# 5 0102030405");
    CHECK(encode_packet(*p) == w);
}

TEST_CASE("EDNS OPT stays in the additional section") {
    Bytes w = header(1, 0, 0, 1);
    append(w, {3, 'f', 'o', 'o', 0, 0, 1, 0, 1});
    append(w, {0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 4, 0, 10, 0, 0});
    auto p = parse_packet(w);
    REQUIRE(p.ok());
    REQUIRE(p->additional.size() == 1);
    CHECK(p->additional[0].type == type::OPT);
    CHECK(p->additional[0].klass == 4096);
    CHECK(p->additional[0].ttl == 0x8000);
    CHECK(p->additional[0].rdata == Bytes{0, 10, 0, 0});
    CHECK(encode_packet(*p) == w);
}

TEST_CASE("hostile wire input is rejected with an error") {
    SECTION("short header") {
        for (std::size_t n = 0; n < 12; ++n) {
            Bytes w = header(0, 0);
            w.resize(n);
            CHECK_FALSE(parse_packet(w).ok());
        }
    }
    SECTION("counts promise more than there is") {
        CHECK_FALSE(parse_packet(header(1, 0)).ok());
        CHECK_FALSE(parse_packet(header(0, 0, 0, 65535)).ok());
    }
    SECTION("truncated record") {
        Bytes w = header(0, 1);
        append(w, {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3});
        CHECK_FALSE(parse_packet(w).ok());
    }
    SECTION("pointer loop") {
        Bytes w = header(1, 0);
        append(w, {0xC0, 12, 0, 1, 0, 1});  // points at itself
        CHECK_FALSE(parse_packet(w).ok());
        Bytes w2 = header(1, 0);
        append(w2, {1, 'a', 0xC0, 12, 0, 1, 0, 1});  // label then back to itself: grows until 255
        CHECK_FALSE(parse_packet(w2).ok());
    }
    SECTION("pointer beyond the end") {
        Bytes w = header(1, 0);
        append(w, {0xC0, 0x40, 0, 1, 0, 1});
        CHECK_FALSE(parse_packet(w).ok());
        Bytes w2 = header(1, 0);
        append(w2, {0xC0});
        CHECK_FALSE(parse_packet(w2).ok());
    }
    SECTION("label of 64 bytes") {
        Bytes w = header(1, 0);
        w.push_back(64);
        w.insert(w.end(), 64, 'a');
        append(w, {0, 0, 1, 0, 1});
        CHECK_FALSE(parse_packet(w).ok());
    }
    SECTION("name above 255 bytes") {
        Bytes w = header(1, 0);
        for (int i = 0; i < 5; ++i) {
            w.push_back(63);
            w.insert(w.end(), 63, 'a');
        }
        append(w, {0, 0, 1, 0, 1});
        CHECK_FALSE(parse_packet(w).ok());
    }
    SECTION("name of exactly 255 bytes is fine") {
        Bytes w = header(1, 0);
        for (int i = 0; i < 3; ++i) {
            w.push_back(63);
            w.insert(w.end(), 63, 'a');
        }
        w.push_back(61);
        w.insert(w.end(), 61, 'b');
        append(w, {0, 0, 1, 0, 1});
        auto p = parse_packet(w);
        REQUIRE(p.ok());
        CHECK(p->questions[0].name.wire_length() == 255);
    }
    SECTION("rdata shorter or longer than RDLENGTH") {
        Bytes a5 = header(0, 2);
        append(a5, {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5});
        append(a5, {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4});
        CHECK_FALSE(parse_packet(a5).ok());
        Bytes a5_alone = header(0, 1);
        append(a5_alone, {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5});
        CHECK_FALSE(parse_packet(a5_alone).ok());
        Bytes cname = header(0, 1);
        append(cname, {0, 0, 5, 0, 1, 0, 0, 0, 1, 0, 2, 3, 'f', 'o', 'o', 0});
        CHECK_FALSE(parse_packet(cname).ok());
        Bytes txt = header(0, 1);
        append(txt, {0, 0, 16, 0, 1, 0, 0, 0, 1, 0, 4, 5, 'b', 'a', 'r'});
        CHECK_FALSE(parse_packet(txt).ok());
    }
    SECTION("trailing bytes after the counted records are ignored") {
        Bytes w = header(0, 1);
        append(w, {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4, 0xde, 0xad});
        auto p = parse_packet(w);
        REQUIRE(p.ok());
        CHECK(p->answers.size() == 1);
    }
    SECTION("random bytes never crash") {
        std::mt19937 rng(12345);
        int ok = 0;
        for (int i = 0; i < 20000; ++i) {
            Bytes w(rng() % 80);
            for (auto& b : w) b = static_cast<std::uint8_t>(rng());
            if (w.size() >= 12 && (i % 2)) {  // small counts so the body gets parsed
                for (int k = 4; k < 12; ++k) w[k] = (k % 2) ? static_cast<std::uint8_t>(rng() % 3) : 0;
            }
            auto p = parse_packet(w);
            if (p.ok()) {
                ++ok;
                auto again = parse_packet(encode_packet(*p));
                REQUIRE(again.ok());
                CHECK(again->answers == p->answers);
                for (const auto& r : p->answers) CHECK_FALSE(record_to_text(r).empty());
            }
        }
        CHECK(ok > 0);
    }
}

TEST_CASE("Message round trip and presentation") {
    Packet p;
    p.id = 0xbeef;
    p.flags = flag::QR | flag::AA | rcode::NXDOMAIN;
    p.questions.push_back({Name::parse("x.example").value(), type::AAAA, class_IN});
    p.answers.push_back({Name::parse("x.example").value(), type::TXT, class_IN, 30, {2, 'h', 'i'}});
    auto m = Message::from_packet(p);
    Packet back = m.to_packet();
    CHECK(back.id == p.id);
    CHECK(back.flags == p.flags);
    CHECK(back.answers == p.answers);
    REQUIRE(back.questions.size() == 1);
    CHECK(back.questions[0].type == type::AAAA);

    Bytes wire = m.to_wire();
    auto parsed = Message::parse(wire);
    REQUIRE(parsed.ok());
    CHECK(parsed->to_packet().answers == p.answers);

    std::string text = m.to_text();
    CHECK(text.find("status: NXDOMAIN") != std::string::npos);
    CHECK(text.find("flags: qr aa;") != std::string::npos);
    CHECK(text.find(";x.example. IN AAAA") != std::string::npos);
    CHECK(text.find("x.example. 30 IN TXT \"hi\"") != std::string::npos);
}

TEST_CASE("type and rcode names") {
    CHECK(type_from_string("A").value() == type::A);
    CHECK(type_from_string("aaaa").value() == type::AAAA);
    CHECK(type_from_string("HTTPS").value() == type::HTTPS);
    CHECK(type_from_string("svcb").value() == type::SVCB);
    CHECK(type_from_string("CAA").value() == type::CAA);
    CHECK(type_from_string("TYPE65").value() == 65);
    CHECK(type_from_string("TYPE0").value() == 0);
    CHECK_FALSE(type_from_string("TYPE65536").ok());
    CHECK_FALSE(type_from_string("BOGUS").ok());
    CHECK_FALSE(type_from_string("").ok());
    CHECK(type_to_string(type::A) == "A");
    CHECK(type_to_string(type::HTTPS) == "HTTPS");
    CHECK(type_to_string(65280) == "TYPE65280");
    CHECK(rcode_to_string(rcode::NOERROR) == "NOERROR");
    CHECK(rcode_to_string(rcode::NXDOMAIN) == "NXDOMAIN");
    CHECK(rcode_to_string(rcode::REFUSED) == "REFUSED");
}

TEST_CASE("record_to_text") {
    auto name = Name::parse("foo.example").value();
    CHECK(record_to_text({name, type::TXT, class_IN, 300, {3, 'b', 'a', 'r'}}) ==
          "foo.example. 300 IN TXT \"bar\"");
    CHECK(record_to_text({name, type::A, class_IN, 5, {10, 0, 0, 1}}) == "foo.example. 5 IN A 10.0.0.1");
    Bytes cname;
    Name::parse("t.example").value().append_wire(cname);
    Record c{name, type::CNAME, class_IN, 5, cname};
    CHECK(record_to_text(c) == "foo.example. 5 IN CNAME t.example.");
    CHECK(c.target()->to_string() == "t.example");
    // Rdata that does not fit the type prints in RFC 3597 form instead of failing.
    CHECK(record_to_text({name, type::A, class_IN, 5, {1, 2, 3}}) == "foo.example. 5 IN A \\# 3 010203");
    CHECK(record_to_text({Name{}, type::A, class_IN, 0, {}}) == ". 0 IN A \\# 0");
    // HTTPS with unsorted keys: ldns cannot print it; still one line.
    Record bad_https{name, type::HTTPS, class_IN, 5,
                     Bytes{0, 1, 0, 0, 3, 0, 2, 1, 0xbb, 0, 1, 0, 2, 'h', '2'}};
    std::string t = record_to_text(bad_https);
    CHECK(t.find('\n') == std::string::npos);
    CHECK(t.rfind("foo.example. 5 IN HTTPS", 0) == 0);
    Record weird_target{name, type::MX, class_IN, 5, {0}};
    CHECK_FALSE(weird_target.target().has_value());
}
