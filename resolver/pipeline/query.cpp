#include "resolver/pipeline/query.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace pkdns::pipeline {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::size_t max_tcp_message = 65535;
constexpr std::uint16_t opcode_mask = 0x7800;
constexpr std::uint16_t type_hinfo = 13;
constexpr std::uint16_t type_ixfr = 251, type_maila = 254;  // IXFR, AXFR, MAILB, MAILA

// A reply made from the 12-byte header alone: no sections, id, opcode and RD echoed.
Bytes header_reply(ByteView wire, std::uint8_t rcode) {
    Bytes out;
    out.reserve(header_size);
    put_u16(out, get_u16(wire.data()));
    const std::uint16_t flags = get_u16(wire.data() + 2);
    put_u16(out, static_cast<std::uint16_t>(dns::flag::QR | (flags & opcode_mask) | (flags & dns::flag::RD) |
                                            rcode));
    out.resize(header_size, 0);
    return out;
}

Rejection reject(Bytes reply, std::string reason) {
    return Rejection{std::move(reply), std::move(reason)};
}

dns::Record our_opt(const Request& request, std::uint8_t extended_rcode) {
    dns::Record opt;
    opt.type = dns::type::OPT;
    opt.klass = our_udp_payload;
    // TTL field: extended rcode (8) | version 0 (8) | DO (1) | Z (15).
    opt.ttl = std::uint32_t{extended_rcode} << 24 | (request.edns.do_bit ? 0x8000u : 0u);
    return opt;
}

Bytes finalize_impl(const Request& request, dns::Packet answer, Transport transport,
                    std::uint8_t extended_rcode, bool* complete) {
    dns::Packet out;
    out.id = request.id;
    out.flags = static_cast<std::uint16_t>(dns::flag::QR | (request.flags & opcode_mask) |
                                           (answer.flags & dns::flag::AA) | (request.flags & dns::flag::RD) |
                                           dns::flag::RA | (request.flags & dns::flag::CD) | answer.rcode());
    out.questions.push_back(request.question);

    // Every record in send order; the OPT is kept aside so truncation never drops it.
    std::vector<dns::Record> records;
    records.reserve(answer.answers.size() + answer.authority.size() + answer.additional.size());
    for (auto* section : {&answer.answers, &answer.authority, &answer.additional}) {
        for (auto& r : *section) {
            if (r.type != dns::type::OPT) records.push_back(std::move(r));
        }
    }
    const std::size_t n_answers = answer.answers.size();
    const std::size_t n_required = n_answers + answer.authority.size();
    std::optional<dns::Record> opt;
    if (request.edns.present) opt = our_opt(request, extended_rcode);

    auto encode_first = [&](std::size_t keep) {
        out.answers.clear();
        out.authority.clear();
        out.additional.clear();
        for (std::size_t i = 0; i < keep; ++i) {
            auto& section = i < n_answers ? out.answers : i < n_required ? out.authority : out.additional;
            section.push_back(records[i]);
        }
        if (opt) out.additional.push_back(*opt);
        return dns::encode_packet(out);
    };

    const std::size_t limit = transport == Transport::udp ? request.max_udp_size() : max_tcp_message;
    Bytes wire = encode_first(records.size());
    if (complete) *complete = wire.size() <= limit;
    if (wire.size() <= limit) return wire;

    // The encoded size grows with every record kept: binary search the largest prefix that fits.
    // Keeping none always fits (header + one question + OPT < 512).
    std::size_t lo = 0, hi = records.size();  // lo fits, hi does not
    while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (encode_first(mid).size() <= limit) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // Dropping only additional data is not truncation (RFC 2181 §9).
    if (lo < n_required) out.flags |= dns::flag::TC;
    return encode_first(lo);
}

}  // namespace

bool edns_options_well_formed(ByteView rdata) {
    std::size_t pos = 0;
    while (pos < rdata.size()) {
        if (rdata.size() - pos < 4) return false;
        const std::size_t len = get_u16(rdata.data() + pos + 2);
        pos += 4;
        if (rdata.size() - pos < len) return false;
        pos += len;
    }
    return true;
}

