// Republisher driver on a real libuv loop with a fake publisher and short intervals (a config
// "second" shrunk to a few ms). Waits are bounded by run_until; no sleeps.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/uv.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/republish/republisher.hpp"
#include "storage/database.hpp"
#include "storage/keep_alive.hpp"
#include "storage/packet_cache.hpp"
#include "support/uv_loop.hpp"

using namespace pkdns;
using namespace pkdns::republish;
using pkdns::test::close_loop;
using pkdns::test::run_until;

namespace {

class TempDir {
public:
    TempDir() {
        std::string tmpl = "/tmp/pkdns-republish-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// The way many editors save: write a temporary file, rename it over the original.
void replace_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    write_file(tmp, text);
    REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

pkarr::Keypair keypair(std::uint8_t n) {
    pkarr::Keypair::Seed seed{};
    seed.fill(n);
    return pkarr::Keypair::from_seed(seed);
}

std::string write_key(const TempDir& dir, const std::string& name, std::uint8_t n) {
    const std::string path = dir.file(name);
    REQUIRE(keypair(n).save(path).ok());
    return path;
}

// Completes each publish from the loop (never inside publish()) with whatever `result` says.
class FakePublisher final : public PacketPublisher {
public:
    struct Call {
        pkarr::SignedPacket packet;
        std::uint64_t at_ms;
    };
    explicit FakePublisher(uv::Loop& loop) : loop_(loop), timer_(loop) {
        timer_.start(1, 1, [this] { drain(); });
    }
    void publish(const pkarr::SignedPacket& packet, Done done) override {
        calls.push_back(Call{packet, loop_.now_ms()});
        pending_.push_back({packet, std::move(done)});
    }
    void stop() { timer_.stop(); }

    std::function<Result<std::size_t>(const pkarr::SignedPacket&, std::size_t call)> result =
        [](const pkarr::SignedPacket&, std::size_t) { return Result<std::size_t>(std::size_t{5}); };
    std::vector<Call> calls;

private:
    void drain() {
        auto batch = std::move(pending_);
        pending_.clear();
        for (auto& [packet, done] : batch) done(result(packet, done_count_++));
    }
    uv::Loop& loop_;
    uv::Timer timer_;
    std::deque<std::pair<pkarr::SignedPacket, Done>> pending_;
    std::size_t done_count_ = 0;
};

RepublisherConfig fast_config(std::vector<conf::PublishEntry> zones) {
    RepublisherConfig c;
    c.zones = std::move(zones);
    c.second_ms = 10;  // republish_interval = 3 -> 30 ms
    c.poll_interval_ms = 2;
    c.backoff_initial_ms = 4;
    c.rng_seed = 1234;
    return c;
}

bool has_txt(const pkarr::SignedPacket& p, const std::string& text) {
    for (const auto& r : p.records())
        if (r.type == dns::type::TXT && r.rdata.size() == text.size() + 1 &&
            std::string(r.rdata.begin() + 1, r.rdata.end()) == text)
            return true;
    return false;
}

}  // namespace

TEST_CASE("republisher: publishes each zone at start and republishes the same packet") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 1);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN TXT \"one\"\n");
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, fast_config({conf::PublishEntry{key, zone, 3}}), pub);
        REQUIRE(rep.ok());
        CHECK((*rep)->stats().zones == 1);
        (*rep)->start();
        REQUIRE(run_until(
            loop, [&] { return pub.calls.size() >= 4; }, 5000));
        const auto& first = pub.calls[0].packet;
        CHECK(first.public_key() == keypair(1).public_key());
        CHECK(has_txt(first, "one"));
        for (std::size_t i = 1; i < pub.calls.size(); ++i) {
            CHECK(pub.calls[i].packet.same_as(first));  // identical bytes (pkarr-spec §5.5)
            // interval 30 ms - 10 % jitter
            CHECK(pub.calls[i].at_ms - pub.calls[i - 1].at_ms >= 27);
        }
        // next_due is empty only while the publish is in flight.
        REQUIRE(run_until(
            loop, [&] { return (*rep)->stats().published >= 3 && (*rep)->stats().next_due; }, 5000));
        CHECK((*rep)->stats().failed == 0);
        CHECK((*rep)->stats().last_error.empty());
        CHECK(*(*rep)->stats().next_due <= pkarr::now_micros() + 40'000);
        (*rep)->close();
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: failures back off, are counted, and a success resets") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 2);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN A 127.0.0.1\n");
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        // 3 errors, then stored on no node (also a failure), then success.
        pub.result = [](const pkarr::SignedPacket&, std::size_t n) -> Result<std::size_t> {
            if (n < 3) return make_error("no DHT node answered");
            if (n == 3) return std::size_t{0};
            return std::size_t{7};
        };
        auto config = fast_config({conf::PublishEntry{key, zone, 100}});  // interval 1 s
        auto rep = Republisher::create(loop, config, pub);
        REQUIRE(rep.ok());
        (*rep)->start();
        REQUIRE(run_until(
            loop, [&] { return (*rep)->stats().published == 1; }, 5000));
        REQUIRE(pub.calls.size() == 5);
        const auto& st = (*rep)->stats();
        CHECK(st.failed == 4);
        CHECK(st.last_error.find("stored on no node") != std::string::npos);
        // Gaps grow: 4, 8, 16, 32 ms at least.
        std::uint64_t backoff = 4;
        for (std::size_t i = 1; i < 5; ++i, backoff *= 2)
            CHECK(pub.calls[i].at_ms - pub.calls[i - 1].at_ms >= backoff);
        // After the success the next one is an interval (1 s ± 10 %) away, not a backoff.
        REQUIRE(st.next_due.has_value());
        CHECK(*st.next_due >= pkarr::now_micros() + 800'000);
        (*rep)->close();
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: an edited zone file (replaced by rename) is re-signed and published at once") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 3);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN TXT \"old\"\n");
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, fast_config({conf::PublishEntry{key, zone, 86400}}), pub);
        REQUIRE(rep.ok());
        (*rep)->start();
        REQUIRE(run_until(
            loop, [&] { return (*rep)->stats().published == 1; }, 5000));
        const auto old_packet = pub.calls.at(0).packet;

        replace_file(zone, "@ 300 IN TXT \"new\"\nwww 300 IN A 10.0.0.1\n");
        // The interval is a day (864 s here): only the change can trigger this publish.
        REQUIRE(run_until(
            loop, [&] { return pub.calls.size() >= 2; }, 3000));
        const auto& fresh = pub.calls[1].packet;
        CHECK(has_txt(fresh, "new"));
        CHECK_FALSE(has_txt(fresh, "old"));
        CHECK(fresh.records().size() == 2);
        CHECK(fresh.timestamp() > old_packet.timestamp());
        CHECK((*rep)->stats().zone_changes == 1);
        auto current = (*rep)->zone_packet(keypair(3).public_key());
        REQUIRE(current.has_value());
        CHECK(current->same_as(fresh));

        // Touching the file without changing its content re-signs nothing.
        write_file(zone, "@ 300 IN TXT \"new\"\nwww 300 IN A 10.0.0.1\n");
        REQUIRE(run_until(
                    loop, [&] { return false; }, 50) == false);
        CHECK(pub.calls.size() == 2);
        CHECK((*rep)->stats().zone_changes == 1);
        (*rep)->close();
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: a zone file that turns invalid keeps the last good packet published") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 4);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN TXT \"good\"\n");
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, fast_config({conf::PublishEntry{key, zone, 3}}), pub);
        REQUIRE(rep.ok());
        (*rep)->start();
        REQUIRE(run_until(
            loop, [&] { return !pub.calls.empty(); }, 5000));
        const auto good = pub.calls[0].packet;

        replace_file(zone, "@ 300 IN BOGUS nonsense\n");
        REQUIRE(run_until(
            loop, [&] { return (*rep)->stats().zone_errors == 1; }, 3000));
        const std::size_t before = pub.calls.size();
        REQUIRE(run_until(
            loop, [&] { return pub.calls.size() >= before + 2; }, 5000));
        for (const auto& c : pub.calls) CHECK(c.packet.same_as(good));
        CHECK((*rep)->stats().zone_errors == 1);  // logged once, not every poll
        CHECK((*rep)->stats().zone_changes == 0);

        // A missing file (mid-rename) is no error either; the next valid content is published.
        std::filesystem::remove(zone);
        replace_file(zone, "@ 300 IN TXT \"fixed\"\n");
        REQUIRE(run_until(
            loop, [&] { return has_txt(pub.calls.back().packet, "fixed"); }, 3000));
        CHECK((*rep)->stats().zone_changes == 1);
        (*rep)->close();
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: bad key or zone files at start are errors naming the file and line") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 5);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN TXT \"ok\"\nbad 300 IN A not-an-address\n");
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, fast_config({conf::PublishEntry{key, zone, 3}}), pub);
        REQUIRE_FALSE(rep.ok());
        INFO(rep.error().message);
        CHECK(rep.error().message.find(zone) != std::string::npos);
        CHECK(rep.error().message.find("line 2") != std::string::npos);

        const auto missing = dir.file("missing.key");
        auto no_key = Republisher::create(loop, fast_config({conf::PublishEntry{missing, zone, 3}}), pub);
        REQUIRE_FALSE(no_key.ok());
        CHECK(no_key.error().message.find(missing) != std::string::npos);

        auto checked = check_publish_entry(conf::PublishEntry{key, zone, 3});
        CHECK_FALSE(checked.ok());
        write_file(zone, "@ 300 IN TXT \"ok\"\n");
        CHECK(check_publish_entry(conf::PublishEntry{key, zone, 3}).ok());
        CHECK(pub.calls.empty());
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: the zone packet goes into the packet cache") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 6);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN TXT \"cached\"\n");
    auto db = storage::Database::open(":memory:");
    REQUIRE(db.ok());
    auto cache = storage::PacketCache::open(*db);
    REQUIRE(cache.ok());
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, fast_config({conf::PublishEntry{key, zone, 3}}), pub, &*cache);
        REQUIRE(rep.ok());
        auto got = cache->get(keypair(6).public_key());
        REQUIRE(got.ok());
        REQUIRE(got->has_value());
        CHECK(has_txt(**got, "cached"));
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: relay packets are kept alive until evicted, across restarts") {
    TempDir dir;
    const std::string db_path = dir.file("ka.db");
    auto db = storage::Database::open(db_path);
    REQUIRE(db.ok());
    auto cache = storage::PacketCache::open(*db);
    REQUIRE(cache.ok());
    auto store = storage::KeepAliveStore::open(*db);
    REQUIRE(store.ok());

    const auto kp = keypair(9);
    const auto packet = pkarr::SignedPacket::sign(kp, {}, pkarr::now_micros()).value();
    REQUIRE(cache->put(packet).ok());

    RepublisherConfig config = fast_config({});
    config.keep_alive = true;
    config.keep_alive_interval_ms = 20;
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, config, pub, &*cache, &*store);
        REQUIRE(rep.ok());
        (*rep)->start();
        (*rep)->on_accepted(packet);
        CHECK((*rep)->keeps_alive(kp.public_key()));
        CHECK((*rep)->stats().keep_alive_keys == 1);
        CHECK(*store->size() == 1);
        // The relay API just published it: nothing before one interval, then again and again.
        CHECK(pub.calls.empty());
        REQUIRE(run_until(
            loop, [&] { return pub.calls.size() >= 2; }, 5000));
        for (const auto& c : pub.calls) CHECK(c.packet.same_as(packet));
        (*rep)->close();
        pub.stop();
    }

    // "Restart": a new Republisher on the same store picks the key up and keeps going.
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, config, pub, &*cache, &*store);
        REQUIRE(rep.ok());
        (*rep)->start();
        CHECK((*rep)->keeps_alive(kp.public_key()));
        REQUIRE(run_until(
            loop, [&] { return !pub.calls.empty(); }, 5000));
        CHECK(pub.calls[0].packet.same_as(packet));

        // Evicted from the cache: dropped at its next due time, from memory and from the file.
        REQUIRE(cache->remove(kp.public_key()).ok());
        REQUIRE(run_until(
            loop, [&] { return !(*rep)->keeps_alive(kp.public_key()); }, 5000));
        CHECK(*store->size() == 0);
        CHECK((*rep)->stats().keep_alive_expired == 1);
        CHECK((*rep)->stats().keep_alive_keys == 0);
        (*rep)->close();
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: keep-alive ends after the max age, own zones and a disabled option are ignored") {
    TempDir dir;
    auto db = storage::Database::open(":memory:");
    REQUIRE(db.ok());
    auto cache = storage::PacketCache::open(*db);
    REQUIRE(cache.ok());
    auto store = storage::KeepAliveStore::open(*db);
    REQUIRE(store.ok());
    const auto key = write_key(dir, "own.key", 11);
    const auto zone = dir.file("own.zone");
    write_file(zone, "@ 300 IN TXT \"own\"\n");

    pkarr::Micros fake_now = 1'700'000'000'000'000;
    RepublisherConfig config = fast_config({conf::PublishEntry{key, zone, 86400}});
    config.keep_alive = true;
    config.keep_alive_interval_ms = 10;
    config.keep_alive_max_age = 1'000'000;  // 1 s of the fake clock
    config.clock = [&] { return fake_now; };
    const auto other = pkarr::SignedPacket::sign(keypair(12), {}, fake_now).value();
    REQUIRE(cache->put(other).ok());
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, config, pub, &*cache, &*store);
        REQUIRE(rep.ok());
        (*rep)->start();
        auto own = (*rep)->zone_packet(keypair(11).public_key());
        REQUIRE(own.has_value());
        (*rep)->on_accepted(*own);
        CHECK_FALSE((*rep)->keeps_alive(keypair(11).public_key()));
        (*rep)->on_accepted(other);
        REQUIRE((*rep)->keeps_alive(keypair(12).public_key()));
        REQUIRE(run_until(
            loop, [&] { return pub.calls.size() >= 3; }, 5000));  // zone + 2 keep-alives
        fake_now += 2'000'000;
        REQUIRE(run_until(
            loop, [&] { return !(*rep)->keeps_alive(keypair(12).public_key()); }, 5000));
        CHECK(*store->size() == 0);
        (*rep)->close();
        pub.stop();
    }
    {
        config.keep_alive = false;
        FakePublisher pub(loop);
        auto rep = Republisher::create(loop, config, pub, &*cache, &*store);
        REQUIRE(rep.ok());
        (*rep)->on_accepted(other);
        CHECK_FALSE((*rep)->keeps_alive(keypair(12).public_key()));
        CHECK(*store->size() == 0);
        pub.stop();
    }
    CHECK(close_loop(loop));
}

