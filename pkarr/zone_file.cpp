#include "pkarr/zone_file.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

#include "common/file.hpp"
#include "common/dns/zone_text.hpp"

namespace pkdns::pkarr {

namespace {

bool ends_with_unescaped_dot(std::string_view token) {
    if (token.empty() || token.back() != '.') return false;
    std::size_t backslashes = 0;
    for (std::size_t i = token.size() - 1; i > 0 && token[i - 1] == '\\'; --i) ++backslashes;
    return backslashes % 2 == 0;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Next whitespace-delimited token from `pos` (backslash escapes kept inside the token).
std::string_view next_token(std::string_view line, std::size_t& pos) {
    while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
    std::size_t start = pos;
    while (pos < line.size() && !std::isspace(static_cast<unsigned char>(line[pos]))) {
        if (line[pos] == '\\' && pos + 1 < line.size()) ++pos;
        ++pos;
    }
    return line.substr(start, pos - start);
}

// Finds the line of an absolute owner name or $ORIGIN outside the key's zone, so the error can
// name it. The full check after parsing stays authoritative; this only improves the message.
std::optional<std::string> find_out_of_zone_line(std::string_view text, const dns::Name& apex) {
    int depth = 0;  // open parentheses: continuation lines carry no owner name
    std::size_t line_no = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        ++line_no;
        if (depth == 0 && !line.empty() && !std::isspace(static_cast<unsigned char>(line[0])) &&
            line[0] != ';' && line[0] != '(') {
            std::size_t pos = 0;
            std::string_view first = next_token(line, pos);
            std::string_view name;
            if (iequals(first, "$ORIGIN")) {
                name = next_token(line, pos);
            } else if (first[0] != '$') {
                name = first;
            }
            if (ends_with_unescaped_dot(name)) {
                auto parsed = dns::Name::parse(name);
                if (parsed && !parsed->is_subdomain_of(apex))
                    return "line " + std::to_string(line_no) + ": " + std::string(name) +
                           " is outside the zone of " + apex.to_string();
            }
        }
        bool quoted = false;
        for (std::size_t i = 0; i < line.size(); ++i) {
            char c = line[i];
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (!quoted && c == ';') {
                break;
            } else if (!quoted && c == '(') {
                ++depth;
            } else if (!quoted && c == ')' && depth > 0) {
                --depth;
            }
        }
        start = end + 1;
    }
    return std::nullopt;
}

}  // namespace

Result<std::vector<dns::Record>> parse_zone(std::string_view text, const PublicKey& key,
                                            std::string_view source) {
    const std::string prefix = std::string(source) + ": ";
    auto apex = dns::Name::parse(key.to_z32());
    if (!apex) return make_error(prefix + apex.error().message);
    if (auto where = find_out_of_zone_line(text, *apex)) return make_error(prefix + *where);
    auto records = dns::parse_zone_text(text, *apex);
    if (!records) return make_error(prefix + records.error().message, records.error().code);
    for (const auto& r : *records) {
        if (!r.name.is_subdomain_of(*apex))
            return make_error(prefix + r.name.to_string() + ". is outside the zone of " + apex->to_string());
    }
    return records;
}

Result<std::vector<dns::Record>> load_zone_file(const std::filesystem::path& file, const PublicKey& key) {
    auto text = read_bounded_file(file, max_zone_file_bytes);
    if (!text) return text.error();
    return parse_zone(*text, key, file.string());
}

}  // namespace pkdns::pkarr
