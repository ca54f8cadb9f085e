#include "common/dns/name.hpp"

#include <algorithm>
#include <cstdio>

namespace pkdns::dns {

namespace {

constexpr std::size_t max_label = 63;
constexpr std::size_t max_wire = 255;

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

Result<void> check_limits(const std::vector<std::string>& labels) {
    std::size_t wire = 1;
    for (const auto& label : labels) {
        if (label.empty()) return make_error("empty label");
        if (label.size() > max_label) return make_error("label longer than 63 bytes");
        wire += label.size() + 1;
    }
    if (wire > max_wire) return make_error("name longer than 255 bytes");
    return {};
}

}  // namespace

bool label_equal_ci(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

Result<Name> Name::parse(std::string_view text) {
    if (text.empty() || text == ".") return Name{};
    std::vector<std::string> labels;
    std::string label;
    bool pending = false;  // a label has started (possibly empty so far)
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\\') {
            if (i + 1 >= text.size()) return make_error("dangling backslash");
            char n = text[i + 1];
            if (n >= '0' && n <= '9') {
                if (i + 3 >= text.size()) return make_error("truncated \\DDD escape");
                int value = 0;
                for (std::size_t k = 1; k <= 3; ++k) {
                    char d = text[i + k];
                    if (d < '0' || d > '9') return make_error("bad \\DDD escape");
                    value = value * 10 + (d - '0');
                }
                if (value > 255) return make_error("\\DDD escape above 255");
                label.push_back(static_cast<char>(value));
                i += 3;
            } else {
                label.push_back(n);
                i += 1;
            }
            pending = true;
            if (label.size() > max_label) return make_error("label longer than 63 bytes");
        } else if (c == '.') {
            if (label.empty()) return make_error("empty label");
            labels.push_back(std::move(label));
            label.clear();
            pending = false;
        } else {
            label.push_back(c);
            pending = true;
            if (label.size() > max_label) return make_error("label longer than 63 bytes");
        }
    }
    if (pending) labels.push_back(std::move(label));
    return from_labels(std::move(labels));
}

Result<Name> Name::from_labels(std::vector<std::string> labels) {
    if (auto r = check_limits(labels); !r) return r.error();
    Name name;
    for (const auto& label : labels) {
        name.wire_.push_back(static_cast<char>(label.size()));
        name.wire_ += label;
    }
    name.count_ = static_cast<std::uint8_t>(labels.size());
    return name;
}

Result<Name> Name::from_wire(ByteView wire, std::size_t& offset) {
    std::size_t pos = offset;
    std::size_t count = 0;
    while (true) {
        if (pos >= wire.size()) return make_error("name truncated");
        std::uint8_t len = wire[pos++];
        if (len == 0) break;
        if (len > max_label) return make_error("bad label length or compression pointer");
        if (pos + len > wire.size()) return make_error("name truncated");
        if (pos + len - offset + 1 > max_wire) return make_error("name longer than 255 bytes");
        pos += len;
        ++count;
    }
    Name name;
    name.wire_.assign(reinterpret_cast<const char*>(wire.data() + offset), pos - 1 - offset);
    name.count_ = static_cast<std::uint8_t>(count);
    offset = pos;
    return name;
}

std::vector<std::string> Name::labels() const {
    std::vector<std::string> out;
    out.reserve(count_);
    for (std::size_t pos = 0; pos < wire_.size(); pos += 1 + static_cast<std::uint8_t>(wire_[pos]))
        out.emplace_back(wire_.substr(pos + 1, static_cast<std::uint8_t>(wire_[pos])));
    return out;
}

std::string_view Name::label(std::size_t i) const {
    std::size_t pos = 0;
    for (; i > 0; --i) pos += 1 + static_cast<std::uint8_t>(wire_[pos]);
    return std::string_view(wire_).substr(pos + 1, static_cast<std::uint8_t>(wire_[pos]));
}

std::string_view Name::last_label() const {
    return label(count_ - 1u);
}

std::string Name::to_string() const {
    std::string out;
    for (std::size_t pos = 0; pos < wire_.size();) {
        const std::size_t len = static_cast<std::uint8_t>(wire_[pos]);
        if (pos) out.push_back('.');
        for (char ch : std::string_view(wire_).substr(pos + 1, len)) {
            auto c = static_cast<unsigned char>(ch);
            // Same escaping as ldns's dname presentation.
            if (c == '.' || c == ';' || c == '(' || c == ')' || c == '\\' || c == '"') {
                out.push_back('\\');
                out.push_back(ch);
            } else if (c < 0x21 || c > 0x7e) {
                char buf[5];
                std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
                out += buf;
            } else {
                out.push_back(ch);
            }
        }
        pos += 1 + len;
    }
    return out;
}

// Length bytes are at most 63, below 'A': lowering every byte leaves them alone.
Name Name::to_lower() const {
    Name out = *this;
    for (auto& c : out.wire_) c = ascii_lower(c);
    return out;
}

Name Name::parent(std::size_t n) const {
    Name out;
    if (n >= count_) return out;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) pos += 1 + static_cast<std::uint8_t>(wire_[pos]);
    out.wire_ = wire_.substr(pos);
    out.count_ = static_cast<std::uint8_t>(count_ - n);
    return out;
}

Name Name::prepend(std::string_view label) const {
    Name out;
    out.wire_.reserve(wire_.size() + label.size() + 1);
    out.wire_.push_back(static_cast<char>(label.size()));
    out.wire_ += label;
    out.wire_ += wire_;
    out.count_ = static_cast<std::uint8_t>(count_ + 1);
    return out;
}

Name Name::first_labels(std::size_t n) const {
    Name out;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n && i < count_; ++i) pos += 1 + static_cast<std::uint8_t>(wire_[pos]);
    out.wire_ = wire_.substr(0, pos);
    out.count_ = static_cast<std::uint8_t>(std::min<std::size_t>(n, count_));
    return out;
}

Result<Name> Name::concat(const Name& tail) const {
    if (wire_.size() + tail.wire_.size() + 1 > max_wire) return make_error("name longer than 255 bytes");
    Name out;
    out.wire_ = wire_ + tail.wire_;
    out.count_ = static_cast<std::uint8_t>(count_ + tail.count_);
    return out;
}

Result<Name> Name::append_label(std::string_view label) const {
    if (label.empty()) return make_error("empty label");
    if (label.size() > max_label) return make_error("label longer than 63 bytes");
    if (wire_.size() + label.size() + 2 > max_wire) return make_error("name longer than 255 bytes");
    Name out = *this;
    out.wire_.push_back(static_cast<char>(label.size()));
    out.wire_ += label;
    ++out.count_;
    return out;
}

bool Name::is_subdomain_of(const Name& zone) const {
    if (zone.count_ > count_) return false;
    std::size_t pos = 0;
    for (std::size_t i = count_ - zone.count_; i > 0; --i) pos += 1 + static_cast<std::uint8_t>(wire_[pos]);
    return label_equal_ci(std::string_view(wire_).substr(pos), zone.wire_);
}

bool operator==(const Name& a, const Name& b) {
    return a.count_ == b.count_ && label_equal_ci(a.wire_, b.wire_);
}

void Name::append_wire(Bytes& out) const {
    out.insert(out.end(), wire_.begin(), wire_.end());
    out.push_back(0);
}

}  // namespace pkdns::dns
