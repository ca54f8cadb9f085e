// answer_from_zone: exact matches, CNAME chains, referrals, wildcards, DNAME, negative answers.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "pkarr/zone.hpp"

using namespace pkdns;
using pkdns::pkarr::answer_from_zone;
using pkdns::pkarr::ZoneAnswer;
namespace type = pkdns::dns::type;
namespace rcode = pkdns::dns::rcode;

namespace {

const std::string K = "8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo";

// "www" -> www.<K>, "@" -> <K>, "example.com." -> absolute.
dns::Name N(const std::string& rel) {
    std::string full = rel == "@" ? K : (!rel.empty() && rel.back() == '.') ? rel : rel + "." + K;
    auto n = dns::Name::parse(full);
    REQUIRE(n.ok());
    return *n;
}

dns::Record rr(const std::string& owner, std::uint16_t t, Bytes rdata, std::uint32_t ttl = 300) {
    return dns::Record{N(owner), t, dns::class_IN, ttl, std::move(rdata)};
}
Bytes wire(const std::string& rel) {
    Bytes out;
    N(rel).append_wire(out);
    return out;
}
dns::Record a(const std::string& owner, const char* ip, std::uint32_t ttl = 300) {
    Bytes b(4);
    REQUIRE(inet_pton(AF_INET, ip, b.data()) == 1);
    return rr(owner, type::A, b, ttl);
}
dns::Record aaaa(const std::string& owner, const char* ip) {
    Bytes b(16);
    REQUIRE(inet_pton(AF_INET6, ip, b.data()) == 1);
    return rr(owner, type::AAAA, b);
}
dns::Record txt(const std::string& owner, const std::string& s) {
    Bytes b{static_cast<std::uint8_t>(s.size())};
    b.insert(b.end(), s.begin(), s.end());
    return rr(owner, type::TXT, b);
}
dns::Record cname(const std::string& owner, const std::string& target, std::uint32_t ttl = 300) {
    return rr(owner, type::CNAME, wire(target), ttl);
}
dns::Record ns(const std::string& owner, const std::string& target) {
    return rr(owner, type::NS, wire(target));
}
dns::Record dname(const std::string& owner, const std::string& target) {
    return rr(owner, type::DNAME, wire(target), 600);
}
dns::Record soa() {
    Bytes b = wire("ns.example.");
    Bytes rname = wire("admin.example.");
    b.insert(b.end(), rname.begin(), rname.end());
    for (std::uint32_t v : {1u, 7200u, 3600u, 1209600u, 60u}) put_u32(b, v);
    return rr("@", type::SOA, b);
}

std::vector<dns::Record> sample_zone() {
    return {
        a("@", "1.1.1.1"),
        txt("@", "apex"),
        ns("@", "ns.provider.example."),  // apex NS: data, never a referral
        a("www", "2.2.2.2"),
        aaaa("www", "2001:db8::2"),
        cname("alias", "www"),
        cname("ext", "example.com."),
        cname("chain1", "chain2"),
        cname("chain2", "www"),
        cname("dangling", "missing"),
        cname("loop1", "loop2"),
        cname("loop2", "loop1"),
        cname("self", "self"),
        a("a.b.c", "3.3.3.3"),
        a("*.wild", "4.4.4.4"),
        txt("*.wild", "w"),
        a("sub.wild", "5.5.5.5"),
        cname("*.cw", "www"),
        a("*.w2", "6.6.6.6"),
        a("x.y.w2", "7.7.7.7"),
        ns("deleg", "ns1.deleg"),
        ns("deleg", "ns.example.com."),
        a("ns1.deleg", "9.9.9.9"),
        aaaa("ns1.deleg", "2001:db8::9"),
        a("host.deleg", "8.8.8.8"),  // occluded by the cut
        cname("todeleg", "host.deleg"),
        dname("dn", "other"),
        a("x.other", "10.0.0.1"),
        dname("dx", "example.net."),
        a("foo.notmine.", "11.11.11.11"),  // outside the apex: must be ignored
    };
}

ZoneAnswer ask(const std::vector<dns::Record>& zone, const std::string& q, std::uint16_t t) {
    return answer_from_zone(zone, N("@"), N(q), t);
}

bool has(const std::vector<dns::Record>& section, const dns::Record& r) {
    for (const auto& x : section)
        if (x.name == r.name && x.type == r.type && x.rdata == r.rdata && x.ttl == r.ttl) return true;
    return false;
}

}  // namespace

