#include "pkarr/zone.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace pkdns::pkarr {

namespace {

constexpr std::uint16_t type_DS = 43;
constexpr std::uint8_t rcode_YXDOMAIN = 6;

// The zone's records (only those at or below the apex) with the lookups the algorithm needs.
// Packets hold at most ~1000 bytes of records, so linear scans are cheapest.
class ZoneView {
public:
    ZoneView(const std::vector<dns::Record>& zone, const dns::Name& apex) : apex_(apex) {
        for (const auto& r : zone)
            if (r.name.is_subdomain_of(apex)) records_.push_back(&r);
    }

    const dns::Name& apex() const { return apex_; }

    std::vector<const dns::Record*> at(const dns::Name& name) const {
        std::vector<const dns::Record*> out;
        for (const auto* r : records_)
            if (r->name == name) out.push_back(r);
        return out;
    }

    std::vector<const dns::Record*> at(const dns::Name& name, std::uint16_t type) const {
        std::vector<const dns::Record*> out;
        for (const auto* r : records_)
            if (r->type == type && r->name == name) out.push_back(r);
        return out;
    }

    // A name exists when it owns records or has descendants that do (an empty non-terminal).
    // The apex always exists: the key was found, so its zone does.
    bool exists(const dns::Name& name) const {
        if (name == apex_) return true;
        return std::any_of(records_.begin(), records_.end(),
                           [&](const dns::Record* r) { return r->name.is_subdomain_of(name); });
    }

private:
    dns::Name apex_;
    std::vector<const dns::Record*> records_;
};

dns::Record with_owner(const dns::Record& r, const dns::Name& owner) {
    dns::Record copy = r;
    copy.name = owner;
    return copy;
}

void push_unique(std::vector<dns::Record>& section, const dns::Record& r) {
    if (std::find(section.begin(), section.end(), r) == section.end()) section.push_back(r);
}

// NXDOMAIN or NODATA: the apex SOA (if the zone has one) goes to authority for negative caching.
void negative(const ZoneView& z, std::uint8_t rcode, ZoneAnswer& out) {
    out.rcode = rcode;
    for (const auto* soa : z.at(z.apex(), dns::type::SOA)) push_unique(out.authority, *soa);
}

// NS records at `cut` (below the apex) make a referral: NS in authority, in-zone glue in additional.
bool referral(const ZoneView& z, const dns::Name& cut, ZoneAnswer& out) {
    auto ns = z.at(cut, dns::type::NS);
    if (ns.empty()) return false;
    out.delegation = true;
    out.authoritative = false;
    for (const auto* r : ns) {
        push_unique(out.authority, *r);
        auto target = r->target();
        if (!target || !target->is_subdomain_of(z.apex())) continue;
        for (const auto* glue : z.at(*target))
            if (glue->type == dns::type::A || glue->type == dns::type::AAAA)
                push_unique(out.additional, *glue);
    }
    return true;
}

// The records at one node (the name itself or the wildcard standing in for it), answered with
// `owner` as their name. Returns the CNAME target to follow, if any.
std::optional<dns::Name> match(const ZoneView& z, const std::vector<const dns::Record*>& node,
                               const dns::Name& owner, std::uint16_t qtype, ZoneAnswer& out) {
    bool found = false;
    for (const auto* r : node) {
        if (qtype == dns::type::ANY || r->type == qtype) {
            out.answer.push_back(with_owner(*r, owner));
            found = true;
        }
    }
    if (found) return std::nullopt;
    if (qtype != dns::type::CNAME) {
        for (const auto* r : node) {
            if (r->type != dns::type::CNAME) continue;
            out.answer.push_back(with_owner(*r, owner));
            return r->target();  // nullopt for unreadable rdata: the chain just ends here
        }
    }
    negative(z, dns::rcode::NOERROR, out);
    return std::nullopt;
}

// One lookup step for `name`: appends to `out` and returns the next name when a CNAME or DNAME
// redirects the query.
std::optional<dns::Name> lookup(const ZoneView& z, const dns::Name& name, std::uint16_t qtype,
                                ZoneAnswer& out) {
    // Walk down from the apex to the name's parent: zone cuts and DNAMEs above the name win.
    const std::size_t depth = name.label_count() - z.apex().label_count();
    for (std::size_t i = depth; i >= 1; --i) {
        const dns::Name node = name.parent(i);
        if (i != depth && referral(z, node, out)) return std::nullopt;
        auto dnames = z.at(node, dns::type::DNAME);
        if (dnames.empty()) continue;
        const dns::Record& dname = *dnames.front();
        out.answer.push_back(dname);
        auto target = dname.target();
        if (!target) return std::nullopt;
        auto next = name.first_labels(i).concat(*target);
        if (!next) {  // substitution made the name too long (RFC 6672 §2.2)
            out.rcode = rcode_YXDOMAIN;
            return std::nullopt;
        }
        dns::Record cname{name, dns::type::CNAME, dname.klass, dname.ttl, {}};
        next->append_wire(cname.rdata);
        out.answer.push_back(std::move(cname));
        return std::move(next).value();
    }

    // A cut at the name itself is a referral too, except for DS, which the parent side answers.
    if (depth > 0 && qtype != type_DS && referral(z, name, out)) return std::nullopt;

    auto node = z.at(name);
    if (!node.empty()) return match(z, node, name, qtype, out);
    if (z.exists(name)) {  // empty non-terminal
        negative(z, dns::rcode::NOERROR, out);
        return std::nullopt;
    }

    // RFC 4592: only the closest encloser's `*` child can stand in for a missing name.
    dns::Name encloser = name.parent();
    while (!z.exists(encloser)) encloser = encloser.parent();  // ends at the apex at the latest
    const dns::Name wildcard = encloser.prepend("*");
    auto wild = z.at(wildcard);
    if (!wild.empty()) return match(z, wild, name, qtype, out);
    negative(z, z.exists(wildcard) ? dns::rcode::NOERROR : dns::rcode::NXDOMAIN, out);
    return std::nullopt;
}

}  // namespace

ZoneAnswer answer_from_zone(const std::vector<dns::Record>& zone, const dns::Name& apex,
                            const dns::Name& qname, std::uint16_t qtype) {
    ZoneAnswer out;
    if (!qname.is_subdomain_of(apex)) {
        out.rcode = dns::rcode::REFUSED;
        out.authoritative = false;
        return out;
    }
    const ZoneView z(zone, apex);
    std::vector<dns::Name> visited;
    dns::Name current = qname;
    while (true) {
        if (visited.size() >= max_zone_chain ||
            std::find(visited.begin(), visited.end(), current) != visited.end()) {
            out.chain_truncated = true;
            return out;
        }
        visited.push_back(current);
        auto next = lookup(z, current, qtype, out);
        if (!next) return out;
        if (!next->is_subdomain_of(apex)) {
            out.external_target = std::move(next);
            return out;
        }
        current = std::move(*next);
    }
}

}  // namespace pkdns::pkarr
