#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <variant>

#include "common/dns/record.hpp"
#include "resolver/pipeline/query.hpp"
#include "resolver/pipeline/wire_cache.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;

namespace {

dns::Name N(const std::string& text) {
    auto n = dns::Name::parse(text);
    REQUIRE(n.ok());
    return n.value();
}

dns::Record a_record(const std::string& owner, std::uint32_t ttl, std::uint8_t last) {
    dns::Record r;
    r.name = N(owner);
    r.type = dns::type::A;
    r.ttl = ttl;
    r.rdata = {192, 0, 2, last};
    return r;
}

// A query as a client sends it.
Bytes query_wire(const std::string& name, std::uint16_t type, std::uint16_t id, bool edns = false,
                 bool do_bit = false, std::uint16_t flags = dns::flag::RD, std::uint16_t udp_size = 1232) {
    dns::Packet q;
    q.id = id;
    q.flags = flags;
    q.questions.push_back(dns::Question{N(name), type, dns::class_IN});
    if (edns) {
        dns::Record opt;
        opt.type = dns::type::OPT;
        opt.klass = udp_size;
        opt.ttl = do_bit ? 0x8000u : 0u;
        q.additional.push_back(opt);
    }
    return dns::encode_packet(q);
}

Request request_of(const Bytes& wire) {
    auto parsed = parse_request(wire);
    REQUIRE(std::holds_alternative<Request>(parsed));
    return std::get<Request>(parsed);
}

// finalize()'s reply to `query` with `answer`, as the pipeline would produce it.
Bytes reply_to(const Bytes& query, dns::Packet answer, bool* complete = nullptr) {
    return finalize(request_of(query), std::move(answer), Transport::udp, complete);
}

dns::Packet parse(ByteView wire) {
    auto p = dns::parse_packet(wire);
    REQUIRE(p.ok());
    return p.value();
}

dns::Packet answer_with(std::vector<dns::Record> records, std::uint8_t rcode = dns::rcode::NOERROR) {
    dns::Packet p;
    p.answers = std::move(records);
    p.set_rcode(rcode);
    return p;
}

WireEntryInfo info_at(std::uint64_t base_ms, std::uint64_t expires_ms = UINT64_MAX) {
    WireEntryInfo info;
    info.base_ms = base_ms;
    info.expires_ms = expires_ms;
    info.tag = 7;
    return info;
}

struct Hit {
    std::optional<std::uint8_t> tag;
    Bytes wire;
};

Hit lookup(WireCache& cache, const Bytes& query, std::uint64_t now_ms, std::size_t limit = 65535) {
    PlainQuery q;
    REQUIRE(peek_query(query, q));
    Hit h;
    h.tag = cache.lookup(q, query, limit, now_ms, h.wire);
    return h;
}

}  // namespace

TEST_CASE("peek_query accepts plain queries and leaves the rest to the full parser") {
    PlainQuery q;
    CHECK(peek_query(query_wire("www.Example.COM", dns::type::A, 1), q));
    CHECK_FALSE(q.edns);
    CHECK(q.max_udp_size() == 512);
    const std::string plain_key = q.key;

    CHECK(peek_query(query_wire("www.example.com", dns::type::A, 2), q));
    CHECK(q.key == plain_key);  // case folded
    CHECK(peek_query(query_wire("www.example.com", dns::type::A, 2, true, false, dns::flag::RD, 4000), q));
    CHECK(q.edns);
    CHECK(q.max_udp_size() == 4000);
    const std::string edns_key = q.key;
    CHECK(edns_key != plain_key);
    CHECK(peek_query(query_wire("www.example.com", dns::type::A, 2, true, true), q));
    CHECK(q.key != edns_key);  // DO bit
    CHECK(peek_query(query_wire("www.example.com", dns::type::AAAA, 2), q));
    CHECK(q.key != plain_key);

    Bytes response = query_wire("www.example.com", dns::type::A, 1, false, false, dns::flag::QR);
    CHECK_FALSE(peek_query(response, q));
    Bytes notify = query_wire("www.example.com", dns::type::A, 1, false, false, 0x2000);  // opcode 4
    CHECK_FALSE(peek_query(notify, q));
    CHECK_FALSE(peek_query(query_wire("example.com", 252, 1), q));  // AXFR
    CHECK_FALSE(peek_query(query_wire("example.com", dns::type::OPT, 1), q));
    Bytes trailing = query_wire("www.example.com", dns::type::A, 1);
    trailing.push_back(0);
    CHECK_FALSE(peek_query(trailing, q));
    Bytes version1 = query_wire("www.example.com", dns::type::A, 1, true);
    version1[version1.size() - 5] = 1;  // OPT TTL: ext rcode, version, flags
    CHECK_FALSE(peek_query(version1, q));
    Bytes truncated = query_wire("www.example.com", dns::type::A, 1);
    truncated.resize(truncated.size() - 3);
    CHECK_FALSE(peek_query(truncated, q));
    // A compression pointer as the question name.
    Bytes pointer = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
    CHECK_FALSE(peek_query(pointer, q));
    Bytes runt = {0, 1, 1};
    CHECK_FALSE(peek_query(runt, q));
}