TEST_CASE("exact match returns the records of the type authoritative") {
    auto zone = sample_zone();
    auto r = ask(zone, "www", type::A);
    CHECK(r.rcode == rcode::NOERROR);
    CHECK(r.authoritative);
    CHECK_FALSE(r.delegation);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0] == a("www", "2.2.2.2"));
    CHECK(r.authority.empty());
    CHECK(r.additional.empty());
    CHECK_FALSE(r.external_target);

    auto apex = ask(zone, "@", type::A);
    REQUIRE(apex.answer.size() == 1);
    CHECK(apex.answer[0] == a("@", "1.1.1.1"));
}

TEST_CASE("ANY returns every record at the name without following CNAMEs") {
    auto zone = sample_zone();
    auto r = ask(zone, "www", type::ANY);
    CHECK(r.rcode == rcode::NOERROR);
    REQUIRE(r.answer.size() == 2);
    CHECK(has(r.answer, a("www", "2.2.2.2")));
    CHECK(has(r.answer, aaaa("www", "2001:db8::2")));

    auto apex = ask(zone, "@", type::ANY);
    CHECK(apex.answer.size() == 3);
    CHECK_FALSE(apex.delegation);

    auto alias = ask(zone, "alias", type::ANY);
    REQUIRE(alias.answer.size() == 1);
    CHECK(alias.answer[0].type == type::CNAME);
}

TEST_CASE("names and the apex compare case-insensitively - owners echo the spelling of the question") {
    auto zone = sample_zone();
    auto q = dns::Name::parse("WwW." + std::string("8PINXXGQS41N4AIDIDENW5APQP1URFMZDZTR8JT4ABRKDN435EWO"));
    REQUIRE(q.ok());
    auto r = answer_from_zone(zone, N("@"), *q, type::A);
    CHECK(r.rcode == rcode::NOERROR);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0].name.identical(*q));
    CHECK(r.answer[0].rdata == a("www", "2.2.2.2").rdata);
}

TEST_CASE("existing name without the type is NODATA - missing name is NXDOMAIN") {
    auto zone = sample_zone();
    auto nodata = ask(zone, "www", type::MX);
    CHECK(nodata.rcode == rcode::NOERROR);
    CHECK(nodata.answer.empty());
    CHECK(nodata.authoritative);
    CHECK(nodata.authority.empty());  // no SOA in this zone

    auto nx = ask(zone, "nope", type::A);
    CHECK(nx.rcode == rcode::NXDOMAIN);
    CHECK(nx.answer.empty());
    CHECK(nx.authoritative);

    // Below a leaf: www exists but x.www does not, and there is no *.www.
    CHECK(ask(zone, "x.www", type::A).rcode == rcode::NXDOMAIN);
    // The apex NS is data for NS questions and not a referral for anything else.
    auto apex_ns = ask(zone, "@", type::NS);
    CHECK_FALSE(apex_ns.delegation);
    REQUIRE(apex_ns.answer.size() == 1);
    CHECK(apex_ns.answer[0].type == type::NS);
}

TEST_CASE("empty non-terminals exist: NODATA not NXDOMAIN") {
    auto zone = sample_zone();
    for (const char* ent : {"b.c", "c"}) {
        auto r = ask(zone, ent, type::A);
        INFO(ent);
        CHECK(r.rcode == rcode::NOERROR);
        CHECK(r.answer.empty());
    }
    CHECK(ask(zone, "a.b.c", type::A).answer.size() == 1);
    CHECK(ask(zone, "z.b.c", type::A).rcode == rcode::NXDOMAIN);
}

