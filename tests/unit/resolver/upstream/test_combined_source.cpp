// CombinedSource with fake legs: no sockets, no clock. Each leg holds its calls until the test
// completes them, so every ordering is chosen by the test.

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "resolver/upstream/packet_sources.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "support/relay_packets.hpp"

using namespace pkdns;
using namespace pkdns::relay::test;
using pipeline::PacketSource;
using upstream::CombinedSource;

namespace {

struct HeldLeg : PacketSource {
    struct Call {
        pkarr::PublicKey key;
        std::optional<pkarr::Micros> newer_than;
        Done done;
    };
    std::vector<Call> calls;
    bool synchronous = false;  // answer `sync_packet` inside resolve()
    std::optional<pkarr::SignedPacket> sync_packet;

    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override {
        if (synchronous) return done(sync_packet, "");
        calls.push_back({key, newer_than, std::move(done)});
    }
    void found(const pkarr::SignedPacket& p, std::size_t i = 0) { calls.at(i).done(p, ""); }
    void not_found(std::size_t i = 0) { calls.at(i).done(std::nullopt, ""); }
    void fail(const std::string& why, std::size_t i = 0) { calls.at(i).done(std::nullopt, why); }
};

struct Results {
    int calls = 0;
    std::optional<pkarr::SignedPacket> packet;
    std::string error;
    PacketSource::Done done() {
        return [this](std::optional<pkarr::SignedPacket> p, std::string e) {
            ++calls;
            packet = std::move(p);
            error = std::move(e);
        };
    }
};

}  // namespace

TEST_CASE("combined: the first valid packet answers while the other leg still runs") {
    const auto kp = keypair(1);
    HeldLeg dht, relays;
    std::vector<pkarr::SignedPacket> late;
    CombinedSource source({&dht, &relays}, [&](pkarr::SignedPacket p) { late.push_back(std::move(p)); });
    Results r;
    source.resolve(kp.public_key(), std::nullopt, r.done());
    REQUIRE(dht.calls.size() == 1);
    REQUIRE(relays.calls.size() == 1);
    CHECK(r.calls == 0);

    relays.found(packet(kp, t0, 1));
    CHECK(r.calls == 1);
    REQUIRE(r.packet);
    CHECK(r.packet->timestamp() == t0);
    CHECK(r.error.empty());

    SECTION("a more recent packet arriving later goes to on_late, done does not run again") {
        dht.found(packet(kp, t0 + 5, 2));
        CHECK(r.calls == 1);
        CHECK(r.packet->timestamp() == t0);
        REQUIRE(late.size() == 1);
        CHECK(late[0].timestamp() == t0 + 5);
    }
    SECTION("an older packet arriving later is dropped") {
        dht.found(packet(kp, t0 - 5, 2));
        CHECK(late.empty());
        CHECK(r.calls == 1);
    }
    SECTION("the identical packet arriving later is dropped") {
        dht.found(packet(kp, t0, 1));
        CHECK(late.empty());
        CHECK(r.calls == 1);
    }
    SECTION("late not-found or failure changes nothing") {
        dht.fail("no DHT node answered");
        CHECK(r.calls == 1);
        CHECK(late.empty());
        CHECK(r.packet);
    }
}

TEST_CASE("combined: equal timestamps tie-break like pkarr (larger DNS bytes are more recent)") {
    const auto kp = keypair(2);
    HeldLeg a, b;
    std::vector<pkarr::SignedPacket> late;
    CombinedSource source({&a, &b}, [&](pkarr::SignedPacket p) { late.push_back(std::move(p)); });
    Results r;
    source.resolve(kp.public_key(), std::nullopt, r.done());
    auto p1 = packet(kp, t0, 1);
    auto p2 = packet(kp, t0, 9);
    const bool p2_newer = p2.more_recent_than(p1);
    a.found(p1);
    b.found(p2);
    CHECK(r.calls == 1);
    CHECK(late.size() == (p2_newer ? 1u : 0u));
}

TEST_CASE("combined: only the newest late packet is reported, in arrival order") {
    const auto kp = keypair(3);
    HeldLeg a, b, c;
    std::vector<pkarr::Micros> late;
    CombinedSource source({&a, &b, &c}, [&](pkarr::SignedPacket p) { late.push_back(p.timestamp()); });
    Results r;
    source.resolve(kp.public_key(), std::nullopt, r.done());
    a.found(packet(kp, t0));
    b.found(packet(kp, t0 + 10));
    c.found(packet(kp, t0 + 5));  // newer than the answer, older than what on_late already got
    CHECK(r.calls == 1);
    CHECK(late == std::vector<pkarr::Micros>{t0 + 10});
}

