#include <catch2/catch.hpp>

#include <set>

#include "pkarr/dht/address.hpp"
#include "pkarr/dht/node_id.hpp"

using namespace pkdns;
using namespace pkdns::dht;

namespace {
NodeId id_hex(std::string_view h) {
    return NodeId::from_hex(h).value();
}
Address addr(std::string_view s) {
    return Address::parse(s).value();
}
}  // namespace

TEST_CASE("address parse, print and compact forms", "[address]") {
    Address a = addr("1.2.3.4:6881");
    CHECK(a.is_v4());
    CHECK(a.port() == 6881);
    CHECK(a.ipv4() == 0x01020304u);
    CHECK(a.to_string() == "1.2.3.4:6881");
    CHECK(to_hex(a.compact()) == "010203041ae1");
    CHECK(Address::from_compact(a.compact()).value() == a);

    Address v6 = addr("[::1]:53");
    CHECK(v6.is_v6());
    CHECK(v6.to_string() == "[::1]:53");
    CHECK(v6.compact().size() == 18);
    CHECK(Address::from_compact(v6.compact()).value() == v6);

    CHECK_FALSE(Address::parse("1.2.3.4").ok());
    CHECK_FALSE(Address::parse("1.2.3.4:65536").ok());
    CHECK_FALSE(Address::parse("1.2.3.4:-1").ok());
    CHECK_FALSE(Address::parse("1.2.3:80").ok());
    CHECK_FALSE(Address::parse("::1:80").ok());
    CHECK_FALSE(Address::parse("example.com:80").ok());
    CHECK_FALSE(Address::from_compact(Bytes(5)).ok());
    CHECK_FALSE(Address::from_compact(Bytes(7)).ok());

    auto hp = split_host_port("router.bittorrent.com:6881");
    REQUIRE(hp.ok());
    CHECK(hp->first == "router.bittorrent.com");
    CHECK(hp->second == 6881);
    CHECK_FALSE(split_host_port(":6881").ok());
    CHECK_FALSE(split_host_port("host:").ok());
}

TEST_CASE("address classes", "[address]") {
    CHECK(addr("127.0.0.1:1").is_loopback());
    CHECK(addr("127.9.9.9:1").is_loopback());
    CHECK(addr("[::1]:1").is_loopback());
    CHECK(addr("[::ffff:127.0.0.1]:1").is_loopback());
    CHECK_FALSE(addr("128.0.0.1:1").is_loopback());
    for (const char* p : {"10.1.2.3:1", "172.16.0.1:1", "172.31.255.255:1", "192.168.1.1:1", "169.254.1.1:1",
                          "100.64.0.1:1", "[fc00::1]:1", "[fd12::1]:1", "[fe80::1]:1"})
        CHECK(addr(p).is_private());
    for (const char* p : {"172.32.0.1:1", "8.8.8.8:1", "192.169.0.1:1", "100.128.0.1:1", "[2001:db8::1]:1"})
        CHECK_FALSE(addr(p).is_private());
    CHECK(addr("0.0.0.0:1").is_unspecified());
    CHECK(addr("[::]:1").is_unspecified());
    CHECK(addr("1.2.3.4:5") != addr("1.2.3.4:6"));
    CHECK(addr("1.2.3.4:5").ip_only() == addr("1.2.3.4:6").ip_only());
    CHECK(AddressHash{}(addr("1.2.3.4:5")) != AddressHash{}(addr("1.2.3.4:6")));
}

