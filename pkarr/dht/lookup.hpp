#pragma once
// Iterative Kademlia lookup as a pure state machine (mainline-dht.md A.8-A.10). The I/O layer:
//   1. calls next_requests(now) and sends each returned query (filling `t`, keeping the Request
//      so it can match the answer by `t` and source address);
//   2. passes every matching answer (response or KRPC error) to on_response(), and a request
//      that got no answer within its timeout to on_timeout();
//   3. repeats 1-2 until done(); then reads closest_responders() / best_item() / stats().
// Requests older than config.request_timeout are also timed out by next_requests(now) itself, so a
// lost timer cannot hang a lookup.
//
// Behaviour: up to `alpha` requests in flight; always queries the closest not-yet-queried
// candidates; done when nothing is in flight and each of the k closest live candidates has been
// queried (or max_queries was reached). Bootstrap addresses (ids unknown) are queried first. No
// early stop on a found value (like mainline). Candidates are bounded (max_candidates, farthest
// dropped), deduplicated by address and id. Responses with ro=1 are ignored (counted invalid), and
// so are answers whose r.id differs from the id we were given for that node. Only IPv4 `nodes`
// are followed (`nodes6` is ignored, like mainline).
//
// get_mutable: every response item is validated (v <= 1000 bytes, sha1(k ‖ salt) == target,
// Ed25519 signature via pkarr::PublicKey::verify) before it reaches the item callback; the most
// recent valid one (seq, then value bytes) is kept in best_item().

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "pkarr/dht/address.hpp"
#include "pkarr/dht/item_store.hpp"
#include "pkarr/dht/krpc.hpp"
#include "pkarr/dht/node_id.hpp"

namespace pkdns::dht {

enum class LookupKind : std::uint8_t {
    find_node,    // find_node{target}
    get_mutable,  // get{target, seq?}; collects tokens and items
};

struct LookupConfig {
    std::size_t k = 20;                // result size / convergence set
    std::size_t alpha = 16;            // max requests in flight
    std::size_t max_candidates = 200;  // bounded candidate list
    std::size_t max_queries = 300;     // total requests sent, hard cap
    Duration request_timeout = std::chrono::seconds(2);
};

struct LookupStats {
    std::size_t queried = 0;
    std::size_t responded = 0;
    std::size_t timeouts = 0;
    std::size_t errors = 0;          // KRPC error replies
    std::size_t values = 0;          // valid items received (duplicates counted)
    std::size_t no_more_recent = 0;  // seq-only answers
    std::size_t no_values = 0;       // token/nodes only
    std::size_t invalid = 0;         // bad items, ro=1, wrong message shapes
};

// A node that answered, with the write token it gave (empty for find_node).
struct Responder {
    NodeInfo node;  // id from the response's r.id
    Bytes token;
    TimePoint at{};
};

class Lookup {
public:
    struct Request {
        Address to;
        std::optional<NodeId> expected_id;  // unknown for bootstrap addresses
        krpc::Query query;                  // complete except the envelope's t
    };
    using ItemCallback = std::function<void(const MutableItem& item, const NodeInfo& from)>;

    // `self` goes into every query's `id`. `initial` are known nodes (e.g. routing-table closest);
    // `bootstrap` are addresses with unknown ids, queried first.
    static Lookup find_node(const NodeId& self, const NodeId& target, std::span<const NodeInfo> initial,
                            std::span<const Address> bootstrap = {}, LookupConfig config = {});
    // target = sha1(key ‖ salt). `more_recent_than` becomes the get's `seq` (nodes answer seq-only
    // when theirs is not newer).
    static Lookup get_mutable(const NodeId& self, const krpc::PublicKeyBytes& key, Bytes salt,
                              std::optional<std::int64_t> more_recent_than, std::span<const NodeInfo> initial,
                              std::span<const Address> bootstrap = {}, LookupConfig config = {});

    // Called for every valid item as it arrives (duplicates and any seq order possible).
    void on_item(ItemCallback callback) { on_item_ = std::move(callback); }
    // More candidates (e.g. cached responders); same bounds as nodes from responses.
    void add_candidates(std::span<const NodeInfo> nodes);

    std::vector<Request> next_requests(TimePoint now);
    // `from` must be the address the request went to. Accepts responses and error messages;
    // returns false when ignored (unknown/late sender, not a response, lookup done).
    bool on_response(const Address& from, const krpc::Message& message, TimePoint now);
    void on_timeout(const Address& to, TimePoint now);

    bool done() const;
    std::size_t in_flight() const { return in_flight_; }
    const NodeId& target() const { return target_; }
    LookupKind kind() const { return kind_; }

    // Closest answering nodes (any that answered with r.id), closest first.
    std::vector<NodeInfo> closest_nodes(std::size_t n = 20) const;
    // Closest answering nodes that gave a token (put candidates), closest first.
    std::vector<Responder> closest_responders(std::size_t n = 20) const;
    const std::optional<MutableItem>& best_item() const { return best_; }
    const LookupStats& stats() const { return stats_; }

private:
    enum class State : std::uint8_t { fresh, in_flight, answered, failed };
    struct Candidate {
        std::optional<NodeId> id;  // none for bootstrap addresses until they answer
        Address address;
        State state = State::fresh;
        TimePoint sent{};
        Bytes token;
        TimePoint answered_at{};
    };

    Lookup(const NodeId& self, const NodeId& target, LookupKind kind, LookupConfig config);
    void add_candidate(const NodeInfo& node);
    krpc::Query make_query() const;
    void handle_item(const krpc::Response& r, const NodeInfo& from);
    bool converged() const;

    NodeId self_;
    NodeId target_;
    LookupKind kind_;
    LookupConfig config_;
    std::optional<krpc::PublicKeyBytes> key_;
    Bytes salt_;
    std::optional<std::int64_t> seq_;
    std::vector<Candidate> bootstrap_;   // addresses without ids
    std::vector<Candidate> candidates_;  // sorted by distance to target
    std::size_t in_flight_ = 0;
    LookupStats stats_;
    std::optional<MutableItem> best_;
    ItemCallback on_item_;
};

// Builds the put query for one storage node (A.10): token from its get answer.
krpc::Query make_put_query(const NodeId& self, const MutableItem& item, Bytes token,
                           std::optional<std::int64_t> cas = std::nullopt);

// Aggregates put answers into mainline's outcome (A.3): success when stored_at > 0 unless at
// least half plus one of the contacted nodes answered 301/302 (then that error wins).
class PutTally {
public:
    void sent() { ++sent_; }
    void on_success() { ++stored_at_; }
    void on_error(std::int64_t code);
    void on_timeout() { ++timeouts_; }

    std::size_t stored_at() const { return stored_at_; }
    std::size_t sent_count() const { return sent_; }
    // ok when stored_at > 0 and no 301/302 majority. Error code: 301/302 (majority), the most
    // common other error code, or 0 for "all timed out / no nodes".
    Result<std::size_t> outcome() const;

private:
    std::size_t sent_ = 0, stored_at_ = 0, timeouts_ = 0;
    std::unordered_map<std::int64_t, std::size_t> errors_;
};

}  // namespace pkdns::dht