TEST_CASE("combined: not found only when every leg has finished without a packet") {
    const auto kp = keypair(4);
    HeldLeg dht, relays;
    CombinedSource source({&dht, &relays});
    Results r;
    source.resolve(kp.public_key(), std::nullopt, r.done());

    SECTION("every leg says not found") {
        dht.not_found();
        CHECK(r.calls == 0);
        relays.not_found();
        CHECK(r.calls == 1);
        CHECK_FALSE(r.packet);
        CHECK(r.error.empty());
    }
    SECTION("a not found first, then the other leg finds it: the packet answers") {
        dht.not_found();
        relays.found(packet(kp, t0));
        CHECK(r.calls == 1);
        CHECK(r.packet);
    }
    SECTION("one leg failed, the other reached the network and found nothing: not found") {
        relays.fail("relays: timed out");
        dht.not_found();
        CHECK(r.calls == 1);
        CHECK_FALSE(r.packet);
        CHECK(r.error.empty());
    }
}

TEST_CASE("combined: failure only when every leg failed, with every reason") {
    const auto kp = keypair(5);
    HeldLeg dht, relays;
    CombinedSource source({&dht, &relays});
    Results r;
    source.resolve(kp.public_key(), std::nullopt, r.done());
    dht.fail("no DHT node answered");
    CHECK(r.calls == 0);
    relays.fail("relays: http://a: HTTP 500");
    CHECK(r.calls == 1);
    CHECK_FALSE(r.packet);
    CHECK(r.error.find("no DHT node answered") != std::string::npos);
    CHECK(r.error.find("HTTP 500") != std::string::npos);
}

TEST_CASE("combined: newer_than and the key reach every leg, concurrent lookups stay apart") {
    const auto k1 = keypair(6), k2 = keypair(7);
    HeldLeg a, b;
    CombinedSource source({&a, &b});
    Results r1, r2;
    source.resolve(k1.public_key(), t0, r1.done());
    source.resolve(k2.public_key(), std::nullopt, r2.done());
    REQUIRE(a.calls.size() == 2);
    REQUIRE(b.calls.size() == 2);
    CHECK(a.calls[0].key == k1.public_key());
    CHECK(a.calls[0].newer_than == std::optional<pkarr::Micros>(t0));
    CHECK(b.calls[0].newer_than == std::optional<pkarr::Micros>(t0));
    CHECK_FALSE(a.calls[1].newer_than);
    b.found(packet(k2, t0), 1);
    CHECK(r2.calls == 1);
    CHECK(r1.calls == 0);
    a.not_found(0);
    b.fail("x", 0);
    CHECK(r1.calls == 1);
    CHECK_FALSE(r1.packet);
}

TEST_CASE("combined: a leg answering synchronously inside resolve() still completes once") {
    const auto kp = keypair(8);
    HeldLeg sync, held;
    sync.synchronous = true;
    sync.sync_packet = packet(kp, t0);
    std::vector<pkarr::SignedPacket> late;
    CombinedSource source({&sync, &held}, [&](pkarr::SignedPacket p) { late.push_back(std::move(p)); });
    Results r;
    source.resolve(kp.public_key(), std::nullopt, r.done());
    CHECK(r.calls == 1);
    held.found(packet(kp, t0 + 1));
    CHECK(r.calls == 1);
    CHECK(late.size() == 1);
}

TEST_CASE("combined: no legs fails at once, on_late is not called once the source is gone") {
    const auto kp = keypair(9);
    {
        CombinedSource none({});
        Results r;
        none.resolve(kp.public_key(), std::nullopt, r.done());
        CHECK(r.calls == 1);
        CHECK_FALSE(r.error.empty());
    }
    HeldLeg a, b;
    int late = 0;
    Results r;
    {
        CombinedSource source({&a, &b}, [&](pkarr::SignedPacket) { ++late; });
        source.resolve(kp.public_key(), std::nullopt, r.done());
        a.found(packet(kp, t0));
    }
    b.found(packet(kp, t0 + 1));
    CHECK(r.calls == 1);
    CHECK(late == 0);
}

TEST_CASE("combined: wired to PacketStore::offer, a late newer packet replaces the cached one") {
    const auto kp = keypair(10);
    HeldLeg dht, relays;
    std::unique_ptr<pipeline::PacketStore> packet_store;
    CombinedSource source({&dht, &relays}, [&](pkarr::SignedPacket p) { packet_store->offer(std::move(p)); });
    pkarr::Micros now = t0 + 1'000'000;
    packet_store = std::make_unique<pipeline::PacketStore>(source, nullptr, pipeline::PacketStoreConfig{},
                                                           [&] { return now; });
    std::optional<pipeline::PacketLookup> got;
    packet_store->lookup(
        kp.public_key(), [] { return true; }, [&](pipeline::PacketLookup l) { got = l; });
    relays.found(packet(kp, t0, 1));
    REQUIRE(got);
    CHECK(got->status == pipeline::PacketLookup::Status::found);
    CHECK(got->packet->timestamp() == t0);
    dht.found(packet(kp, t0 + 7, 2));
    auto cached = packet_store->cached(kp.public_key());
    REQUIRE(cached);
    CHECK(cached->timestamp() == t0 + 7);
    packet_store->close();
}
