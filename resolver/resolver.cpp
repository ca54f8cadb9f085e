#include "resolver/resolver.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "common/log.hpp"
#include "conf/config.hpp"
#include "pkarr/zone.hpp"
#include "resolver/forwarder.hpp"

namespace pkdns::resolver {

struct Resolver::Job {
    Request request;
    IpAddress client;
    Completion done;
    WireCompletion wire_done;        // resolve_wire(): finalize here and maybe keep the bytes
    bool reusable = true;            // the answer may go into the wire cache
    WireEntryInfo wire;              // its timing when reusable
    std::vector<dns::Record> chain;  // answers of the hops before the current one
    std::uint32_t hops = 0;          // names chased after the first
    bool authoritative = false;      // AA of the first hop
    bool completed = false;
    Transport transport = Transport::udp;
    StatsRoute route = StatsRoute::local;  // of the question as asked
};

namespace {

std::optional<dns::Name> name_with_tld(const dns::Name& name, std::string_view tld) {
    if (tld.empty() || name.is_root() || !key_from_label(name.labels().back()).ok()) return std::nullopt;
    std::vector<std::string> labels = name.labels();
    labels.emplace_back(tld);
    auto n = dns::Name::from_labels(std::move(labels));
    if (!n) return std::nullopt;  // too long with the TLD: keep it as published
    return std::move(*n);
}

// Rewrites the name at `offset` in `rdata` (moving `offset` past it); false when it does not parse.
bool rdata_name_with_tld(Bytes& rdata, std::size_t& offset, std::string_view tld) {
    const std::size_t start = offset;
    auto name = dns::Name::from_wire(rdata, offset);
    if (!name) return false;
    auto longer = name_with_tld(*name, tld);
    if (!longer) return true;
    Bytes out;
    out.reserve(rdata.size() + tld.size() + 1);
    out.assign(rdata.begin(), rdata.begin() + static_cast<std::ptrdiff_t>(start));
    longer->append_wire(out);
    const std::size_t end = out.size();
    out.insert(out.end(), rdata.begin() + static_cast<std::ptrdiff_t>(offset), rdata.end());
    rdata = std::move(out);
    offset = end;
    return true;
}

std::uint32_t counted_down(std::uint32_t ttl, std::uint32_t elapsed, std::uint32_t max_ttl) {
    if (ttl == 0) return 0;
    ttl = std::min(ttl, max_ttl);
    return ttl > elapsed ? ttl - elapsed : 1;
}

dns::Packet rcode_only(std::uint8_t rcode) {
    dns::Packet p;
    p.set_rcode(rcode);
    return p;
}

bool has_soa(const std::vector<dns::Record>& records) {
    return std::any_of(records.begin(), records.end(),
                       [](const dns::Record& r) { return r.type == dns::type::SOA; });
}

}  // namespace

dns::Record with_tld(dns::Record record, std::string_view tld) {
    if (auto n = name_with_tld(record.name, tld)) record.name = std::move(*n);
    std::size_t offset = 0;
    switch (record.type) {
        case dns::type::CNAME:
        case dns::type::NS:
        case dns::type::PTR:
        case dns::type::DNAME:
            break;
        case dns::type::MX:
        case dns::type::SVCB:
        case dns::type::HTTPS:
            offset = 2;
            break;
        case dns::type::SRV:
            offset = 6;
            break;
        case dns::type::SOA: {
            Bytes rdata = record.rdata;
            if (rdata_name_with_tld(rdata, offset, tld) && rdata_name_with_tld(rdata, offset, tld))
                record.rdata = std::move(rdata);
            return record;
        }
        default:
            return record;
    }
    if (record.rdata.size() <= offset) return record;
    Bytes rdata = record.rdata;
    if (rdata_name_with_tld(rdata, offset, tld)) record.rdata = std::move(rdata);
    return record;
}

dns::Record synthesized_soa(const dns::Name& apex, std::uint32_t serial, std::uint32_t min_ttl) {
    dns::Record soa;
    soa.name = apex;
    soa.type = dns::type::SOA;
    soa.ttl = min_ttl;
    apex.append_wire(soa.rdata);  // mname
    auto rname = dns::Name::from_labels([&] {
        std::vector<std::string> labels{"hostmaster"};
        labels.insert(labels.end(), apex.labels().begin(), apex.labels().end());
        return labels;
    }());
    (rname ? *rname : apex).append_wire(soa.rdata);
    put_u32(soa.rdata, serial);
    put_u32(soa.rdata, 3600);     // refresh
    put_u32(soa.rdata, 600);      // retry
    put_u32(soa.rdata, 86400);    // expire
    put_u32(soa.rdata, min_ttl);  // minimum: the negative-caching TTL (RFC 2308)
    return soa;
}

void ForwarderUpstream::forward(const dns::Question& question, bool dnssec_ok, Done done) {
    forwarder_.forward(question, dnssec_ok, std::move(done));
}

ResolverConfig ResolverConfig::from(const conf::Config& config) {
    ResolverConfig c;
    c.min_ttl = config.dns.min_ttl;
    c.max_ttl = config.dns.max_ttl;
    c.max_recursion_depth = config.dns.max_recursion_depth;
    c.top_level_domain = config.dns.top_level_domain;
    c.disable_any_queries = config.dns.disable_any_queries;
    c.allow = config.dns.allow;
    c.query_rate_limit = config.dns.query_rate_limit;
    c.query_rate_limit_burst = config.dns.query_rate_limit_burst;
    c.dht_query_rate_limit = config.dht.query_rate_limit;
    c.dht_query_rate_limit_burst = config.dht.query_rate_limit_burst;
    c.answer_cache.min_ttl = config.dns.min_ttl;
    c.answer_cache.max_ttl = config.dns.max_ttl;
    c.answer_cache.max_bytes = static_cast<std::size_t>(config.cache.icann_mb) * 1024 * 1024;
    c.wire_cache_bytes = static_cast<std::size_t>(config.cache.wire_mb) * 1024 * 1024;
    return c;
}

Resolver::Resolver(ResolverConfig config, PkarrResolver& pkarr, Upstream& upstream, ResolverClocks clocks)
    : config_(std::move(config)),
      pkarr_(pkarr),
      upstream_(upstream),
      clocks_(std::move(clocks)),
      access_(config_.allow, config_.query_rate_limit, config_.query_rate_limit_burst),
      dht_limiter_(config_.dht_query_rate_limit, config_.dht_query_rate_limit_burst),
      answer_cache_(config_.answer_cache),
      wire_cache_(WireCacheConfig{config_.wire_cache_bytes}) {}

Resolver::~Resolver() = default;

void Resolver::resolve(const Request& request, const ClientInfo& client, Completion done) {
    auto job = std::make_shared<Job>();
    job->done = std::move(done);
    start(job, request, client);
}

void Resolver::resolve_wire(const Request& request, const ClientInfo& client, WireCompletion done) {
    auto job = std::make_shared<Job>();
    job->wire_done = std::move(done);
    start(job, request, client);
}

bool Resolver::answer_cached(ByteView query, const ClientInfo& client, ByteView& reply) {
    if (config_.wire_cache_bytes == 0 || !peek_query(query, peeked_)) return false;
    const std::uint64_t now = clocks_.mono_ms();
    const std::size_t limit = client.transport == Transport::udp ? peeked_.max_udp_size() : 65535;
    auto tag = wire_cache_.lookup(peeked_, query, limit, now, wire_out_);
    if (!tag) return false;

    ++stats_.queries;
    const int transport = static_cast<int>(client.transport);
    if (Admission a = access_.admit(client.address.ip, now); a != Admission::allowed) {
        ++stats_.refused;
        if (a == Admission::rate_limited) ++stats_.rate_limited;
        ++stats_.answers[transport][static_cast<int>(StatsRoute::local)][dns::rcode::REFUSED];
        reply = {};
        auto parsed = parse_request(query);  // refused clients may take the slow way
        if (const auto* request = std::get_if<Request>(&parsed)) {
            wire_out_ = finalize(*request, rcode_only(dns::rcode::REFUSED), client.transport);
            reply = wire_out_;
        }
        return true;
    }
    const auto route = static_cast<StatsRoute>(*tag);
    ++(route == StatsRoute::pkarr ? stats_.pkarr : stats_.icann);
    const std::uint8_t rcode = wire_out_[3] & 0x0f;
    if (rcode == dns::rcode::NXDOMAIN) ++stats_.nxdomain;
    ++stats_.answers[transport][static_cast<int>(route)][rcode];
    ++stats_.wire_hits;
    reply = wire_out_;
    return true;
}

// The fixed stages of design.md §3 (1 and 7 are the listeners' parse_request/finalize).
void Resolver::start(const JobPtr& job, const Request& request, const ClientInfo& client) {
    ++stats_.queries;
    job->request = request;
    job->client = client.address.ip;
    job->transport = client.transport;

    // 2. access control and the per-client rate limit
    if (Admission a = access_.admit(job->client, clocks_.mono_ms()); a != Admission::allowed) {
        ++stats_.refused;
        if (a == Admission::rate_limited) ++stats_.rate_limited;
        return fail(job, dns::rcode::REFUSED, "client not allowed or over its rate limit");
    }
    if (config_.disable_any_queries && is_any_query(request)) {
        job->reusable = false;
        return complete(job, rfc8482_answer(request));
    }

    // 3-6. route, answer (PKARR or ICANN), chase CNAMEs
    step(job, request.question.name);
}

void Resolver::step(const JobPtr& job, const dns::Name& name) {
    Route route = route_name(name, config_.top_level_domain);
    if (job->hops == 0)
        job->route = route.kind == RouteKind::pkarr   ? StatsRoute::pkarr
                     : route.kind == RouteKind::icann ? StatsRoute::icann
                                                      : StatsRoute::local;
    switch (route.kind) {
        case RouteKind::nxdomain:
            job->reusable = false;
            return after_hop(job, rcode_only(dns::rcode::NXDOMAIN), std::nullopt);
        case RouteKind::pkarr:
            ++stats_.pkarr;
            return pkarr_step(job, route);
        case RouteKind::icann:
            ++stats_.icann;
            return icann_step(job, name);
    }
}

void Resolver::pkarr_step(const JobPtr& job, const Route& route) {
    if (job->request.question.klass != dns::class_IN)
        return fail(job, dns::rcode::REFUSED, "PKARR zones are class IN only");
    const IpAddress client = job->client;
    auto admit = [this, client] { return dht_limiter_.allow(client, clocks_.mono_ms()); };
    std::weak_ptr<int> alive = alive_;
    pkarr_.lookup(*route.key, admit, [this, alive, job, route](PacketLookup r) {
        if (alive.expired()) return;
        switch (r.status) {
            case PacketLookup::Status::found:
                return pkarr_answer(job, route, r.packet, r.stale);
            case PacketLookup::Status::not_found: {
                job->reusable = false;  // remembered by PkarrResolver for min_ttl only
                dns::Packet hop = rcode_only(dns::rcode::NXDOMAIN);
                hop.flags |= dns::flag::AA;
                return after_hop(job, std::move(hop), std::nullopt);
            }
            case PacketLookup::Status::rate_limited:
                ++stats_.refused;
                ++stats_.dht_rate_limited;
                return fail(job, dns::rcode::REFUSED, "DHT query rate limit");
            case PacketLookup::Status::failed:
                return fail(job, dns::rcode::SERVFAIL, "PKARR lookup failed: " + r.error);
        }
    });
}

void Resolver::pkarr_answer(const JobPtr& job, const Route& route,
                            const std::shared_ptr<const pkarr::SignedPacket>& packet_ptr, bool stale) {
    const pkarr::SignedPacket& packet = *packet_ptr;
    const std::uint16_t qtype = job->request.question.type;
    auto apex = dns::Name::from_labels({route.key->to_z32()});
    if (!apex) return fail(job, dns::rcode::SERVFAIL, "bad apex");
    pkarr::ZoneAnswer za = pkarr::answer_from_zone(packet.records(), *apex, route.name, qtype);

    const pkarr::Micros wall = clocks_.wall_micros();
    const std::uint32_t elapsed = packet.elapsed_seconds(wall);
    if (stale) {
        job->reusable = false;  // a refresh is on its way
    } else {
        // The wire copy counts down in step with `elapsed` and lives no longer than the packet
        // is fresh, or than the packet itself (a newer one replaces it in PkarrResolver).
        const std::uint64_t now = clocks_.mono_ms();
        const std::uint64_t phase =
            wall > packet.last_seen() ? (wall - packet.last_seen()) % 1'000'000 / 1000 : 0;
        job->wire.base_ms = now - std::min(now, phase);
        job->wire.expires_ms =
            job->wire.base_ms +
            std::uint64_t{packet.expires_in(wall, config_.min_ttl, config_.max_ttl)} * 1000;
        job->wire.guard = std::weak_ptr<const void>(packet_ptr);
    }
    const std::string_view tld =
        route.had_tld ? std::string_view(config_.top_level_domain) : std::string_view();
    auto shape = [&](std::vector<dns::Record> records) {
        for (auto& r : records) {
            r.ttl = counted_down(r.ttl, elapsed, config_.max_ttl);
            if (!tld.empty()) r = with_tld(std::move(r), tld);
        }
        return records;
    };

    dns::Packet hop;
    if (za.authoritative) hop.flags |= dns::flag::AA;
    hop.set_rcode(za.rcode);
    hop.answers = shape(std::move(za.answer));
    hop.authority = shape(std::move(za.authority));
    hop.additional = shape(std::move(za.additional));

    const bool follows = za.external_target && !za.chain_truncated && qtype != dns::type::CNAME;
    const bool answered = std::any_of(hop.answers.begin(), hop.answers.end(), [&](const dns::Record& r) {
        return r.type == qtype || qtype == dns::type::ANY;
    });
    const bool negative =
        za.rcode == dns::rcode::NXDOMAIN ||
        (za.rcode == dns::rcode::NOERROR && !za.delegation && !follows && !answered && !za.chain_truncated);
    if (negative && !has_soa(hop.authority)) {
        dns::Name owner = *apex;
        if (!tld.empty())
            if (auto n = name_with_tld(*apex, tld)) owner = std::move(*n);
        hop.authority.push_back(synthesized_soa(
            owner, static_cast<std::uint32_t>(packet.timestamp() / 1'000'000), config_.min_ttl));
    }
    std::optional<dns::Name> next;
    if (follows) {
        next = za.external_target;
        // Keep the chain consistent with the rewritten CNAME rdata: chase "<key2>.<tld>".
        if (!tld.empty())
            if (auto n = name_with_tld(*next, tld)) next = std::move(*n);
    }
    after_hop(job, std::move(hop), std::move(next));
}

void Resolver::icann_step(const JobPtr& job, const dns::Name& name) {
    dns::Question question = job->request.question;
    question.name = name;
    const bool dnssec_ok = job->request.edns.do_bit;
    AnswerCache::Timing timing;
    if (auto hit = answer_cache_.lookup(question, dnssec_ok, clocks_.mono_ms(), &timing)) {
        job->wire.base_ms = timing.base_ms;
        job->wire.expires_ms = timing.expires_ms;
        return icann_answer(job, name, std::move(*hit));
    }

    std::weak_ptr<int> alive = alive_;
    upstream_.forward(question, dnssec_ok,
                      [this, alive, job, name, question, dnssec_ok](Result<dns::Packet> r) {
                          if (alive.expired()) return;
                          if (!r) return fail(job, dns::rcode::SERVFAIL, "upstream: " + r.error().message);
                          const std::uint64_t now = clocks_.mono_ms();
                          if (auto life = answer_cache_.insert(question, dnssec_ok, *r, now)) {
                              job->wire.base_ms = now;
                              job->wire.expires_ms = now + std::uint64_t{*life} * 1000;
                          } else {
                              job->reusable = false;
                          }
                          icann_answer(job, name, std::move(*r));
                      });
}

void Resolver::icann_answer(const JobPtr& job, const dns::Name& name, dns::Packet reply) {
    const std::uint16_t qtype = job->request.question.type;
    dns::Packet hop;
    hop.set_rcode(reply.rcode());
    hop.answers = std::move(reply.answers);
    hop.authority = std::move(reply.authority);
    for (auto& r : reply.additional)
        if (r.type != dns::type::OPT) hop.additional.push_back(std::move(r));

    // A CNAME chain that leaves the ICANN world (into a key): the upstream could not follow it.
    const bool chain_rcode = hop.rcode() == dns::rcode::NOERROR || hop.rcode() == dns::rcode::NXDOMAIN;
    if (qtype != dns::type::CNAME && chain_rcode) {
        dns::Name end = name;
        for (std::size_t i = 0; i < hop.answers.size(); ++i) {  // bounded: one step per record
            auto it = std::find_if(hop.answers.begin(), hop.answers.end(), [&](const dns::Record& r) {
                return r.type == dns::type::CNAME && r.name == end;
            });
            if (it == hop.answers.end()) break;
            auto target = it->target();
            if (!target) break;
            end = std::move(*target);
        }
        const bool answered = std::any_of(hop.answers.begin(), hop.answers.end(), [&](const dns::Record& r) {
            return r.name == end && (r.type == qtype || qtype == dns::type::ANY);
        });
        if (!(end == name) && !answered &&
            route_name(end, config_.top_level_domain).kind != RouteKind::icann) {
            std::erase_if(hop.answers, [](const dns::Record& r) { return r.type != dns::type::CNAME; });
            hop.authority.clear();
            hop.additional.clear();
            hop.set_rcode(dns::rcode::NOERROR);
            return after_hop(job, std::move(hop), end);
        }
    }
    after_hop(job, std::move(hop), std::nullopt);
}

void Resolver::after_hop(const JobPtr& job, dns::Packet hop, std::optional<dns::Name> next) {
    if (job->hops == 0) job->authoritative = (hop.flags & dns::flag::AA) != 0;
    for (auto& r : hop.answers) job->chain.push_back(std::move(r));
    if (next) {
        job->reusable = false;  // one hop only: each hop counts down from its own clock
        if (job->hops >= config_.max_recursion_depth)
            return fail(job, dns::rcode::SERVFAIL, "CNAME chain longer than max_recursion_depth");
        ++job->hops;
        return step(job, *next);
    }
    hop.answers = std::move(job->chain);
    hop.flags =
        static_cast<std::uint16_t>((hop.flags & ~dns::flag::AA) | (job->authoritative ? dns::flag::AA : 0));
    complete(job, std::move(hop));
}

// Every error ends here: one rcode, no records.
void Resolver::fail(const JobPtr& job, std::uint8_t rcode, const std::string& why) {
    if (spdlog::should_log(spdlog::level::debug))
        spdlog::debug("{} {} {}: {} ({})", job->client.to_string(), job->request.question.name.to_string(),
                      dns::type_to_string(job->request.question.type), dns::rcode_to_string(rcode), why);
    complete(job, rcode_only(rcode));
}

void Resolver::complete(const JobPtr& job, dns::Packet answer) {
    if (job->completed) return;
    job->completed = true;
    if (answer.rcode() == dns::rcode::SERVFAIL) ++stats_.servfail;
    if (answer.rcode() == dns::rcode::NXDOMAIN) ++stats_.nxdomain;
    ++stats_.answers[static_cast<int>(job->transport)][static_cast<int>(job->route)]
                    [std::min<int>(answer.rcode(), ResolverStats::rcode_other)];
    if (spdlog::should_log(spdlog::level::debug))  // per-query lines cost nothing at info
        spdlog::debug("{} {} {} -> {} ({} answers)", job->client.to_string(),
                      job->request.question.name.to_string(), dns::type_to_string(job->request.question.type),
                      dns::rcode_to_string(answer.rcode()), answer.answers.size());
    if (job->wire_done) {
        const std::uint8_t rcode = answer.rcode();
        bool whole = false;
        Bytes out = finalize(job->request, std::move(answer), job->transport, &whole);
        if (whole && job->reusable && config_.wire_cache_bytes > 0 &&
            (rcode == dns::rcode::NOERROR || rcode == dns::rcode::NXDOMAIN)) {
            job->wire.tag = static_cast<std::uint8_t>(job->route);
            wire_cache_.insert(out, job->request.edns.present, job->request.edns.do_bit, std::move(job->wire),
                               clocks_.mono_ms());
        }
        WireCompletion done = std::move(job->wire_done);
        job->wire_done = nullptr;
        return done(std::move(out));
    }
    Completion done = std::move(job->done);
    job->done = nullptr;
    done(std::move(answer));
}

}  // namespace pkdns::resolver
