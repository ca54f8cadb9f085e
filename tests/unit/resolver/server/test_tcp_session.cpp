// TcpSession with byte strings and a manual clock (now_ms passed in): no sockets.

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "resolver/server/tcp_session.hpp"

using namespace pkdns;
using namespace pkdns::server;

namespace {

Bytes message(const std::string& text) {
    return Bytes(text.begin(), text.end());
}

Bytes framed(const std::string& text) {
    Bytes out(2 + text.size());
    out[0] = static_cast<std::uint8_t>(text.size() >> 8);
    out[1] = static_cast<std::uint8_t>(text.size());
    std::copy(text.begin(), text.end(), out.begin() + 2);
    return out;
}

Bytes cat(std::vector<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::optional<std::string> next(TcpSession& s, std::uint64_t now) {
    auto frame = s.next_frame(now);
    if (!frame) return std::nullopt;
    return std::string(frame->begin(), frame->end());
}

// Hands every frame the session lets go, each owing a reply (the pipeline said "later").
std::vector<std::string> hand_all(TcpSession& s, std::uint64_t now) {
    std::vector<std::string> out;
    while (auto f = next(s, now)) {
        out.push_back(*f);
        s.reply_owed();
    }
    return out;
}

TcpSessionLimits limits(std::size_t max_pending = 4, std::size_t max_query = 64) {
    TcpSessionLimits l;
    l.max_pending = max_pending;
    l.max_query_bytes = max_query;
    l.max_write_queue_bytes = 1000;
    l.idle_timeout_ms = 100;
    return l;
}

}  // namespace

TEST_CASE("TcpSession: a frame split across reads is reassembled") {
    TcpSession s(limits(), 0);
    const Bytes frame = framed("hello dns");
    s.receive(ByteView(frame).subspan(0, 1), 1);  // half the length
    CHECK_FALSE(s.next_frame(1));
    s.receive(ByteView(frame).subspan(1, 4), 2);  // the rest of it and part of the message
    CHECK_FALSE(s.next_frame(2));
    s.receive(ByteView(frame).subspan(5), 3);
    CHECK(next(s, 3) == "hello dns");
    CHECK_FALSE(s.next_frame(3));
    CHECK(s.buffered() == 0);
    CHECK_FALSE(s.closed());
}

TEST_CASE("TcpSession: several frames in one read come out in order, a partial one stays") {
    TcpSession s(limits(), 0);
    const Bytes third = framed("three");
    s.receive(cat({framed("one"), framed("two"), Bytes(third.begin(), third.begin() + 4)}), 0);
    CHECK(hand_all(s, 0) == std::vector<std::string>{"one", "two"});
    CHECK(s.pending() == 2);
    CHECK(s.buffered() == 4);
    s.receive(ByteView(third).subspan(4), 1);
    CHECK(hand_all(s, 1) == std::vector<std::string>{"three"});
}

TEST_CASE("TcpSession: frames beyond the pending cap wait until a reply frees a slot") {
    TcpSession s(limits(2), 0);
    s.receive(cat({framed("a"), framed("b"), framed("c"), framed("d")}), 0);
    CHECK(hand_all(s, 0) == std::vector<std::string>{"a", "b"});
    CHECK(s.pending() == 2);
    CHECK_FALSE(s.next_frame(0));  // still held back

    const Bytes out = s.reply(message("reply-a"), 5);
    CHECK(out == framed("reply-a"));
    CHECK(s.pending() == 1);
    CHECK(hand_all(s, 5) == std::vector<std::string>{"c"});
    CHECK_FALSE(s.next_frame(5));

    // An answer given at once holds no slot: the next frame follows.
    (void)s.reply(message("reply-b"), 6);
    CHECK(next(s, 6) == "d");
    CHECK(s.answer(message("answer-d")) == framed("answer-d"));
    CHECK(s.pending() == 1);
    CHECK_FALSE(s.next_frame(6));
    CHECK(s.buffered() == 0);
}

TEST_CASE("TcpSession: zero-length and oversized frames close the session") {
    SECTION("zero length") {
        TcpSession s(limits(), 0);
        s.receive(cat({framed("ok"), Bytes{0x00, 0x00}, framed("never")}), 0);
        CHECK(next(s, 0) == "ok");
        CHECK_FALSE(s.next_frame(0));
        CHECK(s.close_reason() == TcpClose::bad_frame);
        CHECK_FALSE(s.next_frame(0));  // nothing after a close
    }
    SECTION("one byte over max_query_bytes, known from the length alone") {
        TcpSession s(limits(4, 64), 0);
        s.receive(Bytes{0x00, 65}, 0);
        CHECK_FALSE(s.next_frame(0));
        CHECK(s.close_reason() == TcpClose::bad_frame);
    }
    SECTION("exactly max_query_bytes is a frame") {
        TcpSession s(limits(4, 64), 0);
        const std::string longest(64, 'x');
        s.receive(framed(longest), 0);
        CHECK(next(s, 0) == longest);
        CHECK_FALSE(s.closed());
    }
}

TEST_CASE("TcpSession: the pipeline dropping a message closes the session") {
    TcpSession s(limits(), 0);
    s.receive(cat({framed("response"), framed("next")}), 0);
    CHECK(next(s, 0) == "response");
    s.dropped();
    CHECK(s.close_reason() == TcpClose::dropped);
    CHECK_FALSE(s.next_frame(0));
    CHECK(s.answer(message("late")).empty());
}

TEST_CASE("TcpSession: the input buffer holds the held-back frames plus one") {
    // max_pending 1, max_query 20: room for (1 + 1) frames of 22 bytes.
    TcpSession s(limits(1, 20), 0);
    const std::string q(20, 'q');
    s.receive(framed(q), 0);
    CHECK(hand_all(s, 0).size() == 1);
    // The handed frame no longer counts: two more full frames fit, one byte more does not.
    s.receive(cat({framed(q), framed(q)}), 1);
    CHECK_FALSE(s.closed());
    CHECK(s.buffered() == 44);
    s.receive(Bytes{0x00}, 2);
    CHECK(s.close_reason() == TcpClose::input_full);
    s.receive(framed("x"), 3);  // ignored once closed
    CHECK(s.buffered() == 44);
}

TEST_CASE("TcpSession: idle expiry counts from the last activity and never runs with a query in flight") {
    TcpSession s(limits(), 1000);
    CHECK(s.expires_at() == 1100u);
    CHECK_FALSE(s.idle(1099));
    CHECK(s.idle(1100));
    CHECK(s.expiry(1100) == TcpClose::idle);

    s.receive(framed("q"), 1050);
    CHECK(s.expires_at() == 1150u);
    CHECK_FALSE(s.idle(1100));
    CHECK(s.expiry(1100) == TcpClose::none);

    CHECK(hand_all(s, 1060).size() == 1);
    CHECK_FALSE(s.expires_at());
    CHECK_FALSE(s.idle(100000));
    CHECK_FALSE(s.evictable());

    (void)s.reply(message("r"), 1200);  // a reply written counts as activity
    CHECK(s.expires_at() == 1300u);
    CHECK_FALSE(s.idle(1299));
    CHECK(s.idle(1300));

    s.close(TcpClose::evicted);
    CHECK_FALSE(s.expires_at());
    CHECK_FALSE(s.idle(5000));
}

TEST_CASE("TcpSession: a partial frame trickling in stalls") {
    TcpSession s(limits(), 0);
    const Bytes frame = framed(std::string(30, 'z'));
    s.receive(ByteView(frame).subspan(0, 3), 0);
    CHECK_FALSE(s.next_frame(0));  // the stall clock starts at the end of this turn
    // Another byte keeps it from being idle, not from stalling.
    s.receive(ByteView(frame).subspan(3, 1), 60);
    CHECK_FALSE(s.next_frame(60));
    CHECK_FALSE(s.idle(100));
    CHECK_FALSE(s.stalled(99));
    CHECK(s.stalled(100));
    CHECK(s.expiry(100) == TcpClose::stalled);
    CHECK(s.expires_at() == 100u);

    // Completing the frame ends the stall.
    s.receive(ByteView(frame).subspan(4), 101);
    CHECK(hand_all(s, 101).size() == 1);
    (void)s.reply(message("r"), 102);
    CHECK_FALSE(s.next_frame(102));
    CHECK_FALSE(s.stalled(150));
    CHECK(s.expires_at() == 202u);
}

TEST_CASE("TcpSession: frames held back by the pending cap are not a stall") {
    TcpSession s(limits(1), 0);
    const Bytes partial = framed("partial");
    s.receive(cat({framed("a"), framed("b"), Bytes(partial.begin(), partial.begin() + 3)}), 0);
    CHECK(hand_all(s, 0) == std::vector<std::string>{"a"});
    CHECK_FALSE(s.stalled(10000));  // our delay, not the client's

    // The reply at 300 lets "b" go; the stall clock of the partial frame starts only now.
    (void)s.reply(message("ra"), 300);
    CHECK(next(s, 300) == "b");
    CHECK(s.answer(message("rb")) == framed("rb"));
    CHECK_FALSE(s.next_frame(300));
    CHECK_FALSE(s.stalled(350));
    CHECK(s.expiry(350) == TcpClose::none);
    CHECK(s.stalled(400));
}

TEST_CASE("TcpSession: after the client's FIN the session ends once every reply is out") {
    SECTION("nothing owed: at once") {
        TcpSession s(limits(), 0);
        CHECK_FALSE(s.should_shut_down());
        s.receive_fin();
        CHECK(s.should_shut_down());
    }
    SECTION("a reply owed: after it is out") {
        TcpSession s(limits(), 0);
        s.receive(framed("q"), 0);
        CHECK(hand_all(s, 0).size() == 1);
        s.receive_fin();
        CHECK_FALSE(s.should_shut_down());
        CHECK(s.reply(message("r"), 1) == framed("r"));
        CHECK(s.should_shut_down());
    }
    SECTION("not while a complete frame waits") {
        TcpSession s(limits(1), 0);
        s.receive(cat({framed("a"), framed("b")}), 0);
        CHECK(hand_all(s, 0) == std::vector<std::string>{"a"});
        s.receive_fin();
        CHECK_FALSE(s.should_shut_down());
        (void)s.reply(message("ra"), 1);
        CHECK(s.pending() == 0);
        CHECK_FALSE(s.should_shut_down());  // "b" is still to be answered
        CHECK(hand_all(s, 1) == std::vector<std::string>{"b"});
        CHECK_FALSE(s.should_shut_down());
        (void)s.reply(message("rb"), 2);
        CHECK_FALSE(s.next_frame(2));
        CHECK(s.should_shut_down());
    }
    SECTION("a partial frame left at the FIN is never finished") {
        TcpSession s(limits(), 0);
        s.receive(Bytes{0x00, 0x05, 'a'}, 0);
        CHECK_FALSE(s.next_frame(0));
        s.receive_fin();
        CHECK(s.should_shut_down());
    }
    SECTION("a closed session is not shut down") {
        TcpSession s(limits(), 0);
        s.receive_fin();
        s.close(TcpClose::finished);
        CHECK_FALSE(s.should_shut_down());
        CHECK(s.close_reason() == TcpClose::finished);
    }
}

TEST_CASE("TcpSession: the write queue over its cap, or a refused write, closes the session") {
    TcpSession s(limits(), 0);
    s.receive(cat({framed("a"), framed("b")}), 0);
    CHECK(hand_all(s, 0).size() == 2);
    s.written(1000);  // at the cap is fine
    CHECK_FALSE(s.closed());
    s.written(1001);
    CHECK(s.close_reason() == TcpClose::write_full);
    s.write_failed();  // the first reason stays
    CHECK(s.close_reason() == TcpClose::write_full);
    // Replies owed after the close free their slots and write nothing.
    CHECK(s.reply(message("r"), 1).empty());
    CHECK(s.pending() == 1);

    TcpSession refused(limits(), 0);
    refused.write_failed();
    CHECK(refused.close_reason() == TcpClose::write_failed);
}

TEST_CASE("TcpSession: replies are framed, empty and unsendable ones only free their slot") {
    TcpSession s(limits(), 0);
    s.receive(cat({framed("a"), framed("b"), framed("c")}), 0);
    CHECK(hand_all(s, 0).size() == 3);
    const Bytes largest(65535, 0x42);
    const Bytes out = s.reply(largest, 50);
    REQUIRE(out.size() == 65537);
    CHECK(get_u16(out.data()) == 65535);
    CHECK(std::equal(largest.begin(), largest.end(), out.begin() + 2));
    CHECK(s.pending() == 2);
    CHECK_FALSE(s.expires_at());
    CHECK(s.reply(Bytes(65536, 0x41), 60).empty());
    CHECK(s.pending() == 1);
    CHECK(s.reply(Bytes{}, 70).empty());
    CHECK(s.pending() == 0);
    CHECK(s.expires_at() == 160u);  // the empty reply was no activity
    CHECK_FALSE(s.closed());
}

TEST_CASE("TcpSession: the connection cap evicts the session idle the longest") {
    std::vector<TcpSession> sessions;
    sessions.emplace_back(limits(), 30);
    sessions.emplace_back(limits(), 10);  // oldest, but a query in flight
    sessions.emplace_back(limits(), 20);
    sessions.emplace_back(limits(), 20);
    sessions.emplace_back(limits(), 5);  // oldest, but closed
    sessions[1].receive(framed("q"), 10);
    CHECK(hand_all(sessions[1], 10).size() == 1);
    sessions[4].close(TcpClose::idle);

    const auto self = [](const TcpSession& s) -> const TcpSession& { return s; };
    auto victim = oldest_idle(sessions.begin(), sessions.end(), self);
    CHECK(victim - sessions.begin() == 2);  // the first of the two at 20

    sessions[2].close(TcpClose::evicted);
    sessions[3].receive(framed("q"), 40);
    CHECK(hand_all(sessions[3], 40).size() == 1);
    sessions[0].receive(framed("q"), 40);
    CHECK(hand_all(sessions[0], 40).size() == 1);
    CHECK(oldest_idle(sessions.begin(), sessions.end(), self) == sessions.end());
}
