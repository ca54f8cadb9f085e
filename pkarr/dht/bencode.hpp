#pragma once
// Bencode (BEP3): a value type, a strict decoder for hostile input and a canonical encoder.
//
// The decoder rejects: trailing bytes, leading zeros ("i03e", "03:abc"), "-0", empty integers,
// integers outside int64, string lengths past the end of input or above the limit, unsorted or
// duplicate dictionary keys, non-string keys, nesting deeper than the limit, too many values.
// Errors say what and at which byte offset ("bencode: leading zero in integer at offset 4").

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace pkdns::dht::bencode {

class Value;
using Int = std::int64_t;
using String = Bytes;
using List = std::vector<Value>;
// Keys are raw byte strings held in std::string; std::less<> on std::string compares like
// memcmp (unsigned bytes), which is bencode's required key order.
using Dict = std::map<std::string, Value, std::less<>>;

class Value {
public:
    enum class Type : std::uint8_t { integer, string, list, dict };

    Value() : v_(Int{0}) {}
    Value(Int i) : v_(i) {}
    Value(int i) : v_(Int{i}) {}
    Value(String s) : v_(std::move(s)) {}
    Value(ByteView s) : v_(String(s.begin(), s.end())) {}
    // Text as a byte string (not a C-string overload trap: explicit std::string_view).
    static Value str(std::string_view s) { return Value(String(s.begin(), s.end())); }
    Value(List l) : v_(std::move(l)) {}
    Value(Dict d) : v_(std::move(d)) {}

    Type type() const { return static_cast<Type>(v_.index()); }
    bool is_int() const { return type() == Type::integer; }
    bool is_string() const { return type() == Type::string; }
    bool is_list() const { return type() == Type::list; }
    bool is_dict() const { return type() == Type::dict; }

    // Checked by assert: call only after the matching is_*().
    Int as_int() const { return std::get<Int>(v_); }
    const String& as_string() const { return std::get<String>(v_); }
    std::string_view as_text() const { return as_chars(std::get<String>(v_)); }
    const List& as_list() const { return std::get<List>(v_); }
    const Dict& as_dict() const { return std::get<Dict>(v_); }
    String& as_string() { return std::get<String>(v_); }
    List& as_list() { return std::get<List>(v_); }
    Dict& as_dict() { return std::get<Dict>(v_); }

    // Dict member lookup; nullptr when this is not a dict or the key is absent.
    const Value* find(std::string_view key) const;

    friend bool operator==(const Value&, const Value&) = default;

private:
    std::variant<Int, String, List, Dict> v_;
};

struct DecodeLimits {
    std::size_t max_depth = 32;        // nested lists/dicts
    std::size_t max_values = 100000;   // total values decoded (bounds work and memory)
    std::size_t max_string = 1 << 20;  // one string's length
    bool require_sorted_keys = true;   // strict canonical order (duplicates are always rejected)
};

// Decodes exactly one value spanning all of `input`.
Result<Value> decode(ByteView input, const DecodeLimits& limits = {});
// Decodes one value at the start of `input`; `consumed` receives its length. Trailing bytes allowed.
Result<Value> decode_prefix(ByteView input, std::size_t& consumed, const DecodeLimits& limits = {});

// Canonical encoding (dict keys sorted by bytes, minimal integers).
Bytes encode(const Value& value);
void encode_to(const Value& value, Bytes& out);

}  // namespace pkdns::dht::bencode
