#include <catch2/catch.hpp>

#include <cstring>

#include "pkarr/dht/item_store.hpp"
#include "pkarr/keys.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::chrono_literals;

namespace {

pkarr::Keypair key_from(std::uint8_t last) {
    pkarr::Keypair::Seed seed{};
    seed[31] = last;
    return pkarr::Keypair::from_seed(seed);
}

MutableItem sign_item(const pkarr::Keypair& kp, std::int64_t seq, std::string_view value,
                      std::string_view salt = "") {
    MutableItem item;
    std::memcpy(item.key.data(), kp.public_key().bytes().data(), 32);
    item.salt = Bytes(salt.begin(), salt.end());
    item.seq = seq;
    item.value = Bytes(value.begin(), value.end());
    item.signature = kp.sign(mutable_signable(item.salt, item.seq, item.value));
    return item;
}

const TimePoint t0 = TimePoint{} + 1000h;

}  // namespace

TEST_CASE("BEP44 vectors from mainline-dht.md A.4", "[bep44]") {
    auto kp = key_from(1);
    CHECK(to_hex(kp.public_key().view()) ==
          "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29");
    CHECK(mutable_target(kp.public_key().view(), {}).to_hex() == "b018350572bb9d8777dedc5fc8c9a606d3e1853e");

    Bytes signable = mutable_signable({}, 1, as_bytes("hello from js"));
    CHECK(std::string(as_chars(signable)) == "3:seqi1e1:v13:hello from js");
    MutableItem item = sign_item(kp, 1, "hello from js");
    CHECK(to_hex(item.signature) ==
          "0813c045188bbe9434bd975ad7e43dd8a5d74f3fadd744f7b3780fc6549e609193d973d6aafff1667f01682ac6bf253da2"
          "6d25b86f10ffde7094d75392f0e404");
    CHECK(verify_mutable_item(item));

    Bytes salted = mutable_signable(as_bytes("foobar"), 4, as_bytes("Hello world!"));
    CHECK(std::string(as_chars(salted)) == "4:salt6:foobar3:seqi4e1:v12:Hello world!");
    MutableItem salted_item = sign_item(kp, 4, "Hello world!", "foobar");
    CHECK(salted_item.target().to_hex() == "8ccd90daf94a82ec7f6f1f562667152f71247bda");
    CHECK(to_hex(salted_item.signature) ==
          "22c1559a2f4b352db9f4c2525b4c0b19749f7ae806b37603e568f4229d3bcae47210207816422699e53e4936832825b858"
          "01bd03a034be8e6f78c1c538e6c90a");
    CHECK(validate_mutable_item(salted_item, salted_item.target()).ok());

    CHECK(immutable_target(as_bytes("Hello World!")).to_hex() == "e5f96f6f38320f0f33959cb4d3d656452117aadb");
}

TEST_CASE("mutable item validation catches each defect", "[bep44]") {
    auto kp = key_from(2);
    MutableItem good = sign_item(kp, 10, "value");
    NodeId target = good.target();
    REQUIRE(validate_mutable_item(good, target).ok());

    MutableItem bad_sig = good;
    bad_sig.signature[0] ^= 1;
    CHECK(validate_mutable_item(bad_sig, target).error().code == krpc::error_bad_signature);
    MutableItem bad_seq = good;
    bad_seq.seq = 11;
    CHECK(validate_mutable_item(bad_seq, target).error().code == krpc::error_bad_signature);
    CHECK(validate_mutable_item(good, NodeId::random()).error().code == krpc::error_protocol);
    MutableItem big = sign_item(kp, 1, std::string(1001, 'x'));
    CHECK(validate_mutable_item(big, big.target()).error().code == krpc::error_value_too_big);
    CHECK(validate_mutable_item(sign_item(kp, 1, std::string(1000, 'x')), target).ok());
    MutableItem not_a_point = good;
    not_a_point.key.fill(0xff);
    CHECK_FALSE(verify_mutable_item(not_a_point));
}

TEST_CASE("more_recent orders by seq then value bytes", "[bep44]") {
    auto kp = key_from(3);
    MutableItem a = sign_item(kp, 5, "aaa");
    MutableItem b = sign_item(kp, 6, "aaa");
    MutableItem c = sign_item(kp, 5, "aab");
    MutableItem d = sign_item(kp, 5, "aaab");
    CHECK(more_recent(b, a));
    CHECK_FALSE(more_recent(a, b));
    CHECK(more_recent(c, a));
    CHECK(more_recent(d, a));  // a proper prefix is smaller
    CHECK_FALSE(more_recent(a, a));
}

