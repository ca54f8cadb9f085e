#include <catch2/catch.hpp>

#include <string>

#include "pkarr/dht/bencode.hpp"
#include "pkarr/dht/krpc.hpp"

using namespace pkdns;
using namespace pkdns::dht;
using namespace std::string_literals;

namespace {
const std::string id20 = "abcdefghij0123456789";
const std::string id20b = "mnopqrstuvwxyz123456";

Result<krpc::Message> dec(const std::string& s) {
    return krpc::decode(as_bytes(s));
}
std::string enc(const krpc::Message& m) {
    Bytes b = krpc::encode(m);
    return std::string(b.begin(), b.end());
}
void round_trip(const krpc::Message& m) {
    auto back = krpc::decode(krpc::encode(m));
    REQUIRE(back.ok());
    CHECK(*back == m);
}
}  // namespace

TEST_CASE("KRPC decodes the BEP5 ping examples", "[krpc]") {
    auto q = dec("d1:ad2:id20:" + id20 + "e1:q4:ping1:t2:aa1:y1:qe");
    REQUIRE(q.ok());
    REQUIRE(q->is_query());
    CHECK(q->query().method == krpc::Method::ping);
    CHECK(q->query().id.view().size() == 20);
    CHECK(std::string(as_chars(q->query().id.view())) == id20);
    CHECK(q->t == Bytes{'a', 'a'});
    CHECK_FALSE(q->read_only);

    auto r = dec("d1:rd2:id20:" + id20b + "e1:t2:aa1:y1:re");
    REQUIRE(r.ok());
    REQUIRE(r->is_response());
    CHECK(std::string(as_chars(r->response().id.view())) == id20b);
    CHECK_FALSE(r->response().nodes.has_value());

    auto e = dec("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee");
    REQUIRE(e.ok());
    REQUIRE(e->is_error());
    CHECK(e->error().code == 201);
    CHECK(e->error().message == "A Generic Error Ocurred");
}

TEST_CASE("KRPC decodes a mainline-style get response with ip, ro, v and 4-byte t", "[krpc]") {
    std::string k(32, 'K'), sig(64, 'S'), token = "tokn";
    std::string node = id20 + "\x7f\x00\x00\x01\x1a\xe1"s;
    std::string msg = "d2:ip6:\x7f\x00\x00\x01\xb4\x10"s + "1:rd2:id20:" + id20b + "1:k32:" + k +
                      "5:nodes26:" + node + "3:seqi1700000000000000e3:sig64:" + sig + "5:token4:" + token +
                      "1:v5:hello" + "e2:roi0e1:t4:\x00\x00\x00\x07"s + "1:v4:RS\x00\x05"s + "1:y1:re";
    auto m = dec(msg);
    REQUIRE(m.ok());
    CHECK(m->t.size() == 4);
    REQUIRE(m->version.has_value());
    CHECK((*m->version)[0] == 'R');
    REQUIRE(m->ip.has_value());
    CHECK(m->ip->to_string() == "127.0.0.1:46096");
    const auto& r = m->response();
    REQUIRE(r.nodes.has_value());
    REQUIRE(r.nodes->size() == 1);
    CHECK((*r.nodes)[0].address.to_string() == "127.0.0.1:6881");
    CHECK(r.seq == 1700000000000000);
    CHECK(r.v == Bytes{'h', 'e', 'l', 'l', 'o'});
    CHECK(r.token == Bytes(token.begin(), token.end()));
    // Our encoder leaves out ro=0 but is otherwise byte-identical to the canonical input.
    std::string expected = msg;
    expected.erase(expected.find("2:roi0e"), 7);
    CHECK(enc(*m) == expected);
    round_trip(*m);
}