TEST_CASE("a hit is the stored reply with the client's ID, flags and question case") {
    WireCache cache;
    const Bytes first = query_wire("www.example.com", dns::type::A, 0x1111, false, false, dns::flag::RD);
    bool complete = false;
    const Bytes reply = reply_to(first, answer_with({a_record("www.example.com", 300, 1)}), &complete);
    REQUIRE(complete);
    REQUIRE(cache.insert(reply, false, false, info_at(1000), 1000));
    CHECK(cache.size() == 1);

    // Another client: other ID, no RD but CD, 0x20 mixed case.
    const Bytes second = query_wire("wWw.ExAmPlE.cOm", dns::type::A, 0xBEEF, false, false, dns::flag::CD);
    Hit h = lookup(cache, second, 1500);
    REQUIRE(h.tag == std::uint8_t{7});
    const Bytes expected = reply_to(second, answer_with({a_record("www.example.com", 300, 1)}));
    dns::Packet got = parse(h.wire), want = parse(expected);
    CHECK(got.id == 0xBEEF);
    CHECK(got.flags == want.flags);
    CHECK((got.flags & dns::flag::RD) == 0);
    CHECK((got.flags & dns::flag::CD) != 0);
    REQUIRE(got.questions.size() == 1);
    CHECK(got.questions[0].name.to_string() == "wWw.ExAmPlE.cOm");
    CHECK(got.answers == want.answers);
    // The question bytes are exactly the client's.
    CHECK(std::memcmp(h.wire.data() + 12, second.data() + 12, second.size() - 12) == 0);

    // The first asker gets RD back.
    Hit again = lookup(cache, first, 1500);
    REQUIRE(again.tag);
    CHECK(again.wire == reply);
}

