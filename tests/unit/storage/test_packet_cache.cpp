#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/database.hpp"
#include "storage/packet_cache.hpp"
#include "storage_test_support.hpp"

using namespace pkdns;
using namespace pkdns::storage;
using pkdns::pkarr::SignedPacket;
using pkdns::storage::test::packet;
using pkdns::storage::test::TempDir;

namespace {

struct ManualClock {
    pkarr::Micros now = 1'000'000'000'000'000;  // ~2001, far from the packets' last_seen values
    std::function<pkarr::Micros()> fn() {
        return [this] { return now; };
    }
};

Database open_memory() {
    auto db = Database::open(":memory:");
    REQUIRE(db.ok());
    return std::move(db).value();
}

PacketCache open_cache(Database db, ManualClock& clock, std::size_t max_packets = 1000) {
    PacketCacheOptions options;
    options.max_packets = max_packets;
    options.clock = clock.fn();
    auto cache = PacketCache::open(std::move(db), std::move(options));
    REQUIRE(cache.ok());
    return std::move(cache).value();
}

std::optional<SignedPacket> get(PacketCache& cache, const pkarr::PublicKey& key) {
    auto r = cache.get(key);
    REQUIRE(r.ok());
    return std::move(r).value();
}

PutOutcome put(PacketCache& cache, const SignedPacket& p) {
    auto r = cache.put(p);
    REQUIRE(r.ok());
    return *r;
}

std::size_t size(PacketCache& cache) {
    auto r = cache.size();
    REQUIRE(r.ok());
    return *r;
}

// Writes a row directly, bypassing the cache's checks: what a hostile or damaged file may hold.
void insert_raw(Database& db, ByteView key, std::int64_t timestamp, std::int64_t last_seen,
                ByteView packet_bytes) {
    auto stmt = db.prepare("INSERT OR REPLACE INTO packets VALUES (?1, ?2, ?3, ?4, 0)");
    REQUIRE(stmt.ok());
    StatementScope s(*stmt);
    s->bind_int64(2, timestamp).bind_int64(3, last_seen).bind_blob(1, key).bind_blob(4, packet_bytes);
    REQUIRE(s->run().ok());
}

std::int64_t row_count(Database& db) {
    auto stmt = db.prepare("SELECT count(*) FROM packets");
    REQUIRE(stmt.ok());
    StatementScope s(*stmt);
    REQUIRE(*s->step());
    return s->column_int64(0);
}

}  // namespace

