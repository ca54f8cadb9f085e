// Lru: pure container tests.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/lru.hpp"

using pkdns::Lru;

namespace {

template <class L>
std::vector<std::string> keys(const L& lru) {  // most recently used first
    std::vector<std::string> out;
    for (const auto& e : lru) out.push_back(e.key);
    return out;
}

using Strings = std::vector<std::string>;

// Every key in one bucket: lookups must compare keys, not hashes.
struct SameHash {
    std::size_t operator()(const std::string&) const noexcept { return 7; }
};

}  // namespace

TEST_CASE("lru: count bound evicts the least recently used, find touches, peek does not") {
    Lru<std::string, int> lru({.max_entries = 3});
    REQUIRE(lru.insert_or_assign("a", 1));
    REQUIRE(lru.insert_or_assign("b", 2));
    REQUIRE(lru.insert_or_assign("c", 3));
    CHECK(keys(lru) == Strings{"c", "b", "a"});
    CHECK(lru.oldest()->key == "a");

    REQUIRE(lru.find("a"));
    CHECK(*lru.find("a") == 1);
    CHECK(keys(lru) == Strings{"a", "c", "b"});
    REQUIRE(lru.peek("b"));
    CHECK(*lru.peek("b") == 2);
    CHECK(keys(lru) == Strings{"a", "c", "b"});  // unchanged
    CHECK(lru.find("zz") == nullptr);
    CHECK(lru.peek("zz") == nullptr);

    REQUIRE(lru.insert_or_assign("d", 4));  // evicts b, the least recently used
    CHECK(lru.size() == 3);
    CHECK(keys(lru) == Strings{"d", "a", "c"});
    CHECK(lru.peek("b") == nullptr);
    CHECK(lru.bytes() == 0);  // no charges given
}

TEST_CASE("lru: insert_or_assign on a present key replaces value and charge and touches it") {
    Lru<std::string, std::string> lru({.max_bytes = 100});
    REQUIRE(lru.insert_or_assign("a", "one", 10));
    REQUIRE(lru.insert_or_assign("b", "two", 20));
    std::string* v = lru.insert_or_assign("a", "uno", 30);
    REQUIRE(v);
    CHECK(*v == "uno");
    CHECK(lru.size() == 2);
    CHECK(lru.bytes() == 50);
    CHECK(keys(lru) == Strings{"a", "b"});
    CHECK(lru.begin()->charge == 30);

    // The returned pointer is the stored value.
    *v = "changed";
    CHECK(*lru.peek("a") == "changed");
}

TEST_CASE("lru: the byte budget evicts as many old entries as it takes") {
    Lru<std::string, int> lru({.max_bytes = 100});
    REQUIRE(lru.insert_or_assign("a", 1, 30));
    REQUIRE(lru.insert_or_assign("b", 2, 30));
    REQUIRE(lru.insert_or_assign("c", 3, 30));
    CHECK(lru.bytes() == 90);
    REQUIRE(lru.find("a"));
    REQUIRE(lru.insert_or_assign("d", 4, 70));  // b and c must go (a is recent)
    CHECK(keys(lru) == Strings{"d", "a"});
    CHECK(lru.bytes() == 100);

    // Growing a present entry evicts others, never itself.
    REQUIRE(lru.insert_or_assign("a", 5, 100));
    CHECK(keys(lru) == Strings{"a"});
    CHECK(lru.bytes() == 100);
}

TEST_CASE("lru: an entry that cannot fit alone is refused and nothing changes") {
    Lru<std::string, int> lru({.max_entries = 10, .max_bytes = 100});
    REQUIRE(lru.insert_or_assign("a", 1, 40));
    REQUIRE(lru.insert_or_assign("b", 2, 40));
    CHECK(lru.insert_or_assign("big", 3, 101) == nullptr);
    CHECK(lru.insert_or_assign("a", 9, 101) == nullptr);  // also for a present key
    CHECK(keys(lru) == Strings{"b", "a"});
    CHECK(*lru.peek("a") == 1);
    CHECK(lru.bytes() == 80);

    Lru<std::string, int> none({.max_entries = 0});
    CHECK(none.insert_or_assign("a", 1) == nullptr);
    CHECK(none.empty());
}

