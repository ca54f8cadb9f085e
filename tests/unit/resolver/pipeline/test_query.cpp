// parse_request / finalize / error_reply / RFC 8482: pure, no sockets.

#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "common/dns/record.hpp"
#include "resolver/pipeline/query.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;

namespace {

dns::Record opt_record(std::uint16_t size, std::uint8_t version = 0, bool do_bit = false) {
    dns::Record opt;
    opt.type = dns::type::OPT;
    opt.klass = size;
    opt.ttl = std::uint32_t{version} << 16 | (do_bit ? 0x8000u : 0u);
    return opt;
}

dns::Packet query_packet(const std::string& name, std::uint16_t type, std::uint16_t id = 0x1234,
                         std::uint16_t flags = dns::flag::RD) {
    dns::Packet p;
    p.id = id;
    p.flags = flags;
    p.questions.push_back(dns::Question{dns::Name::parse(name).value(), type, dns::class_IN});
    return p;
}

Bytes query_wire(const std::string& name, std::uint16_t type, std::uint16_t id = 0x1234,
                 std::uint16_t flags = dns::flag::RD) {
    return dns::encode_packet(query_packet(name, type, id, flags));
}

Request must_parse(ByteView wire) {
    auto parsed = parse_request(wire);
    REQUIRE(std::holds_alternative<Request>(parsed));
    return std::get<Request>(parsed);
}

Rejection must_reject(ByteView wire) {
    auto parsed = parse_request(wire);
    REQUIRE(std::holds_alternative<Rejection>(parsed));
    return std::get<Rejection>(parsed);
}

dns::Packet must_decode(ByteView wire) {
    auto p = dns::parse_packet(wire);
    REQUIRE(p.ok());
    return p.value();
}

const dns::Record* find_opt(const dns::Packet& p) {
    for (const auto& r : p.additional) {
        if (r.type == dns::type::OPT) return &r;
    }
    return nullptr;
}

dns::Record txt_record(const std::string& name, std::size_t len, char fill) {
    dns::Record r;
    r.name = dns::Name::parse(name).value();
    r.type = dns::type::TXT;
    r.ttl = 300;
    r.rdata.push_back(static_cast<std::uint8_t>(len));
    r.rdata.insert(r.rdata.end(), len, static_cast<std::uint8_t>(fill));
    return r;
}

dns::Record a_record(const std::string& name, std::uint8_t last) {
    dns::Record r;
    r.name = dns::Name::parse(name).value();
    r.type = dns::type::A;
    r.ttl = 60;
    r.rdata = {192, 0, 2, last};
    return r;
}

}  // namespace

TEST_CASE("a plain query parses with its question and no EDNS") {
    auto wire = query_wire("Example.COM", dns::type::A, 0xBEEF);
    auto req = must_parse(wire);
    CHECK(req.id == 0xBEEF);
    CHECK(req.recursion_desired());
    CHECK(req.question.type == dns::type::A);
    CHECK(req.question.name.identical(dns::Name::parse("Example.COM").value()));
    CHECK_FALSE(req.edns.present);
    CHECK(req.max_udp_size() == 512);
}

TEST_CASE("responses and runts are dropped without a reply") {
    auto response = query_wire("example.com", dns::type::A, 1, dns::flag::QR | dns::flag::RD);
    auto r1 = must_reject(response);
    CHECK(r1.reply.empty());

    Bytes runt = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00};
    auto r2 = must_reject(runt);
    CHECK(r2.reply.empty());
    CHECK(must_reject(Bytes{}).reply.empty());
}

TEST_CASE("an unparsable message with a full header gets FORMERR built from the header") {
    // Header claims one question, but the body is garbage.
    Bytes wire = {0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 'x', 'y'};
    auto rej = must_reject(wire);
    REQUIRE(rej.reply.size() == 12);
    auto reply = must_decode(rej.reply);
    CHECK(reply.id == 0xABCD);
    CHECK((reply.flags & dns::flag::QR) != 0);
    CHECK((reply.flags & dns::flag::RD) != 0);
    CHECK(reply.rcode() == dns::rcode::FORMERR);
    CHECK(reply.questions.empty());
}

TEST_CASE("FORMERR unless exactly one question") {
    auto none = query_packet("example.com", dns::type::A, 7);
    none.questions.clear();
    auto rej0 = must_reject(dns::encode_packet(none));
    CHECK(must_decode(rej0.reply).rcode() == dns::rcode::FORMERR);
    CHECK(must_decode(rej0.reply).id == 7);

    auto two = query_packet("example.com", dns::type::A, 8);
    two.questions.push_back(two.questions.front());
    auto rej2 = must_reject(dns::encode_packet(two));
    CHECK(must_decode(rej2.reply).rcode() == dns::rcode::FORMERR);
    CHECK(must_decode(rej2.reply).id == 8);
}

