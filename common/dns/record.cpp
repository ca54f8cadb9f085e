#include "common/dns/record.hpp"

#include <cstdio>
#include <unordered_map>

#include "common/dns/ldns_glue.hpp"
#include "common/dns/message.hpp"

namespace pkdns::dns {

Result<std::uint16_t> type_from_string(std::string_view s) {
    if (s.empty() || s.size() > 32) return make_error("unknown record type '" + std::string(s) + "'");
    // "TYPEnnn" (RFC 3597) is handled here so TYPE0 is not mistaken for ldns's "unknown" (0).
    if (s.size() > 4 && (s.substr(0, 4) == "TYPE" || s.substr(0, 4) == "type")) {
        std::uint32_t v = 0;
        bool digits = true;
        for (char c : s.substr(4)) {
            if (c < '0' || c > '9') {
                digits = false;
                break;
            }
            v = v * 10 + static_cast<std::uint32_t>(c - '0');
            if (v > 0xffff) return make_error("record type number out of range: " + std::string(s));
        }
        if (digits) return static_cast<std::uint16_t>(v);
    }
    std::string z(s);
    ldns_rr_type t = ldns_get_rr_type_by_name(z.c_str());
    if (t == 0) return make_error("unknown record type '" + z + "'");
    return static_cast<std::uint16_t>(t);
}

std::string type_to_string(std::uint16_t type) {
    glue::CharPtr s(ldns_rr_type2str(static_cast<ldns_rr_type>(type)));
    if (!s) return "TYPE" + std::to_string(type);
    return s.get();
}

std::string rcode_to_string(std::uint8_t rcode) {
    const ldns_lookup_table* entry = ldns_lookup_by_id(ldns_rcodes, rcode);
    if (entry != nullptr && entry->name != nullptr) return entry->name;
    return "RCODE" + std::to_string(rcode);
}

std::optional<Name> Record::target() const {
    std::size_t offset = 0;
    switch (type) {
        case type::CNAME:
        case type::NS:
        case type::PTR:
        case type::DNAME:
            offset = 0;
            break;
        case type::MX:
        case type::SVCB:
        case type::HTTPS:
            offset = 2;
            break;
        case type::SRV:
            offset = 6;
            break;
        default:
            return std::nullopt;
    }
    if (rdata.size() < offset) return std::nullopt;
    auto name = Name::from_wire(rdata, offset);
    if (!name) return std::nullopt;
    return std::move(name.value());
}

Result<Packet> parse_packet(ByteView wire) {
    auto message = Message::parse(wire);
    if (!message) return message.error();
    return message->to_packet();
}

namespace {

// Rdata layouts whose names simple-dns 0.11 writes through its compression map: `prefix` fixed
// bytes, `names` domain names, then exactly `suffix` fixed bytes. Everything else (SRV, SVCB,
// HTTPS, KX, NAPTR, DNAME, ...) is copied as is; DNAME targets must not be compressed anyway
// (RFC 6672 §2.5) and simple-dns treats DNAME as opaque.
struct Layout {
    std::size_t prefix;
    int names;
    std::size_t suffix;
};

std::optional<Layout> compressible_layout(std::uint16_t type) {
    switch (type) {
        case 2:   // NS
        case 3:   // MD
        case 4:   // MF
        case 5:   // CNAME
        case 7:   // MB
        case 8:   // MG
        case 9:   // MR
        case 12:  // PTR
        case 23:  // NSAP-PTR
            return Layout{0, 1, 0};
        case 15:  // MX
        case 18:  // AFSDB
        case 21:  // RT
            return Layout{2, 1, 0};
        case 14:  // MINFO
        case 17:  // RP
            return Layout{0, 2, 0};
        case 6:  // SOA: mname, rname, serial, refresh, retry, expire, minimum
            return Layout{0, 2, 20};
        default:
            return std::nullopt;
    }
}

class Encoder {
public:
    Bytes out;