TEST_CASE("packet cache round trip in memory", "[storage][packet_cache]") {
    ManualClock clock;
    auto cache = open_cache(open_memory(), clock);
    const auto p = packet(1, 1'700'000'000'000'000, "hello", 1'234'567);

    CHECK_FALSE(get(cache, p.public_key()).has_value());
    CHECK(put(cache, p) == PutOutcome::stored);
    CHECK(size(cache) == 1);

    auto got = get(cache, p.public_key());
    REQUIRE(got.has_value());
    CHECK(got->bytes() == p.bytes());
    CHECK(got->public_key() == p.public_key());
    CHECK(got->timestamp() == p.timestamp());
    CHECK(got->last_seen() == 1'234'567);
    CHECK(got->records() == p.records());

    CHECK_FALSE(get(cache, packet(2, 5).public_key()).has_value());
}

TEST_CASE("packet cache on disk survives reopen", "[storage][packet_cache]") {
    TempDir dir;
    const std::string path = dir.file("cache.db");
    ManualClock clock;
    const auto a = packet(1, 100, "a", 111);
    const auto b = packet(2, 200, "b", 222);
    {
        auto db = Database::open(path);
        REQUIRE(db.ok());
        auto cache = open_cache(*db, clock);
        CHECK(put(cache, a) == PutOutcome::stored);
        CHECK(put(cache, b) == PutOutcome::stored);
    }
    auto db = Database::open(path);
    REQUIRE(db.ok());
    auto cache = open_cache(*db, clock);
    CHECK(size(cache) == 2);
    auto got_a = get(cache, a.public_key());
    auto got_b = get(cache, b.public_key());
    REQUIRE(got_a.has_value());
    REQUIRE(got_b.has_value());
    CHECK(got_a->bytes() == a.bytes());
    CHECK(got_a->last_seen() == 111);
    CHECK(got_b->bytes() == b.bytes());
    CHECK(got_b->last_seen() == 222);
}

TEST_CASE("newer packets replace, older ones are ignored", "[storage][packet_cache]") {
    ManualClock clock;
    auto cache = open_cache(open_memory(), clock);
    const auto v100 = packet(1, 100, "one hundred");
    const auto v200 = packet(1, 200, "two hundred");
    const auto v150 = packet(1, 150, "one fifty");

    CHECK(put(cache, v100) == PutOutcome::stored);
    CHECK(put(cache, v200) == PutOutcome::stored);
    CHECK(get(cache, v100.public_key())->bytes() == v200.bytes());
    CHECK(put(cache, v150) == PutOutcome::ignored_older);
    CHECK(put(cache, v100) == PutOutcome::ignored_older);
    CHECK(get(cache, v100.public_key())->bytes() == v200.bytes());
    CHECK(size(cache) == 1);
}

TEST_CASE("identical bytes refresh last_seen, never lowering it", "[storage][packet_cache]") {
    ManualClock clock;
    auto cache = open_cache(open_memory(), clock);
    auto p = packet(3, 500, "same", 1'000);
    CHECK(put(cache, p) == PutOutcome::stored);

    p.set_last_seen(5'000);
    CHECK(put(cache, p) == PutOutcome::refreshed);
    CHECK(get(cache, p.public_key())->last_seen() == 5'000);

    p.set_last_seen(2'000);
    CHECK(put(cache, p) == PutOutcome::refreshed);
    CHECK(get(cache, p.public_key())->last_seen() == 5'000);
}

TEST_CASE("equal timestamps: the larger DNS bytes win, compared from offset 104", "[storage][packet_cache]") {
    // Pick two packets with the same timestamp where the DNS-bytes order (pkarr's rule) differs
    // both from the order of the whole canonical bytes (signature first) and from their lengths:
    // `big` has the larger TTL byte but a shorter TXT string.
    const auto kp = test::keypair(9);
    const pkarr::Micros ts = 777;
    const auto small = test::sign(kp, {test::txt("_x", "aaaaaaaa", 300)}, ts, 10);
    std::optional<SignedPacket> big;
    for (std::uint32_t ttl = 301; ttl < 400 && !big; ++ttl) {
        auto candidate = test::sign(kp, {test::txt("_x", "b", ttl)}, ts, 10);
        if (std::lexicographical_compare(candidate.bytes().begin(), candidate.bytes().end(),
                                         small.bytes().begin(), small.bytes().end()))
            big = candidate;
    }
    REQUIRE(big.has_value());
    REQUIRE(big->dns_bytes().size() < small.dns_bytes().size());
    REQUIRE(big->more_recent_than(small));
    REQUIRE_FALSE(small.more_recent_than(*big));

    ManualClock clock;
    SECTION("smaller first") {
        auto cache = open_cache(open_memory(), clock);
        CHECK(put(cache, small) == PutOutcome::stored);
        CHECK(put(cache, *big) == PutOutcome::stored);
        CHECK(put(cache, small) == PutOutcome::ignored_older);
        CHECK(get(cache, kp.public_key())->bytes() == big->bytes());
    }
    SECTION("larger first") {
        auto cache = open_cache(open_memory(), clock);
        CHECK(put(cache, *big) == PutOutcome::stored);
        CHECK(put(cache, small) == PutOutcome::ignored_older);
        CHECK(get(cache, kp.public_key())->bytes() == big->bytes());
    }
}

TEST_CASE("the recency rule holds across connections to one file", "[storage][packet_cache]") {
    TempDir dir;
    const std::string path = dir.file("cache.db");
    ManualClock clock;
    auto db1 = Database::open(path);
    auto db2 = Database::open(path);
    REQUIRE(db1.ok());
    REQUIRE(db2.ok());
    auto c1 = open_cache(*db1, clock);
    auto c2 = open_cache(*db2, clock);
    const auto newer = packet(4, 2000, "new");
    const auto older = packet(4, 1000, "old");
    CHECK(put(c1, newer) == PutOutcome::stored);
    CHECK(put(c2, older) == PutOutcome::ignored_older);
    CHECK(get(c2, newer.public_key())->bytes() == newer.bytes());
}

TEST_CASE("LRU eviction keeps at most max_packets rows", "[storage][packet_cache]") {
    ManualClock clock;
    auto db = open_memory();
    auto cache = open_cache(db, clock, 3);
    std::vector<SignedPacket> p;
    for (std::uint8_t i = 0; i < 6; ++i) p.push_back(packet(static_cast<std::uint8_t>(10 + i), 100 + i));

    clock.now += 1;
    put(cache, p[0]);
    clock.now += 1;
    put(cache, p[1]);
    clock.now += 1;
    put(cache, p[2]);
    clock.now += 1;
    REQUIRE(get(cache, p[0].public_key()).has_value());  // p1 is now the least recently used
    clock.now += 1;
    CHECK(put(cache, p[3]) == PutOutcome::stored);
    CHECK(size(cache) == 3);
    CHECK_FALSE(get(cache, p[1].public_key()).has_value());

    clock.now += 1;
    cache.touch(p[2].public_key());  // order of last access now: p0, p3, p2
    clock.now += 1;
    put(cache, p[4]);
    CHECK(size(cache) == 3);
    CHECK_FALSE(get(cache, p[0].public_key()).has_value());
    for (int i : {2, 3, 4}) CHECK(get(cache, p[static_cast<std::size_t>(i)].public_key()).has_value());

    SECTION("reopening with a smaller limit evicts at once") {
        clock.now += 1;
        REQUIRE(get(cache, p[2].public_key()).has_value());
        REQUIRE(cache.flush_touches().ok());
        auto smaller = open_cache(db, clock, 1);
        CHECK(size(smaller) == 1);
        CHECK(get(smaller, p[2].public_key()).has_value());
    }
}

TEST_CASE("touches are written in batches", "[storage][packet_cache]") {
    ManualClock clock;
    auto db = open_memory();
    PacketCacheOptions options;
    options.touch_batch = 2;
    options.clock = clock.fn();
    auto cache = PacketCache::open(db, options);
    REQUIRE(cache.ok());
    const auto a = packet(1, 1);
    const auto b = packet(2, 1);
    put(*cache, a);
    put(*cache, b);
    auto last_access = [&](const SignedPacket& p) {
        auto stmt = db.prepare("SELECT last_access FROM packets WHERE key = ?1");
        REQUIRE(stmt.ok());
        StatementScope s(*stmt);
        s->bind_blob(1, p.public_key().view());
        REQUIRE(*s->step());
        return s->column_int64(0);
    };
    const auto t0 = static_cast<std::int64_t>(clock.now);
    clock.now += 50;
    cache->touch(a.public_key());
    CHECK(last_access(a) == t0);   // pending
    cache->touch(b.public_key());  // second pending touch: the batch is written
    CHECK(last_access(a) == t0 + 50);
    CHECK(last_access(b) == t0 + 50);
}

TEST_CASE("a corrupt row is deleted and reported as a miss", "[storage][packet_cache]") {
    ManualClock clock;
    auto db = open_memory();
    auto cache = open_cache(db, clock);
    const auto good = packet(5, 100, "good");
    const auto other = packet(6, 100, "other key");
    const auto key = good.public_key().view();

    SECTION("garbage bytes") {
        Bytes garbage(300, 0xee);
        insert_raw(db, key, 100, 0, garbage);
    }
    SECTION("valid header, DNS part not parseable") {
        Bytes bytes = good.bytes();
        bytes.resize(104 + 5);
        insert_raw(db, key, 100, 0, bytes);
    }
    SECTION("a packet of another key") {
        insert_raw(db, key, 100, 0, other.bytes());
    }
    SECTION("timestamp column disagrees with the packet") {
        insert_raw(db, key, 999, 0, good.bytes());
    }
    SECTION("oversized blob") {
        Bytes huge = good.bytes();
        huge.resize(5000, 0);
        insert_raw(db, key, 100, 0, huge);
    }
    SECTION("packet stored as text") {
        auto stmt = db.prepare("INSERT INTO packets VALUES (?1, 100, 0, 'not a blob', 0)");
        REQUIRE(stmt.ok());
        StatementScope s(*stmt);
        s->bind_blob(1, key);
        REQUIRE(s->run().ok());
    }
    REQUIRE(row_count(db) == 1);
    CHECK_FALSE(get(cache, good.public_key()).has_value());
    CHECK(row_count(db) == 0);
    // And the key is usable again.
    CHECK(put(cache, good) == PutOutcome::stored);
    CHECK(get(cache, good.public_key())->bytes() == good.bytes());
}

TEST_CASE("put over a corrupt row replaces it", "[storage][packet_cache]") {
    ManualClock clock;
    auto db = open_memory();
    auto cache = open_cache(db, clock);
    const auto good = packet(5, 100, "good");
    // A row claiming a huge timestamp with garbage bytes must not pin the key.
    insert_raw(db, good.public_key().view(), INT64_MAX, 0, Bytes(200, 0xab));
    CHECK(put(cache, good) == PutOutcome::stored);
    CHECK(get(cache, good.public_key())->bytes() == good.bytes());
    CHECK(size(cache) == 1);
}

TEST_CASE("a last_seen far in the future is not believed", "[storage][packet_cache]") {
    ManualClock clock;
    auto db = open_memory();
    auto cache = open_cache(db, clock);
    const auto p = packet(7, 100);
    insert_raw(db, p.public_key().view(), 100, static_cast<std::int64_t>(clock.now + 3600'000'000ULL),
               p.bytes());
    auto got = get(cache, p.public_key());
    REQUIRE(got.has_value());
    CHECK(got->last_seen() == 0);

    insert_raw(db, p.public_key().view(), 100, static_cast<std::int64_t>(clock.now + 30'000'000ULL),
               p.bytes());
    CHECK(get(cache, p.public_key())->last_seen() == clock.now + 30'000'000ULL);
}

TEST_CASE("remove deletes one key", "[storage][packet_cache]") {
    ManualClock clock;
    auto cache = open_cache(open_memory(), clock);
    const auto a = packet(1, 1);
    const auto b = packet(2, 1);
    put(cache, a);
    put(cache, b);
    auto r = cache.remove(a.public_key());
    REQUIRE(r.ok());
    CHECK(*r);
    r = cache.remove(a.public_key());
    REQUIRE(r.ok());
    CHECK_FALSE(*r);
    CHECK_FALSE(get(cache, a.public_key()).has_value());
    CHECK(get(cache, b.public_key()).has_value());
    CHECK(size(cache) == 1);
}

TEST_CASE("list and for_each page through every packet in key order", "[storage][packet_cache]") {
    ManualClock clock;
    auto db = open_memory();
    auto cache = open_cache(db, clock);
    std::vector<SignedPacket> all;
    for (std::uint8_t i = 1; i <= 7; ++i) {
        all.push_back(packet(i, i));
        put(cache, all.back());
    }
    std::sort(all.begin(), all.end(), [](const SignedPacket& x, const SignedPacket& y) {
        return x.public_key().bytes() < y.public_key().bytes();
    });

    auto first = cache.list(std::nullopt, 3);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK((*first)[i].bytes() == all[i].bytes());
    auto second = cache.list(first->back().public_key(), 100);
    REQUIRE(second.ok());
    REQUIRE(second->size() == 4);
    CHECK((*second)[0].bytes() == all[3].bytes());

    // Corrupt rows between valid ones are skipped (and deleted), even a whole page of them.
    insert_raw(db, all[2].public_key().view(), 3, 0, Bytes(150, 1));
    insert_raw(db, all[3].public_key().view(), 4, 0, Bytes(150, 1));
    std::vector<Bytes> seen;
    auto r = cache.for_each(
        [&](const SignedPacket& p) {
            seen.push_back(p.bytes());
            return true;
        },
        2);
    REQUIRE(r.ok());
    REQUIRE(seen.size() == 5);
    CHECK(seen[0] == all[0].bytes());
    CHECK(seen[1] == all[1].bytes());
    CHECK(seen[2] == all[4].bytes());
    CHECK(seen[4] == all[6].bytes());
    CHECK(size(cache) == 5);

    std::size_t calls = 0;
    REQUIRE(cache.for_each([&](const SignedPacket&) { return ++calls < 2; }, 1).ok());
    CHECK(calls == 2);

    // The callback may write to the cache (the republisher stores what it republished).
    std::size_t refreshed = 0;
    REQUIRE(cache
                .for_each([&](const SignedPacket& p) {
                    auto copy = p;
                    copy.set_last_seen(p.last_seen() + 1);
                    auto out = cache.put(copy);
                    refreshed += out.ok() && *out == PutOutcome::refreshed;
                    return true;
                })
                .ok());
    CHECK(refreshed == 5);
}

TEST_CASE("max_packets must be positive", "[storage][packet_cache]") {
    PacketCacheOptions options;
    options.max_packets = 0;
    auto cache = PacketCache::open(open_memory(), options);
    REQUIRE_FALSE(cache.ok());
    CHECK(cache.error().code == static_cast<int>(DbErrc::misuse));
}
