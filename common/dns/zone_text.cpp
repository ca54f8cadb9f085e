#include "common/dns/zone_text.hpp"

#include <cstdio>
#include <string>

#include "common/dns/ldns_glue.hpp"

namespace pkdns::dns {

namespace {

struct FileClose {
    void operator()(FILE* f) const { std::fclose(f); }
};

}  // namespace

// Records are read one at a time with ldns_rr_new_frm_fp_l, which does the BIND syntax ($TTL,
// $ORIGIN, @, relative names, parentheses, comments, quoted strings, SVCB/HTTPS key=value params)
// and counts lines. We loop ourselves instead of calling ldns_zone_new_frm_fp_l because that one
// (1.8.3) leaks every record read before an error and silently drops a second SOA. The TTL rule
// is the one ldns_zone_new_frm_fp_l applies. No SOA is needed; $INCLUDE is refused (zone text
// must not read other files).
Result<std::vector<Record>> parse_zone_text(std::string_view text, const Name& origin,
                                            std::uint32_t default_ttl) {
    std::vector<Record> out;
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
    std::string buffer(text);
    std::unique_ptr<FILE, FileClose> file(fmemopen(buffer.data(), buffer.size(), "r"));
    if (!file) return make_error("line 0: cannot open zone text");

    ldns_rdf* current_origin = glue::dname_rdf(origin).release();
    ldns_rdf* prev = nullptr;
    struct Cleanup {
        ldns_rdf** a;
        ldns_rdf** b;
        ~Cleanup() {
            if (*a) ldns_rdf_deep_free(*a);
            if (*b) ldns_rdf_deep_free(*b);
        }
    } cleanup{&current_origin, &prev};

    std::uint32_t ttl = default_ttl;
    bool ttl_from_directive = false;
    int line = 0;
    // Every call consumes at least one line or token; the bound is only a backstop.
    for (std::size_t guard = 0; guard <= buffer.size() + 1 && !std::feof(file.get()); ++guard) {
        ldns_rr* raw = nullptr;
        ldns_status st = ldns_rr_new_frm_fp_l(&raw, file.get(), &ttl, &current_origin, &prev, &line);
        glue::RrPtr rr(raw);
        switch (st) {
            case LDNS_STATUS_OK: {
                if (!rr) continue;
                // RFC 1035 §5.1: without $TTL an omitted TTL is the last one stated explicitly.
                if (!ttl_from_directive) ttl = ldns_rr_ttl(rr.get());
                auto r = glue::record_from_rr(rr.get());
                if (!r) return make_error("line " + std::to_string(line) + ": " + r.error().message);
                out.push_back(std::move(r.value()));
                break;
            }
            case LDNS_STATUS_SYNTAX_TTL:
                ttl_from_directive = true;
                break;
            case LDNS_STATUS_SYNTAX_EMPTY:
            case LDNS_STATUS_SYNTAX_ORIGIN:
                break;
            case LDNS_STATUS_SYNTAX_INCLUDE:
                return make_error("line " + std::to_string(line < 1 ? 1 : line) +
                                  ": $INCLUDE is not supported");
            default: {
                const char* why = ldns_get_errorstr_by_id(st);
                return make_error("line " + std::to_string(line < 1 ? 1 : line) + ": " +
                                  (why ? why : "syntax error"));
            }
        }
    }
    return out;
}

}  // namespace pkdns::dns
