#include "conf/config.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace pkdns::conf {

std::vector<SocketAddress> default_dns_listen() {
    return {SocketAddress{IpAddress::v4(127, 0, 0, 1), 53},
            SocketAddress{IpAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 53}};
}

std::vector<Cidr> default_dns_allow() {
    std::vector<Cidr> out;
    for (auto text :
         {"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}) {
        out.push_back(Cidr::parse(text).value());
    }
    return out;
}

std::vector<SocketAddress> default_upstreams() {
    return {SocketAddress{IpAddress::v4(1, 1, 1, 1), 53}, SocketAddress{IpAddress::v4(8, 8, 8, 8), 53}};
}

std::vector<HostPort> default_bootstrap() {
    return {{"router.bittorrent.com", 6881},
            {"dht.transmissionbt.com", 6881},
            {"dht.libtorrent.org", 25401},
            {"relay.pkarr.org", 6881}};
}

std::vector<Cidr> default_metrics_allow() {
    return {Cidr::parse("127.0.0.0/8").value(), Cidr::parse("::1/128").value()};
}

std::vector<std::string> default_relay_urls() {
    return {"https://pkarr.pubky.app", "https://pkarr.pubky.org"};
}

namespace {

constexpr std::int64_t kMaxTtl = 2147483647;  // RFC 2181 §8
constexpr std::int64_t kMaxRate = 1000000;
constexpr std::size_t kMaxListItems = 1024;
constexpr std::size_t kMaxPublishEntries = 1024;
constexpr std::size_t kMaxStringLength = 4096;
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;

// ---- Value checks shared by the file parser and the flag overlay (no locations in messages).

Result<SocketAddress> parse_server(std::string_view text) {
    auto addr = SocketAddress::parse(text);
    if (addr && addr->port == 0)
        return make_error("'" + std::string(text) + "': port 0 is not a server port");
    return addr;
}

Result<HostPort> parse_bootstrap(std::string_view text) {
    auto hp = HostPort::parse(text);
    if (hp && hp->port == 0) return make_error("'" + std::string(text) + "': port 0 is not a server port");
    return hp;
}

Result<std::optional<SocketAddress>> parse_http_listen(std::string_view text) {
    if (text.empty()) return std::optional<SocketAddress>{};
    auto addr = SocketAddress::parse(text);
    if (!addr) return addr.error();
    return std::optional<SocketAddress>{*addr};
}

Result<std::string> parse_path(std::string_view text, bool allow_empty) {
    if (text.empty() && !allow_empty) return make_error("must not be empty");
    if (text.find('\0') != std::string_view::npos) return make_error("contains a NUL character");
    return std::string(text);
}

Result<std::string> parse_relay_url(std::string_view text) {
    auto scheme_end = text.find("://");
    std::string_view scheme = scheme_end == std::string_view::npos ? "" : text.substr(0, scheme_end);
    if (scheme != "http" && scheme != "https") {
        return make_error("'" + std::string(text) + "': expected an http:// or https:// URL");
    }
    auto rest = text.substr(scheme_end + 3);
    if (rest.empty() || rest.front() == '/')
        return make_error("'" + std::string(text) + "': URL has no host");
    for (char c : text) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return make_error("'" + std::string(text) + "': URL contains spaces or control characters");
        }
    }
    return std::string(text);
}

Result<std::string> parse_top_level_domain(std::string_view text) {
    std::string out;
    if (text.size() > 63) return make_error("must be one DNS label of at most 63 characters");
    for (char c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok)
            return make_error("'" + std::string(text) +
                              "': must be one DNS label (letters, digits, '-'), or \"\"");
        out.push_back(c);
    }
    if (!out.empty() && (out.front() == '-' || out.back() == '-')) {
        return make_error("'" + out + "': a label cannot start or end with '-'");
    }
    return out;
}

Result<std::string> parse_refuse_action(std::string_view text) {
    if (text != "drop" && text != "refuse")
        return make_error("'" + std::string(text) + "': expected drop or refuse");
    return std::string(text);
}

