#include "common/dns/zone_text.hpp"

#include <cstdio>
#include <string>

#include "common/dns/ldns_glue.hpp"

namespace pkdns::dns {

namespace {

struct FileClose {
    void operator()(FILE* f) const { std::fclose(f); }
};
struct ZoneFree {
    void operator()(ldns_zone* z) const { ldns_zone_deep_free(z); }
};

}  // namespace

// ldns's zone reader does the BIND syntax ($TTL, $ORIGIN, @, relative names, parentheses,
// comments, quoted strings, SVCB/HTTPS key=value params) and reports the line of an error.
// It needs no SOA. $INCLUDE is rejected by ldns ("not implemented"), which suits us: zone text
// must not read other files. A leading SOA is returned first, like any other record.
Result<std::vector<Record>> parse_zone_text(std::string_view text, const Name& origin, std::uint32_t default_ttl) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::vector<Record>{};
    std::string buffer(text);
    std::unique_ptr<FILE, FileClose> file(fmemopen(buffer.data(), buffer.size(), "r"));
    if (!file) return make_error("line 0: cannot open zone text");
    glue::RdfPtr ldns_origin = glue::dname_rdf(origin);
    ldns_zone* raw = nullptr;
    int line = 0;
    ldns_status st = ldns_zone_new_frm_fp_l(&raw, file.get(), ldns_origin.get(), default_ttl, LDNS_RR_CLASS_IN, &line);
    std::unique_ptr<ldns_zone, ZoneFree> zone(raw);
    if (st != LDNS_STATUS_OK) {
        const char* why = ldns_get_errorstr_by_id(st);
        return make_error("line " + std::to_string(line < 1 ? 1 : line) + ": " + (why ? why : "syntax error"));
    }
    std::vector<Record> out;
    if (!zone) return out;
    if (const ldns_rr* soa = ldns_zone_soa(zone.get())) {
        auto r = glue::record_from_rr(soa);
        if (!r) return make_error("line 1: " + r.error().message);
        out.push_back(std::move(r.value()));
    }
    const ldns_rr_list* rrs = ldns_zone_rrs(zone.get());
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) {
        auto r = glue::record_from_rr(ldns_rr_list_rr(rrs, i));
        if (!r) return make_error("line " + std::to_string(line) + ": " + r.error().message);
        out.push_back(std::move(r.value()));
    }
    return out;
}

}  // namespace pkdns::dns
