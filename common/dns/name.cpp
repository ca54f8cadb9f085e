#include "common/dns/name.hpp"

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
    name.labels_ = std::move(labels);
    return name;
}

Result<Name> Name::from_wire(ByteView wire, std::size_t& offset) {
    std::vector<std::string> labels;
    std::size_t pos = offset;
    std::size_t total = 1;
    while (true) {
        if (pos >= wire.size()) return make_error("name truncated");
        std::uint8_t len = wire[pos++];
        if (len == 0) break;
        if (len > max_label) return make_error("bad label length or compression pointer");
        if (pos + len > wire.size()) return make_error("name truncated");
        total += len + 1u;
        if (total > max_wire) return make_error("name longer than 255 bytes");
        labels.emplace_back(reinterpret_cast<const char*>(wire.data() + pos), len);
        pos += len;
    }
    offset = pos;
    Name name;
    name.labels_ = std::move(labels);
    return name;
}

std::size_t Name::wire_length() const {
    std::size_t n = 1;
    for (const auto& label : labels_) n += label.size() + 1;
    return n;
}

std::string Name::to_string() const {
    std::string out;
    for (std::size_t i = 0; i < labels_.size(); ++i) {
        if (i) out.push_back('.');
        for (char ch : labels_[i]) {
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
    }
    return out;
}

Name Name::to_lower() const {
    Name out = *this;
    for (auto& label : out.labels_) {
        for (auto& c : label) c = ascii_lower(c);
    }
    return out;
}

Name Name::parent(std::size_t n) const {
    Name out;
    if (n < labels_.size())
        out.labels_.assign(labels_.begin() + static_cast<std::ptrdiff_t>(n), labels_.end());
    return out;
}

Name Name::prepend(std::string_view label) const {
    Name out;
    out.labels_.reserve(labels_.size() + 1);
    out.labels_.emplace_back(label);
    out.labels_.insert(out.labels_.end(), labels_.begin(), labels_.end());
    return out;
}

bool Name::is_subdomain_of(const Name& zone) const {
    if (zone.labels_.size() > labels_.size()) return false;
    std::size_t skip = labels_.size() - zone.labels_.size();
    for (std::size_t i = 0; i < zone.labels_.size(); ++i) {
        if (!label_equal_ci(labels_[skip + i], zone.labels_[i])) return false;
    }
    return true;
}

bool operator==(const Name& a, const Name& b) {
    if (a.labels_.size() != b.labels_.size()) return false;
    for (std::size_t i = 0; i < a.labels_.size(); ++i) {
        if (!label_equal_ci(a.labels_[i], b.labels_[i])) return false;
    }
    return true;
}

void Name::append_wire(Bytes& out) const {
    for (const auto& label : labels_) {
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
    }
    out.push_back(0);
}

}  // namespace pkdns::dns
