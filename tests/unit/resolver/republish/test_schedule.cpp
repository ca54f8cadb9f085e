// RepublishSchedule: pure timing with `now` passed in and a seeded RNG.

#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "resolver/republish/republisher.hpp"

using namespace pkdns::republish;

namespace {

constexpr std::uint64_t hour = 3'600'000;

ScheduleConfig hourly() {
    return ScheduleConfig{hour, 0.10, 30'000};
}

}  // namespace

TEST_CASE("schedule: due at the first due time, not while in flight") {
    RepublishSchedule s(hourly(), 1000);
    CHECK_FALSE(s.due(999));
    CHECK(s.due(1000));
    s.started();
    CHECK(s.in_flight());
    CHECK_FALSE(s.due(1'000'000));
}

TEST_CASE("schedule: the next due time after a success is within interval ±10 %") {
    RepublishRng rng(42);
    RepublishSchedule s(hourly(), 0);
    std::set<std::uint64_t> seen;
    std::uint64_t now = 0;
    for (int i = 0; i < 1000; ++i) {
        s.started();
        s.succeeded(now, rng);
        const std::uint64_t delay = s.next_due_ms() - now;
        REQUIRE(delay >= hour - hour / 10);
        REQUIRE(delay <= hour + hour / 10);
        seen.insert(delay);
        now = s.next_due_ms();
    }
    // Jitter actually spreads: many distinct delays, reaching both halves of the window.
    CHECK(seen.size() > 900);
    CHECK(*seen.begin() < hour - hour / 20);
    CHECK(*seen.rbegin() > hour + hour / 20);
}

TEST_CASE("schedule: the same seed gives the same jitter") {
    RepublishRng a(7), b(7), c(8);
    RepublishSchedule s(hourly(), 0);
    std::vector<std::uint64_t> va, vb, vc;
    for (int i = 0; i < 20; ++i) {
        va.push_back(s.jittered_interval(a));
        vb.push_back(s.jittered_interval(b));
        vc.push_back(s.jittered_interval(c));
    }
    CHECK(va == vb);
    CHECK(va != vc);
}

TEST_CASE("schedule: failures back off 30 s, 60 s, 120 s ... capped at the interval") {
    RepublishSchedule s(hourly(), 0);
    std::uint64_t now = 5000;
    const std::vector<std::uint64_t> expected = {30'000,  60'000,    120'000, 240'000, 480'000,
                                                 960'000, 1'920'000, hour,    hour,    hour};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        s.started();
        s.failed(now);
        CHECK(s.failures() == i + 1);
        CHECK(s.next_due_ms() - now == expected[i]);
        CHECK_FALSE(s.due(s.next_due_ms() - 1));
        CHECK(s.due(s.next_due_ms()));
        now = s.next_due_ms();
    }
    // Many failures later it stays capped (no overflow).
    for (int i = 0; i < 200; ++i) {
        s.started();
        s.failed(now);
    }
    CHECK(s.next_due_ms() - now == hour);
}

TEST_CASE("schedule: a success resets the backoff") {
    RepublishRng rng(1);
    RepublishSchedule s(hourly(), 0);
    s.started();
    s.failed(0);
    s.started();
    s.failed(30'000);
    CHECK(s.failures() == 2);
    s.started();
    s.succeeded(90'000, rng);
    CHECK(s.failures() == 0);
    CHECK(s.next_due_ms() >= 90'000 + hour - hour / 10);
    s.started();
    s.failed(s.next_due_ms());
    CHECK(s.failures() == 1);
    CHECK(s.backoff_ms(1) == 30'000);
}

TEST_CASE("schedule: backoff never exceeds a short interval") {
    RepublishSchedule s(ScheduleConfig{5000, 0.1, 30'000}, 0);
    CHECK(s.backoff_ms(1) == 5000);
    s.started();
    s.failed(100);
    CHECK(s.next_due_ms() == 5100);
}

TEST_CASE("schedule: a change makes it due at once") {
    RepublishRng rng(3);
    RepublishSchedule s(hourly(), 0);
    s.started();
    s.succeeded(0, rng);
    CHECK_FALSE(s.due(10));
    s.changed(10);
    CHECK(s.due(10));
    CHECK(s.next_due_ms() == 10);
}

TEST_CASE("schedule: a change during a publish makes it due right after, success or failure") {
    RepublishRng rng(3);
    for (bool success : {true, false}) {
        RepublishSchedule s(hourly(), 0);
        s.started();
        s.changed(50);
        CHECK_FALSE(s.due(50));  // still in flight
        if (success)
            s.succeeded(80, rng);
        else
            s.failed(80);
        CHECK(s.due(80));
        // Only once: the next success schedules normally again.
        s.started();
        s.succeeded(90, rng);
        CHECK_FALSE(s.due(100));
    }
}

TEST_CASE("schedule: postpone moves a regular republish one interval away, not a retry") {
    RepublishRng rng(5);
    RepublishSchedule s(hourly(), 0);
    s.postpone(1000, rng);
    CHECK(s.next_due_ms() >= 1000 + hour - hour / 10);
    RepublishSchedule f(hourly(), 0);
    f.started();
    f.failed(0);
    f.postpone(1000, rng);
    CHECK(f.next_due_ms() == 30'000);
}
