#include "pkarr/dht/bencode.hpp"

#include <charconv>
#include <limits>

namespace pkdns::dht::bencode {

const Value* Value::find(std::string_view key) const {
    if (!is_dict()) return nullptr;
    const Dict& d = std::get<Dict>(v_);
    auto it = d.find(key);
    return it == d.end() ? nullptr : &it->second;
}

namespace {

class Decoder {
public:
    Decoder(ByteView in, const DecodeLimits& limits) : in_(in), limits_(limits) {}

    Result<Value> value(std::size_t depth) {
        if (pos_ >= in_.size()) return fail("unexpected end of input");
        if (++values_ > limits_.max_values) return fail("too many values");
        std::uint8_t c = in_[pos_];
        if (c == 'i') return integer();
        if (c >= '0' && c <= '9') {
            auto s = string();
            if (!s) return s.error();
            return Value(std::move(s).value());
        }
        if (c == 'l' || c == 'd') {
            if (depth >= limits_.max_depth)
                return fail("nesting deeper than " + std::to_string(limits_.max_depth));
            return c == 'l' ? list(depth) : dict(depth);
        }
        return fail("unexpected byte 0x" + to_hex(in_.subspan(pos_, 1)));
    }

    std::size_t pos() const { return pos_; }

private:
    Error fail(const std::string& what) const {
        return make_error("bencode: " + what + " at offset " + std::to_string(pos_));
    }

    // Digits of an integer or a length, without sign; rejects leading zeros.
    Result<std::uint64_t> digits(char terminator, std::uint64_t max) {
        std::size_t start = pos_;
        std::uint64_t n = 0;
        while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') {
            std::uint64_t d = in_[pos_] - '0';
            if (n > (max - d) / 10) return fail("number too large");
            n = n * 10 + d;
            ++pos_;
        }
        if (pos_ == start) return fail("missing digits");
        if (in_[start] == '0' && pos_ - start > 1) {
            pos_ = start;
            return fail("leading zero");
        }
        if (pos_ >= in_.size()) return fail("unexpected end of input");
        if (in_[pos_] != static_cast<std::uint8_t>(terminator))
            return fail(std::string("expected '") + terminator + "'");
        ++pos_;
        return n;
    }

    Result<Value> integer() {
        ++pos_;  // 'i'
        bool negative = false;
        if (pos_ < in_.size() && in_[pos_] == '-') {
            negative = true;
            ++pos_;
        }
        std::size_t start = pos_;
        constexpr std::uint64_t max_pos = static_cast<std::uint64_t>(std::numeric_limits<Int>::max());
        auto n = digits('e', negative ? max_pos + 1 : max_pos);
        if (!n) return n.error();
        if (negative && *n == 0) {
            pos_ = start;
            return fail("negative zero");
        }
        if (!negative) return Value(static_cast<Int>(*n));
        if (*n == max_pos + 1) return Value(std::numeric_limits<Int>::min());
        return Value(-static_cast<Int>(*n));
    }

    Result<String> string() {
        auto len = digits(':', std::numeric_limits<std::uint32_t>::max());
        if (!len) return len.error();
        if (*len > limits_.max_string) return fail("string longer than limit");
        if (*len > in_.size() - pos_)
            return fail("string length " + std::to_string(*len) + " past end of input");
        String s(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                 in_.begin() + static_cast<std::ptrdiff_t>(pos_ + *len));
        pos_ += *len;
        return s;
    }

    Result<Value> list(std::size_t depth) {
        ++pos_;  // 'l'
        List out;
        while (true) {
            if (pos_ >= in_.size()) return fail("unterminated list");
            if (in_[pos_] == 'e') break;
            auto v = value(depth + 1);
            if (!v) return v.error();
            out.push_back(std::move(v).value());
        }
        ++pos_;
        return Value(std::move(out));
    }

    Result<Value> dict(std::size_t depth) {
        ++pos_;  // 'd'
        Dict out;
        const std::string* previous = nullptr;
        while (true) {
            if (pos_ >= in_.size()) return fail("unterminated dictionary");
            if (in_[pos_] == 'e') break;
            if (in_[pos_] < '0' || in_[pos_] > '9') return fail("dictionary key is not a string");
            std::size_t key_at = pos_;
            auto key = string();
            if (!key) return key.error();
            std::string k(as_chars(*key));
            if (previous != nullptr) {
                if (k == *previous) {
                    pos_ = key_at;
                    return fail("duplicate dictionary key");
                }
                if (limits_.require_sorted_keys && k < *previous) {
                    pos_ = key_at;
                    return fail("unsorted dictionary key");
                }
            }
            if (out.count(k) != 0) {  // possible only with require_sorted_keys = false
                pos_ = key_at;
                return fail("duplicate dictionary key");
            }
            auto v = value(depth + 1);
            if (!v) return v.error();
            auto [it, inserted] = out.emplace(std::move(k), std::move(v).value());
            (void)inserted;
            previous = &it->first;
        }
        ++pos_;
        return Value(std::move(out));
    }

    ByteView in_;
    const DecodeLimits& limits_;
    std::size_t pos_ = 0;
    std::size_t values_ = 0;
};

void append(Bytes& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}

void append_string(Bytes& out, std::string_view s) {
    append(out, std::to_string(s.size()));
    out.push_back(':');
    append(out, s);
}

}  // namespace

Result<Value> decode_prefix(ByteView input, std::size_t& consumed, const DecodeLimits& limits) {
    Decoder d(input, limits);
    auto v = d.value(0);
    if (!v) return v.error();
    consumed = d.pos();
    return v;
}

Result<Value> decode(ByteView input, const DecodeLimits& limits) {
    std::size_t consumed = 0;
    auto v = decode_prefix(input, consumed, limits);
    if (!v) return v;
    if (consumed != input.size())
        return make_error("bencode: " + std::to_string(input.size() - consumed) +
                          " trailing bytes at offset " + std::to_string(consumed));
    return v;
}

void encode_to(const Value& value, Bytes& out) {
    switch (value.type()) {
        case Value::Type::integer:
            out.push_back('i');
            append(out, std::to_string(value.as_int()));
            out.push_back('e');
            break;
        case Value::Type::string:
            append_string(out, value.as_text());
            break;
        case Value::Type::list:
            out.push_back('l');
            for (const Value& v : value.as_list()) encode_to(v, out);
            out.push_back('e');
            break;
        case Value::Type::dict:
            out.push_back('d');
            for (const auto& [k, v] : value.as_dict()) {
                append_string(out, k);
                encode_to(v, out);
            }
            out.push_back('e');
            break;
    }
}

Bytes encode(const Value& value) {
    Bytes out;
    encode_to(value, out);
    return out;
}

}  // namespace pkdns::dht::bencode
