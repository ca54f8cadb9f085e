#pragma once
// The query pipeline (design.md §3): Resolver::resolve() runs the fixed stages for one request
// that already passed the listeners' sanity checks (query.hpp) and hands back the answer packet
// (sections, AA, rcode); the listener's finalize() restores the ID, question, flags and OPT.
//
//   access (allow list, per-client rate limit) -> REFUSED
//   RFC 8482 minimal answer for ANY when dns.disable_any_queries
//   route -> PKARR (PkarrResolver + answer_from_zone) | ICANN (AnswerCache -> Upstream) | NXDOMAIN
//   chase CNAMEs across PKARR and ICANN, at most max_recursion_depth extra hops (then SERVFAIL)
//
// PKARR answers: AA set (not for referrals); record TTLs are clamped to max_ttl and counted down
// by the whole seconds since the packet was last seen on the network, never below 1 (a stale
// packet served while it is refreshed must not be cached downstream for long, but TTL 0 would
// make every stub re-ask at once). Names that end in a key get the TLD back when the query used
// it (owners and the names in CNAME/NS/PTR/DNAME/MX/SRV/SVCB/HTTPS/SOA rdata). NXDOMAIN and
// NODATA carry an SOA in authority; when the zone has none, one is synthesized at the apex:
// mname = apex, rname = hostmaster.<apex>, serial = timestamp in seconds, minimum = TTL = min_ttl.
// NS below the apex is answered as a referral (NS in authority, glue in additional), not followed.
// A key with no packet on the network: NXDOMAIN without SOA (remembered for min_ttl); a lookup
// that failed with nothing cached, or an upstream that failed: SERVFAIL.
//
// The completion runs exactly once, from the stage that ended the query.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cidr.hpp"
#include "common/dns/record.hpp"
#include "common/result.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/access.hpp"
#include "resolver/answer_cache.hpp"
#include "resolver/dns_listener.hpp"
#include "resolver/pkarr_resolver.hpp"
#include "resolver/query.hpp"
#include "resolver/router.hpp"
#include "resolver/wire_cache.hpp"

namespace pkdns::conf {
struct Config;
}

namespace pkdns::resolver {

class Forwarder;

// The ICANN side as the pipeline sees it; `done` runs exactly once.
struct Upstream {
    using Done = std::function<void(Result<dns::Packet>)>;
    virtual ~Upstream() = default;
    virtual void forward(const dns::Question& question, bool dnssec_ok, Done done) = 0;
};

// The real upstream: the libuv Forwarder.
class ForwarderUpstream final : public Upstream {
public:
    explicit ForwarderUpstream(Forwarder& forwarder) : forwarder_(forwarder) {}
    void forward(const dns::Question& question, bool dnssec_ok, Done done) override;

private:
    Forwarder& forwarder_;
};

struct ResolverConfig {
    std::uint32_t min_ttl = 60;
    std::uint32_t max_ttl = 86400;
    std::uint32_t max_recursion_depth = 15;
    std::string top_level_domain = "key";
    bool disable_any_queries = false;
    std::vector<Cidr> allow = AllowList::default_prefixes();
    std::uint32_t query_rate_limit = 0, query_rate_limit_burst = 0;          // per client, 0 = off
    std::uint32_t dht_query_rate_limit = 0, dht_query_rate_limit_burst = 0;  // misses per client
    AnswerCacheConfig answer_cache;
    std::size_t wire_cache_bytes = 32u * 1024 * 1024;  // finalized answers in front; 0 = off

    static ResolverConfig from(const conf::Config& config);
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

struct ResolverStats {
    std::uint64_t queries = 0, refused = 0, pkarr = 0, icann = 0, servfail = 0, nxdomain = 0;
    std::uint64_t rate_limited = 0;      // REFUSED by the per-client query rate limit
    std::uint64_t dht_rate_limited = 0;  // REFUSED by the per-client DHT lookup rate limit
    std::uint64_t wire_hits = 0;         // answered from the wire cache (also counted below)
    // Completed queries by transport (udp, tcp, https) x route (pkarr, icann, local) x rcode
    // (0..5 as is, rcode_other for the rest).
    static constexpr int transports = 3, routes = 3, rcode_other = 6;
    std::uint64_t answers[transports][routes][rcode_other + 1] = {};
};

class Resolver {
public:
    using Completion = std::function<void(dns::Packet)>;
    using WireCompletion = std::function<void(Bytes)>;

    Resolver(ResolverConfig config, PkarrResolver& pkarr, Upstream& upstream, ResolverClocks clocks);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    void resolve(const Request& request, const ClientInfo& client, Completion done);
    // resolve() and finalize() in one (the DNS listeners' path); answers that may be reused
    // (one hop, NOERROR/NXDOMAIN from a fresh PKARR packet or a cached ICANN reply, nothing
    // truncated) go into the wire cache.
    void resolve_wire(const Request& request, const ClientInfo& client, WireCompletion done);
    // The wire cache in front of everything, for a raw query: true when it answered, `reply`
    // then points into a buffer valid until the next call (empty: send nothing). A hit still
    // passes the allow list and the rate limit first (REFUSED otherwise) and is counted in the
    // stats like any answer. False: go the long way (parse_request, resolve_wire).
    bool answer_cached(ByteView query, const ClientInfo& client, ByteView& reply);

    AnswerCache& answer_cache() { return answer_cache_; }
    WireCache& wire_cache() { return wire_cache_; }
    const ResolverStats& stats() const { return stats_; }

    struct Job;

private:
    using JobPtr = std::shared_ptr<Job>;

    void start(const JobPtr& job, const Request& request, const ClientInfo& client);
    void step(const JobPtr& job, const dns::Name& name);
    void pkarr_step(const JobPtr& job, const Route& route);
    void pkarr_answer(const JobPtr& job, const Route& route,
                      const std::shared_ptr<const pkarr::SignedPacket>& packet, bool stale);
    void icann_step(const JobPtr& job, const dns::Name& name);
    void icann_answer(const JobPtr& job, const dns::Name& name, dns::Packet reply);
    // Adds this hop's answers to the chain and continues at `next`, or completes.
    void after_hop(const JobPtr& job, dns::Packet hop, std::optional<dns::Name> next);
    void fail(const JobPtr& job, std::uint8_t rcode, const std::string& why);
    void complete(const JobPtr& job, dns::Packet answer);

    ResolverConfig config_;
    PkarrResolver& pkarr_;
    Upstream& upstream_;
    ResolverClocks clocks_;
    AccessControl access_;
    RateLimiter dht_limiter_;
    AnswerCache answer_cache_;
    WireCache wire_cache_;
    PlainQuery peeked_;  // answer_cached()'s scratch, reused
    Bytes wire_out_;
    ResolverStats stats_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

// Pure helpers (exposed for tests).
// `record` with the TLD appended to its owner and rdata names that end in a key label.
dns::Record with_tld(dns::Record record, std::string_view tld);
// The SOA synthesized for a PKARR zone without one; `apex` already carries the TLD if wanted.
dns::Record synthesized_soa(const dns::Name& apex, std::uint32_t serial, std::uint32_t min_ttl);

}  // namespace pkdns::resolver
