// The forwarding core without sockets or clocks: fake replies as bytes, time as numbers.

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "resolver/upstream/attempts.hpp"

using namespace pkdns;
using namespace pkdns::dns;
using pkdns::upstream::Attempts;
using pkdns::upstream::AttemptsConfig;
using pkdns::upstream::Step;
namespace forward_error = pkdns::upstream::forward_error;

namespace {

const std::vector<SocketAddress> upstreams{
    SocketAddress{IpAddress::v4(127, 0, 0, 1), 5301},
    SocketAddress{IpAddress::v4(127, 0, 0, 2), 5302},
    SocketAddress{IpAddress::v4(127, 0, 0, 3), 5303},
};

AttemptsConfig config(std::size_t n = 2) {
    return AttemptsConfig{std::span(upstreams).first(n), 1000, 1232};
}

Question question(const char* n, std::uint16_t t = type::A) {
    return Question{Name::parse(n).value(), t, class_IN};
}

Packet answer_for(const Packet& query, std::uint8_t last_octet = 1, int count = 1) {
    Packet r;
    r.id = query.id;
    r.flags = flag::QR | flag::RD | flag::RA;
    r.questions = query.questions;
    for (int i = 0; i < count; ++i)
        r.answers.push_back(Record{query.questions.at(0).name, type::A, class_IN, 300,
                                   Bytes{192, 0, 2, static_cast<std::uint8_t>(last_octet + i)}});
    return r;
}

Bytes wire(const Packet& p) {
    return encode_packet(p);
}

Bytes frame(const Packet& p) {
    const Bytes w = encode_packet(p);
    Bytes f(2 + w.size());
    f[0] = static_cast<std::uint8_t>(w.size() >> 8);
    f[1] = static_cast<std::uint8_t>(w.size() & 0xff);
    std::copy(w.begin(), w.end(), f.begin() + 2);
    return f;
}

bool same_question(const Packet& a, const Packet& b) {
    return a.questions.size() == 1 && b.questions.size() == 1 && a.questions[0].name == b.questions[0].name &&
           a.questions[0].type == b.questions[0].type && a.questions[0].klass == b.questions[0].klass;
}

// Places the pending send_udp step; returns the query as the upstream would see it.
Packet place(Attempts& a, std::uint64_t socket, std::uint16_t id, std::uint64_t now) {
    auto q = parse_packet(a.udp_placed(socket, id, now));
    REQUIRE(q.ok());
    return q.value();
}

std::uint8_t first_octet(const Step& s) {
    REQUIRE(s.kind == Step::Kind::finished);
    REQUIRE(s.result);
    REQUIRE(s.result->ok());
    return s.result->value().answers.at(0).rdata.at(3);
}

}  // namespace

TEST_CASE("a correct answer finishes with the reply, the query has our ID, RD, EDNS 1232 and DO") {
    Attempts a(question("www.example.com"), true, config());
    Step s = a.start();
    REQUIRE(s.kind == Step::Kind::send_udp);
    CHECK(s.upstream == 0);
    CHECK_FALSE(a.deadline());  // no timeout before the query is out

    const Packet q = place(a, 7, 0x1234, 50);
    CHECK(q.id == 0x1234);
    CHECK((q.flags & flag::RD) != 0);
    CHECK((q.flags & flag::QR) == 0);
    REQUIRE(q.questions.size() == 1);
    CHECK(q.questions[0].name == Name::parse("www.example.com").value());
    REQUIRE(q.additional.size() == 1);
    CHECK(q.additional[0].type == type::OPT);
    CHECK(q.additional[0].klass == 1232);
    CHECK((q.additional[0].ttl & 0x8000) != 0);
    CHECK(a.deadline() == 1050u);

    s = a.on_udp(7, upstreams[0], wire(answer_for(q, 9)), 60);
    CHECK(first_octet(s) == 9);
    CHECK(a.finished());
    CHECK_FALSE(a.deadline());
}