TEST_CASE("republisher: a restart reuses the cached packet of an unchanged zone, re-signs a changed one") {
    TempDir dir;
    const auto key = write_key(dir, "a.key", 13);
    const auto zone = dir.file("a.zone");
    write_file(zone, "@ 300 IN TXT \"same\"\n");
    auto db = storage::Database::open(":memory:");
    REQUIRE(db.ok());
    auto cache = storage::PacketCache::open(*db);
    REQUIRE(cache.ok());
    uv::Loop loop;
    {
        FakePublisher pub(loop);
        pkarr::Micros t = 1'700'000'000'000'000;
        RepublisherConfig config = fast_config({conf::PublishEntry{key, zone, 86400}});
        config.clock = [&] { return t; };
        auto first = Republisher::create(loop, config, pub, &*cache);
        REQUIRE(first.ok());
        const auto p1 = (*first)->zone_packet(keypair(13).public_key()).value();
        CHECK(p1.timestamp() == t);

        t += 5'000'000;
        auto second = Republisher::create(loop, config, pub, &*cache);
        REQUIRE(second.ok());
        CHECK((*second)->zone_packet(keypair(13).public_key())->same_as(p1));

        write_file(zone, "@ 300 IN TXT \"other\"\n");
        t += 5'000'000;
        auto third = Republisher::create(loop, config, pub, &*cache);
        REQUIRE(third.ok());
        const auto p3 = (*third)->zone_packet(keypair(13).public_key()).value();
        CHECK(p3.timestamp() == t);
        CHECK(has_txt(p3, "other"));
        pub.stop();
    }
    CHECK(close_loop(loop));
}

