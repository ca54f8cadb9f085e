#pragma once
// The in-memory front of finalized answers as wire bytes (design.md §4): a hit costs a header
// peek, one hash lookup and a copy; no ldns parse, no SQLite, no signature check, no records
// to encode. Pure: time comes in as a monotonic millisecond count, no I/O.
//
// Only plain queries take this path (peek_query): opcode QUERY, one uncompressed question, no
// answer/authority records, at most one additional record which is an EDNS(0) OPT of version 0
// at the root with well-formed options, and nothing after it. Everything else, and every
// error reply, goes through parse_request()/finalize().
//
// The key is all that makes finalize()'s bytes differ between such queries: the lowercased
// qname, qtype, qclass, whether an OPT was sent and its DO bit. Stored replies are complete
// (finalize dropped nothing) with rcode NOERROR or NXDOMAIN, so they fit every transport; a
// UDP client whose size limit is below the stored size goes the long way. On a hit the copy
// gets the client's ID, RD and CD bits and question bytes (its 0x20 case), and every TTL (the
// OPT's excluded) is lowered by the whole seconds since `base_ms`. An entry is dropped at
// `expires_ms`, never later than base_ms + lowest TTL, so no TTL is shown below 1, or when its
// guard (the PKARR packet it came from) is gone. Memory: a byte budget, least recently used
// entries go first.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/lru.hpp"

namespace pkdns::pipeline {

// What peek_query() read from a plain query.
struct PlainQuery {
    std::uint16_t flags = 0;
    std::size_t question_end = 0;  // offset just past the question
    bool edns = false;
    std::uint16_t udp_size = 512;  // the client's EDNS size clamped to [512, 4096]
    std::string key;               // reused between calls: no allocation once warm
    std::size_t max_udp_size() const { return edns ? udp_size : 512; }
};

// Fills `out` when `wire` is a plain query (see above); false otherwise.
bool peek_query(ByteView wire, PlainQuery& out);

struct WireCacheConfig {
    std::size_t max_bytes = 32u * 1024 * 1024;
};

// How long a stored reply stays valid and what it answers for (the caller's bookkeeping).
struct WireEntryInfo {
    std::uint64_t base_ms = 0;                       // when the reply's TTLs were exact
    std::uint64_t expires_ms = UINT64_MAX;           // upper bound; lowered to base + lowest TTL
    std::uint8_t tag = 0;                            // returned on a hit (the resolver: the route)
    std::optional<std::weak_ptr<const void>> guard;  // the entry dies with it
};

class WireCache {
public:
    explicit WireCache(WireCacheConfig config = {});

    // Stores `reply`, a complete finalize() output, for queries with the same question and
    // EDNS presence / DO bit. Not stored (false): rcode other than NOERROR/NXDOMAIN, TC, no or
    // a malformed question, a record with TTL 0, already expired at `now_ms`, over the budget.
    bool insert(ByteView reply, bool edns, bool do_bit, WireEntryInfo info, std::uint64_t now_ms);
    // The reply for `query` (peeked into `q`) in `out`, patched as above; nullopt on a miss,
    // for an expired entry (dropped) or when the reply is larger than `size_limit`.
    std::optional<std::uint8_t> lookup(const PlainQuery& q, ByteView query, std::size_t size_limit,
                                       std::uint64_t now_ms, Bytes& out);
    std::size_t purge_expired(std::uint64_t now_ms);
    void clear();

    std::size_t size() const { return entries_.size(); }
    std::size_t bytes() const { return entries_.bytes(); }

private:
    struct Entry {
        Bytes reply;                                                // RD and CD cleared
        std::vector<std::pair<std::uint16_t, std::uint32_t>> ttls;  // offset, value at base_ms
        std::size_t question_end = 0;
        std::uint64_t base_ms = 0, expires_ms = 0;
        std::uint8_t tag = 0;
        std::optional<std::weak_ptr<const void>> guard;
        bool expired(std::uint64_t now_ms) const {
            return now_ms >= expires_ms || (guard && guard->expired());
        }
    };

    Lru<std::string, Entry> entries_;  // charged with an estimate of the bytes held
};

}  // namespace pkdns::pipeline
