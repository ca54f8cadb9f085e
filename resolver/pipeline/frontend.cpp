#include "resolver/pipeline/frontend.hpp"

#include <algorithm>
#include <utility>
#include <variant>

namespace pkdns::pipeline {

struct Frontend::Job {
    Request request;
    Transport transport = Transport::udp;
    bool waiting = false;  // process() returned `later`: the answer goes to `reply`
    bool done = false;
    std::optional<Bytes> now;  // answered before process() returned
    ReplyFn reply;
};

namespace {

dns::Packet rcode_only(std::uint8_t rcode) {
    dns::Packet p;
    p.set_rcode(rcode);
    return p;
}

int stats_rcode(std::uint8_t rcode) {
    return std::min<int>(rcode, FrontendStats::rcode_other);
}

}  // namespace

Frontend::Frontend(FrontendConfig config, Resolver& resolver, MonoClock mono_ms)
    : config_(std::move(config)),
      resolver_(resolver),
      mono_ms_(std::move(mono_ms)),
      access_(config_.allow, config_.query_rate_limit, config_.query_rate_limit_burst),
      wire_cache_(WireCacheConfig{config_.wire_cache_bytes}) {}

Frontend::~Frontend() = default;

bool Frontend::admit(const ClientInfo& client, std::uint64_t now_ms) {
    const Admission a = access_.admit(client.address.ip, now_ms);
    if (a == Admission::allowed) return true;
    ++stats_.refused;
    if (a == Admission::rate_limited) ++stats_.rate_limited;
    count(client.transport, StatsRoute::local, dns::rcode::REFUSED);
    return false;
}

void Frontend::count(Transport transport, StatsRoute route, std::uint8_t rcode) {
    ++stats_.answers[static_cast<int>(transport)][static_cast<int>(route)][stats_rcode(rcode)];
}

Outcome Frontend::answer_now(Bytes reply) {
    out_ = std::move(reply);
    return Outcome{Verdict::answer, out_};
}

Outcome Frontend::process(ByteView message, const ClientInfo& client, MakeReply later) {
    const std::uint64_t now = mono_ms_();
    const int transport = static_cast<int>(client.transport);

    // Finished replies first: a header peek and one hash lookup.
    if (config_.wire_cache_bytes > 0 && peek_query(message, peeked_)) {
        const std::size_t limit = client.transport == Transport::udp ? peeked_.max_udp_size() : 65535;
        if (auto tag = wire_cache_.lookup(peeked_, message, limit, now, out_)) {
            ++stats_.queries;
            ++stats_.queries_by[transport];
            if (!admit(client, now)) {
                // A plain query always parses; the REFUSED reply is shaped by finalize().
                auto parsed = parse_request(message);
                if (const auto* request = std::get_if<Request>(&parsed))
                    return answer_now(finalize(*request, rcode_only(dns::rcode::REFUSED), client.transport));
                return Outcome{};
            }
            ++stats_.wire_hits;
            count(client.transport, static_cast<StatsRoute>(*tag), out_[3] & 0x0f);
            return Outcome{Verdict::answer, out_};
        }
    }

    auto parsed = parse_request(message);
    if (auto* rejection = std::get_if<Rejection>(&parsed)) {
        ++stats_.rejected;
        if (rejection->reply.empty()) return Outcome{};
        return answer_now(std::move(rejection->reply));
    }
    ++stats_.queries;
    ++stats_.queries_by[transport];
    Request& request = std::get<Request>(parsed);
    if (!admit(client, now))
        return answer_now(finalize(request, rcode_only(dns::rcode::REFUSED), client.transport));

    auto job = std::make_shared<Job>();
    job->request = std::move(request);
    job->transport = client.transport;
    std::weak_ptr<int> alive = alive_;
    resolver_.resolve(job->request, client.address.ip, [this, alive, job](ResolvedAnswer answer) {
        if (job->done || alive.expired()) return;
        job->done = true;
        Bytes reply = finish(*job, std::move(answer));
        if (!job->waiting) {
            job->now = std::move(reply);
            return;
        }
        ReplyFn reply_fn = std::move(job->reply);
        job->reply = nullptr;
        reply_fn(std::move(reply));
    });
    if (job->now) return answer_now(std::move(*job->now));
    job->waiting = true;
    job->reply = later();
    return Outcome{Verdict::later, {}};
}

Bytes Frontend::finish(const Job& job, ResolvedAnswer answer) {
    const std::uint8_t rcode = answer.packet.rcode();
    count(job.transport, answer.route, rcode);
    bool whole = false;
    Bytes out = finalize(job.request, std::move(answer.packet), job.transport, &whole);
    if (whole && answer.reusable && config_.wire_cache_bytes > 0 &&
        (rcode == dns::rcode::NOERROR || rcode == dns::rcode::NXDOMAIN)) {
        answer.wire.tag = static_cast<std::uint8_t>(answer.route);
        wire_cache_.insert(out, job.request.edns.present, job.request.edns.do_bit, std::move(answer.wire),
                           mono_ms_());
    }
    return out;
}

}  // namespace pkdns::pipeline