TEST_CASE("node id basics and XOR metric", "[node_id]") {
    CHECK_FALSE(NodeId::from_bytes(Bytes(19)).ok());
    CHECK_FALSE(NodeId::from_hex("00").ok());
    CHECK_FALSE(NodeId::from_hex(std::string(40, 'g')).ok());
    NodeId a = id_hex("0000000000000000000000000000000000000000");
    NodeId b = id_hex("8000000000000000000000000000000000000000");
    NodeId c = id_hex("0000000000000000000000000000000000000001");
    CHECK(a.common_prefix_bits(b) == 0);
    CHECK(a.common_prefix_bits(c) == 159);
    CHECK(a.common_prefix_bits(a) == 160);
    CHECK(bucket_distance(a, b) == 160);
    CHECK(bucket_distance(a, c) == 1);
    CHECK(bucket_distance(a, a) == 0);
    CHECK(closer_to(a, c, b));
    CHECK_FALSE(closer_to(a, b, c));
    CHECK((b ^ c).to_hex() == "8000000000000000000000000000000000000001");
    CHECK(b.bit(0));
    CHECK_FALSE(b.bit(1));
    CHECK(c.bit(159));
    CHECK(NodeId::from_hex(b.to_hex()).value() == b);

    std::set<NodeId> ids;
    for (int i = 0; i < 50; ++i) ids.insert(NodeId::random());
    CHECK(ids.size() == 50);
}

TEST_CASE("crc32c known answer", "[node_id]") {
    // RFC 3720 B.4 check value for "123456789".
    CHECK(crc32c(as_bytes("123456789")) == 0xe3069283u);
    CHECK(crc32c(Bytes(32, 0)) == 0x8a9136aau);
}

TEST_CASE("BEP42 vectors", "[node_id][bep42]") {
    struct V {
        const char* ip;
        std::uint8_t r;
        const char* prefix;
    };
    // From BEP42 / mainline id.rs (mainline-dht.md A.6). Only the first 21 bits are fixed.
    for (V v :
         {V{"124.31.75.21", 1, "5fbfbf"}, V{"21.75.31.124", 86, "5a3ce9"}, V{"65.23.51.170", 22, "a5d432"},
          V{"84.124.73.14", 65, "1b0321"}, V{"43.213.53.83", 90, "e56f6c"}}) {
        Address a = Address::parse_ip(v.ip, 6881).value();
        NodeId id = secure_id_for(a, v.r, NodeId{});
        Bytes want = from_hex(v.prefix).value();
        CHECK(id.bytes()[0] == want[0]);
        CHECK(id.bytes()[1] == want[1]);
        CHECK((id.bytes()[2] & 0xf8) == (want[2] & 0xf8));
        CHECK(id.bytes()[19] == v.r);
        CHECK(matches_bep42(id, a));
        CHECK(is_valid_bep42(id, a));
        // Flipping a prefix bit breaks it; flipping a free bit does not.
        NodeId::Raw raw = id.bytes();
        raw[2] ^= 0x08;
        CHECK_FALSE(matches_bep42(NodeId(raw), a));
        raw = id.bytes();
        raw[2] ^= 0x04;
        raw[10] ^= 0xff;
        CHECK(matches_bep42(NodeId(raw), a));
    }
    Address pub = Address::parse_ip("8.8.8.8", 1).value();
    NodeId secure = secure_id_for(pub);
    CHECK(is_valid_bep42(secure, pub));
    CHECK(secure_id_for(Address::parse_ip("2001:db8::1", 1).value().ip_only(), 3, NodeId{}) !=
          secure_id_for(Address::parse_ip("2001:db9::1", 1).value().ip_only(), 3, NodeId{}));
}

TEST_CASE("BEP42 exempts loopback and private addresses", "[node_id][bep42]") {
    NodeId random = id_hex("0123456789abcdef0123456789abcdef01234567");
    Address pub = Address::parse_ip("124.31.75.21", 1).value();
    CHECK_FALSE(matches_bep42(random, pub));
    CHECK_FALSE(is_valid_bep42(random, pub));
    for (const char* ip : {"127.0.0.1", "10.0.0.1", "192.168.0.7", "::1"}) {
        Address a = Address::parse_ip(ip, 1).value();
        CHECK(is_valid_bep42(random, a));
    }
}