TEST_CASE("KRPC query arguments are validated per method", "[krpc]") {
    auto query = [](const std::string& method, const std::string& args) {
        return dec("d1:ad2:id20:" + id20 + args + "e1:q" + std::to_string(method.size()) + ":" + method +
                   "1:t2:xy1:y1:qe");
    };
    CHECK(query("find_node", "6:target20:" + id20b).ok());
    auto missing = query("find_node", "");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == krpc::error_protocol);
    CHECK_THAT(missing.error().message, Catch::Contains("target"));
    auto short_target = query("find_node", "6:target19:" + id20b.substr(1));
    REQUIRE_FALSE(short_target.ok());
    CHECK(short_target.error().code == krpc::error_protocol);
    CHECK(query("get", "3:seqi5e6:target20:" + id20b)->query().seq == 5);
    CHECK_FALSE(query("get",
                      "3:seq1:5"
                      "6:target20:" +
                          id20b)
                    .ok());
    auto unknown = query("vote", "");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().code == krpc::error_method_unknown);
    // get_peers / announce_peer
    CHECK(query("get_peers", "9:info_hash20:" + id20b).ok());
    auto ann = query("announce_peer", "12:implied_porti1e9:info_hash20:" + id20b + "5:token2:tt");
    REQUIRE(ann.ok());
    CHECK(ann->query().implied_port);
    CHECK_FALSE(ann->query().port.has_value());
    CHECK(query("announce_peer", "9:info_hash20:" + id20b + "4:porti80e5:token2:tt")->query().port == 80);
    CHECK_FALSE(query("announce_peer", "9:info_hash20:" + id20b + "5:token2:tt").ok());
    CHECK_FALSE(query("announce_peer", "9:info_hash20:" + id20b + "4:porti65536e5:token2:tt").ok());
    // put: mutable needs sig and seq; k and sig have fixed sizes.
    std::string k32 = "1:k32:" + std::string(32, 'k');
    std::string sig64 = "3:sig64:" + std::string(64, 's');
    CHECK(query("put", k32 + "3:seqi1e" + sig64 + "5:token1:t1:v1:x").ok());
    CHECK_FALSE(query("put", k32 + "3:seqi1e5:token1:t1:v1:x").ok());
    CHECK_FALSE(query("put", k32 + sig64 + "5:token1:t1:v1:x").ok());
    CHECK_FALSE(query("put", "1:k31:" + std::string(31, 'k') + "3:seqi1e" + sig64 + "5:token1:t1:v1:x").ok());
    CHECK_FALSE(query("put", "5:token1:t").ok());
    CHECK(query("put", "5:token1:t1:v1:x").ok());  // immutable
    // v larger than 1000 bytes still decodes, so the server can answer 205.
    auto big = query("put", k32 + "3:seqi1e" + sig64 + "5:token1:t1:v1001:" + std::string(1001, 'v'));
    REQUIRE(big.ok());
    CHECK(big->query().v->size() == 1001);
    // Missing or non-dict `a`.
    CHECK(dec("d1:q4:ping1:t2:xy1:y1:qe").error().code == krpc::error_protocol);
    CHECK(dec("d1:ai1e1:q4:ping1:t2:xy1:y1:qe").error().code == krpc::error_protocol);
}

TEST_CASE("KRPC rejects malformed envelopes", "[krpc]") {
    const std::string ping_a = "d2:id20:" + id20 + "e";
    CHECK_FALSE(dec("").ok());
    CHECK_FALSE(dec("le").ok());
    CHECK_FALSE(dec("i1e").ok());
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:y1:qe").ok());       // no t
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t0:1:y1:qe").ok());  // empty t
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t17:" + std::string(17, 't') + "1:y1:qe").ok());
    CHECK(dec("d1:a" + ping_a + "1:q4:ping1:t16:" + std::string(16, 't') + "1:y1:qe").ok());
    CHECK(dec("d1:a" + ping_a + "1:q4:ping1:t1:x1:y1:qe").ok());
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t2:xy1:y1:ze").ok());  // bad y
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t2:xy1:y2:qqe").ok());
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t2:xye").ok());               // no y
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping2:roi2e1:t2:xy1:y1:qe").ok());  // ro not 0/1
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping2:ro1:11:t2:xy1:y1:qe").ok());
    CHECK_FALSE(dec("d1:a" + ping_a + "2:ip5:abcde1:q4:ping1:t2:xy1:y1:qe").ok());  // ip 5 bytes
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t2:xy1:y1:qe   ").ok());          // trailing
    CHECK_FALSE(dec("d1:q4:ping1:a" + ping_a + "1:t2:xy1:y1:qe").ok());             // unsorted
    // Top-level v of another length than 4 is ignored, not fatal.
    auto v3 = dec("d1:a" + ping_a + "1:q4:ping1:t2:xy1:v3:abc1:y1:qe");
    REQUIRE(v3.ok());
    CHECK_FALSE(v3->version.has_value());
    // Responses: bad nodes length, bad values, missing id, non-dict r.
    CHECK_FALSE(dec("d1:rd2:id20:" + id20 + "5:nodes25:" + std::string(25, 'n') + "e1:t2:xy1:y1:re").ok());
    CHECK_FALSE(dec("d1:rd2:id20:" + id20 + "6:valuesl5:abcdee1:t2:xy1:y1:re").ok());
    CHECK_FALSE(dec("d1:rd2:id20:" + id20 + "6:valuesi1ee1:t2:xy1:y1:re").ok());
    CHECK_FALSE(dec("d1:rde1:t2:xy1:y1:re").ok());
    CHECK_FALSE(dec("d1:ri1e1:t2:xy1:y1:re").ok());
    CHECK_FALSE(dec("d1:rd2:id20:" + id20 + "3:seq1:1e1:t2:xy1:y1:re").ok());
    // Errors: e must be [int, string].
    CHECK_FALSE(dec("d1:eli201ee1:t2:xy1:y1:ee").ok());
    CHECK_FALSE(dec("d1:el3:abci201ee1:t2:xy1:y1:ee").ok());
    CHECK_FALSE(dec("d1:e3:abc1:t2:xy1:y1:ee").ok());
    // Depth bomb inside a valid-looking message.
    CHECK_FALSE(dec("d1:a" + ping_a + "1:q4:ping1:t2:xy1:xl" + std::string(100, 'l') + std::string(101, 'e') +
                    "1:y1:qe")
                    .ok());
}