Result<std::string> parse_cookie_secret(std::string_view text) {
    if (text.empty()) return std::string();
    if (text.size() != 32 || text.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
        return make_error("expected 32 hex digits (16 bytes), or \"\" for a random secret");
    return std::string(text);
}

Result<std::string> parse_log_level(std::string_view text) {
    static const std::set<std::string_view> levels = {"trace", "debug",    "info", "warn",
                                                      "error", "critical", "off"};
    if (!levels.count(text)) {
        return make_error("'" + std::string(text) +
                          "': expected one of trace, debug, info, warn, error, critical, off");
    }
    return std::string(text);
}

// The text a list entry is compared by for duplicates ("127.0.0.1:053" equals "127.0.0.1:53").
std::string canonical(const SocketAddress& a) {
    return a.to_string();
}
std::string canonical(const Cidr& c) {
    return c.to_string();
}
std::string canonical(const HostPort& h) {
    return h.to_string();
}
std::string canonical(const std::string& s) {
    return s;
}

std::string resolve_path(const std::string& path, std::string_view base_dir) {
    if (path.empty() || path == ":memory:" || base_dir.empty()) return path;
    std::filesystem::path p(path);
    if (p.is_absolute()) return path;
    return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// Makes a key printable on one line (TOML allows any string as a quoted key).
std::string printable(std::string_view text, std::size_t max_length = 100) {
    std::string out;
    for (char c : text.substr(0, max_length)) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    if (text.size() > max_length) out += "...";
    return out;
}

// toml::table iterates in key order; errors should come in document order.
std::vector<std::pair<const toml::key*, const toml::node*>> in_document_order(const toml::table& table) {
    std::vector<std::pair<const toml::key*, const toml::node*>> out;
    for (auto&& [k, v] : table) out.emplace_back(&k, &v);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.first->source().begin.line < b.first->source().begin.line;
    });
    return out;
}

std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        default:
            return "nothing";
    }
}

// Keys of the Rust pkdns that have no equivalent here: rejected with a hint instead of a bare
// "unknown key".
std::string_view unsupported_hint(std::string_view full_key) {
    if (full_key == "dht.dht_cache_mb")
        return " (Rust pkdns key; the packet cache is sized by [cache] max_packets)";
    return "";
}

// ---- The file parser: walks the TOML tree, one handler per known key.

struct Origin {
    std::string key;
    std::uint32_t line = 0;
};

class FileParser {
public:
    FileParser(std::string_view source, std::string_view base_dir) : source_(source), base_dir_(base_dir) {}

    Result<Config> parse(const toml::table& root);

private:
    using Handler = std::function<Result<void>(const toml::node&, const std::string& key)>;
    struct KeySpec {
        std::string_view name;
        std::string_view target;  // the setting it writes, for alias conflicts ("dns.listen")
        Handler apply;
    };

    Error at(std::uint32_t line, const std::string& key, std::string_view reason) const {
        return make_error(source_ + ": line " + std::to_string(line) + ": key '" + printable(key) +
                          "': " + printable(reason, 500));
    }
    Error at(const toml::node& n, const std::string& key, std::string_view reason) const {
        return at(n.source().begin.line, key, reason);
    }

    // track_conflicts: remember which key set each target, so an alias and our key (or two
    // aliases) setting the same thing are an error.
    Result<void> section(const toml::node& node, const std::string& name, const std::vector<KeySpec>& specs,
                         bool track_conflicts = true);
    Result<void> publish_entries(const toml::node& node);
    Result<void> cross_checks() const;

    // Typed getters: errors name the key and the value's line.
    Result<std::int64_t> integer(const toml::node& n, const std::string& key, std::int64_t lo,
                                 std::int64_t hi) const;
    Result<bool> boolean(const toml::node& n, const std::string& key) const;
    Result<std::string> string(const toml::node& n, const std::string& key) const;
    // A list of strings, each turned into T by parse_item. A single string is taken as a
    // one-element list (Rust pkdns files give one address). Duplicates are rejected.
    template <class T, class Parse>
    Result<std::vector<T>> list(const toml::node& n, const std::string& key, Parse parse_item) const;

