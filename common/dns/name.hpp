#pragma once
// A DNS domain name as a sequence of labels (raw bytes, case preserved). Always absolute: the
// root is the empty label list. Comparisons with == are case-insensitive (ASCII, RFC 4343).

#include <cstddef>
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

    const std::vector<std::string>& labels() const { return labels_; }
    std::size_t label_count() const { return labels_.size(); }
    bool is_root() const { return labels_.empty(); }
    std::size_t wire_length() const;  // uncompressed, including the root byte

    // Presentation form without the trailing dot ("" for the root), special chars escaped.
    std::string to_string() const;
    Name to_lower() const;
    // Drops the first `n` labels (n <= label_count()).
    Name parent(std::size_t n = 1) const;
    // This name with `label` in front of it. No limit checks: validate with from_labels() when
    // the label or the result length come from input.
    Name prepend(std::string_view label) const;
    // True when this name equals `zone` or is below it (case-insensitive).
    bool is_subdomain_of(const Name& zone) const;
    // Exact byte equality (case-sensitive).
    bool identical(const Name& other) const { return labels_ == other.labels_; }

    friend bool operator==(const Name& a, const Name& b);

    // Uncompressed wire form appended to `out`.
    void append_wire(Bytes& out) const;

private:
    std::vector<std::string> labels_;
};

bool operator==(const Name& a, const Name& b);
bool label_equal_ci(std::string_view a, std::string_view b);

}  // namespace pkdns::dns