namespace {

class ImmediatePublisher final : public PacketPublisher {
public:
    explicit ImmediatePublisher(Result<std::size_t> r) : result_(std::move(r)) {}
    void publish(const pkarr::SignedPacket&, Done done) override {
        ++calls;
        done(result_);
    }
    int calls = 0;

private:
    Result<std::size_t> result_;
};

}  // namespace

TEST_CASE("fan-out publisher: counts add up, fails only when every target failed") {
    const auto packet = pkarr::SignedPacket::sign(keypair(20), {}, 1000).value();
    ImmediatePublisher dht(std::size_t{3}), relay_down(make_error("HTTP 503")), relay_none(std::size_t{0});

    FanOutPublisher mixed;
    mixed.add(dht, "dht");
    mixed.add(relay_down, "relay");
    std::optional<Result<std::size_t>> got;
    mixed.publish(packet, [&](Result<std::size_t> r) { got = r; });
    REQUIRE(got.has_value());
    REQUIRE(got->ok());
    CHECK(**got == 3);
    CHECK(dht.calls == 1);
    CHECK(relay_down.calls == 1);

    FanOutPublisher failing;
    failing.add(relay_down, "relay");
    failing.add(relay_none, "other");
    got.reset();
    failing.publish(packet, [&](Result<std::size_t> r) { got = r; });
    REQUIRE(got.has_value());
    REQUIRE_FALSE(got->ok());
    CHECK(got->error().message.find("relay: HTTP 503") != std::string::npos);

    FanOutPublisher empty;
    got.reset();
    empty.publish(packet, [&](Result<std::size_t> r) { got = r; });
    REQUIRE(got.has_value());
    CHECK_FALSE(got->ok());
}