    Handler set_u32(std::uint32_t& field, std::int64_t lo, std::int64_t hi) {
        return [this, &field, lo, hi](const toml::node& n, const std::string& key) -> Result<void> {
            auto v = integer(n, key, lo, hi);
            if (!v) return v.error();
            field = static_cast<std::uint32_t>(*v);
            return {};
        };
    }
    Handler set_u64(std::uint64_t& field, std::int64_t lo, std::int64_t hi) {
        return [this, &field, lo, hi](const toml::node& n, const std::string& key) -> Result<void> {
            auto v = integer(n, key, lo, hi);
            if (!v) return v.error();
            field = static_cast<std::uint64_t>(*v);
            return {};
        };
    }
    Handler set_bool(bool& field) {
        return [this, &field](const toml::node& n, const std::string& key) -> Result<void> {
            auto v = boolean(n, key);
            if (!v) return v.error();
            field = *v;
            return {};
        };
    }
    template <class Parse>
    Handler set_string(std::string& field, Parse parse_value) {
        return [this, &field, parse_value](const toml::node& n, const std::string& key) -> Result<void> {
            auto s = string(n, key);
            if (!s) return s.error();
            auto v = parse_value(*s);
            if (!v) return at(n, key, v.error().message);
            field = std::move(*v);
            return {};
        };
    }
    template <class T, class Parse>
    Handler set_list(std::vector<T>& field, Parse parse_item, bool allow_empty,
                     std::string_view empty_reason) {
        return [this, &field, parse_item, allow_empty, empty_reason](const toml::node& n,
                                                                     const std::string& key) -> Result<void> {
            auto v = list<T>(n, key, parse_item);
            if (!v) return v.error();
            if (v->empty() && !allow_empty) return at(n, key, empty_reason);
            field = std::move(*v);
            return {};
        };
    }

    std::string source_;
    std::string base_dir_;
    Config config_;
    std::map<std::string, Origin, std::less<>> set_by_;  // setting -> the key that set it
};

