// KeepAliveStore: the kept-alive keys survive reopening the file; accepted_at only grows;
// hostile rows are dropped, not loaded.

#include <catch2/catch.hpp>

#include "storage/database.hpp"
#include "storage/keep_alive.hpp"
#include "storage/schema.hpp"
#include "storage_test_support.hpp"

using namespace pkdns;
using namespace pkdns::storage;
using pkdns::storage::test::keypair;
using pkdns::storage::test::TempDir;

namespace {

KeepAliveStore open_store(const std::string& path) {
    auto db = Database::open(path);
    REQUIRE(db.ok());
    auto store = KeepAliveStore::open(*db);
    REQUIRE(store.ok());
    return std::move(*store);
}

}  // namespace

TEST_CASE("keep-alive store: keys persist across reopen") {
    TempDir dir;
    const std::string path = dir.file("ka.db");
    const auto k1 = keypair(1).public_key();
    const auto k2 = keypair(2).public_key();
    const auto k3 = keypair(3).public_key();
    {
        auto store = open_store(path);
        REQUIRE(store.add(k1, 100).ok());
        REQUIRE(store.add(k2, 200).ok());
        REQUIRE(store.add(k3, 300).ok());
        auto removed = store.remove(k3);
        REQUIRE(removed.ok());
        CHECK(*removed);
        auto again = store.remove(k3);
        REQUIRE(again.ok());
        CHECK_FALSE(*again);
    }
    auto store = open_store(path);
    auto size = store.size();
    REQUIRE(size.ok());
    CHECK(*size == 2);
    auto entries = store.load(100);
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == 2);
    for (const auto& e : *entries) {
        if (e.key == k1)
            CHECK(e.accepted_at == 100);
        else if (e.key == k2)
            CHECK(e.accepted_at == 200);
        else
            FAIL("unexpected key " << e.key.to_z32());
    }
}

TEST_CASE("keep-alive store: accepted_at only grows, load honours the limit") {
    TempDir dir;
    auto store = open_store(dir.file("ka.db"));
    const auto k = keypair(7).public_key();
    REQUIRE(store.add(k, 500).ok());
    REQUIRE(store.add(k, 400).ok());  // an older accept does not lower it
    auto e = store.load(10);
    REQUIRE(e.ok());
    REQUIRE(e->size() == 1);
    CHECK(e->front().accepted_at == 500);
    REQUIRE(store.add(k, 900).ok());
    e = store.load(10);
    REQUIRE(e.ok());
    CHECK(e->front().accepted_at == 900);

    for (std::uint8_t i = 10; i < 20; ++i) REQUIRE(store.add(keypair(i).public_key(), i).ok());
    auto page = store.load(4);
    REQUIRE(page.ok());
    CHECK(page->size() == 4);
    CHECK(*store.size() == 11);
}

TEST_CASE("keep-alive store: rows that are not valid keys are deleted on load") {
    TempDir dir;
    const std::string path = dir.file("ka.db");
    const auto good = keypair(4).public_key();
    {
        auto db = Database::open(path);
        REQUIRE(db.ok());
        auto store = KeepAliveStore::open(*db);
        REQUIRE(store.ok());
        REQUIRE(store->add(good, 1).ok());
        // A text key (passes the length CHECK, is no blob), and a negative time.
        REQUIRE(db->exec("INSERT INTO keep_alive VALUES ('abcdefghijklmnopqrstuvwxyz012345', 5)").ok());
        REQUIRE(db->exec("INSERT INTO keep_alive VALUES (randomblob(32), -1)").ok());
    }
    auto store = open_store(path);
    CHECK(*store.size() == 3);
    auto entries = store.load(100);
    REQUIRE(entries.ok());
    // randomblob(32) may happen to be a valid point; the negative time rejects it anyway.
    REQUIRE(entries->size() == 1);
    CHECK(entries->front().key == good);
    CHECK(*store.size() == 1);
}

TEST_CASE("keep-alive store: the schema has the keep_alive table at the current version") {
    auto db = Database::open(":memory:");
    REQUIRE(db.ok());
    CHECK(*db->user_version() == static_cast<std::int64_t>(schema_migrations().size()));
    CHECK(db->exec("SELECT key, accepted_at FROM keep_alive").ok());
}