TEST_CASE("without DO the OPT has no DO bit") {
    Attempts a(question("www.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    CHECK((place(a, 1, 1, 0).additional.at(0).ttl & 0x8000) == 0);
}

TEST_CASE("replies with the wrong ID, question, source or socket are ignored") {
    Attempts a(question("www.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    const Packet q = place(a, 7, 0x1234, 0);

    std::vector<std::pair<std::string, Bytes>> bad;
    auto wrong_id = answer_for(q, 66);
    wrong_id.id = 0x4321;
    bad.emplace_back("wrong id", wire(wrong_id));
    auto other_name = answer_for(q, 66);
    other_name.questions[0].name = Name::parse("evil.example.com").value();
    bad.emplace_back("other name", wire(other_name));
    auto other_type = answer_for(q, 66);
    other_type.questions[0].type = type::AAAA;
    bad.emplace_back("other type", wire(other_type));
    auto other_class = answer_for(q, 66);
    other_class.questions[0].klass = 3;  // CH
    bad.emplace_back("other class", wire(other_class));
    auto no_question = answer_for(q, 66);
    no_question.questions.clear();
    bad.emplace_back("no question", wire(no_question));
    auto two_questions = answer_for(q, 66);
    two_questions.questions.push_back(q.questions[0]);
    bad.emplace_back("two questions", wire(two_questions));
    auto not_a_response = answer_for(q, 66);
    not_a_response.flags &= static_cast<std::uint16_t>(~flag::QR);
    bad.emplace_back("QR=0", wire(not_a_response));
    auto notify = answer_for(q, 66);
    notify.flags |= static_cast<std::uint16_t>(4u << 11);  // opcode NOTIFY
    bad.emplace_back("opcode NOTIFY", wire(notify));
    bad.emplace_back("garbage", Bytes{1, 2, 3});
    Bytes header_only = wire(answer_for(q, 66));
    header_only.resize(11);
    bad.emplace_back("shorter than a header", header_only);

    const Bytes good = wire(answer_for(q, 66));
    for (const auto& [what, datagram] : bad) {
        INFO(what);
        CHECK(a.on_udp(7, upstreams[0], datagram, 10).kind == Step::Kind::wait);
    }
    SocketAddress other_port = upstreams[0];
    other_port.port = 5399;
    CHECK(a.on_udp(7, other_port, good, 10).kind == Step::Kind::wait);
    CHECK(a.on_udp(7, SocketAddress{IpAddress::v4(127, 0, 0, 9), 5301}, good, 10).kind == Step::Kind::wait);
    CHECK(a.on_udp(7, upstreams[1], good, 10).kind == Step::Kind::wait);  // another upstream
    CHECK(a.on_udp(8, upstreams[0], good, 10).kind == Step::Kind::wait);  // another socket
    CHECK_FALSE(a.finished());
    CHECK(a.deadline() == 1000u);  // ignoring does not move the timeout

    // The name in another case is the same question (RFC 4343).
    auto upper = answer_for(q, 1);
    upper.questions[0].name = Name::parse("WWW.EXAMPLE.com").value();
    CHECK(first_octet(a.on_udp(7, upstreams[0], wire(upper), 20)) == 1);
}

TEST_CASE("TC=1: the same upstream over TCP with the same query and ID") {
    Attempts a(question("big.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    const Packet q = place(a, 7, 0x0abc, 0);
    auto tc = answer_for(q, 1, 0);
    tc.flags |= flag::TC;

    Step s = a.on_udp(7, upstreams[0], wire(tc), 400);
    REQUIRE(s.kind == Step::Kind::send_tcp);
    CHECK(s.upstream == 0);
    CHECK(s.failed.empty());
    REQUIRE(s.frame.size() > 2);
    CHECK(get_u16(s.frame.data()) == s.frame.size() - 2);
    auto tcp_query = parse_packet(ByteView(s.frame).subspan(2));
    REQUIRE(tcp_query.ok());
    CHECK(tcp_query->id == 0x0abc);
    CHECK(same_question(tcp_query.value(), q));
    CHECK(a.deadline() == 1400u);  // a fresh timeout for TCP

    // Now only TCP counts: a UDP answer that would have matched is ignored.
    CHECK(a.on_udp(7, upstreams[0], wire(answer_for(q, 5)), 410).kind == Step::Kind::wait);

    // The frame arrives in pieces: the length split, then the message.
    const Bytes f = frame(answer_for(q, 1, 150));
    CHECK(a.on_tcp_data(ByteView(f).first(1)).kind == Step::Kind::wait);
    CHECK(a.on_tcp_data(ByteView(f).subspan(1, 100)).kind == Step::Kind::wait);
    s = a.on_tcp_data(ByteView(f).subspan(101));
    REQUIRE(s.kind == Step::Kind::finished);
    REQUIRE(s.result->ok());
    CHECK(s.result->value().answers.size() == 150);
}

TEST_CASE("TCP closed, a bad frame or a mismatched TCP reply: next upstream") {
    Attempts a(question("www.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    const Packet q = place(a, 7, 0x0101, 0);
    auto tc = answer_for(q, 1, 0);
    tc.flags |= flag::TC;
    REQUIRE(a.on_udp(7, upstreams[0], wire(tc), 0).kind == Step::Kind::send_tcp);

    Step s;
    std::string reason;
    SECTION("closed before the reply") {
        s = a.on_tcp_closed("tcp closed before the reply");
        reason = "tcp closed before the reply";
    }
    SECTION("a frame that does not parse") {
        s = a.on_tcp_data(Bytes{0, 3, 0xff, 0xff, 0xff});
        reason = "bad tcp reply";
    }
    SECTION("a reply for another question") {
        auto other = answer_for(q, 66);
        other.questions[0].name = Name::parse("evil.example.com").value();
        s = a.on_tcp_data(frame(other));
        reason = "tcp reply does not match the query";
    }
    REQUIRE(s.kind == Step::Kind::send_udp);
    CHECK(s.upstream == 1);
    CHECK(a.upstream() == 1);
    CHECK(s.failed.find(upstreams[0].to_string()) == 0);
    CHECK(s.failed.find(reason) != std::string::npos);
    CHECK_FALSE(a.deadline());
    // The old connection's late bytes or close change nothing.
    CHECK(a.on_tcp_data(frame(answer_for(q, 66))).kind == Step::Kind::wait);
    CHECK(a.on_tcp_closed("late").kind == Step::Kind::wait);

    const Packet q2 = place(a, 9, 0x0202, 10);
    CHECK(same_question(q2, q));
    CHECK(first_octet(a.on_udp(9, upstreams[1], wire(answer_for(q2, 4)), 20)) == 4);
}

TEST_CASE("a timeout moves to the next upstream, whose timeout starts when it is placed") {
    Attempts a(question("www.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    const Packet q = place(a, 7, 0x1111, 100);
    REQUIRE(a.deadline() == 1100u);
    CHECK(a.on_time(1099).kind == Step::Kind::wait);

    Step s = a.on_time(1100);
    REQUIRE(s.kind == Step::Kind::send_udp);
    CHECK(s.upstream == 1);
    CHECK(s.failed == upstreams[0].to_string() + ": udp timeout");
    CHECK_FALSE(a.deadline());
    CHECK(a.on_time(5000).kind == Step::Kind::wait);  // nothing runs while placing

    const Packet q2 = place(a, 8, 0x2222, 1300);
    CHECK(a.deadline() == 2300u);
    // The first upstream's late answer is ignored (other source, socket and ID).
    CHECK(a.on_udp(7, upstreams[0], wire(answer_for(q, 66)), 1400).kind == Step::Kind::wait);
    CHECK(first_octet(a.on_udp(8, upstreams[1], wire(answer_for(q2, 3)), 1500)) == 3);
}

TEST_CASE("a TCP timeout moves to the next upstream") {
    Attempts a(question("www.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    const Packet q = place(a, 7, 0x1111, 0);
    auto tc = answer_for(q, 1, 0);
    tc.flags |= flag::TC;
    REQUIRE(a.on_udp(7, upstreams[0], wire(tc), 500).kind == Step::Kind::send_tcp);
    CHECK(a.on_time(1499).kind == Step::Kind::wait);
    Step s = a.on_time(1500);
    REQUIRE(s.kind == Step::Kind::send_udp);
    CHECK(s.upstream == 1);
    CHECK(s.failed == upstreams[0].to_string() + ": tcp timeout");
}

TEST_CASE("all upstreams failed: one error with every upstream's reason, then nothing") {
    Attempts a(question("www.example.com"), false, config(3));
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    place(a, 1, 1, 0);
    REQUIRE(a.on_time(1000).upstream == 1);               // first: UDP timeout
    REQUIRE(a.udp_failed("send refused").upstream == 2);  // second: placing or sending failed
    const Packet q = place(a, 3, 3, 1000);
    auto tc = answer_for(q, 1, 0);
    tc.flags |= flag::TC;
    REQUIRE(a.on_udp(3, upstreams[2], wire(tc), 1000).kind == Step::Kind::send_tcp);
    Step s = a.on_tcp_closed("tcp connection refused");  // third: TCP refused

    REQUIRE(s.kind == Step::Kind::finished);
    REQUIRE(s.result);
    REQUIRE_FALSE(s.result->ok());
    const Error& e = s.result->error();
    CHECK(e.code == forward_error::all_failed);
    CHECK(e.message == "all upstreams failed: " + upstreams[0].to_string() + ": udp timeout; " +
                           upstreams[1].to_string() + ": send refused; " + upstreams[2].to_string() +
                           ": tcp connection refused");
    CHECK(s.failed == upstreams[2].to_string() + ": tcp connection refused");
    CHECK(a.finished());
    CHECK_FALSE(a.deadline());
}

TEST_CASE("exactly one result: after finishing every input is ignored") {
    Attempts a(question("www.example.com"), false, config());
    REQUIRE(a.start().kind == Step::Kind::send_udp);
    const Packet q = place(a, 7, 0x5555, 0);
    const Bytes good = wire(answer_for(q, 1));
    REQUIRE(a.on_udp(7, upstreams[0], good, 10).kind == Step::Kind::finished);

    CHECK(a.on_udp(7, upstreams[0], good, 20).kind == Step::Kind::wait);
    CHECK(a.on_time(100000).kind == Step::Kind::wait);
    CHECK(a.on_tcp_data(frame(answer_for(q, 1))).kind == Step::Kind::wait);
    CHECK(a.on_tcp_closed("closed").kind == Step::Kind::wait);
    CHECK(a.udp_failed("late").kind == Step::Kind::wait);
    CHECK(a.start().kind == Step::Kind::wait);
    CHECK(a.udp_placed(8, 1, 30).empty());
    CHECK(a.finished());
}

TEST_CASE("no upstream configured: finished at once with all_failed") {
    Attempts a(question("www.example.com"), false, config(0));
    Step s = a.start();
    REQUIRE(s.kind == Step::Kind::finished);
    REQUIRE_FALSE(s.result->ok());
    CHECK(s.result->error().code == forward_error::all_failed);
    CHECK(a.start().kind == Step::Kind::wait);
}
