#include "resolver/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "pkarr/dht/node.hpp"
#include "resolver/pipeline/frontend.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/resolver.hpp"
#include "resolver/republish/republisher.hpp"
#include "resolver/server/dns_listener.hpp"
#include "resolver/server/http_api.hpp"
#include "resolver/server/http_server.hpp"

namespace pkdns::resolver {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
    std::sort(bounds_.begin(), bounds_.end());
    counts_.assign(bounds_.size() + 1, 0);
}

std::vector<double> Histogram::default_bounds() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void Histogram::observe(double seconds) {
    if (std::isnan(seconds)) return;
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
    ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
    ++count_;
    sum_ += seconds;
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_metric_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", value);
        return buf;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    // Prefer the shortest form that reads back the same.
    for (int precision = 1; precision < 17; ++precision) {
        char shorter[64];
        std::snprintf(shorter, sizeof shorter, "%.*g", precision, value);
        if (std::strtod(shorter, nullptr) == value) return shorter;
    }
    return buf;
}

namespace {

std::string label_text(const MetricLabels& labels, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
    if (labels.empty() && extra_name.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (!first) out += ',';
        first = false;
        out += k + "=\"" + escape_label_value(v) + "\"";
    }
    if (!extra_name.empty()) {
        if (!first) out += ',';
        out += std::string(extra_name) + "=\"" + escape_label_value(extra_value) + "\"";
    }
    return out + "}";
}

}  // namespace

MetricsWriter::Family& MetricsWriter::family(std::string_view name, std::string_view help,
                                             std::string_view type) {
    for (auto& f : families_)
        if (f.name == name) return f;
    families_.push_back(Family{std::string(name), std::string(help), std::string(type), {}});
    return families_.back();
}

void MetricsWriter::counter(std::string_view name, std::string_view help, double value,
                            const MetricLabels& labels) {
    family(name, help, "counter").samples +=
        std::string(name) + label_text(labels) + " " + format_metric_value(value) + "\n";
}

void MetricsWriter::gauge(std::string_view name, std::string_view help, double value,
                          const MetricLabels& labels) {
    family(name, help, "gauge").samples +=
        std::string(name) + label_text(labels) + " " + format_metric_value(value) + "\n";
}

void MetricsWriter::histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                              const MetricLabels& labels) {
    Family& f = family(name, help, "histogram");
    std::string n(name);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < histogram.bounds().size(); ++i) {
        cumulative += histogram.counts()[i];
        f.samples += n + "_bucket" + label_text(labels, "le", format_metric_value(histogram.bounds()[i])) +
                     " " + std::to_string(cumulative) + "\n";
    }
    f.samples +=
        n + "_bucket" + label_text(labels, "le", "+Inf") + " " + std::to_string(histogram.count()) + "\n";
    f.samples += n + "_sum" + label_text(labels) + " " + format_metric_value(histogram.sum()) + "\n";
    f.samples += n + "_count" + label_text(labels) + " " + std::to_string(histogram.count()) + "\n";
}

std::string MetricsWriter::text() const {
    std::string out;
    for (const auto& f : families_) {
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + " " + f.type + "\n";
        out += f.samples;
    }
    return out;
}

}  // namespace pkdns::resolver

// ---------------------------------------------------------------- the pkdns collector