Result<std::int64_t> FileParser::integer(const toml::node& n, const std::string& key, std::int64_t lo,
                                         std::int64_t hi) const {
    const auto* v = n.as_integer();
    if (!v) return at(n, key, "expected an integer, got " + std::string(type_name(n)));
    std::int64_t x = v->get();
    if (x < lo || x > hi) {
        return at(
            n, key,
            std::to_string(x) + " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    }
    return x;
}

Result<bool> FileParser::boolean(const toml::node& n, const std::string& key) const {
    const auto* v = n.as_boolean();
    if (!v) return at(n, key, "expected true or false, got " + std::string(type_name(n)));
    return v->get();
}

Result<std::string> FileParser::string(const toml::node& n, const std::string& key) const {
    const auto* v = n.as_string();
    if (!v) return at(n, key, "expected a string, got " + std::string(type_name(n)));
    if (v->get().size() > kMaxStringLength) {
        return at(n, key, "string longer than " + std::to_string(kMaxStringLength) + " bytes");
    }
    return v->get();
}

template <class T, class Parse>
Result<std::vector<T>> FileParser::list(const toml::node& n, const std::string& key, Parse parse_item) const {
    std::vector<const toml::node*> items;
    if (n.is_string()) {
        items.push_back(&n);
    } else if (const auto* arr = n.as_array()) {
        if (arr->size() > kMaxListItems) {
            return at(n, key, "more than " + std::to_string(kMaxListItems) + " entries");
        }
        for (const auto& item : *arr) items.push_back(&item);
    } else {
        return at(n, key, "expected an array of strings, got " + std::string(type_name(n)));
    }
    std::vector<T> out;
    std::set<std::string> seen;
    for (const auto* item : items) {
        auto text = string(*item, key);
        if (!text) return text.error();
        Result<T> value = parse_item(*text);
        if (!value) return at(*item, key, value.error().message);
        if (!seen.insert(canonical(*value)).second)
            return at(*item, key, "'" + printable(*text) + "' is listed twice");
        out.push_back(std::move(*value));
    }
    return out;
}

Result<void> FileParser::section(const toml::node& node, const std::string& name,
                                 const std::vector<KeySpec>& specs, bool track_conflicts) {
    const auto* table = node.as_table();
    if (!table)
        return at(node, name, "expected a table ([" + name + "]), got " + std::string(type_name(node)));
    for (auto [key_ptr, value_ptr] : in_document_order(*table)) {
        const toml::key& k = *key_ptr;
        const toml::node& v = *value_ptr;
        std::string key = name + "." + std::string(k.str());
        auto spec =
            std::find_if(specs.begin(), specs.end(), [&](const KeySpec& s) { return s.name == k.str(); });
        if (spec == specs.end()) {
            return at(k.source().begin.line, key, "unknown key" + std::string(unsupported_hint(key)));
        }
        std::uint32_t line = k.source().begin.line;
        if (track_conflicts) {
            auto [it, fresh] = set_by_.try_emplace(std::string(spec->target), Origin{key, line});
            if (!fresh) {
                // Blame the later line whatever order the tables were read in.
                Origin first = it->second, second{key, line};
                if (second.line < first.line) std::swap(first, second);
                return at(second.line, second.key,
                          "sets the same thing as '" + first.key + "' (line " + std::to_string(first.line) +
                              "); keep one");
            }
        }
        if (auto r = spec->apply(v, key); !r) return r;
    }
    return {};
}

Result<void> FileParser::publish_entries(const toml::node& node) {
    const auto* arr = node.as_array();
    if (!arr || !arr->is_array_of_tables()) {
        return at(node, "publish",
                  "expected [[publish]] entries (an array of tables), got " + std::string(type_name(node)));
    }
    if (arr->size() > kMaxPublishEntries) {
        return at(node, "publish", "more than " + std::to_string(kMaxPublishEntries) + " entries");
    }
    std::map<std::string, std::uint32_t> key_files;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto& table_node = *arr->get(i);
        std::string prefix = "publish[" + std::to_string(i) + "]";
        PublishEntry entry;
        auto path_setter = [this](std::string& field) {
            return set_string(field, [this](std::string_view s) -> Result<std::string> {
                auto p = parse_path(s, false);
                if (!p) return p;
                return resolve_path(*p, base_dir_);
            });
        };
        std::vector<KeySpec> specs = {
            {"key", "key", path_setter(entry.key)},
            {"zone", "zone", path_setter(entry.zone)},
            // Below 60 s only for tests (the republisher warns); 3600 is the sane default.
            {"republish_interval", "republish_interval", set_u32(entry.republish_interval, 1, 86400)},
        };
        // TOML itself rejects a key given twice in one table; entries have no aliases.
        if (auto r = section(table_node, prefix, specs, false); !r) return r;
        std::uint32_t line = table_node.source().begin.line;
        if (entry.key.empty()) return at(line, prefix + ".key", "missing (the seed file to sign with)");
        if (entry.zone.empty()) return at(line, prefix + ".zone", "missing (the zone file to publish)");
        auto [it, fresh] = key_files.try_emplace(entry.key, line);
        if (!fresh) {
            return at(line, prefix + ".key",
                      "'" + printable(entry.key) + "' is already published by the entry at line " +
                          std::to_string(it->second));
        }
        config_.publish.push_back(std::move(entry));
    }
    return {};
}

Result<void> FileParser::cross_checks() const {
    auto origin_of = [this](std::string_view a, std::string_view b) {
        for (auto target : {a, b}) {
            if (auto it = set_by_.find(target); it != set_by_.end()) return it->second;
        }
        return Origin{std::string(a), 0};  // unreachable: the defaults are consistent
    };
    if (config_.dns.min_ttl > config_.dns.max_ttl) {
        Origin o = origin_of("dns.max_ttl", "dns.min_ttl");
        return at(o.line, o.key,
                  "min_ttl (" + std::to_string(config_.dns.min_ttl) + ") is greater than max_ttl (" +
                      std::to_string(config_.dns.max_ttl) + ")");
    }
    for (auto [name, mb] :
         {std::pair{"cache.icann_mb", config_.cache.icann_mb}, {"cache.wire_mb", config_.cache.wire_mb}}) {
        if (mb <= config_.cache.memory_mb) continue;
        Origin o = origin_of(name, "cache.memory_mb");
        return at(o.line, o.key,
                  std::string(name).substr(6) + " (" + std::to_string(mb) + ") is more than memory_mb (" +
                      std::to_string(config_.cache.memory_mb) + "), the budget of every cache together");
    }
    if (config_.http.tls_cert.empty() != config_.http.tls_key.empty()) {
        Origin o = origin_of("http.tls_cert", "http.tls_key");
        return at(o.line, o.key, "tls_cert and tls_key must be set together");
    }
    return {};
}

Result<Config> FileParser::parse(const toml::table& root) {
    Config& c = config_;
    auto listen_list =
        set_list<SocketAddress>(c.dns.listen, SocketAddress::parse, false, "needs at least one address");
    auto server_list =
        set_list<SocketAddress>(c.upstream.servers, parse_server, false, "needs at least one server");
    auto http_listen = [this](const toml::node& n, const std::string& key) -> Result<void> {
        auto s = string(n, key);
        if (!s) return s.error();
        auto v = parse_http_listen(*s);
        if (!v) return at(n, key, v.error().message);
        config_.http.listen = *v;
        return {};
    };
    auto verbose = [this](const toml::node& n, const std::string& key) -> Result<void> {
        auto v = boolean(n, key);
        if (!v) return v.error();
        config_.log.level = *v ? "debug" : "info";
        return {};
    };
    auto tld = set_string(c.dns.top_level_domain, parse_top_level_domain);
    auto path = [this](std::string_view s) -> Result<std::string> {
        auto p = parse_path(s, true);
        if (!p) return p;
        return resolve_path(*p, base_dir_);
    };
    auto cache_path = [this](std::string_view s) -> Result<std::string> {
        auto p = parse_path(s, false);
        if (!p) return p;
        return resolve_path(*p, base_dir_);
    };

    const std::map<std::string, std::vector<KeySpec>, std::less<>> sections = {
        {"general",
         {
             {"socket", "dns.listen", listen_list},
             {"forward", "upstream.servers", server_list},
             {"dns_over_http_socket", "http.listen", http_listen},
             {"verbose", "log.level", verbose},
         }},
        {"dns",
         {
             {"listen", "dns.listen", listen_list},
             {"min_ttl", "dns.min_ttl", set_u32(c.dns.min_ttl, 0, kMaxTtl)},
             {"max_ttl", "dns.max_ttl", set_u32(c.dns.max_ttl, 0, kMaxTtl)},
             {"query_rate_limit", "dns.query_rate_limit", set_u32(c.dns.query_rate_limit, 0, kMaxRate)},
             {"query_rate_limit_burst", "dns.query_rate_limit_burst",
              set_u32(c.dns.query_rate_limit_burst, 0, kMaxRate)},
             {"prefix_rate_limit", "dns.prefix_rate_limit", set_u32(c.dns.prefix_rate_limit, 0, kMaxRate)},
             {"prefix_rate_limit_burst", "dns.prefix_rate_limit_burst",
              set_u32(c.dns.prefix_rate_limit_burst, 0, kMaxRate)},
             {"slip", "dns.slip", set_u32(c.dns.slip, 0, 10)},
             {"refuse_action", "dns.refuse_action", set_string(c.dns.refuse_action, parse_refuse_action)},
             {"cookies", "dns.cookies", set_bool(c.dns.cookies)},
             {"cookie_secret", "dns.cookie_secret", set_string(c.dns.cookie_secret, parse_cookie_secret)},
             {"minimal_any", "dns.minimal_any", set_bool(c.dns.minimal_any)},
             {"disable_any_queries", "dns.disable_any_queries", set_bool(c.dns.disable_any_queries)},
             {"max_recursion_depth", "dns.max_recursion_depth", set_u32(c.dns.max_recursion_depth, 0, 255)},
             {"top_level_domain", "dns.top_level_domain", tld},
             {"allow", "dns.allow",
              set_list<Cidr>(c.dns.allow, Cidr::parse, false,
                             "an empty list refuses every client; allow all with [\"0.0.0.0/0\", \"::/0\"]")},
             {"icann_cache_mb", "cache.icann_mb", set_u64(c.cache.icann_mb, 1, 1 << 20)},
         }},
        {"upstream",
         {
             {"servers", "upstream.servers", server_list},
             {"timeout_ms", "upstream.timeout_ms", set_u32(c.upstream.timeout_ms, 1, 60000)},
         }},
        {"dht",
         {
             {"port", "dht.port",
              [this](const toml::node& n, const std::string& key) -> Result<void> {
                  auto v = integer(n, key, 0, 65535);
                  if (!v) return v.error();
                  config_.dht.port = static_cast<std::uint16_t>(*v);
                  return {};
              }},
             {"server", "dht.server", set_bool(c.dht.server)},
             {"bootstrap", "dht.bootstrap", set_list<HostPort>(c.dht.bootstrap, parse_bootstrap, true, "")},
             {"query_rate_limit", "dht.query_rate_limit", set_u32(c.dht.query_rate_limit, 0, kMaxRate)},
             {"query_rate_limit_burst", "dht.query_rate_limit_burst",
              set_u32(c.dht.query_rate_limit_burst, 0, kMaxRate)},
             {"dht_query_rate_limit", "dht.query_rate_limit", set_u32(c.dht.query_rate_limit, 0, kMaxRate)},
             {"dht_query_rate_limit_burst", "dht.query_rate_limit_burst",
              set_u32(c.dht.query_rate_limit_burst, 0, kMaxRate)},
             {"top_level_domain", "dns.top_level_domain", tld},
             {"max_lookups", "dht.max_lookups", set_u32(c.dht.max_lookups, 1, 65536)},
         }},
        {"relay",
         {
             {"urls", "relay.urls", set_list<std::string>(c.relay.urls, parse_relay_url, true, "")},
             {"enabled", "relay.enabled", set_bool(c.relay.enabled)},
             {"keep_alive", "relay.keep_alive", set_bool(c.relay.keep_alive)},
         }},
        {"cache",
         {
             {"path", "cache.path", set_string(c.cache.path, cache_path)},
             {"max_packets", "cache.max_packets", set_u64(c.cache.max_packets, 1, std::int64_t{1} << 40)},
             {"memory_mb", "cache.memory_mb", set_u64(c.cache.memory_mb, 1, 1 << 20)},
             {"icann_mb", "cache.icann_mb", set_u64(c.cache.icann_mb, 1, 1 << 20)},
             {"wire_mb", "cache.wire_mb", set_u64(c.cache.wire_mb, 0, 1 << 20)},
         }},
        {"http",
         {
             {"listen", "http.listen", http_listen},
             {"tls_cert", "http.tls_cert", set_string(c.http.tls_cert, path)},
             {"tls_key", "http.tls_key", set_string(c.http.tls_key, path)},
             {"trusted_proxies", "http.trusted_proxies",
              set_list<Cidr>(c.http.trusted_proxies, Cidr::parse, true, "")},
             {"relay", "http.relay", set_bool(c.http.relay)},
             {"doh_allow", "http.doh_allow",
              [this](const toml::node& n, const std::string& key) -> Result<void> {
                  auto v = list<Cidr>(n, key, Cidr::parse);
                  if (!v) return v.error();
                  config_.http.doh_allow = std::move(*v);
                  return {};
              }},
             {"metrics_allow", "http.metrics_allow",
              set_list<Cidr>(c.http.metrics_allow, Cidr::parse, true, "")},
             {"doh_cors", "http.doh_cors", set_bool(c.http.doh_cors)},
             {"max_connections", "http.max_connections", set_u32(c.http.max_connections, 1, 65536)},
             {"request_timeout_ms", "http.request_timeout_ms",
              set_u32(c.http.request_timeout_ms, 100, 600000)},
             {"idle_timeout_ms", "http.idle_timeout_ms", set_u32(c.http.idle_timeout_ms, 100, 3600000)},
             {"max_streams", "http.max_streams", set_u32(c.http.max_streams, 1, 256)},
         }},
        {"log",
         {
             {"level", "log.level", set_string(c.log.level, parse_log_level)},
         }},
    };

    for (auto [key_ptr, value_ptr] : in_document_order(root)) {
        const toml::key& k = *key_ptr;
        const toml::node& v = *value_ptr;
        std::string name(k.str());
        if (name == "publish") {
            if (auto r = publish_entries(v); !r) return r.error();
            continue;
        }
        auto it = sections.find(name);
        if (it == sections.end()) {
            bool is_table = v.is_table();
            return at(k.source().begin.line, name,
                      is_table ? "unknown section" : "unknown key (outside any section)");
        }
        if (auto r = section(v, name, it->second); !r) return r.error();
    }
    if (auto r = cross_checks(); !r) return r.error();
    return std::move(config_);
}

}  // namespace

