#pragma once
// KRPC (BEP5 + BEP42/43/44) messages as typed values, a validating decoder and a canonical encoder.
// See mainline-dht.md A.1-A.3 and A.16.
//
// Decoding rules (all hostile input gives an error, never a crash):
// - the datagram must be one bencoded dict (strict bencode, see bencode.hpp), <= 64 KiB;
// - `t` 1..16 bytes (any length in between is accepted and echoed; we send 4);
// - `y` is "q", "r" or "e"; queries need `q` and `a`, responses `r`, errors `e` = [int, string];
// - every `id`, `target`, `info_hash` is 20 bytes; `k` 32; `sig` 64; `nodes` a multiple of 26
//   (`nodes6` a multiple of 38); `values` a list of 6- or 18-byte strings; `ip` 6 or 18 bytes;
// - `v` (BEP44 value) must be a byte string; its size is NOT limited here so the server can
//   answer 205, and the lookup can count an oversize value as invalid;
// - top-level `v` (client version) is kept only when exactly 4 bytes, otherwise ignored;
// - `ro` must be the integer 0 or 1 when present; unknown keys are ignored.
// A query with valid `t` but bad or missing arguments fails with error code 203
// (protocol error), an unknown method with 204; anything else with code 0. The I/O layer may
// answer 203/204 using transaction_id() or just drop (mainline and bittorrent-dht drop).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"
#include "pkarr/dht/address.hpp"
#include "pkarr/dht/node_id.hpp"

namespace pkdns::dht::krpc {

// Error codes (BEP5/BEP44, mainline-dht.md A.3).
inline constexpr int error_generic = 201;
inline constexpr int error_server = 202;
inline constexpr int error_protocol = 203;  // malformed, bad token, target mismatch
inline constexpr int error_method_unknown = 204;
inline constexpr int error_value_too_big = 205;
inline constexpr int error_bad_signature = 206;
inline constexpr int error_salt_too_big = 207;
inline constexpr int error_cas_mismatch = 301;
inline constexpr int error_seq_too_low = 302;

inline constexpr std::size_t compact_node_v4_size = 26;
inline constexpr std::size_t compact_node_v6_size = 38;
inline constexpr std::size_t max_transaction_id = 16;
inline constexpr std::size_t max_message_size = 65536;
inline constexpr std::size_t max_value_size = 1000;  // BEP44 v
inline constexpr std::size_t max_salt_size = 64;

using PublicKeyBytes = std::array<std::uint8_t, 32>;
using SignatureBytes = std::array<std::uint8_t, 64>;
using Version = std::array<std::uint8_t, 4>;

struct NodeInfo {
    NodeId id;
    Address address;
    friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

// Compact node info: 26 bytes each (id ‖ IPv4 ‖ port) or 38 for IPv6. Error unless the size is a
// multiple of the entry size.
Result<std::vector<NodeInfo>> decode_nodes(ByteView bytes);
Result<std::vector<NodeInfo>> decode_nodes6(ByteView bytes);
// Skips nodes of the other family.
Bytes encode_nodes(std::span<const NodeInfo> nodes);
Bytes encode_nodes6(std::span<const NodeInfo> nodes);

enum class Method : std::uint8_t { ping, find_node, get_peers, announce_peer, get, put };
std::string_view method_name(Method m);

struct Query {
    Method method = Method::ping;
    NodeId id;                          // sender's id (every query)
    std::optional<NodeId> target;       // find_node, get; optional in put (mainline sends it)
    std::optional<NodeId> info_hash;    // get_peers, announce_peer
    std::optional<std::uint16_t> port;  // announce_peer
    bool implied_port = false;          // announce_peer: use the UDP source port
    std::optional<Bytes> token;         // announce_peer, put
    // BEP44 (get: optional seq; put: v, and k/sig/seq/cas/salt for mutable items).
    std::optional<std::int64_t> seq;
    std::optional<std::int64_t> cas;
    std::optional<PublicKeyBytes> k;
    std::optional<SignatureBytes> sig;
    std::optional<Bytes> salt;
    std::optional<Bytes> v;  // raw bytes of the bencoded string
    friend bool operator==(const Query&, const Query&) = default;
};

struct Response {
    NodeId id;
    std::optional<std::vector<NodeInfo>> nodes;   // IPv4 compact list
    std::optional<std::vector<NodeInfo>> nodes6;  // parsed safely, rarely sent
    std::optional<Bytes> token;
    std::optional<std::vector<Address>> values;  // get_peers peers
    // BEP44 get: v (+ k, sig, seq for mutable); seq alone = "no more recent value".
    std::optional<Bytes> v;
    std::optional<PublicKeyBytes> k;
    std::optional<SignatureBytes> sig;
    std::optional<std::int64_t> seq;
    friend bool operator==(const Response&, const Response&) = default;
};

struct ErrorReply {
    std::int64_t code = error_generic;
    std::string message;
    friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};

struct Message {
    Bytes t;  // transaction id, echoed byte for byte
    std::variant<Query, Response, ErrorReply> body;
    std::optional<Version> version;  // top-level `v`
    std::optional<Address> ip;       // BEP42: requester's address as the responder sees it
    bool read_only = false;          // BEP43 `ro`; encoded only when true

    bool is_query() const { return body.index() == 0; }
    bool is_response() const { return body.index() == 1; }
    bool is_error() const { return body.index() == 2; }
    const Query& query() const { return std::get<Query>(body); }
    const Response& response() const { return std::get<Response>(body); }
    const ErrorReply& error() const { return std::get<ErrorReply>(body); }
    Query& query() { return std::get<Query>(body); }
    Response& response() { return std::get<Response>(body); }
    ErrorReply& error() { return std::get<ErrorReply>(body); }
    friend bool operator==(const Message&, const Message&) = default;
};

Result<Message> decode(ByteView datagram);
// Canonical bencoding. Fields that do not belong to a query's method are still encoded if set
// (the encoder does not police; decode(encode(m)) == m holds for every decodable m).
Bytes encode(const Message& message);

// Best effort: the `t` of a datagram that failed to decode as a whole (for a 203 reply).
std::optional<Bytes> transaction_id(ByteView datagram);

// Convenience builders (t left empty for the I/O layer to fill).
Message make_query(Query query, Bytes t = {});
Message make_response(Response response, Bytes t);
Message make_error(std::int64_t code, std::string message, Bytes t);

}  // namespace pkdns::dht::krpc

namespace pkdns::dht {
using krpc::NodeInfo;
}  // namespace pkdns::dht