TEST_CASE("qname outside the zone is refused") {
    auto zone = sample_zone();
    auto r = answer_from_zone(zone, N("@"), N("www.example.com."), type::A);
    CHECK(r.rcode == rcode::REFUSED);
    CHECK_FALSE(r.authoritative);
    CHECK(r.answer.empty());
}

TEST_CASE("CNAME is answered and followed inside the zone") {
    auto zone = sample_zone();
    auto r = ask(zone, "alias", type::A);
    CHECK(r.rcode == rcode::NOERROR);
    REQUIRE(r.answer.size() == 2);
    CHECK(r.answer[0] == cname("alias", "www"));
    CHECK(r.answer[1] == a("www", "2.2.2.2"));
    CHECK_FALSE(r.external_target);

    auto chain = ask(zone, "chain1", type::AAAA);
    REQUIRE(chain.answer.size() == 3);
    CHECK(chain.answer[0] == cname("chain1", "chain2"));
    CHECK(chain.answer[1] == cname("chain2", "www"));
    CHECK(chain.answer[2] == aaaa("www", "2001:db8::2"));

    // Asking for the CNAME itself does not follow it.
    auto own = ask(zone, "alias", type::CNAME);
    REQUIRE(own.answer.size() == 1);
    CHECK(own.answer[0].type == type::CNAME);

    // Target exists but lacks the type: CNAME + NODATA.
    auto nodata = ask(zone, "alias", type::TXT);
    CHECK(nodata.rcode == rcode::NOERROR);
    REQUIRE(nodata.answer.size() == 1);
    CHECK(nodata.answer[0].type == type::CNAME);
}

TEST_CASE("CNAME to a missing in-zone name: the chain plus NXDOMAIN (RFC 6604)") {
    auto r = ask(sample_zone(), "dangling", type::A);
    CHECK(r.rcode == rcode::NXDOMAIN);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0] == cname("dangling", "missing"));
}

TEST_CASE("CNAME leaving the zone reports the external target") {
    auto r = ask(sample_zone(), "ext", type::A);
    CHECK(r.rcode == rcode::NOERROR);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0] == cname("ext", "example.com."));
    REQUIRE(r.external_target);
    CHECK(*r.external_target == N("example.com."));
}

TEST_CASE("CNAME loops and long chains stop") {
    auto zone = sample_zone();
    auto loop = ask(zone, "loop1", type::A);
    CHECK(loop.chain_truncated);
    CHECK(loop.rcode == rcode::NOERROR);
    CHECK(loop.answer.size() == 2);
    CHECK_FALSE(loop.external_target);

    auto self = ask(zone, "self", type::A);
    CHECK(self.chain_truncated);
    CHECK(self.answer.size() == 1);

    std::vector<dns::Record> longz;
    for (int i = 0; i < 40; ++i) longz.push_back(cname("c" + std::to_string(i), "c" + std::to_string(i + 1)));
    longz.push_back(a("c40", "1.2.3.4"));
    auto r = ask(longz, "c0", type::A);
    CHECK(r.chain_truncated);
    CHECK(r.answer.size() == pkarr::max_zone_chain);

    // A chain just within the bound completes.
    std::vector<dns::Record> shortz;
    const int steps = static_cast<int>(pkarr::max_zone_chain) - 1;
    for (int i = 0; i < steps; ++i)
        shortz.push_back(cname("c" + std::to_string(i), "c" + std::to_string(i + 1)));
    shortz.push_back(a("c" + std::to_string(steps), "1.2.3.4"));
    auto ok = ask(shortz, "c0", type::A);
    CHECK_FALSE(ok.chain_truncated);
    CHECK(ok.answer.size() == static_cast<std::size_t>(steps) + 1);
    CHECK(ok.answer.back().type == type::A);
}