TEST_CASE("item store put rules and error codes", "[item_store]") {
    auto kp = key_from(4);
    ItemStore store;
    MutableItem v5 = sign_item(kp, 5, "five");
    NodeId target = v5.target();

    CHECK(store.get_mutable(target, t0) == nullptr);
    REQUIRE(store.put_mutable(v5, target, std::nullopt, t0).ok());
    REQUIRE(store.get_mutable(target, t0) != nullptr);
    CHECK(*store.get_mutable(target, t0) == v5);

    SECTION("302 for a lower seq, equal seq overwrites") {
        auto low = store.put_mutable(sign_item(kp, 4, "four"), target, std::nullopt, t0);
        REQUIRE_FALSE(low.ok());
        CHECK(low.error().code == krpc::error_seq_too_low);
        MutableItem other5 = sign_item(kp, 5, "different");
        CHECK(store.put_mutable(other5, target, std::nullopt, t0).ok());
        CHECK(store.get_mutable(target, t0)->value == other5.value);
        CHECK(store.put_mutable(other5, target, std::nullopt, t0).ok());  // republish
    }
    SECTION("301 when cas differs from the stored seq") {
        auto r = store.put_mutable(sign_item(kp, 6, "six"), target, 4, t0);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == krpc::error_cas_mismatch);
        CHECK(store.put_mutable(sign_item(kp, 6, "six"), target, 5, t0).ok());
        CHECK(store.get_mutable(target, t0)->seq == 6);
    }
    SECTION("206 for a bad signature, stored item unchanged") {
        MutableItem forged = sign_item(kp, 7, "seven");
        forged.value = Bytes{'e', 'v', 'i', 'l'};
        auto r = store.put_mutable(forged, target, std::nullopt, t0);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == krpc::error_bad_signature);
        CHECK(store.get_mutable(target, t0)->value == v5.value);
        // mainline's order: a stale seq is reported as 302 before the signature is checked.
        MutableItem stale_forged = sign_item(kp, 1, "x");
        stale_forged.signature[5] ^= 1;
        CHECK(store.put_mutable(stale_forged, target, std::nullopt, t0).error().code ==
              krpc::error_seq_too_low);
    }
    SECTION("205 and 207 for sizes, 203 for a wrong target") {
        MutableItem big = sign_item(kp, 8, std::string(1001, 'x'));
        CHECK(store.put_mutable(big, target, std::nullopt, t0).error().code == krpc::error_value_too_big);
        MutableItem salty = sign_item(kp, 8, "x", std::string(65, 's'));
        CHECK(store.put_mutable(salty, salty.target(), std::nullopt, t0).error().code ==
              krpc::error_salt_too_big);
        CHECK(store.put_mutable(sign_item(kp, 9, "x"), NodeId::random(), std::nullopt, t0).error().code ==
              krpc::error_protocol);
        CHECK(store.get_mutable(target, t0)->seq == 5);
    }
    SECTION("items expire after the ttl") {
        CHECK(store.get_mutable(target, t0 + 119min) != nullptr);
        CHECK(store.get_mutable(target, t0 + 2h) == nullptr);
        // An expired item no longer blocks a lower seq.
        CHECK(store.put_mutable(sign_item(kp, 1, "one"), target, std::nullopt, t0 + 3h).ok());
        CHECK(store.expire(t0 + 3h) == 0);
        CHECK(store.expire(t0 + 6h) == 1);
        CHECK(store.size() == 0);
    }
}

TEST_CASE("item store is bounded with oldest-first eviction", "[item_store]") {
    ItemStoreConfig cfg;
    cfg.max_items = 3;
    ItemStore store(cfg);
    std::vector<MutableItem> items;
    for (std::uint8_t i = 0; i < 4; ++i)
        items.push_back(sign_item(key_from(static_cast<std::uint8_t>(10 + i)), 1, "v"));
    for (int i = 0; i < 3; ++i)
        REQUIRE(
            store.put_mutable(items[i], items[i].target(), std::nullopt, t0 + std::chrono::seconds(i)).ok());
    // Refresh item 0, so item 1 is now the oldest.
    REQUIRE(store.put_mutable(items[0], items[0].target(), std::nullopt, t0 + 10s).ok());
    REQUIRE(store.put_mutable(items[3], items[3].target(), std::nullopt, t0 + 11s).ok());
    CHECK(store.size() == 3);
    CHECK(store.get_mutable(items[0].target(), t0 + 12s) != nullptr);
    CHECK(store.get_mutable(items[1].target(), t0 + 12s) == nullptr);
    CHECK(store.get_mutable(items[2].target(), t0 + 12s) != nullptr);
    CHECK(store.get_mutable(items[3].target(), t0 + 12s) != nullptr);
}

TEST_CASE("item store immutable items", "[item_store]") {
    ItemStore store;
    Bytes v{'H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd', '!'};
    NodeId target = immutable_target(v);
    CHECK(store.put_immutable(v, NodeId::random(), t0).error().code == krpc::error_protocol);
    CHECK(store.put_immutable(Bytes(1001, 'x'), immutable_target(Bytes(1001, 'x')), t0).error().code ==
          krpc::error_value_too_big);
    REQUIRE(store.put_immutable(v, target, t0).ok());
    REQUIRE(store.get_immutable(target, t0) != nullptr);
    CHECK(*store.get_immutable(target, t0) == v);
    CHECK(store.get_mutable(target, t0) == nullptr);
}