TEST_CASE("opcodes other than QUERY get NOTIMP with the id and opcode echoed") {
    const std::uint16_t status_opcode = 2 << 11;
    auto rej = must_reject(query_wire("example.com", dns::type::A, 0x4242, status_opcode));
    auto reply = must_decode(rej.reply);
    CHECK(reply.id == 0x4242);
    CHECK(reply.rcode() == dns::rcode::NOTIMP);
    CHECK(reply.opcode() == 2);
    CHECK((reply.flags & dns::flag::QR) != 0);
}

TEST_CASE("zone transfer questions get NOTIMP and OPT as question type FORMERR") {
    auto axfr = must_reject(query_wire("example.com", 252, 9));
    CHECK(must_decode(axfr.reply).rcode() == dns::rcode::NOTIMP);
    CHECK(must_decode(axfr.reply).questions.size() == 1);
    auto opt = must_reject(query_wire("example.com", dns::type::OPT, 10));
    CHECK(must_decode(opt.reply).rcode() == dns::rcode::FORMERR);
}

TEST_CASE("EDNS: payload size clamped to 512..4096 and the DO bit read") {
    auto p = query_packet("example.com", dns::type::A);
    p.additional.push_back(opt_record(65000, 0, true));
    auto big = must_parse(dns::encode_packet(p));
    CHECK(big.edns.present);
    CHECK(big.edns.udp_size == 4096);
    CHECK(big.edns.do_bit);
    CHECK(big.max_udp_size() == 4096);

    p.additional = {opt_record(100)};
    auto small = must_parse(dns::encode_packet(p));
    CHECK(small.edns.present);
    CHECK(small.edns.udp_size == 512);
    CHECK_FALSE(small.edns.do_bit);

    p.additional = {opt_record(1400)};
    CHECK(must_parse(dns::encode_packet(p)).edns.udp_size == 1400);
}

TEST_CASE("two OPT records are FORMERR") {
    auto p = query_packet("example.com", dns::type::A, 0x0102);
    p.additional = {opt_record(1232), opt_record(4096)};
    auto rej = must_reject(dns::encode_packet(p));
    auto reply = must_decode(rej.reply);
    CHECK(reply.id == 0x0102);
    CHECK(reply.rcode() == dns::rcode::FORMERR);
}

TEST_CASE("an OPT with a non-root owner or outside the additional section is FORMERR") {
    auto p = query_packet("example.com", dns::type::A);
    auto opt = opt_record(1232);
    opt.name = dns::Name::parse("example.com").value();
    p.additional = {opt};
    CHECK(must_decode(must_reject(dns::encode_packet(p)).reply).rcode() == dns::rcode::FORMERR);

    p.additional.clear();
    p.answers = {opt_record(1232)};
    CHECK(must_decode(must_reject(dns::encode_packet(p)).reply).rcode() == dns::rcode::FORMERR);
}

TEST_CASE("EDNS version 1 gets BADVERS in the extended rcode with our OPT") {
    auto p = query_packet("example.com", dns::type::A, 0x7777);
    p.additional = {opt_record(1232, 1)};
    auto rej = must_reject(dns::encode_packet(p));
    auto reply = must_decode(rej.reply);
    CHECK(reply.id == 0x7777);
    CHECK(reply.rcode() == 0);  // BADVERS = 16: low 4 bits 0
    const auto* opt = find_opt(reply);
    REQUIRE(opt != nullptr);
    CHECK((opt->ttl >> 24) == 1);
    CHECK(((opt->ttl >> 16) & 0xff) == 0);  // we speak version 0
    REQUIRE(reply.questions.size() == 1);
}

TEST_CASE("finalize restores the id and echoes RD and CD and sets RA and keeps AA and the question case") {
    auto req = must_parse(query_wire("WwW.ExAmple.CoM", dns::type::A, 0x5151, dns::flag::RD | dns::flag::CD));
    dns::Packet answer = query_packet("www.example.com", dns::type::A, 0x9999, dns::flag::AA | dns::flag::AD);
    answer.answers.push_back(a_record("www.example.com", 1));

    auto reply = must_decode(finalize(req, answer, Transport::udp));
    CHECK(reply.id == 0x5151);
    CHECK((reply.flags & dns::flag::QR) != 0);
    CHECK((reply.flags & dns::flag::RD) != 0);
    CHECK((reply.flags & dns::flag::RA) != 0);
    CHECK((reply.flags & dns::flag::AA) != 0);
    CHECK((reply.flags & dns::flag::CD) != 0);
    CHECK((reply.flags & dns::flag::AD) == 0);
    CHECK((reply.flags & dns::flag::TC) == 0);
    REQUIRE(reply.questions.size() == 1);
    CHECK(reply.questions[0].name.to_string() == "WwW.ExAmple.CoM");
    CHECK(reply.answers.size() == 1);
    CHECK(find_opt(reply) == nullptr);  // the client sent none

    auto no_rd = must_parse(query_wire("example.com", dns::type::A, 1, 0));
    dns::Packet plain;
    auto reply2 = must_decode(finalize(no_rd, plain, Transport::udp));
    CHECK((reply2.flags & dns::flag::RD) == 0);
    CHECK((reply2.flags & dns::flag::AA) == 0);
    CHECK((reply2.flags & dns::flag::RA) != 0);
}