TEST_CASE("NS below the apex is a referral with in-zone glue not authoritative") {
    auto zone = sample_zone();
    for (const char* q : {"deleg", "host.deleg", "deep.x.deleg", "ns1.deleg"}) {
        INFO(q);
        auto r = ask(zone, q, type::A);
        CHECK(r.rcode == rcode::NOERROR);
        CHECK(r.delegation);
        CHECK_FALSE(r.authoritative);
        CHECK(r.answer.empty());  // host.deleg's A is occluded by the cut
        REQUIRE(r.authority.size() == 2);
        CHECK(has(r.authority, ns("deleg", "ns1.deleg")));
        CHECK(has(r.authority, ns("deleg", "ns.example.com.")));
        REQUIRE(r.additional.size() == 2);
        CHECK(has(r.additional, a("ns1.deleg", "9.9.9.9")));
        CHECK(has(r.additional, aaaa("ns1.deleg", "2001:db8::9")));
    }
    // DS belongs to the parent side of the cut: not a referral.
    auto ds = ask(zone, "deleg", 43);
    CHECK_FALSE(ds.delegation);
    CHECK(ds.authoritative);
    CHECK(ds.rcode == rcode::NOERROR);
    CHECK(ds.answer.empty());
}

TEST_CASE("CNAME into a delegated subtree: the CNAME then the referral") {
    auto r = ask(sample_zone(), "todeleg", type::A);
    CHECK(r.delegation);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0] == cname("todeleg", "host.deleg"));
    CHECK(r.authority.size() == 2);
}

TEST_CASE("wildcards synthesize records with the question as owner (RFC 4592)") {
    auto zone = sample_zone();
    auto r = ask(zone, "anything.wild", type::A);
    CHECK(r.rcode == rcode::NOERROR);
    CHECK(r.authoritative);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0].name.identical(N("anything.wild")));
    CHECK(r.answer[0].rdata == a("x", "4.4.4.4").rdata);

    // Several labels below the closest encloser still match.
    auto deep = ask(zone, "p.q.wild", type::TXT);
    REQUIRE(deep.answer.size() == 1);
    CHECK(deep.answer[0].name.identical(N("p.q.wild")));
    CHECK(deep.answer[0].type == type::TXT);

    // ANY at a wildcard returns all of its records.
    CHECK(ask(zone, "z.wild", type::ANY).answer.size() == 2);
    // The wildcard exists but not with this type: NODATA.
    auto nodata = ask(zone, "z.wild", type::MX);
    CHECK(nodata.rcode == rcode::NOERROR);
    CHECK(nodata.answer.empty());
    // An existing name is never covered by the wildcard.
    auto sub = ask(zone, "sub.wild", type::A);
    REQUIRE(sub.answer.size() == 1);
    CHECK(sub.answer[0] == a("sub.wild", "5.5.5.5"));
    CHECK(ask(zone, "sub.wild", type::TXT).answer.empty());
    // Below an existing name the closest encloser is that name, which has no `*` child.
    CHECK(ask(zone, "x.sub.wild", type::A).rcode == rcode::NXDOMAIN);
    // The literal `*` name matches itself.
    auto literal = ask(zone, "*.wild", type::A);
    REQUIRE(literal.answer.size() == 1);
    CHECK(literal.answer[0] == a("*.wild", "4.4.4.4"));
    // The wildcard's parent is not matched by it.
    auto parent = ask(zone, "wild", type::A);
    CHECK(parent.rcode == rcode::NOERROR);
    CHECK(parent.answer.empty());
}

TEST_CASE("empty non-terminals block wildcards") {
    auto zone = sample_zone();
    CHECK(ask(zone, "z.w2", type::A).answer.size() == 1);
    CHECK(ask(zone, "a.b.w2", type::A).answer.size() == 1);
    // y.w2 exists (as the parent of x.y.w2): it is the closest encloser of q.y.w2, and it has no
    // `*` child, so *.w2 does not apply.
    auto blocked = ask(zone, "q.y.w2", type::A);
    CHECK(blocked.rcode == rcode::NXDOMAIN);
    CHECK(blocked.answer.empty());
    auto ent = ask(zone, "y.w2", type::A);
    CHECK(ent.rcode == rcode::NOERROR);
    CHECK(ent.answer.empty());
    CHECK(ask(zone, "x.y.w2", type::A).answer[0] == a("x.y.w2", "7.7.7.7"));
}

