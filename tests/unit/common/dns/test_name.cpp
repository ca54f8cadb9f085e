#include <catch2/catch.hpp>

#include "common/dns/name.hpp"

using pkdns::dns::Name;

TEST_CASE("Name::parse accepts absolute and relative spellings") {
    auto a = Name::parse("www.Example.com");
    auto b = Name::parse("www.Example.com.");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->label_count() == 3);
    CHECK(a->labels()[1] == "Example");
    CHECK(a->identical(*b));
    CHECK(a->to_string() == "www.Example.com");
    CHECK(a->wire_length() == 17);
}

TEST_CASE("Name::parse root forms") {
    for (const char* text : {"", "."}) {
        auto n = Name::parse(text);
        REQUIRE(n.ok());
        CHECK(n->is_root());
        CHECK(n->to_string().empty());
        CHECK(n->wire_length() == 1);
    }
}

TEST_CASE("Name::parse escapes") {
    auto n = Name::parse(R"(a\.b.c\032d.\065)");
    REQUIRE(n.ok());
    REQUIRE(n->label_count() == 3);
    CHECK(n->labels()[0] == "a.b");
    CHECK(n->labels()[1] == "c d");
    CHECK(n->labels()[2] == "A");
    CHECK(n->to_string() == R"(a\.b.c\032d.A)");
    auto back = Name::parse(n->to_string());
    REQUIRE(back.ok());
    CHECK(back->identical(*n));
}

TEST_CASE("Name::parse rejects bad input") {
    CHECK_FALSE(Name::parse("a..b").ok());
    CHECK_FALSE(Name::parse(".a").ok());
    CHECK_FALSE(Name::parse("a.b..").ok());
    CHECK_FALSE(Name::parse("a\\").ok());
    CHECK_FALSE(Name::parse("a\\25").ok());
    CHECK_FALSE(Name::parse("a\\256").ok());
    CHECK_FALSE(Name::parse("a\\2x5").ok());
    CHECK(Name::parse(std::string(63, 'x')).ok());
    CHECK_FALSE(Name::parse(std::string(64, 'x')).ok());
    // 4 labels of 63 = 4*64 + 1 = 257 wire bytes; 3*64 + 62 + 1 = 255 fits.
    std::string l63(63, 'a');
    CHECK_FALSE(Name::parse(l63 + "." + l63 + "." + l63 + "." + l63).ok());
    auto max = Name::parse(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'a'));
    REQUIRE(max.ok());
    CHECK(max->wire_length() == 255);
    CHECK_FALSE(Name::parse(l63 + "." + l63 + "." + l63 + "." + std::string(62, 'a')).ok());
}

TEST_CASE("Name::from_labels validates") {
    CHECK(Name::from_labels({"a", "b"}).ok());
    CHECK_FALSE(Name::from_labels({"a", ""}).ok());
    CHECK_FALSE(Name::from_labels({std::string(64, 'a')}).ok());
}

TEST_CASE("Name comparison is case-insensitive, identical() is not") {
    auto a = Name::parse("Foo.EXAMPLE").value();
    auto b = Name::parse("foo.example.").value();
    CHECK(a == b);
    CHECK_FALSE(a.identical(b));
    CHECK(a.to_lower().identical(b));
    CHECK_FALSE(a == Name::parse("foo.example.com").value());
    CHECK_FALSE(a == Name::parse("fop.example").value());
    CHECK(pkdns::dns::label_equal_ci("AbC", "aBc"));
    CHECK_FALSE(pkdns::dns::label_equal_ci("abc", "abd"));
}

TEST_CASE("Name parent, prepend, is_subdomain_of") {
    auto n = Name::parse("a.b.c").value();
    CHECK(n.parent().to_string() == "b.c");
    CHECK(n.parent(2).to_string() == "c");
    CHECK(n.parent(3).is_root());
    CHECK(n.parent(7).is_root());
    CHECK(n.parent(0).identical(n));
    CHECK(n.parent().prepend("x").to_string() == "x.b.c");
    CHECK(n.is_subdomain_of(Name::parse("B.C").value()));
    CHECK(n.is_subdomain_of(n));
    CHECK(n.is_subdomain_of(Name{}));
    CHECK_FALSE(n.is_subdomain_of(Name::parse("x.a.b.c").value()));
    CHECK_FALSE(n.is_subdomain_of(Name::parse("bb.c").value()));
}

TEST_CASE("Name wire form") {
    pkdns::Bytes out;
    Name::parse("ab.c").value().append_wire(out);
    CHECK(out == pkdns::Bytes{2, 'a', 'b', 1, 'c', 0});
    std::size_t off = 0;
    auto back = Name::from_wire(out, off);
    REQUIRE(back.ok());
    CHECK(off == out.size());
    CHECK(back->to_string() == "ab.c");

    pkdns::Bytes pointer{1, 'a', 0xC0, 0x00};
    off = 0;
    CHECK_FALSE(Name::from_wire(pointer, off).ok());
    pkdns::Bytes truncated{3, 'a', 'b'};
    off = 0;
    CHECK_FALSE(Name::from_wire(truncated, off).ok());
}