namespace pkdns::resolver {

namespace {

const char* rcode_label(int rcode) {
    static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"};
    return names[rcode];
}

double d(std::uint64_t v) {
    return static_cast<double>(v);
}

void write_dns(MetricsWriter& w, const MetricsSnapshot& s) {
    using pipeline::FrontendStats;
    if (const FrontendStats* f = s.frontend) {
        static const char* transports[] = {"udp", "tcp", "https"};
        static const char* routes[] = {"pkarr", "icann", "local"};
        for (int t = 0; t < FrontendStats::transports; ++t)
            for (int rt = 0; rt < FrontendStats::routes; ++rt)
                for (int rc = 0; rc <= FrontendStats::rcode_other; ++rc) {
                    if (f->answers[t][rt][rc] == 0) continue;
                    w.counter(
                        "pkdns_dns_answers_total", "DNS answers by transport, route and rcode.",
                        d(f->answers[t][rt][rc]),
                        {{"transport", transports[t]}, {"route", routes[rt]}, {"rcode", rcode_label(rc)}});
                }
        w.counter("pkdns_dns_queries_total", "Queries that entered the pipeline.", d(f->queries));
        w.counter("pkdns_dns_wire_cache_hits_total", "Queries answered from the finished-reply cache.",
                  d(f->wire_hits));
        w.counter("pkdns_dns_rate_limited_total", "Queries refused by a per-client rate limit.",
                  d(f->rate_limited), {{"limit", "query"}});
    }
    if (const pipeline::ResolverStats* r = s.resolver) {
        w.counter("pkdns_dns_rate_limited_total", "Queries refused by a per-client rate limit.",
                  d(r->dht_rate_limited), {{"limit", "dht"}});
    }
}

void write_caches(MetricsWriter& w, const MetricsSnapshot& s) {
    if (const pipeline::PacketStoreStats* p = s.packets) {
        const char* help = "PKARR packet resolution events.";
        std::pair<const char*, std::size_t> events[] = {{"front_hit", p->front_hits},
                                                        {"sqlite_hit", p->sqlite_hits},
                                                        {"negative_hit", p->negative_hits},
                                                        {"lookup", p->lookups},
                                                        {"coalesced", p->coalesced},
                                                        {"refresh", p->refreshes},
                                                        {"stored", p->stored},
                                                        {"ignored_older", p->ignored_older},
                                                        {"failure", p->failures},
                                                        {"stale_served", p->stale_served}};
        for (const auto& [name, value] : events)
            w.counter("pkdns_pkarr_events_total", help, d(value), {{"event", name}});
        w.gauge("pkdns_pkarr_front_entries", "Keys in the in-memory packet front.", d(s.packets_front_size));
        w.gauge("pkdns_pkarr_lookups_in_flight", "DHT lookups running.", d(s.packets_in_flight));
    }
    if (s.resolver != nullptr) {
        w.gauge("pkdns_answer_cache_entries", "ICANN answers cached.", d(s.answer_cache_entries));
        w.gauge("pkdns_answer_cache_bytes", "Bytes held by the ICANN answer cache.", d(s.answer_cache_bytes));
    }
}

void write_listener(MetricsWriter& w, const MetricsSnapshot& s) {
    const server::ListenerStats* l = s.listener;
    if (l == nullptr) return;
    const char* help = "DNS listener events.";
    const pipeline::FrontendStats none{};
    const pipeline::FrontendStats& f = s.frontend ? *s.frontend : none;
    std::pair<const char*, std::uint64_t> events[] = {{"udp_query", f.queries_by[0]},
                                                      {"tcp_query", f.queries_by[1]},
                                                      {"rejected", f.rejected},
                                                      {"tcp_accepted", l->tcp_accepted},
                                                      {"tcp_refused", l->tcp_refused},
                                                      {"tcp_closed_idle", l->tcp_closed_idle},
                                                      {"tcp_closed_protocol", l->tcp_closed_protocol}};
    for (const auto& [name, value] : events)
        w.counter("pkdns_listener_events_total", help, d(value), {{"event", name}});
    w.gauge("pkdns_dns_tcp_connections", "Open DNS-over-TCP connections.", d(s.dns_tcp_connections));
}

void write_dht(MetricsWriter& w, const MetricsSnapshot& s) {
    const dht::NodeStats* n = s.dht;
    if (n == nullptr) return;
    const char* help = "DHT node messages.";
    std::pair<const char*, std::size_t> events[] = {{"sent", n->sent},
                                                    {"received", n->received},
                                                    {"query_answered", n->queries_answered},
                                                    {"query_dropped", n->queries_dropped},
                                                    {"timeout", n->timeouts},
                                                    {"undecodable", n->undecodable},
                                                    {"unmatched", n->unmatched}};
    for (const auto& [name, value] : events)
        w.counter("pkdns_dht_messages_total", help, d(value), {{"event", name}});
    w.gauge("pkdns_dht_routing_table_nodes", "Nodes in the DHT routing table.", d(s.dht_routing_table_size));
    w.gauge("pkdns_dht_items_stored", "BEP44 items stored for other nodes (server mode).",
            d(s.dht_items_stored));
}

void write_http(MetricsWriter& w, const MetricsSnapshot& s) {
    if (const server::HttpStats* h = s.http) {
        for (const auto& [key, value] : h->responses)
            w.counter("pkdns_http_responses_total", "HTTP responses by route and status.", d(value),
                      {{"route", std::string(server::to_string(key.first))},
                       {"status", std::to_string(key.second)}});
        w.counter("pkdns_relay_put_rate_limited_total", "Relay PUTs refused by the per-client limit.",
                  d(h->put_rate_limited));
        w.counter("pkdns_relay_packets_accepted_total", "Relay PUTs stored and published.",
                  d(h->packets_accepted));
    }
    if (const server::HttpServerStats* h = s.http_server) {
        w.counter("pkdns_http_connections_accepted_total", "HTTP connections accepted.", d(h->accepted));
        w.counter("pkdns_http_requests_total", "HTTP requests received.", d(h->requests));
        w.gauge("pkdns_http_connections", "Open HTTP connections.", d(s.http_connections));
    }
}

void write_latency(MetricsWriter& w, const MetricsSnapshot& s) {
    for (const auto& [result, h] : s.dht_lookup_seconds)
        if (h != nullptr)
            w.histogram("pkdns_dht_lookup_seconds", "PKARR lookups on the DHT, by result.", *h,
                        {{"result", result}});
    for (const auto& [result, h] : s.upstream_seconds)
        if (h != nullptr)
            w.histogram("pkdns_upstream_seconds", "Queries forwarded upstream, by result.", *h,
                        {{"result", result}});
}

void write_republisher(MetricsWriter& w, const MetricsSnapshot& s) {
    const republish::RepublisherStats* p = s.republisher;
    if (p == nullptr) return;
    const char* help = "Republisher publishes ([[publish]] zones and kept-alive relay packets), by result.";
    w.counter("pkdns_republish_total", help, d(p->published), {{"result", "stored"}});
    w.counter("pkdns_republish_total", help, d(p->failed), {{"result", "failed"}});
    w.counter("pkdns_republish_zone_changes_total", "Zone files re-signed after an edit.",
              d(p->zone_changes));
    w.counter("pkdns_republish_zone_errors_total", "Zone file edits that did not load (last good kept).",
              d(p->zone_errors));
    w.gauge("pkdns_republish_zones", "[[publish]] zones kept published.", d(p->zones));
    w.gauge("pkdns_republish_keep_alive_keys", "Relay API packets kept alive.", d(p->keep_alive_keys));
    if (p->next_due)
        w.gauge("pkdns_republish_next_due_seconds", "Unix time of the next scheduled publish.",
                static_cast<double>(*p->next_due) / 1e6);
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& s) {
    MetricsWriter w;
    for (auto section :
         {write_dns, write_caches, write_listener, write_dht, write_http, write_latency, write_republisher})
        section(w, s);
    return w.text();
}

}  // namespace pkdns::resolver