TEST_CASE("wildcard at the apex and wildcard as an empty non-terminal") {
    std::vector<dns::Record> zone{a("*", "1.2.3.4"), a("x.*.sub", "5.6.7.8"), a("sub", "9.9.9.9")};
    auto r = ask(zone, "whatever.deep", type::A);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0].name.identical(N("whatever.deep")));
    // *.sub exists only as an empty non-terminal: it matches, with no records (NODATA).
    auto ent = ask(zone, "q.sub", type::A);
    CHECK(ent.rcode == rcode::NOERROR);
    CHECK(ent.answer.empty());
}

TEST_CASE("wildcard CNAME is synthesized and followed") {
    auto r = ask(sample_zone(), "foo.cw", type::A);
    CHECK(r.rcode == rcode::NOERROR);
    REQUIRE(r.answer.size() == 2);
    CHECK(r.answer[0].name.identical(N("foo.cw")));
    CHECK(r.answer[0].type == type::CNAME);
    CHECK(r.answer[1] == a("www", "2.2.2.2"));
}

TEST_CASE("DNAME rewrites names below it and synthesizes a CNAME") {
    auto zone = sample_zone();
    auto r = ask(zone, "x.dn", type::A);
    CHECK(r.rcode == rcode::NOERROR);
    REQUIRE(r.answer.size() == 3);
    CHECK(r.answer[0] == dname("dn", "other"));
    CHECK(r.answer[1] == rr("x.dn", type::CNAME, wire("x.other"), 600));
    CHECK(r.answer[2] == a("x.other", "10.0.0.1"));

    // The DNAME owner itself is not rewritten.
    auto own = ask(zone, "dn", type::DNAME);
    REQUIRE(own.answer.size() == 1);
    CHECK(ask(zone, "dn", type::A).answer.empty());

    auto missing = ask(zone, "y.dn", type::A);
    CHECK(missing.rcode == rcode::NXDOMAIN);
    CHECK(missing.answer.size() == 2);

    auto ext = ask(zone, "a.b.dx", type::A);
    REQUIRE(ext.external_target);
    CHECK(*ext.external_target == N("a.b.example.net."));
    CHECK(ext.answer.size() == 2);
}

TEST_CASE("DNAME substitution that overflows 255 bytes is YXDOMAIN") {
    const std::string l60(60, 'x');
    std::vector<dns::Record> zone{dname("dl", l60 + "." + l60 + "." + l60 + ".example.")};
    const std::string l63(63, 'q');
    auto r = ask(zone, l63 + "." + std::string(20, 'r') + ".dl", type::A);
    CHECK(r.rcode == 6);
    REQUIRE(r.answer.size() == 1);
    CHECK(r.answer[0].type == type::DNAME);
    CHECK_FALSE(r.external_target);
}

TEST_CASE("an apex SOA goes to authority on NXDOMAIN and NODATA not on answers") {
    std::vector<dns::Record> zone{soa(), a("www", "1.2.3.4")};
    auto nx = ask(zone, "nope", type::A);
    CHECK(nx.rcode == rcode::NXDOMAIN);
    REQUIRE(nx.authority.size() == 1);
    CHECK(nx.authority[0].type == type::SOA);
    auto nodata = ask(zone, "www", type::TXT);
    REQUIRE(nodata.authority.size() == 1);
    CHECK(nodata.authority[0].type == type::SOA);
    CHECK(ask(zone, "www", type::A).authority.empty());
    CHECK(ask(zone, "@", type::SOA).answer.size() == 1);
}

TEST_CASE("empty zone: apex is NODATA everything below NXDOMAIN") {
    std::vector<dns::Record> zone;
    auto apex = ask(zone, "@", type::A);
    CHECK(apex.rcode == rcode::NOERROR);
    CHECK(apex.answer.empty());
    CHECK(ask(zone, "www", type::A).rcode == rcode::NXDOMAIN);
}
