#pragma once
// Prometheus text exposition format (version 0.0.4) and a fixed-bucket latency histogram.
// Pure: values come in, text goes out.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pkdns::resolver {

// Fixed upper bounds (seconds); observe() counts a value in the first bucket whose bound is >= it.
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds = default_bounds());
    void observe(double seconds);

    const std::vector<double>& bounds() const { return bounds_; }
    // Per bucket (not cumulative), plus one final overflow bucket (+Inf).
    const std::vector<std::uint64_t>& counts() const { return counts_; }
    std::uint64_t count() const { return count_; }
    double sum() const { return sum_; }

    // 1 ms .. 10 s, roughly x2.5 steps.
    static std::vector<double> default_bounds();

private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Collects samples grouped by family: "# HELP" and "# TYPE" once per family, its samples
// together, families in first-use order. Names must be valid Prometheus names (not checked:
// they are ours); label values and help text are escaped.
class MetricsWriter {
public:
    void counter(std::string_view name, std::string_view help, double value, const MetricLabels& labels = {});
    void gauge(std::string_view name, std::string_view help, double value, const MetricLabels& labels = {});
    void histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                   const MetricLabels& labels = {});
    std::string text() const;

private:
    struct Family {
        std::string name, help, type, samples;
    };
    Family& family(std::string_view name, std::string_view help, std::string_view type);
    std::vector<Family> families_;
};

// Label values: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);
// HELP text: backslash and newline escaped.
std::string escape_help(std::string_view text);
// Sample values: integers without a fraction, "+Inf", "-Inf", "NaN", otherwise shortest %g.
std::string format_metric_value(double value);

}  // namespace pkdns::resolver

// ---- The pkdns collector: what /metrics shows, from the components' counters (all optional).

namespace pkdns::dht {
struct NodeStats;
}
namespace pkdns::pipeline {
struct FrontendStats;
struct ResolverStats;
struct PacketStoreStats;
}  // namespace pkdns::pipeline
namespace pkdns::server {
struct ListenerStats;
struct HttpStats;
struct HttpServerStats;
}  // namespace pkdns::server
namespace pkdns::republish {
struct RepublisherStats;
}

namespace pkdns::resolver {

struct MetricsSnapshot {
    const pipeline::FrontendStats* frontend = nullptr;
    const pipeline::ResolverStats* resolver = nullptr;
    const pipeline::PacketStoreStats* packets = nullptr;
    std::size_t packets_front_size = 0, packets_in_flight = 0;
    std::size_t answer_cache_entries = 0, answer_cache_bytes = 0;  // shown with `resolver`
    const server::ListenerStats* listener = nullptr;
    std::size_t dns_tcp_connections = 0;
    const dht::NodeStats* dht = nullptr;
    std::size_t dht_routing_table_size = 0, dht_items_stored = 0;
    const server::HttpStats* http = nullptr;
    const server::HttpServerStats* http_server = nullptr;
    std::size_t http_connections = 0;
    // Latency by result ("found", "not_found", "failed" / "ok", "error").
    std::vector<std::pair<std::string, const Histogram*>> dht_lookup_seconds;
    std::vector<std::pair<std::string, const Histogram*>> upstream_seconds;
    const republish::RepublisherStats* republisher = nullptr;
};

std::string render_metrics(const MetricsSnapshot& snapshot);

}  // namespace pkdns::resolver
