#pragma once
// The stages that find the answer to one admitted request (design.md §3 steps 3-6); the
// Frontend parses, admits and finalizes around it. The resolver only sequences:
//
//   RFC 8482 minimal answer for ANY when disable_any_queries
//   route -> PKARR (PacketStore + answer_from_zone) | ICANN (AnswerCache -> Upstream) | NXDOMAIN
//   chase CNAMEs across PKARR and ICANN, at most max_recursion_depth extra hops (then SERVFAIL)
//
// How each hop's records are shaped (TTLs, the TLD, synthesized SOAs) is answer_shaping.hpp.
// A key with no packet on the network: NXDOMAIN without SOA (remembered for min_ttl); a lookup
// that failed with nothing cached, or an upstream that failed: SERVFAIL; over the per-client
// DHT lookup limit: REFUSED.
//
// The completion runs exactly once, from the stage that ended the query.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "common/socket_address.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/pipeline/access.hpp"
#include "resolver/pipeline/answer_cache.hpp"
#include "resolver/pipeline/answer_shaping.hpp"
#include "resolver/pipeline/packet_store.hpp"
#include "resolver/pipeline/query.hpp"
#include "resolver/pipeline/router.hpp"
#include "resolver/pipeline/upstream.hpp"
#include "resolver/pipeline/wire_cache.hpp"

namespace pkdns::pipeline {

struct ResolverConfig {
    std::uint32_t min_ttl = 60;
    std::uint32_t max_ttl = 86400;
    std::uint32_t max_recursion_depth = 15;
    std::string top_level_domain = "key";
    bool disable_any_queries = false;
    std::uint32_t dht_query_rate_limit = 0, dht_query_rate_limit_burst = 0;  // misses per client, 0 = off
    AnswerCacheConfig answer_cache;
};

// Wall time for PKARR (µs since the epoch) and a monotonic ms count for rate limits and the
// answer cache; manual in tests.
struct ResolverClocks {
    std::function<pkarr::Micros()> wall_micros = pkarr::now_micros;
    std::function<std::uint64_t()> mono_ms;  // required
};

// The route of the question as asked, for statistics: local = refused before routing, RFC 8482,
// or a malformed key label.
enum class StatsRoute : std::uint8_t { pkarr, icann, local };

struct ResolvedAnswer {
    dns::Packet packet;  // sections, AA and rcode; finalize() makes the reply
    StatsRoute route = StatsRoute::local;
    // May be kept as finished bytes: one hop, from a fresh PKARR packet or a cached ICANN reply.
    bool reusable = false;
    WireEntryInfo wire;  // its timing when reusable
};

struct ResolverStats {
    std::uint64_t dht_rate_limited = 0;  // REFUSED by the per-client DHT lookup rate limit
};

class Resolver {
public:
    using Completion = std::function<void(ResolvedAnswer)>;

    Resolver(ResolverConfig config, PacketStore& packets, Upstream& upstream, ResolverClocks clocks);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    void resolve(const Request& request, const IpAddress& client, Completion done);

    AnswerCache& answer_cache() { return answer_cache_; }
    const ResolverStats& stats() const { return stats_; }

    struct Job;

private:
    using JobPtr = std::shared_ptr<Job>;

    void step(const JobPtr& job, const dns::Name& name);
    void pkarr_step(const JobPtr& job, const Route& route);
    void pkarr_answer(const JobPtr& job, const Route& route,
                      const std::shared_ptr<const pkarr::SignedPacket>& packet, bool stale);
    void icann_step(const JobPtr& job, const dns::Name& name);
    // Adds this hop's answers to the chain and continues at hop.next, or completes.
    void after_hop(const JobPtr& job, Hop hop);
    void fail(const JobPtr& job, std::uint8_t rcode, const std::string& why);
    void complete(const JobPtr& job, dns::Packet answer);

    ResolverConfig config_;
    PacketStore& packets_;
    Upstream& upstream_;
    ResolverClocks clocks_;
    RateLimiter dht_limiter_;
    AnswerCache answer_cache_;
    ResolverStats stats_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pkdns::pipeline
