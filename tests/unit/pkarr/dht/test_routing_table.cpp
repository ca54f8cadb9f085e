#include <catch2/catch.hpp>

#include <algorithm>

#include "pkarr/dht/routing_table.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::chrono_literals;

namespace {
const TimePoint t0 = TimePoint{} + 1000h;

NodeId id_with_prefix(std::uint8_t first, std::uint8_t second, std::uint8_t tail) {
    NodeId::Raw raw{};
    raw[0] = first;
    raw[1] = second;
    raw[19] = tail;
    return NodeId(raw);
}
NodeInfo local(const NodeId& id, std::uint16_t port) {
    return {id, Address::v4(0x7f000001u, port)};
}
}  // namespace

TEST_CASE("routing table basics", "[routing_table]") {
    NodeId self{};  // all zero
    RoutingTable table(self);
    CHECK(table.empty());
    CHECK(table.add(local(self, 1), t0) == RoutingTable::AddResult::self);
    CHECK(table.add(local(NodeId::random(), 2), t0, true) == RoutingTable::AddResult::read_only);
    CHECK(table.add(local(NodeId::random(), 0), t0) == RoutingTable::AddResult::invalid_address);
    CHECK(table.add({NodeId::random(), Address::v4(0u, 5)}, t0) == RoutingTable::AddResult::invalid_address);
    CHECK(table.empty());

    NodeInfo a = local(id_with_prefix(0x80, 0, 1), 10);
    CHECK(table.add(a, t0) == RoutingTable::AddResult::added);
    CHECK(table.add(a, t0 + 1s) == RoutingTable::AddResult::refreshed);
    CHECK(table.size() == 1);
    REQUIRE(table.find(a.id) != nullptr);
    CHECK(table.find(a.id)->last_seen == t0 + 1s);
    CHECK(table.find(a.id)->secure);  // loopback is exempt
    CHECK(table.remove(a.id));
    CHECK_FALSE(table.remove(a.id));
    CHECK(table.empty());
}

TEST_CASE("routing table closest returns XOR order and never self", "[routing_table]") {
    NodeId self = NodeId::random();
    RoutingTable table(self);
    std::vector<NodeInfo> nodes;
    for (std::uint16_t i = 0; i < 300; ++i) {
        NodeInfo n = local(NodeId::random(), static_cast<std::uint16_t>(10000 + i));
        nodes.push_back(n);
        table.add(n, t0);
    }
    NodeId target = NodeId::random();
    auto got = table.closest(target, 20);
    REQUIRE(got.size() == 20);
    CHECK(std::is_sorted(got.begin(), got.end(), [&](const NodeInfo& a, const NodeInfo& b) {
        return closer_to(target, a.id, b.id);
    }));
    // Every table entry not returned is at least as far as the 20th.
    auto all = table.all();
    CHECK(all.size() == table.size());
    for (const RoutingNode& n : all) {
        bool returned =
            std::any_of(got.begin(), got.end(), [&](const NodeInfo& g) { return g.id == n.info.id; });
        if (!returned) CHECK_FALSE(closer_to(target, n.info.id, got.back().id));
    }
    auto near_self = table.closest(self, 500);
    CHECK(near_self.size() == table.size());
    CHECK(std::none_of(near_self.begin(), near_self.end(), [&](const NodeInfo& n) { return n.id == self; }));
}

TEST_CASE("routing table full bucket keeps good nodes, replaces questionable ones", "[routing_table]") {
    NodeId self{};
    RoutingTableConfig cfg;
    cfg.k = 4;
    RoutingTable table(self, cfg);
    // All in the bucket at distance 160 (first bit set).
    std::vector<NodeInfo> nodes;
    for (std::uint8_t i = 0; i < 6; ++i)
        nodes.push_back(local(id_with_prefix(0x80, i, i), static_cast<std::uint16_t>(100 + i)));
    for (int i = 0; i < 4; ++i)
        REQUIRE(table.add(nodes[static_cast<std::size_t>(i)], t0) == RoutingTable::AddResult::added);
    CHECK(table.add(nodes[4], t0 + 1min) == RoutingTable::AddResult::bucket_full);
    CHECK(table.find(nodes[4].id) == nullptr);

    // Failures make a node questionable.
    for (int i = 0; i < cfg.max_failures; ++i) CHECK(table.mark_failed(nodes[2].id, t0));
    CHECK(table.add(nodes[4], t0 + 1min) == RoutingTable::AddResult::replaced);
    CHECK(table.find(nodes[2].id) == nullptr);
    CHECK(table.find(nodes[4].id) != nullptr);
    CHECK(table.size() == 4);

    // Staleness too: refresh all but nodes[0], then wait past stale_after.
    for (std::size_t i : {1u, 3u, 4u}) table.add(nodes[i], t0 + 10min);
    CHECK(table.add(nodes[5], t0 + 16min) == RoutingTable::AddResult::replaced);
    CHECK(table.find(nodes[0].id) == nullptr);
    CHECK_FALSE(table.mark_failed(nodes[0].id, t0));
}