Result<Config> parse_config(std::string_view toml_text, std::string_view source_name,
                            std::string_view base_dir) {
    std::string source = source_name.empty() ? "<config>" : std::string(source_name);
    toml::table root;
    try {
        root = toml::parse(toml_text, std::string_view(source));
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        return make_error(source + ": line " + std::to_string(begin.line) + ", column " +
                          std::to_string(begin.column) + ": " + printable(e.description(), 500));
    }
    FileParser parser(source, base_dir);
    return parser.parse(root);
}

Result<Config> load_config_file(const std::string& path) {
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec) return make_error(path + ": cannot read: " + ec.message());
    if (!std::filesystem::is_regular_file(status)) return make_error(path + ": not a regular file");
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return make_error(path + ": cannot read: " + ec.message());
    if (size > kMaxFileBytes) return make_error(path + ": larger than 1 MiB, not a config file");
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(path + ": cannot open for reading");
    std::string text;
    text.resize(static_cast<std::size_t>(size));
    in.read(text.data(), static_cast<std::streamsize>(size));
    if (in.gcount() != static_cast<std::streamsize>(size)) return make_error(path + ": read failed");
    auto dir = std::filesystem::absolute(path, ec).parent_path();
    if (ec) return make_error(path + ": " + ec.message());
    return parse_config(text, path, dir.string());
}

