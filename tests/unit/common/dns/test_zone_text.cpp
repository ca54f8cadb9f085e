#include <catch2/catch.hpp>

#include "common/dns/zone_text.hpp"

using namespace pkdns;
using namespace pkdns::dns;

namespace {

const Name origin = Name::parse("example").value();

std::vector<Record> parse_ok(std::string_view text, std::uint32_t ttl = 300) {
    auto r = parse_zone_text(text, origin, ttl);
    INFO(text);
    if (!r) FAIL(r.error().message);
    return r.value();
}

std::string error_of(std::string_view text) {
    auto r = parse_zone_text(text, origin);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

}  // namespace

TEST_CASE("zone text: every common type, class and TTL optional") {
    auto rs = parse_ok(
        "@ A 1.2.3.4\n"
        "www 60 IN AAAA 2001:db8::1\n"
        "alias IN CNAME www\n"
        "txt TXT \"hello world\" \"second\"\n"
        "mx 10 MX 10 mail.example.com.\n"
        "sub NS ns1\n"
        "_sip._tcp SRV 10 20 5060 sip\n"
        "ptr PTR target.\n"
        "caa CAA 0 issue \"letsencrypt.org\"\n"
        "@ 300 IN HTTPS 1 . alpn=h2 port=443\n"
        "svc SVCB 1 svc.example.net. alpn=h2,h3 ipv4hint=10.0.0.1\n");
    REQUIRE(rs.size() == 11);
    CHECK(record_to_text(rs[0]) == "example. 300 IN A 1.2.3.4");
    // RFC 1035 §5.1: an omitted TTL is the last explicitly stated one (until $TTL).
    CHECK(rs[2].ttl == 60);
    CHECK(rs[3].ttl == 60);
    CHECK(record_to_text(rs[1]) == "www.example. 60 IN AAAA 2001:db8::1");
    CHECK(rs[2].target()->to_string() == "www.example");
    CHECK(rs[3].rdata ==
          Bytes{11, 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', 6, 's', 'e', 'c', 'o', 'n', 'd'});
    CHECK(rs[4].ttl == 10);
    CHECK(rs[4].target()->to_string() == "mail.example.com");
    CHECK(rs[5].target()->to_string() == "ns1.example");
    CHECK(rs[6].name.to_string() == "_sip._tcp.example");
    CHECK(record_to_text(rs[6]) == "_sip._tcp.example. 10 IN SRV 10 20 5060 sip.example.");
    CHECK(rs[7].target()->to_string() == "target");
    CHECK(record_to_text(rs[8]) == "caa.example. 10 IN CAA 0 issue \"letsencrypt.org\"");
    CHECK(rs[9].type == type::HTTPS);
    CHECK(rs[9].rdata == Bytes{0, 1, 0, 0, 1, 0, 3, 2, 'h', '2', 0, 3, 0, 2, 0x01, 0xbb});
    CHECK(record_to_text(rs[9]) == "example. 300 IN HTTPS 1 . alpn=h2 port=443");
    CHECK(rs[10].type == type::SVCB);
    CHECK(rs[10].target()->to_string() == "svc.example.net");
    for (const auto& r : rs) CHECK(r.klass == class_IN);
}

TEST_CASE("zone text: $TTL, $ORIGIN, parentheses, comments, absolute names, default TTL") {
    auto rs = parse_ok(
        "; a comment line\n"
        "a A 1.1.1.1 ; trailing comment\n"
        "$TTL 99\n"
        "b ( A\n"
        "    2.2.2.2 )\n"
        "$ORIGIN other.\n"
        "c A 3.3.3.3\n"
        "d.example. 5 A 4.4.4.4\n",
        120);
    REQUIRE(rs.size() == 4);
    CHECK(rs[0].ttl == 120);
    CHECK(rs[0].name.to_string() == "a.example");
    CHECK(rs[1].ttl == 99);
    CHECK(rs[1].rdata == Bytes{2, 2, 2, 2});
    CHECK(rs[2].name.to_string() == "c.other");
    CHECK(rs[3].name.to_string() == "d.example");
    CHECK(rs[3].ttl == 5);
}

TEST_CASE("zone text: no SOA needed, empty text is empty, SOA accepted") {
    CHECK(parse_ok("").empty());
    CHECK(parse_ok("\n ; nothing\n").empty());
    auto rs = parse_ok("@ SOA ns hostmaster 1 2 3 4 5\nwww A 1.2.3.4\n");
    REQUIRE(rs.size() == 2);
    CHECK(rs[0].type == type::SOA);
    CHECK(rs[1].type == type::A);
}

TEST_CASE("zone text: after $TTL an explicit TTL is not carried forward") {
    auto rs = parse_ok("$TTL 50\na 7 A 1.1.1.1\nb A 1.1.1.2\n");
    REQUIRE(rs.size() == 2);
    CHECK(rs[0].ttl == 7);
    CHECK(rs[1].ttl == 50);
}

TEST_CASE("zone text: unknown types via RFC 3597") {
    auto rs = parse_ok("x TYPE999 \\# 2 0102\n");
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].type == 999);
    CHECK(rs[0].rdata == Bytes{1, 2});
}

TEST_CASE("zone text: errors name the line") {
    CHECK(error_of("@ A 1.2.3.4\n\nfoo A 1.2.3\nbar A 1.1.1.1\n").rfind("line 3: ", 0) == 0);
    CHECK(error_of("foo BOGUS 1\n").rfind("line 1: ", 0) == 0);
    CHECK(error_of("@ A 1.2.3.4\nm ( A\n 1.2.3.5\n)\nfoo A 999.1.1.1\n").rfind("line 5: ", 0) == 0);
    CHECK(error_of("a A 1.1.1.1\n$INCLUDE /etc/passwd\n").rfind("line 2: ", 0) == 0);
    CHECK(error_of("x HTTPS 1 . nosuchkey=1\n").rfind("line 1: ", 0) == 0);
}
