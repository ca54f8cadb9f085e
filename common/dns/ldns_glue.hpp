#pragma once
// Private to common/dns/*.cpp: the one place ldns is included (stdbool.h first, design §6) and
// the conversions between ldns objects and the plain types of record.hpp.

#include <stdbool.h>

#include <ldns/ldns.h>

#include <memory>
#include <string>

#include "common/dns/record.hpp"

namespace pkdns::dns::glue {

struct PktFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RrFree {
    void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
struct RdfFree {
    void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct CharFree {
    void operator()(char* s) const { free(s); }  // NOLINT: ldns allocates with malloc
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;
using CharPtr = std::unique_ptr<char, CharFree>;

// A DNAME rdf holding `name` (uncompressed wire form).
RdfPtr dname_rdf(const Name& name);
// The name held by a DNAME rdf; error when the rdf is not a well-formed uncompressed name.
Result<Name> name_from_rdf(const ldns_rdf* rdf);

// An ldns RR for `record`. Rdata that does not fit the type's ldns layout is kept as one opaque
// rdf, so any record converts (and prints in RFC 3597 form).
RrPtr rr_from_record(const Record& record);
RrPtr rr_from_question(const Question& question);
Result<Record> record_from_rr(const ldns_rr* rr);

}  // namespace pkdns::dns::glue