TEST_CASE("TTLs count down by whole seconds and the entry ends with the lowest TTL") {
    WireCache cache;
    const Bytes q = query_wire("two.example", dns::type::A, 1, true);
    dns::Packet answer = answer_with({a_record("two.example", 300, 1), a_record("two.example", 10, 2)});
    const Bytes reply = reply_to(q, answer);
    REQUIRE(cache.insert(reply, true, false, info_at(10'000), 10'500));

    auto ttls = [](const Bytes& wire) {
        dns::Packet p = parse(wire);
        std::vector<std::uint32_t> out;
        for (const auto& r : p.answers) out.push_back(r.ttl);
        for (const auto& r : p.additional)
            if (r.type == dns::type::OPT) CHECK(r.ttl == 0);  // the OPT's TTL field is not a TTL
        return out;
    };
    CHECK(ttls(lookup(cache, q, 10'999).wire) == std::vector<std::uint32_t>{300, 10});
    CHECK(ttls(lookup(cache, q, 11'000).wire) == std::vector<std::uint32_t>{299, 9});
    CHECK(ttls(lookup(cache, q, 19'999).wire) == std::vector<std::uint32_t>{291, 1});
    CHECK_FALSE(lookup(cache, q, 20'000).tag);  // 10 s after base: the 10 s record would be 0
    CHECK(cache.size() == 0);
}

TEST_CASE("an entry never outlives the caller's bound or its guard") {
    WireCache cache;
    const Bytes q = query_wire("bound.example", dns::type::A, 1);
    const Bytes reply = reply_to(q, answer_with({a_record("bound.example", 300, 1)}));
    REQUIRE(cache.insert(reply, false, false, info_at(0, 5'000), 0));
    CHECK(lookup(cache, q, 4'999).tag);
    CHECK_FALSE(lookup(cache, q, 5'000).tag);

    auto packet = std::make_shared<int>(1);
    WireEntryInfo guarded = info_at(0);
    guarded.guard = std::weak_ptr<const void>(std::shared_ptr<const void>(packet));
    REQUIRE(cache.insert(reply, false, false, guarded, 0));
    CHECK(lookup(cache, q, 1'000).tag);
    packet.reset();  // e.g. a newer PKARR packet replaced it
    CHECK_FALSE(lookup(cache, q, 1'000).tag);
    CHECK(cache.size() == 0);

    // Already expired, or based in the future: not stored.
    CHECK_FALSE(cache.insert(reply, false, false, info_at(0, 5'000), 5'000));
    CHECK_FALSE(cache.insert(reply, false, false, info_at(2'000), 1'000));
}

TEST_CASE("errors, truncated replies and zero TTLs are not stored") {
    WireCache cache;
    const Bytes q = query_wire("err.example", dns::type::A, 1);
    for (std::uint8_t rc :
         {dns::rcode::SERVFAIL, dns::rcode::REFUSED, dns::rcode::FORMERR, dns::rcode::NOTIMP}) {
        CHECK_FALSE(cache.insert(reply_to(q, answer_with({}, rc)), false, false, info_at(0), 0));
    }
    CHECK_FALSE(
        cache.insert(reply_to(q, answer_with({a_record("err.example", 0, 1)})), false, false, info_at(0), 0));
    Bytes tc = reply_to(q, answer_with({a_record("err.example", 60, 1)}));
    tc[2] |= dns::flag::TC >> 8;
    CHECK_FALSE(cache.insert(tc, false, false, info_at(0), 0));
    Bytes cut = reply_to(q, answer_with({a_record("err.example", 60, 1)}));
    cut.resize(cut.size() - 1);
    CHECK_FALSE(cache.insert(cut, false, false, info_at(0), 0));
    CHECK(cache.size() == 0);

    // NXDOMAIN is (a negative answer with its SOA comes through the resolver's own rules).
    dns::Packet nx = answer_with({}, dns::rcode::NXDOMAIN);
    CHECK(cache.insert(reply_to(q, nx), false, false, info_at(0, 60'000), 0));
    CHECK(lookup(cache, q, 1).tag);
}

TEST_CASE("the key separates EDNS presence and DO, a reply larger than the client's limit misses") {
    WireCache cache;
    const Bytes plain = query_wire("k.example", dns::type::A, 1);
    const Bytes with_edns = query_wire("k.example", dns::type::A, 1, true);
    const Bytes with_do = query_wire("k.example", dns::type::A, 1, true, true);
    REQUIRE(cache.insert(reply_to(with_edns, answer_with({a_record("k.example", 60, 1)})), true, false,
                         info_at(0), 0));
    CHECK_FALSE(lookup(cache, plain, 1).tag);
    CHECK_FALSE(lookup(cache, with_do, 1).tag);
    Hit h = lookup(cache, with_edns, 1);
    REQUIRE(h.tag);
    CHECK_FALSE(lookup(cache, with_edns, 1, h.wire.size() - 1).tag);
    CHECK(lookup(cache, with_edns, 1, h.wire.size()).tag);
    CHECK(cache.size() == 1);  // a size miss keeps the entry
}

TEST_CASE("wire cache: the byte budget evicts the least recently used entry") {
    const Bytes qa = query_wire("a.example", dns::type::A, 1);
    const Bytes qb = query_wire("b.example", dns::type::A, 1);
    const Bytes qc = query_wire("c.example", dns::type::A, 1);
    const Bytes ra = reply_to(qa, answer_with({a_record("a.example", 60, 1)}));
    const Bytes rb = reply_to(qb, answer_with({a_record("b.example", 60, 1)}));
    const Bytes rc = reply_to(qc, answer_with({a_record("c.example", 60, 1)}));

    WireCache probe;
    REQUIRE(probe.insert(ra, false, false, info_at(0), 0));
    const std::size_t one = probe.bytes();
    REQUIRE(one > ra.size());

    WireCache cache(WireCacheConfig{one * 2 + one / 2});  // room for two
    REQUIRE(cache.insert(ra, false, false, info_at(0), 0));
    REQUIRE(cache.insert(rb, false, false, info_at(0), 0));
    CHECK(lookup(cache, qa, 1).tag);  // a is now the most recent
    REQUIRE(cache.insert(rc, false, false, info_at(0), 0));
    CHECK(cache.size() == 2);
    CHECK(cache.bytes() <= one * 2 + one / 2);
    CHECK(lookup(cache, qa, 1).tag);
    CHECK_FALSE(lookup(cache, qb, 1).tag);
    CHECK(lookup(cache, qc, 1).tag);

    WireCache tiny(WireCacheConfig{10});
    CHECK_FALSE(tiny.insert(ra, false, false, info_at(0), 0));

    CHECK(cache.purge_expired(60'000) == 2);
    CHECK(cache.bytes() == 0);
}