TEST_CASE("lru: erase, erase_if, pop_oldest and clear keep size and bytes right") {
    Lru<std::string, int> lru;
    for (int i = 0; i < 6; ++i) REQUIRE(lru.insert_or_assign("k" + std::to_string(i), i, 10));
    CHECK(lru.bytes() == 60);

    CHECK(lru.erase("k2"));
    CHECK_FALSE(lru.erase("k2"));
    CHECK(lru.size() == 5);
    CHECK(lru.bytes() == 50);

    // Odd values go; the predicate may also change the values it keeps.
    CHECK(lru.erase_if([](const std::string&, int& v) {
        if (v % 2 == 1) return true;
        v *= 10;
        return false;
    }) == 3);
    CHECK(keys(lru) == Strings{"k4", "k0"});
    CHECK(*lru.peek("k4") == 40);
    CHECK(lru.bytes() == 20);

    REQUIRE(lru.oldest());
    CHECK(lru.oldest()->key == "k0");
    lru.pop_oldest();
    CHECK(keys(lru) == Strings{"k4"});
    CHECK(lru.bytes() == 10);

    lru.clear();
    CHECK(lru.empty());
    CHECK(lru.bytes() == 0);
    CHECK(lru.oldest() == nullptr);
    CHECK(lru.find("k4") == nullptr);
    REQUIRE(lru.insert_or_assign("k4", 1, 5));  // usable after clear
    CHECK(lru.bytes() == 5);
}

TEST_CASE("lru: value pointers stay valid while other entries come, go and move") {
    Lru<std::string, std::unique_ptr<int>> lru({.max_entries = 100});
    int* first = lru.insert_or_assign("first", std::make_unique<int>(42))->get();
    std::unique_ptr<int>* slot = lru.peek("first");
    for (int i = 0; i < 50; ++i) REQUIRE(lru.insert_or_assign(std::to_string(i), std::make_unique<int>(i)));
    REQUIRE(lru.find("first"));
    CHECK(lru.erase_if([](const std::string& k, auto&) { return k != "first" && k.size() == 1; }) == 10);
    CHECK(lru.peek("first") == slot);
    CHECK(slot->get() == first);
    CHECK(**slot == 42);
}

TEST_CASE("lru: keys that share a hash are told apart") {
    Lru<std::string, int, SameHash> lru({.max_entries = 3});
    REQUIRE(lru.insert_or_assign("x", 1));
    REQUIRE(lru.insert_or_assign("y", 2));
    REQUIRE(lru.insert_or_assign("z", 3));
    CHECK(*lru.peek("x") == 1);
    CHECK(*lru.peek("y") == 2);
    CHECK(lru.erase("y"));
    CHECK(lru.peek("y") == nullptr);
    CHECK(*lru.peek("z") == 3);
    REQUIRE(lru.insert_or_assign("w", 4));
    REQUIRE(lru.insert_or_assign("v", 5));  // evicts x
    CHECK(keys(lru) == Strings{"v", "w", "z"});
}

TEST_CASE("lru: a moved-to map keeps its entries and index") {
    Lru<std::string, int> a({.max_entries = 2});
    REQUIRE(a.insert_or_assign("one", 1, 3));
    REQUIRE(a.insert_or_assign("two", 2, 4));
    Lru<std::string, int> b(std::move(a));
    CHECK(*b.find("one") == 1);
    CHECK(b.bytes() == 7);
    REQUIRE(b.insert_or_assign("three", 3));  // evicts two
    CHECK(keys(b) == Strings{"three", "one"});

    Lru<std::string, int> c;
    c = std::move(b);
    CHECK(c.limits().max_entries == 2);
    CHECK(*c.find("three") == 3);
    CHECK(c.erase("one"));
    CHECK(keys(c) == Strings{"three"});
}