ParsedRequest parse_request(ByteView wire) {
    if (wire.size() < header_size) return reject({}, "shorter than a DNS header");
    const std::uint16_t flags = get_u16(wire.data() + 2);
    if ((flags & dns::flag::QR) != 0) return reject({}, "a response, not a query");
    if ((flags & opcode_mask) != 0) return reject(header_reply(wire, dns::rcode::NOTIMP), "opcode not QUERY");

    auto parsed = dns::parse_packet(wire);
    if (!parsed)
        return reject(header_reply(wire, dns::rcode::FORMERR), "malformed: " + parsed.error().message);
    const dns::Packet& packet = parsed.value();
    if (packet.questions.size() != get_u16(wire.data() + 4) ||
        packet.answers.size() != get_u16(wire.data() + 6) ||
        packet.authority.size() != get_u16(wire.data() + 8) ||
        packet.additional.size() != get_u16(wire.data() + 10)) {
        return reject(header_reply(wire, dns::rcode::FORMERR), "malformed: record counts");
    }
    if (packet.questions.size() != 1)
        return reject(header_reply(wire, dns::rcode::FORMERR), "question count is not 1");

    for (const auto* section : {&packet.answers, &packet.authority}) {
        for (const auto& r : *section) {
            if (r.type == dns::type::OPT)
                return reject(header_reply(wire, dns::rcode::FORMERR), "OPT outside additional");
        }
    }

    Request request;
    request.id = packet.id;
    request.flags = flags;
    request.question = packet.questions.front();
    for (const auto& r : packet.additional) {
        if (r.type != dns::type::OPT) continue;
        if (request.edns.present) return reject(header_reply(wire, dns::rcode::FORMERR), "more than one OPT");
        if (!r.name.is_root() || !edns_options_well_formed(r.rdata)) {
            return reject(header_reply(wire, dns::rcode::FORMERR), "malformed OPT");
        }
        request.edns.present = true;
        request.edns.udp_size = std::clamp(r.klass, min_udp_payload, max_udp_payload);
        request.edns.version = static_cast<std::uint8_t>(r.ttl >> 16);
        request.edns.do_bit = (r.ttl & 0x8000u) != 0;
    }

    if (request.edns.version > 0)
        return reject(error_reply(request, rcode_badvers), "unsupported EDNS version");
    const std::uint16_t qtype = request.question.type;
    if (qtype == dns::type::OPT)
        return reject(error_reply(request, dns::rcode::FORMERR), "OPT as question type");
    if (qtype >= type_ixfr && qtype <= type_maila) {
        return reject(error_reply(request, dns::rcode::NOTIMP), "zone transfers and MAILx are not served");
    }
    return request;
}

Bytes finalize(const Request& request, dns::Packet answer, Transport transport, bool* complete) {
    return finalize_impl(request, std::move(answer), transport, 0, complete);
}

Bytes error_reply(const Request& request, std::uint16_t rcode) {
    dns::Packet answer;
    answer.set_rcode(static_cast<std::uint8_t>(rcode & 0x0f));
    return finalize_impl(request, std::move(answer), Transport::udp, static_cast<std::uint8_t>(rcode >> 4),
                         nullptr);
}

bool is_any_query(const Request& request) {
    return request.question.type == dns::type::ANY;
}

dns::Packet rfc8482_answer(const Request& request) {
    dns::Record hinfo;
    hinfo.name = request.question.name;
    hinfo.type = type_hinfo;
    hinfo.klass = request.question.klass;
    hinfo.ttl = rfc8482_ttl;
    // Two character-strings: CPU "RFC8482", OS "".
    const std::string_view cpu = "RFC8482";
    hinfo.rdata.push_back(static_cast<std::uint8_t>(cpu.size()));
    hinfo.rdata.insert(hinfo.rdata.end(), cpu.begin(), cpu.end());
    hinfo.rdata.push_back(0);

    dns::Packet answer;
    answer.answers.push_back(std::move(hinfo));
    return answer;
}

}  // namespace pkdns::pipeline
