#pragma once
// The one entry point of every transport (dnsdist's processQuery): the bytes of a DNS message
// and who sent it over what go in, an explicit outcome comes out. UDP, TCP and DoH only frame
// and send; a new transport calls the same function.
//
//   finished-reply cache (WireCache, before any parse; the allow list and rate limit still run)
//   -> parse_request (FORMERR / NOTIMP / BADVERS answered, responses and runts dropped)
//   -> admission (allow list, per-client rate limit) -> REFUSED
//   -> Resolver (the stages that find the answer)
//   -> finalize (ID, question, flags, OPT, truncation for the transport) -> WireCache insert
//
// Statistics for every outcome are kept here, by transport, route and rcode.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/bytes.hpp"
#include "common/cidr.hpp"
#include "common/function_ref.hpp"
#include "common/socket_address.hpp"
#include "resolver/pipeline/access.hpp"
#include "resolver/pipeline/query.hpp"
#include "resolver/pipeline/resolver.hpp"
#include "resolver/pipeline/wire_cache.hpp"

namespace pkdns::pipeline {

struct ClientInfo {
    SocketAddress address;
    Transport transport = Transport::udp;
    std::uint64_t connection_id = 0;  // the transport's connection (unique per listener), 0 for UDP
};

// A reply that comes later: always a complete DNS message, called exactly once.
using ReplyFn = std::function<void(Bytes)>;
// Builds the ReplyFn, asked only when the answer has to wait (a cache hit allocates nothing).
using MakeReply = FunctionRef<ReplyFn()>;

enum class Verdict : std::uint8_t {
    drop,    // send nothing (a response, a runt, ...)
    answer,  // send `reply` now
    later,   // the ReplyFn from MakeReply will be called exactly once
};

struct Outcome {
    Verdict verdict = Verdict::drop;
    ByteView reply;  // answer: valid until the next process() call
};

// The entry point as transports see it (the Frontend, or a fake in transport tests).
using Process = std::function<Outcome(ByteView message, const ClientInfo& client, MakeReply later)>;

struct FrontendConfig {
    std::vector<Cidr> allow = AllowList::default_prefixes();
    std::uint32_t query_rate_limit = 0, query_rate_limit_burst = 0;  // per client, 0 = off
    std::size_t wire_cache_bytes = 32u * 1024 * 1024;                // 0 = no finished-reply cache
};

struct FrontendStats {
    static constexpr int transports = 3, routes = 3, rcode_other = 6;
    std::uint64_t queries = 0;                  // entered the pipeline (parsed, or a wire hit)
    std::uint64_t queries_by[transports] = {};  // the same, by transport
    std::uint64_t rejected = 0;                 // answered or dropped by parse_request()
    std::uint64_t refused = 0;                  // not allowed or over the query rate limit
    std::uint64_t rate_limited = 0;             // of those, over the rate limit
    std::uint64_t wire_hits = 0;                // answered from the wire cache
    // Answers by transport (udp, tcp, https) x route (pkarr, icann, local) x rcode (0..5 as is,
    // rcode_other for the rest).
    std::uint64_t answers[transports][routes][rcode_other + 1] = {};
};

class Frontend {
public:
    using MonoClock = std::function<std::uint64_t()>;  // monotonic ms

    Frontend(FrontendConfig config, Resolver& resolver, MonoClock mono_ms);
    ~Frontend();
    Frontend(const Frontend&) = delete;
    Frontend& operator=(const Frontend&) = delete;

    Outcome process(ByteView message, const ClientInfo& client, MakeReply later);

    WireCache& wire_cache() { return wire_cache_; }
    const FrontendStats& stats() const { return stats_; }

    struct Job;

private:
    bool admit(const ClientInfo& client, std::uint64_t now_ms);
    Outcome answer_now(Bytes reply);
    void count(Transport transport, StatsRoute route, std::uint8_t rcode);
    // Finalizes a resolver answer, stores what may be reused, counts it.
    Bytes finish(const Job& job, ResolvedAnswer answer);

    FrontendConfig config_;
    Resolver& resolver_;
    MonoClock mono_ms_;
    AccessControl access_;
    WireCache wire_cache_;
    PlainQuery peeked_;  // scratch, reused
    Bytes out_;          // the bytes of the last `answer` outcome
    FrontendStats stats_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pkdns::pipeline
