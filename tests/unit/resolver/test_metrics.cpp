// Prometheus text format writer and the latency histogram.

#include <catch2/catch.hpp>
#include <string>

#include "resolver/metrics.hpp"

using namespace pkdns::resolver;
using namespace pkdns::pipeline;
using namespace pkdns::server;
using namespace pkdns::republish;

TEST_CASE("metrics: HELP/TYPE once per family, samples grouped, labels escaped") {
    MetricsWriter w;
    w.counter("pkdns_queries_total", "Queries.", 3, {{"transport", "udp"}});
    w.gauge("pkdns_cache_size", "Cache size.\nsecond line \\ backslash", 12);
    w.counter("pkdns_queries_total", "Queries.", 4, {{"transport", "tcp"}, {"odd", "a\"b\\c\nd"}});
    CHECK(w.text() ==
          "# HELP pkdns_queries_total Queries.\n"
          "# TYPE pkdns_queries_total counter\n"
          "pkdns_queries_total{transport=\"udp\"} 3\n"
          "pkdns_queries_total{transport=\"tcp\",odd=\"a\\\"b\\\\c\\nd\"} 4\n"
          "# HELP pkdns_cache_size Cache size.\\nsecond line \\\\ backslash\n"
          "# TYPE pkdns_cache_size gauge\n"
          "pkdns_cache_size 12\n");
}

TEST_CASE("metrics: value formatting") {
    CHECK(format_metric_value(0) == "0");
    CHECK(format_metric_value(18446744073709.0) == "18446744073709");
    CHECK(format_metric_value(0.25) == "0.25");
    CHECK(format_metric_value(0.1) == "0.1");
    CHECK(format_metric_value(1.0 / 0.0) == "+Inf");
    CHECK(format_metric_value(-1.0 / 0.0) == "-Inf");
    CHECK(format_metric_value(0.0 / 0.0) == "NaN");
}

TEST_CASE("histogram: buckets are cumulative in the text, with +Inf, sum and count") {
    Histogram h({0.01, 0.1, 1});
    h.observe(0.005);
    h.observe(0.01);  // on the bound: counts in that bucket (le = "less or equal")
    h.observe(0.5);
    h.observe(7);
    h.observe(0.0 / 0.0);  // ignored
    CHECK(h.count() == 4);
    CHECK(h.counts() == std::vector<std::uint64_t>{2, 0, 1, 1});
    CHECK(h.sum() == Approx(7.515));

    MetricsWriter w;
    w.histogram("pkdns_dht_lookup_seconds", "DHT lookup latency.", h, {{"result", "found"}});
    CHECK(w.text() ==
          "# HELP pkdns_dht_lookup_seconds DHT lookup latency.\n"
          "# TYPE pkdns_dht_lookup_seconds histogram\n"
          "pkdns_dht_lookup_seconds_bucket{result=\"found\",le=\"0.01\"} 2\n"
          "pkdns_dht_lookup_seconds_bucket{result=\"found\",le=\"0.1\"} 2\n"
          "pkdns_dht_lookup_seconds_bucket{result=\"found\",le=\"1\"} 3\n"
          "pkdns_dht_lookup_seconds_bucket{result=\"found\",le=\"+Inf\"} 4\n"
          "pkdns_dht_lookup_seconds_sum{result=\"found\"} 7.515\n"
          "pkdns_dht_lookup_seconds_count{result=\"found\"} 4\n");

    Histogram d;
    CHECK(d.bounds().front() == 0.001);
    CHECK(d.bounds().back() == 10);
    CHECK(d.counts().size() == d.bounds().size() + 1);
}

#include "resolver/server/http_api.hpp"
#include "resolver/pipeline/frontend.hpp"

TEST_CASE("render_metrics: the pkdns collector labels answers, HTTP responses and latencies") {
    FrontendStats rs;
    rs.queries = 9;
    rs.wire_hits = 4;
    rs.answers[2][0][0] = 5;  // https, pkarr, NOERROR
    rs.answers[0][1][6] = 1;  // udp, icann, other rcode
    HttpStats hs;
    hs.responses[{HttpRoute::relay_put, 204}] = 2;
    hs.responses[{HttpRoute::doh, 200}] = 5;
    Histogram dht({0.1, 1});
    dht.observe(0.05);
    MetricsSnapshot m;
    m.frontend = &rs;
    m.http = &hs;
    m.dht_lookup_seconds = {{"found", &dht}};
    std::string text = render_metrics(m);
    auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
    CHECK(has("pkdns_dns_answers_total{transport=\"https\",route=\"pkarr\",rcode=\"NOERROR\"} 5"));
    CHECK(has("pkdns_dns_answers_total{transport=\"udp\",route=\"icann\",rcode=\"other\"} 1"));
    CHECK(has("pkdns_dns_queries_total 9"));
    CHECK(has("pkdns_dns_wire_cache_hits_total 4"));
    CHECK(has("pkdns_http_responses_total{route=\"relay_put\",status=\"204\"} 2"));
    CHECK(has("pkdns_http_responses_total{route=\"doh\",status=\"200\"} 5"));
    CHECK(has("pkdns_dht_lookup_seconds_bucket{result=\"found\",le=\"0.1\"} 1"));
    // Absent components are left out rather than shown as zeros.
    CHECK(text.find("pkdns_dht_messages_total") == std::string::npos);
    // Every family is declared exactly once.
    std::size_t pos = 0, types = 0;
    while ((pos = text.find("# TYPE pkdns_dns_answers_total ", pos)) != std::string::npos) {
        ++types;
        ++pos;
    }
    CHECK(types == 1);
}

#include "resolver/republish/republisher.hpp"

TEST_CASE("render_metrics: republisher outcomes") {
    RepublisherStats ps;
    ps.published = 3;
    ps.failed = 2;
    ps.zones = 1;
    ps.next_due = 1'700'000'000'500'000;
    MetricsSnapshot m;
    m.republisher = &ps;
    std::string text = render_metrics(m);
    auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
    CHECK(has("pkdns_republish_total{result=\"stored\"} 3"));
    CHECK(has("pkdns_republish_total{result=\"failed\"} 2"));
    CHECK(has("pkdns_republish_zones 1"));
    CHECK(has("pkdns_republish_next_due_seconds 1700000000.5"));
    CHECK(text.find("# TYPE pkdns_republish_total counter") != std::string::npos);
}