TEST_CASE("finalize replaces an upstream OPT by ours and echoes DO") {
    auto p = query_packet("example.com", dns::type::A);
    p.additional = {opt_record(4096, 0, true)};
    auto req = must_parse(dns::encode_packet(p));
    dns::Packet answer;
    answer.answers.push_back(a_record("example.com", 2));
    answer.additional.push_back(opt_record(512));  // the upstream's, must not reach the client
    auto reply = must_decode(finalize(req, answer, Transport::udp));
    int opts = 0;
    for (const auto& r : reply.additional) opts += r.type == dns::type::OPT ? 1 : 0;
    CHECK(opts == 1);
    const auto* opt = find_opt(reply);
    REQUIRE(opt != nullptr);
    CHECK(opt->klass == our_udp_payload);
    CHECK((opt->ttl & 0x8000u) != 0);
    CHECK((opt->ttl >> 24) == 0);
}

TEST_CASE("UDP truncation keeps the question and the OPT and sets TC") {
    dns::Packet answer;
    for (int i = 0; i < 40; ++i)
        answer.answers.push_back(txt_record("big.example.com", 100, static_cast<char>('a' + i % 26)));

    SECTION("no EDNS: 512 bytes") {
        auto req = must_parse(query_wire("Big.Example.com", dns::type::TXT, 0x0A0A));
        auto wire = finalize(req, answer, Transport::udp);
        CHECK(wire.size() <= 512);
        auto reply = must_decode(wire);
        CHECK(reply.id == 0x0A0A);
        CHECK((reply.flags & dns::flag::TC) != 0);
        REQUIRE(reply.questions.size() == 1);
        CHECK(reply.questions[0].name.to_string() == "Big.Example.com");
        CHECK(reply.answers.size() < 40);
        CHECK(reply.answers.size() >= 3);  // as many as fit, not none
    }
    SECTION("EDNS 1232 client") {
        auto p = query_packet("big.example.com", dns::type::TXT);
        p.additional = {opt_record(1232, 0, true)};
        auto req = must_parse(dns::encode_packet(p));
        auto wire = finalize(req, answer, Transport::udp);
        CHECK(wire.size() <= 1232);
        CHECK(wire.size() > 512);
        auto reply = must_decode(wire);
        CHECK((reply.flags & dns::flag::TC) != 0);
        CHECK(reply.questions.size() == 1);
        const auto* opt = find_opt(reply);
        REQUIRE(opt != nullptr);
        CHECK((opt->ttl & 0x8000u) != 0);
    }
    SECTION("TCP keeps everything") {
        auto req = must_parse(query_wire("big.example.com", dns::type::TXT));
        auto reply = must_decode(finalize(req, answer, Transport::tcp));
        CHECK((reply.flags & dns::flag::TC) == 0);
        CHECK(reply.answers.size() == 40);
    }
}

TEST_CASE("dropping only additional records does not set TC") {
    auto req = must_parse(query_wire("example.com", dns::type::MX));
    dns::Packet answer;
    answer.answers.push_back(a_record("example.com", 1));
    for (int i = 0; i < 10; ++i) answer.additional.push_back(txt_record("extra.example.com", 100, 'z'));
    auto wire = finalize(req, answer, Transport::udp);
    CHECK(wire.size() <= 512);
    auto reply = must_decode(wire);
    CHECK((reply.flags & dns::flag::TC) == 0);
    CHECK(reply.answers.size() == 1);
    CHECK(reply.additional.size() < 10);
}

TEST_CASE("error_reply carries the rcode and the id and question") {
    auto req = must_parse(query_wire("example.org", dns::type::AAAA, 0x3131));
    auto reply = must_decode(error_reply(req, dns::rcode::REFUSED));
    CHECK(reply.id == 0x3131);
    CHECK(reply.rcode() == dns::rcode::REFUSED);
    REQUIRE(reply.questions.size() == 1);
    CHECK(reply.questions[0].type == dns::type::AAAA);
    CHECK(reply.answers.empty());
}

TEST_CASE("ANY gets the RFC 8482 HINFO answer") {
    auto req = must_parse(query_wire("Any.Example", dns::type::ANY, 0x2020));
    CHECK(is_any_query(req));
    CHECK_FALSE(is_any_query(must_parse(query_wire("example", dns::type::A))));
    auto reply = must_decode(finalize(req, rfc8482_answer(req), Transport::udp));
    CHECK(reply.id == 0x2020);
    CHECK(reply.rcode() == dns::rcode::NOERROR);
    REQUIRE(reply.answers.size() == 1);
    const auto& hinfo = reply.answers[0];
    CHECK(hinfo.type == 13);
    CHECK(hinfo.name.to_string() == "Any.Example");
    const Bytes expected = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
    CHECK(hinfo.rdata == expected);
}