TEST_CASE("routing table purge", "[routing_table]") {
    RoutingTable table(NodeId::random());
    NodeInfo a = local(NodeId::random(), 1), b = local(NodeId::random(), 2), c = local(NodeId::random(), 3);
    table.add(a, t0);
    table.add(b, t0 + 10min);
    table.add(c, t0 + 10min);
    for (int i = 0; i < 3; ++i) table.mark_failed(c.id, t0 + 10min);
    CHECK(table.idle_nodes(t0 + 10min, 1min).size() == 1);
    CHECK(table.purge(t0 + 16min) == 2);  // a is stale, c failed
    CHECK(table.size() == 1);
    CHECK(table.find(b.id) != nullptr);
}

TEST_CASE("routing table sybil rule with the loopback exemption", "[routing_table]") {
    NodeId self{};
    RoutingTable table(self);
    // Many loopback nodes with distinct random ids are all accepted.
    int sybil = 0;
    for (std::uint16_t i = 0; i < 50; ++i)
        sybil += table.add(local(NodeId::random(), static_cast<std::uint16_t>(2000 + i)), t0) ==
                 RoutingTable::AddResult::sybil;
    CHECK(sybil == 0);
    CHECK(table.size() >= 30);  // the rest hit the full far bucket
    // Same IP and same first 21 bits: refused.
    NodeId base = id_with_prefix(0x44, 0x55, 1);
    NodeId twin = id_with_prefix(0x44, 0x55, 2);
    REQUIRE(table.add(local(base, 3000), t0) == RoutingTable::AddResult::added);
    CHECK(table.add(local(twin, 3001), t0) == RoutingTable::AddResult::sybil);

    // Public IP: a non-secure node blocks any other id on that IP.
    Address pub1 = Address::v4(0x08080808u, 1);
    NodeId insecure = id_with_prefix(0x01, 0x02, 3);
    REQUIRE_FALSE(is_valid_bep42(insecure, pub1));
    CHECK(table.add({insecure, pub1}, t0) == RoutingTable::AddResult::added);
    CHECK(table.add({NodeId::random(), pub1.with_port(2)}, t0) == RoutingTable::AddResult::sybil);
    // A known id moving to another address needs a secure id for it.
    CHECK(table.add({insecure, Address::v4(0x09090909u, 1)}, t0) == RoutingTable::AddResult::sybil);
    // Secure ids on one public IP: allowed unless the 21-bit prefixes collide.
    Address pub2 = Address::v4(0x7c1f4b15u, 6881);  // 124.31.75.21
    NodeId s1 = secure_id_for(pub2, 1, NodeId::random());
    NodeId s2 = secure_id_for(pub2, 2, NodeId::random());
    NodeId s1b = secure_id_for(pub2, 1, NodeId::random());
    CHECK(table.add({s1, pub2}, t0) == RoutingTable::AddResult::added);
    CHECK(table.add({s2, pub2.with_port(6882)}, t0) == RoutingTable::AddResult::added);
    CHECK(table.add({s1b, pub2.with_port(6883)}, t0) == RoutingTable::AddResult::sybil);

    RoutingTableConfig strict;
    strict.require_bep42 = true;
    RoutingTable strict_table(self, strict);
    CHECK(strict_table.add({insecure, pub1}, t0) == RoutingTable::AddResult::insecure);
    CHECK(strict_table.add({s1, pub2}, t0) == RoutingTable::AddResult::added);
    CHECK(strict_table.add(local(NodeId::random(), 5), t0) == RoutingTable::AddResult::added);
}

TEST_CASE("routing table reset", "[routing_table]") {
    RoutingTable table(NodeId::random());
    for (std::uint16_t i = 1; i <= 10; ++i) table.add(local(NodeId::random(), i), t0);
    NodeId fresh = NodeId::random();
    table.reset(fresh);
    CHECK(table.empty());
    CHECK(table.self() == fresh);
    CHECK(table.closest(NodeId::random()).empty());
}
