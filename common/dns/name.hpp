#pragma once
// A DNS domain name as a sequence of labels (raw bytes, case preserved). Always absolute: the
// root is the empty label list. Comparisons with == are case-insensitive (ASCII, RFC 4343).
// Held as its uncompressed wire form in one string (at most 254 bytes, no heap for short names):
// a name costs what its bytes cost, however many labels it has (hostile packets can hold many
// records whose owners are 127-label names).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace pkdns::dns {

class Name {
public:
    Name() = default;  // the root

    // Presentation form: "a.b.c" or "a.b.c." (both absolute), "." or "" is the root.
    // Understands \. and \DDD escapes. Errors: empty label, label > 63, name > 255 wire bytes.
    static Result<Name> parse(std::string_view text);
    static Result<Name> from_labels(std::vector<std::string> labels);
    // Uncompressed wire form starting at `offset` (compression pointers are an error); on success
    // `offset` is moved past the name.
    static Result<Name> from_wire(ByteView wire, std::size_t& offset);

    // The labels, copied (for code that edits them; label() and last_label() do not allocate).
    std::vector<std::string> labels() const;
    std::string_view label(std::size_t i) const;  // i < label_count()
    std::string_view last_label() const;          // not for the root
    std::size_t label_count() const { return count_; }
    bool is_root() const { return count_ == 0; }
    std::size_t wire_length() const { return wire_.size() + 1; }  // uncompressed, with the root byte
    // The uncompressed wire form without the final root byte.
    std::string_view wire() const { return wire_; }
    // Bytes held on the heap beyond sizeof(Name) (for memory accounting).
    std::size_t heap_bytes() const { return wire_.capacity() > 15 ? wire_.capacity() + 1 : 0; }

    // Presentation form without the trailing dot ("" for the root), special chars escaped.
    std::string to_string() const;
    Name to_lower() const;
    // Drops the first `n` labels (n <= label_count()).
    Name parent(std::size_t n = 1) const;
    // This name with `label` in front of it. No limit checks: validate with from_labels() when
    // the label or the result length come from input.
    Name prepend(std::string_view label) const;
    // The leftmost `n` labels as a name (n <= label_count()).
    Name first_labels(std::size_t n) const;
    // This name followed by `tail` / by one more label; errors past 255 bytes or 63-byte labels.
    Result<Name> concat(const Name& tail) const;
    Result<Name> append_label(std::string_view label) const;
    // True when this name equals `zone` or is below it (case-insensitive).
    bool is_subdomain_of(const Name& zone) const;
    // Exact byte equality (case-sensitive).
    bool identical(const Name& other) const { return wire_ == other.wire_; }

    friend bool operator==(const Name& a, const Name& b);

    // Uncompressed wire form appended to `out`.
    void append_wire(Bytes& out) const;

private:
    std::string wire_;        // length-prefixed labels without the final root byte
    std::uint8_t count_ = 0;  // labels (at most 127)
};

bool operator==(const Name& a, const Name& b);
bool label_equal_ci(std::string_view a, std::string_view b);

}  // namespace pkdns::dns