std::string to_toml(const Config& config) {
    auto strings = [](const auto& items, auto to_text) {
        toml::array arr;
        for (const auto& item : items) arr.push_back(to_text(item));
        return arr;
    };
    auto addr_text = [](const SocketAddress& a) { return a.to_string(); };
    auto same = [](const std::string& s) { return s; };
    auto section = [](std::ostringstream& os, std::string_view header, const toml::table& t) {
        os << header << "\n"
           << toml::toml_formatter{t, toml::format_flags::allow_unicode_strings |
                                          toml::format_flags::indent_array_elements}
           << "\n\n";
    };
    auto i64 = [](auto v) { return static_cast<std::int64_t>(v); };

    std::ostringstream os;
    const auto& d = config.dns;
    section(os, "[dns]",
            toml::table{{"listen", strings(d.listen, addr_text)},
                        {"min_ttl", i64(d.min_ttl)},
                        {"max_ttl", i64(d.max_ttl)},
                        {"query_rate_limit", i64(d.query_rate_limit)},
                        {"query_rate_limit_burst", i64(d.query_rate_limit_burst)},
                        {"prefix_rate_limit", i64(d.prefix_rate_limit)},
                        {"prefix_rate_limit_burst", i64(d.prefix_rate_limit_burst)},
                        {"slip", i64(d.slip)},
                        {"refuse_action", d.refuse_action},
                        {"cookies", d.cookies},
                        {"cookie_secret", d.cookie_secret},
                        {"minimal_any", d.minimal_any},
                        {"disable_any_queries", d.disable_any_queries},
                        {"max_recursion_depth", i64(d.max_recursion_depth)},
                        {"top_level_domain", d.top_level_domain},
                        {"allow", strings(d.allow, [](const Cidr& c) { return c.to_string(); })}});
    section(os, "[upstream]",
            toml::table{{"servers", strings(config.upstream.servers, addr_text)},
                        {"timeout_ms", i64(config.upstream.timeout_ms)}});
    const auto& h = config.dht;
    section(
        os, "[dht]",
        toml::table{{"port", i64(h.port)},
                    {"server", h.server},
                    {"bootstrap", strings(h.bootstrap, [](const HostPort& hp) { return hp.to_string(); })},
                    {"query_rate_limit", i64(h.query_rate_limit)},
                    {"query_rate_limit_burst", i64(h.query_rate_limit_burst)},
                    {"max_lookups", i64(h.max_lookups)}});
    section(os, "[relay]",
            toml::table{{"urls", strings(config.relay.urls, same)},
                        {"enabled", config.relay.enabled},
                        {"keep_alive", config.relay.keep_alive}});
    section(os, "[cache]",
            toml::table{{"path", config.cache.path},
                        {"max_packets", i64(config.cache.max_packets)},
                        {"memory_mb", i64(config.cache.memory_mb)},
                        {"icann_mb", i64(config.cache.icann_mb)},
                        {"wire_mb", i64(config.cache.wire_mb)}});
    const auto cidr_text = [](const Cidr& c) { return c.to_string(); };
    const auto& w = config.http;
    toml::table http{{"listen", w.listen ? w.listen->to_string() : std::string()},
                     {"tls_cert", w.tls_cert},
                     {"tls_key", w.tls_key},
                     {"trusted_proxies", strings(w.trusted_proxies, cidr_text)},
                     {"relay", w.relay},
                     {"metrics_allow", strings(w.metrics_allow, cidr_text)},
                     {"doh_cors", w.doh_cors},
                     {"max_connections", i64(w.max_connections)},
                     {"request_timeout_ms", i64(w.request_timeout_ms)},
                     {"idle_timeout_ms", i64(w.idle_timeout_ms)},
                     {"max_streams", i64(w.max_streams)}};
    if (w.doh_allow) http.insert("doh_allow", strings(*w.doh_allow, cidr_text));
    section(os, "[http]", http);
    section(os, "[log]", toml::table{{"level", config.log.level}});
    for (const auto& p : config.publish) {
        section(
            os, "[[publish]]",
            toml::table{{"key", p.key}, {"zone", p.zone}, {"republish_interval", i64(p.republish_interval)}});
    }
    std::string out = os.str();
    while (out.size() >= 2 && out.ends_with("\n\n")) out.pop_back();
    return out;
}

