#include <catch2/catch.hpp>

#include "pkarr/http_date.hpp"
#include "pkarr/relay_rules.hpp"

using namespace pkdns::pkarr;

TEST_CASE("HTTP dates format as IMF-fixdate", "[http_date]") {
    CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(format_http_date(784111776) == "Sun, 06 Nov 1994 08:49:36 GMT");
    CHECK(format_http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(format_http_date(4107542399) == "Sun, 28 Feb 2100 23:59:59 GMT");
    CHECK(format_http_date(4133980799) == "Fri, 31 Dec 2100 23:59:59 GMT");
    CHECK(format_http_date(max_http_date_seconds) == "Fri, 31 Dec 9999 23:59:59 GMT");
    CHECK(format_http_date(~0ull) == "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST_CASE("HTTP dates round-trip", "[http_date]") {
    for (std::uint64_t t = 0; t < max_http_date_seconds; t += 86399ull * 37 + 12345) {
        auto back = parse_http_date(format_http_date(t));
        REQUIRE(back.ok());
        REQUIRE(back.value() == t);
    }
}

TEST_CASE("HTTP dates: the three accepted forms and what is refused", "[http_date]") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").value() == 784111777);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").value() == 784111777);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994").value() == 784111777);
    CHECK(parse_http_date("Wednesday, 05-Jan-22 00:00:00 GMT").value() == 1641340800);

    for (std::string_view bad :
         {"", "garbage", "Mon, 06 Nov 1994 08:49:37 GMT",  // wrong weekday
          "Thu, 30 Feb 2023 00:00:00 GMT",                 // no such day
          "Wed, 31 Dec 1969 23:59:59 GMT",                 // before the epoch
          "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:60 GMT",
          "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT ",
          "Sun, 06 Nov 1994 08:49:3x GMT", "Sun,  6 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 UTC",
          "Sun Nov 06 08:49:37 1994x"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_http_date(bad).ok());
    }
}

TEST_CASE("relay rules at their edges", "[relay_rules]") {
    CHECK(if_modified_since_for(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(if_modified_since_for(1'999'999) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(if_modified_since_for(2'000'000) == "Thu, 01 Jan 1970 00:00:01 GMT");
    CHECK(dht_seq_lower_bound(0) == -1);
    CHECK(dht_seq_lower_bound(~0ull) == static_cast<std::int64_t>(max_timestamp) - 1);

    CHECK(not_modified(1'000'000, std::uint64_t{1}));
    CHECK_FALSE(not_modified(1'000'001, std::uint64_t{1}));
    CHECK(not_modified(~0ull, ~0ull));                             // no overflow
    CHECK_FALSE(not_modified(0, std::string_view("not a date")));  // ignored -> 200
    CHECK(last_modified_for(784111777999999) == "Sun, 06 Nov 1994 08:49:37 GMT");

    CHECK_FALSE(invalid_seq_covered_by_cache(-5, 100));
    CHECK(invalid_seq_covered_by_cache(0, 0));
    CHECK(parse_resolve_policy("NetworkOnly").value() == ResolvePolicy::network_only);
    CHECK_FALSE(parse_resolve_policy("CacheFirst ").ok());
}
