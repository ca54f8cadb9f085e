#include "resolver/pipeline/answer_shaping.hpp"

#include <algorithm>
#include <utility>

#include "resolver/pipeline/router.hpp"

namespace pkdns::pipeline {

namespace {

// Rewrites the name at `offset` in `rdata` (moving `offset` past it); false when it does not parse.
bool rdata_name_with_tld(Bytes& rdata, std::size_t& offset, std::string_view tld) {
    const std::size_t start = offset;
    auto name = dns::Name::from_wire(rdata, offset);
    if (!name) return false;
    auto longer = name_with_tld(*name, tld);
    if (!longer) return true;
    Bytes out;
    out.reserve(rdata.size() + tld.size() + 1);
    out.assign(rdata.begin(), rdata.begin() + static_cast<std::ptrdiff_t>(start));
    longer->append_wire(out);
    const std::size_t end = out.size();
    out.insert(out.end(), rdata.begin() + static_cast<std::ptrdiff_t>(offset), rdata.end());
    rdata = std::move(out);
    offset = end;
    return true;
}

std::uint32_t counted_down(std::uint32_t ttl, std::uint32_t elapsed, std::uint32_t max_ttl) {
    if (ttl == 0) return 0;
    ttl = std::min(ttl, max_ttl);
    return ttl > elapsed ? ttl - elapsed : 1;
}

bool has_soa(const std::vector<dns::Record>& records) {
    return std::any_of(records.begin(), records.end(),
                       [](const dns::Record& r) { return r.type == dns::type::SOA; });
}

bool answers_type(const dns::Record& r, std::uint16_t qtype) {
    return r.type == qtype || qtype == dns::type::ANY;
}

}  // namespace

std::optional<dns::Name> name_with_tld(const dns::Name& name, std::string_view tld) {
    if (tld.empty() || name.is_root() || !key_from_label(name.last_label()).ok()) return std::nullopt;
    auto n = name.append_label(tld);
    if (!n) return std::nullopt;  // too long with the TLD: keep it as published
    return std::move(*n);
}

dns::Record with_tld(dns::Record record, std::string_view tld) {
    if (auto n = name_with_tld(record.name, tld)) record.name = std::move(*n);
    std::size_t offset = 0;
    switch (record.type) {
        case dns::type::CNAME:
        case dns::type::NS:
        case dns::type::PTR:
        case dns::type::DNAME:
            break;
        case dns::type::MX:
        case dns::type::SVCB:
        case dns::type::HTTPS:
            offset = 2;
            break;
        case dns::type::SRV:
            offset = 6;
            break;
        case dns::type::SOA: {
            Bytes rdata = record.rdata;
            if (rdata_name_with_tld(rdata, offset, tld) && rdata_name_with_tld(rdata, offset, tld))
                record.rdata = std::move(rdata);
            return record;
        }
        default:
            return record;
    }
    if (record.rdata.size() <= offset) return record;
    Bytes rdata = record.rdata;
    if (rdata_name_with_tld(rdata, offset, tld)) record.rdata = std::move(rdata);
    return record;
}

dns::Record synthesized_soa(const dns::Name& apex, std::uint32_t serial, std::uint32_t min_ttl) {
    dns::Record soa;
    soa.name = apex;
    soa.type = dns::type::SOA;
    soa.ttl = min_ttl;
    apex.append_wire(soa.rdata);  // mname
    auto rname = dns::Name::from_labels({"hostmaster"}).value().concat(apex);
    (rname ? *rname : apex).append_wire(soa.rdata);
    put_u32(soa.rdata, serial);
    put_u32(soa.rdata, 3600);     // refresh
    put_u32(soa.rdata, 600);      // retry
    put_u32(soa.rdata, 86400);    // expire
    put_u32(soa.rdata, min_ttl);  // minimum: the negative-caching TTL (RFC 2308)
    return soa;
}

Hop pkarr_hop(pkarr::ZoneAnswer za, const PkarrHopInput& in) {
    auto shape = [&](std::vector<dns::Record> records) {
        for (auto& r : records) {
            r.ttl = counted_down(r.ttl, in.elapsed, in.max_ttl);
            if (!in.tld.empty()) r = with_tld(std::move(r), in.tld);
        }
        return records;
    };

    Hop out;
    dns::Packet& hop = out.packet;
    if (za.authoritative) hop.flags |= dns::flag::AA;
    hop.set_rcode(za.rcode);
    hop.answers = shape(std::move(za.answer));
    hop.authority = shape(std::move(za.authority));
    hop.additional = shape(std::move(za.additional));

    const bool follows = za.external_target && !za.chain_truncated && in.qtype != dns::type::CNAME;
    const bool answered = std::any_of(hop.answers.begin(), hop.answers.end(),
                                      [&](const dns::Record& r) { return answers_type(r, in.qtype); });
    const bool negative =
        za.rcode == dns::rcode::NXDOMAIN ||
        (za.rcode == dns::rcode::NOERROR && !za.delegation && !follows && !answered && !za.chain_truncated);
    if (negative && !has_soa(hop.authority)) {
        dns::Name owner = in.apex;
        if (auto n = name_with_tld(in.apex, in.tld)) owner = std::move(*n);
        hop.authority.push_back(synthesized_soa(owner, in.serial, in.min_ttl));
    }
    if (follows) {
        out.next = std::move(za.external_target);
        // Keep the chain consistent with the rewritten CNAME rdata: chase "<key2>.<tld>".
        if (auto n = name_with_tld(*out.next, in.tld)) out.next = std::move(*n);
    }
    return out;
}

Hop icann_hop(dns::Packet reply, const dns::Name& name, std::uint16_t qtype,
              std::string_view top_level_domain) {
    Hop out;
    dns::Packet& hop = out.packet;
    hop.set_rcode(reply.rcode());
    hop.answers = std::move(reply.answers);
    hop.authority = std::move(reply.authority);
    for (auto& r : reply.additional)
        if (r.type != dns::type::OPT) hop.additional.push_back(std::move(r));

    const bool chain_rcode = hop.rcode() == dns::rcode::NOERROR || hop.rcode() == dns::rcode::NXDOMAIN;
    if (qtype == dns::type::CNAME || !chain_rcode) return out;
    dns::Name end = name;
    for (std::size_t i = 0; i < hop.answers.size(); ++i) {  // bounded: one step per record
        auto it = std::find_if(hop.answers.begin(), hop.answers.end(), [&](const dns::Record& r) {
            return r.type == dns::type::CNAME && r.name == end;
        });
        if (it == hop.answers.end()) break;
        auto target = it->target();
        if (!target) break;
        end = std::move(*target);
    }
    const bool answered = std::any_of(hop.answers.begin(), hop.answers.end(), [&](const dns::Record& r) {
        return r.name == end && answers_type(r, qtype);
    });
    if (end == name || answered || route_name(end, top_level_domain).kind == RouteKind::icann) return out;
    std::erase_if(hop.answers, [](const dns::Record& r) { return r.type != dns::type::CNAME; });
    hop.authority.clear();
    hop.additional.clear();
    hop.set_rcode(dns::rcode::NOERROR);
    out.next = std::move(end);
    return out;
}

}  // namespace pkdns::pipeline