Result<void> apply_overrides(Config& config, const Overrides& o) {
    Config next = config;
    auto flag_error = [](std::string_view flag, const Error& e) {
        return make_error(std::string(flag) + ": " + e.message);
    };
    auto replace_list = [&](std::string_view flag, const std::vector<std::string>& texts, auto parse_item,
                            auto& field) -> Result<void> {
        if (texts.empty()) return {};
        std::remove_reference_t<decltype(field)> out;
        std::set<std::string> seen;
        for (const auto& t : texts) {
            auto v = parse_item(t);
            if (!v) return flag_error(flag, v.error());
            if (!seen.insert(canonical(*v)).second)
                return make_error(std::string(flag) + ": '" + t + "' is given twice");
            out.push_back(std::move(*v));
        }
        field = std::move(out);
        return {};
    };
    if (auto r = replace_list("--listen", o.listen, SocketAddress::parse, next.dns.listen); !r) return r;
    if (auto r = replace_list("--upstream", o.upstream, parse_server, next.upstream.servers); !r) return r;
    if (auto r = replace_list("--bootstrap", o.bootstrap, parse_bootstrap, next.dht.bootstrap); !r) return r;
    if (o.cache) {
        auto p = parse_path(*o.cache, false);
        if (!p) return flag_error("--cache", p.error());
        next.cache.path = *p;
    }
    if (o.http) {
        auto v = parse_http_listen(*o.http);
        if (!v) return flag_error("--http", v.error());
        next.http.listen = *v;
    }
    if (o.dht_port) {
        if (*o.dht_port < 0 || *o.dht_port > 65535) {
            return make_error("--dht-port: " + std::to_string(*o.dht_port) + " is out of range (0..65535)");
        }
        next.dht.port = static_cast<std::uint16_t>(*o.dht_port);
    }
    if (o.no_relays) next.relay.enabled = false;
    config = std::move(next);
    return {};
}

}  // namespace pkdns::conf
