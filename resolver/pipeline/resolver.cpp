#include "resolver/pipeline/resolver.hpp"

#include <algorithm>
#include <utility>

#include "common/log.hpp"
#include "pkarr/zone.hpp"

namespace pkdns::pipeline {

struct Resolver::Job {
    Request request;
    IpAddress client;
    Completion done;
    ResolvedAnswer result;           // route, reuse and timing, filled in as the hops go
    std::vector<dns::Record> chain;  // answers of the hops before the current one
    std::uint32_t hops = 0;          // names chased after the first
    bool authoritative = false;      // AA of the first hop
    bool completed = false;
};

namespace {

dns::Packet rcode_only(std::uint8_t rcode) {
    dns::Packet p;
    p.set_rcode(rcode);
    return p;
}

Hop rcode_hop(std::uint8_t rcode, bool authoritative = false) {
    Hop hop;
    hop.packet.set_rcode(rcode);
    if (authoritative) hop.packet.flags |= dns::flag::AA;
    return hop;
}

}  // namespace

Resolver::Resolver(ResolverConfig config, PacketStore& packets, Upstream& upstream, ResolverClocks clocks)
    : config_(std::move(config)),
      packets_(packets),
      upstream_(upstream),
      clocks_(std::move(clocks)),
      dht_limiter_(config_.dht_query_rate_limit, config_.dht_query_rate_limit_burst),
      answer_cache_(config_.answer_cache) {}

Resolver::~Resolver() = default;

void Resolver::resolve(const Request& request, const IpAddress& client, Completion done) {
    auto job = std::make_shared<Job>();
    job->done = std::move(done);
    job->request = request;
    job->client = client;
    job->result.reusable = true;
    if (config_.disable_any_queries && is_any_query(request)) {
        job->result.reusable = false;
        return complete(job, rfc8482_answer(request));
    }
    step(job, request.question.name);
}

void Resolver::step(const JobPtr& job, const dns::Name& name) {
    Route route = route_name(name, config_.top_level_domain);
    if (job->hops == 0)
        job->result.route = route.kind == RouteKind::pkarr   ? StatsRoute::pkarr
                            : route.kind == RouteKind::icann ? StatsRoute::icann
                                                             : StatsRoute::local;
    switch (route.kind) {
        case RouteKind::nxdomain:
            job->result.reusable = false;
            return after_hop(job, rcode_hop(dns::rcode::NXDOMAIN));
        case RouteKind::pkarr:
            return pkarr_step(job, route);
        case RouteKind::icann:
            return icann_step(job, name);
    }
}

void Resolver::pkarr_step(const JobPtr& job, const Route& route) {
    if (job->request.question.klass != dns::class_IN)
        return fail(job, dns::rcode::REFUSED, "PKARR zones are class IN only");
    const IpAddress client = job->client;
    auto admit = [this, client] { return dht_limiter_.allow(client, clocks_.mono_ms()); };
    std::weak_ptr<int> alive = alive_;
    packets_.lookup(*route.key, admit, [this, alive, job, route](PacketLookup r) {
        if (alive.expired()) return;
        switch (r.status) {
            case PacketLookup::Status::found:
                return pkarr_answer(job, route, r.packet, r.stale);
            case PacketLookup::Status::not_found:
                job->result.reusable = false;  // remembered by the PacketStore for min_ttl only
                return after_hop(job, rcode_hop(dns::rcode::NXDOMAIN, true));
            case PacketLookup::Status::rate_limited:
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
    auto apex = dns::Name::from_labels({route.key->to_z32()});
    if (!apex) return fail(job, dns::rcode::SERVFAIL, "bad apex");
    const pkarr::Micros wall = clocks_.wall_micros();
    if (stale) {
        job->result.reusable = false;  // a refresh is on its way
    } else {
        // The wire copy counts down in step with the packet's age and lives no longer than the
        // packet is fresh, or than the packet itself (a newer one replaces it in the store).
        const std::uint64_t now = clocks_.mono_ms();
        const std::uint64_t phase =
            wall > packet.last_seen() ? (wall - packet.last_seen()) % 1'000'000 / 1000 : 0;
        WireEntryInfo& wire = job->result.wire;
        wire.base_ms = now - std::min(now, phase);
        wire.expires_ms =
            wire.base_ms + std::uint64_t{packet.expires_in(wall, config_.min_ttl, config_.max_ttl)} * 1000;
        wire.guard = std::weak_ptr<const void>(packet_ptr);
    }
    PkarrHopInput in;
    in.apex = *apex;
    in.qtype = job->request.question.type;
    in.elapsed = packet.elapsed_seconds(wall);
    in.serial = static_cast<std::uint32_t>(packet.timestamp() / 1'000'000);
    in.min_ttl = config_.min_ttl;
    in.max_ttl = config_.max_ttl;
    if (route.had_tld) in.tld = config_.top_level_domain;
    after_hop(job, pkarr_hop(pkarr::answer_from_zone(packet.records(), *apex, route.name, in.qtype), in));
}

void Resolver::icann_step(const JobPtr& job, const dns::Name& name) {
    dns::Question question = job->request.question;
    question.name = name;
    const bool dnssec_ok = job->request.edns.do_bit;
    const std::uint16_t qtype = question.type;
    AnswerCache::Timing timing;
    if (auto hit = answer_cache_.lookup(question, dnssec_ok, clocks_.mono_ms(), &timing)) {
        job->result.wire.base_ms = timing.base_ms;
        job->result.wire.expires_ms = timing.expires_ms;
        return after_hop(job, icann_hop(std::move(*hit), name, qtype, config_.top_level_domain));
    }

    std::weak_ptr<int> alive = alive_;
    upstream_.forward(
        question, dnssec_ok, [this, alive, job, name, question, dnssec_ok](Result<dns::Packet> r) {
            if (alive.expired()) return;
            if (!r) return fail(job, dns::rcode::SERVFAIL, "upstream: " + r.error().message);
            const std::uint64_t now = clocks_.mono_ms();
            if (auto life = answer_cache_.insert(question, dnssec_ok, *r, now)) {
                job->result.wire.base_ms = now;
                job->result.wire.expires_ms = now + std::uint64_t{*life} * 1000;
            } else {
                job->result.reusable = false;
            }
            after_hop(job, icann_hop(std::move(*r), name, question.type, config_.top_level_domain));
        });
}

void Resolver::after_hop(const JobPtr& job, Hop hop) {
    dns::Packet& packet = hop.packet;
    if (job->hops == 0) job->authoritative = (packet.flags & dns::flag::AA) != 0;
    for (auto& r : packet.answers) job->chain.push_back(std::move(r));
    if (hop.next) {
        job->result.reusable = false;  // one hop only: each hop counts down from its own clock
        if (job->hops >= config_.max_recursion_depth)
            return fail(job, dns::rcode::SERVFAIL, "CNAME chain longer than max_recursion_depth");
        ++job->hops;
        return step(job, *hop.next);
    }
    packet.answers = std::move(job->chain);
    packet.flags = static_cast<std::uint16_t>((packet.flags & ~dns::flag::AA) |
                                              (job->authoritative ? dns::flag::AA : 0));
    complete(job, std::move(packet));
}

// Every error ends here: one rcode, no records.
void Resolver::fail(const JobPtr& job, std::uint8_t rcode, const std::string& why) {
    if (spdlog::should_log(spdlog::level::debug))
        spdlog::debug("{} {} {}: {} ({})", job->client.to_string(), job->request.question.name.to_string(),
                      dns::type_to_string(job->request.question.type), dns::rcode_to_string(rcode), why);
    job->result.reusable = false;
    complete(job, rcode_only(rcode));
}

void Resolver::complete(const JobPtr& job, dns::Packet answer) {
    if (job->completed) return;
    job->completed = true;
    if (spdlog::should_log(spdlog::level::debug))  // per-query lines cost nothing at info
        spdlog::debug("{} {} {} -> {} ({} answers)", job->client.to_string(),
                      job->request.question.name.to_string(), dns::type_to_string(job->request.question.type),
                      dns::rcode_to_string(answer.rcode()), answer.answers.size());
    job->result.packet = std::move(answer);
    Completion done = std::move(job->done);
    job->done = nullptr;
    done(std::move(job->result));
}

}  // namespace pkdns::pipeline
