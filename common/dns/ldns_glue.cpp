#include "common/dns/ldns_glue.hpp"

namespace pkdns::dns::glue {

RdfPtr dname_rdf(const Name& name) {
    Bytes wire;
    name.append_wire(wire);
    return RdfPtr(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, wire.size(), wire.data()));
}

Result<Name> name_from_rdf(const ldns_rdf* rdf) {
    if (rdf == nullptr || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME) return make_error("not a name");
    ByteView data(ldns_rdf_data(rdf), ldns_rdf_size(rdf));
    std::size_t offset = 0;
    auto name = Name::from_wire(data, offset);
    if (!name) return name.error();
    if (offset != data.size()) return make_error("trailing bytes after name");
    return name;
}

namespace {

ldns_rr* new_rr(const Name& owner, std::uint16_t type, std::uint16_t klass) {
    ldns_rr* rr = ldns_rr_new();
    if (rr == nullptr) return nullptr;
    ldns_rr_set_owner(rr, dname_rdf(owner).release());
    ldns_rr_set_type(rr, static_cast<ldns_rr_type>(type));
    ldns_rr_set_class(rr, static_cast<ldns_rr_class>(klass));
    return rr;
}

void clear_rdfs(ldns_rr* rr) {
    while (ldns_rr_rd_count(rr) > 0) ldns_rdf_deep_free(ldns_rr_pop_rdf(rr));
}

Bytes rdata_of(const ldns_rr* rr) {
    Bytes out;
    for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
        const ldns_rdf* rdf = ldns_rr_rdf(rr, i);
        // ldns_rdf2buffer_wire writes exactly the rdf's bytes; names are stored uncompressed.
        out.insert(out.end(), ldns_rdf_data(rdf), ldns_rdf_data(rdf) + ldns_rdf_size(rdf));
    }
    return out;
}

}  // namespace

RrPtr rr_from_record(const Record& record) {
    RrPtr rr(new_rr(record.name, record.type, record.klass));
    if (!rr) return rr;
    ldns_rr_set_ttl(rr.get(), record.ttl);
    ldns_rr_set_question(rr.get(), false);
    if (record.rdata.empty()) return rr;

    bool typed = false;
    if (record.rdata.size() <= 0xffff) {
        Bytes buf;
        put_u16(buf, static_cast<std::uint16_t>(record.rdata.size()));
        buf.insert(buf.end(), record.rdata.begin(), record.rdata.end());
        std::size_t pos = 0;
        // Typed rdfs only when they reproduce the rdata exactly (this also rejects compression
        // pointers, which would otherwise point into our scratch buffer).
        if (ldns_wire2rdf(rr.get(), buf.data(), buf.size(), &pos) == LDNS_STATUS_OK && pos == buf.size() &&
            rdata_of(rr.get()) == record.rdata) {
            typed = true;
        }
    }
    if (!typed) {
        clear_rdfs(rr.get());
        ldns_rr_push_rdf(
            rr.get(), ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, record.rdata.size(), record.rdata.data()));
    }
    return rr;
}

RrPtr rr_from_question(const Question& question) {
    RrPtr rr(new_rr(question.name, question.type, question.klass));
    if (rr) ldns_rr_set_question(rr.get(), true);
    return rr;
}

Result<Record> record_from_rr(const ldns_rr* rr) {
    auto owner = name_from_rdf(ldns_rr_owner(rr));
    if (!owner) return make_error("bad owner name: " + owner.error().message);
    Record record;
    record.name = std::move(owner.value());
    record.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
    record.klass = static_cast<std::uint16_t>(ldns_rr_get_class(rr));
    record.ttl = ldns_rr_ttl(rr);
    record.rdata = rdata_of(rr);
    return record;
}

}  // namespace pkdns::dns::glue