TEST_CASE("KRPC transaction id of an undecodable datagram", "[krpc]") {
    auto t = krpc::transaction_id(as_bytes("d1:q4:vote1:t2:xy1:y1:qe"));
    REQUIRE(t.has_value());
    CHECK(*t == Bytes{'x', 'y'});
    CHECK_FALSE(krpc::transaction_id(as_bytes("garbage")).has_value());
    CHECK_FALSE(krpc::transaction_id(as_bytes("d1:ti1ee")).has_value());
}

TEST_CASE("KRPC compact node lists", "[krpc]") {
    std::vector<NodeInfo> nodes;
    for (int i = 0; i < 3; ++i) {
        NodeId::Raw raw{};
        raw[0] = static_cast<std::uint8_t>(i);
        nodes.push_back({NodeId(raw), Address::v4(0x7f000001u, static_cast<std::uint16_t>(7000 + i))});
    }
    nodes.push_back({NodeId{}, Address::parse("[::1]:9").value()});
    Bytes v4 = krpc::encode_nodes(nodes);
    CHECK(v4.size() == 3 * 26);
    Bytes v6 = krpc::encode_nodes6(nodes);
    CHECK(v6.size() == 38);
    auto back = krpc::decode_nodes(v4);
    REQUIRE(back.ok());
    CHECK(*back == std::vector<NodeInfo>(nodes.begin(), nodes.begin() + 3));
    auto back6 = krpc::decode_nodes6(v6);
    REQUIRE(back6.ok());
    CHECK((*back6)[0] == nodes[3]);
    CHECK_FALSE(krpc::decode_nodes(Bytes(27)).ok());
    CHECK_FALSE(krpc::decode_nodes6(Bytes(26)).ok());
    CHECK(krpc::decode_nodes(Bytes{})->empty());
}

TEST_CASE("KRPC messages round trip", "[krpc]") {
    krpc::Query put;
    put.method = krpc::Method::put;
    put.id = NodeId::random();
    put.target = NodeId::random();
    put.token = Bytes{1, 2, 3, 4};
    put.v = Bytes(1000, 'x');
    put.k = krpc::PublicKeyBytes{};
    put.k->fill(7);
    put.sig = krpc::SignatureBytes{};
    put.sig->fill(9);
    put.seq = -5;
    put.cas = 4;
    put.salt = Bytes{'s'};
    krpc::Message m = krpc::make_query(put, Bytes{0, 0, 0, 1});
    m.read_only = true;
    m.version = krpc::Version{'P', 'K', 0, 1};
    round_trip(m);

    krpc::Response r;
    r.id = NodeId::random();
    r.nodes = std::vector<NodeInfo>{{NodeId::random(), Address::v4(0x01020304u, 1)}};
    r.nodes6 = std::vector<NodeInfo>{{NodeId::random(), Address::parse("[2001:db8::2]:2").value()}};
    r.values = std::vector<Address>{Address::v4(0x05060708u, 9), Address::parse("[::1]:3").value()};
    r.token = Bytes{};
    krpc::Message rm = krpc::make_response(r, Bytes{'a'});
    rm.ip = Address::v4(0x0a000001u, 6881);
    round_trip(rm);

    round_trip(krpc::make_error(302, "Sequence number less than current.", Bytes{'t', 't'}));

    for (krpc::Method method : {krpc::Method::ping, krpc::Method::find_node, krpc::Method::get_peers,
                                krpc::Method::announce_peer, krpc::Method::get}) {
        krpc::Query q;
        q.method = method;
        q.id = NodeId::random();
        if (method == krpc::Method::find_node || method == krpc::Method::get) q.target = NodeId::random();
        if (method == krpc::Method::get_peers || method == krpc::Method::announce_peer)
            q.info_hash = NodeId::random();
        if (method == krpc::Method::announce_peer) {
            q.token = Bytes{'k'};
            q.port = 6881;
        }
        if (method == krpc::Method::get) q.seq = 42;
        round_trip(krpc::make_query(q, Bytes{'q', 'q'}));
    }
}