    void name(const Name& n) {
        // Each suffix of the wire form is a key: compression is case-sensitive, like simple-dns.
        const std::string_view wire = n.wire();
        for (std::size_t pos = 0; pos < wire.size();) {
            std::string key(wire.substr(pos));
            auto it = offsets_.find(key);
            if (it != offsets_.end()) {
                put_u16(out, static_cast<std::uint16_t>(0xC000 | it->second));
                return;
            }
            if (out.size() <= 0x3FFF)
                offsets_.emplace(std::move(key), static_cast<std::uint16_t>(out.size()));
            const std::size_t len = static_cast<std::uint8_t>(wire[pos]);
            out.insert(out.end(), wire.begin() + static_cast<std::ptrdiff_t>(pos),
                       wire.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
            pos += 1 + len;
        }
        out.push_back(0);
    }

    void rdata(const Record& r) {
        auto layout = compressible_layout(r.type);
        if (layout) {
            // Parse first: only well-formed rdata goes through the map (malformed is copied).
            std::size_t pos = layout->prefix;
            std::vector<Name> names;
            bool ok = r.rdata.size() >= pos;
            for (int i = 0; ok && i < layout->names; ++i) {
                auto n = Name::from_wire(r.rdata, pos);
                if (!n)
                    ok = false;
                else
                    names.push_back(std::move(n.value()));
            }
            if (ok && r.rdata.size() == pos + layout->suffix) {
                out.insert(out.end(), r.rdata.begin(),
                           r.rdata.begin() + static_cast<std::ptrdiff_t>(layout->prefix));
                for (const auto& n : names) name(n);
                out.insert(out.end(), r.rdata.end() - static_cast<std::ptrdiff_t>(layout->suffix),
                           r.rdata.end());
                return;
            }
        }
        out.insert(out.end(), r.rdata.begin(), r.rdata.end());
    }

    void record(const Record& r) {
        name(r.name);
        put_u16(out, r.type);
        put_u16(out, r.klass);
        put_u32(out, r.ttl);
        std::size_t len_at = out.size();
        put_u16(out, 0);
        rdata(r);
        std::size_t len = out.size() - len_at - 2;
        out[len_at] = static_cast<std::uint8_t>(len >> 8);
        out[len_at + 1] = static_cast<std::uint8_t>(len);
    }

private:
    std::unordered_map<std::string, std::uint16_t> offsets_;
};

}  // namespace

Bytes encode_packet(const Packet& packet) {
    Encoder e;
    put_u16(e.out, packet.id);
    put_u16(e.out, packet.flags);
    put_u16(e.out, static_cast<std::uint16_t>(packet.questions.size()));
    put_u16(e.out, static_cast<std::uint16_t>(packet.answers.size()));
    put_u16(e.out, static_cast<std::uint16_t>(packet.authority.size()));
    put_u16(e.out, static_cast<std::uint16_t>(packet.additional.size()));
    for (const auto& q : packet.questions) {
        e.name(q.name);
        put_u16(e.out, q.type);
        put_u16(e.out, q.klass);
    }
    for (const auto* section : {&packet.answers, &packet.authority, &packet.additional}) {
        for (const auto& r : *section) e.record(r);
    }
    return std::move(e.out);
}

namespace {

std::string fallback_text(const Record& record) {
    // RFC 3597 generic form, for rdata ldns cannot print.
    std::string owner = record.name.to_string() + ".";
    if (record.name.is_root()) owner = ".";
    std::string klass = record.klass == class_IN ? "IN" : "CLASS" + std::to_string(record.klass);
    std::string out = owner + " " + std::to_string(record.ttl) + " " + klass + " " +
                      type_to_string(record.type) + " \\# " + std::to_string(record.rdata.size());
    if (!record.rdata.empty()) out += " " + to_hex(record.rdata);
    return out;
}

}  // namespace

std::string record_to_text(const Record& record) {
    auto rr = glue::rr_from_record(record);
    if (!rr) return fallback_text(record);
    glue::CharPtr s(ldns_rr2str(rr.get()));
    if (!s) return fallback_text(record);
    std::string text = s.get();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    // ldns separates fields with tabs; rdata never contains a raw tab (it prints \009).
    for (auto& c : text) {
        if (c == '\t') c = ' ';
    }
    return text;
}

}  // namespace pkdns::dns
