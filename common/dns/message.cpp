#include "common/dns/message.hpp"

#include "common/dns/ldns_glue.hpp"

namespace pkdns::dns {

struct Message::Impl {
    glue::PktPtr pkt;
    // The raw header flags: ldns keeps no Z bit, and to_packet() should give back what was read.
    std::uint16_t flags = 0;
};

Message::Message(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::~Message() = default;

namespace {

void set_header(ldns_pkt* pkt, std::uint16_t id, std::uint16_t flags) {
    ldns_pkt_set_id(pkt, id);
    ldns_pkt_set_qr(pkt, (flags & flag::QR) != 0);
    ldns_pkt_set_opcode(pkt, static_cast<ldns_pkt_opcode>((flags >> 11) & 0x0f));
    ldns_pkt_set_aa(pkt, (flags & flag::AA) != 0);
    ldns_pkt_set_tc(pkt, (flags & flag::TC) != 0);
    ldns_pkt_set_rd(pkt, (flags & flag::RD) != 0);
    ldns_pkt_set_ra(pkt, (flags & flag::RA) != 0);
    ldns_pkt_set_ad(pkt, (flags & flag::AD) != 0);
    ldns_pkt_set_cd(pkt, (flags & flag::CD) != 0);
    ldns_pkt_set_rcode(pkt, static_cast<std::uint8_t>(flags & 0x0f));
}

std::string status_text(ldns_status s) {
    const char* text = ldns_get_errorstr_by_id(s);
    return text != nullptr ? text : "ldns error " + std::to_string(static_cast<int>(s));
}

}  // namespace

// The section loop is ours rather than ldns_wire2pkt's because ldns_wire2pkt (1.8.3) does not
// check that an RR's rdata fields use exactly RDLENGTH bytes (an A record with RDLENGTH 5 or a
// CNAME whose name runs past RDLENGTH silently shifts the parse of everything after it), and it
// pulls OPT/TSIG out of the additional section. Each RR is still decoded by ldns_wire2rr, which
// bounds-checks names (label <= 63, name <= 255, pointers inside the packet, pointer hop limit).
Result<Message> Message::parse(ByteView wire) {
    const std::uint8_t* data = wire.data();
    const std::size_t max = wire.size();
    if (max < LDNS_HEADER_SIZE) return make_error("DNS message shorter than its 12-byte header");

    glue::PktPtr pkt(ldns_pkt_new());
    if (!pkt) return make_error("out of memory");
    const std::uint16_t flags = get_u16(data + 2);
    set_header(pkt.get(), get_u16(data), flags);

    struct SectionSpec {
        ldns_pkt_section section;
        std::uint16_t count;
        const char* name;
    };
    const SectionSpec sections[] = {
        {LDNS_SECTION_QUESTION, get_u16(data + 4), "question"},
        {LDNS_SECTION_ANSWER, get_u16(data + 6), "answer"},
        {LDNS_SECTION_AUTHORITY, get_u16(data + 8), "authority"},
        {LDNS_SECTION_ADDITIONAL, get_u16(data + 10), "additional"},
    };

    std::size_t pos = LDNS_HEADER_SIZE;
    for (const auto& spec : sections) {
        const bool question = spec.section == LDNS_SECTION_QUESTION;
        for (std::uint32_t i = 0; i < spec.count; ++i) {
            auto fail = [&](const std::string& why) {
                return make_error(std::string(spec.name) + " record " + std::to_string(i + 1) + ": " + why);
            };
            const std::size_t start = pos;
            // Where the fixed fields start: needed to know the RR's declared end.
            ldns_rdf* owner = nullptr;
            ldns_status st = ldns_wire2dname(&owner, data, max, &pos);
            ldns_rdf_deep_free(owner);
            if (st != LDNS_STATUS_OK) return fail("bad owner name: " + status_text(st));
            std::size_t end = pos + 4;
            if (!question) {
                if (pos + 10 > max) return fail("truncated");
                end = pos + 10 + get_u16(data + pos + 8);
            }
            if (end > max) return fail("truncated");

            pos = start;
            ldns_rr* rr = nullptr;
            st = ldns_wire2rr(&rr, data, max, &pos, spec.section);
            if (st != LDNS_STATUS_OK) return fail(status_text(st));
            glue::RrPtr owned(rr);
            if (pos != end) return fail("rdata does not match RDLENGTH");
            if (!ldns_pkt_push_rr(pkt.get(), spec.section, owned.get())) return make_error("out of memory");
            owned.release();
        }
    }
    // Bytes after the counted records are ignored, as simple-dns and most resolvers do.

    auto impl = std::make_unique<Impl>();
    impl->pkt = std::move(pkt);
    impl->flags = flags;
    return Message(std::move(impl));
}

Message Message::from_packet(const Packet& packet) {
    auto impl = std::make_unique<Impl>();
    impl->pkt.reset(ldns_pkt_new());
    impl->flags = packet.flags;
    ldns_pkt* pkt = impl->pkt.get();
    if (pkt != nullptr) {
        set_header(pkt, packet.id, packet.flags);
        for (const auto& q : packet.questions) {
            if (auto rr = glue::rr_from_question(q);
                rr && ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, rr.get())) {
                rr.release();
            }
        }
        const std::pair<const std::vector<Record>*, ldns_pkt_section> sections[] = {
            {&packet.answers, LDNS_SECTION_ANSWER},
            {&packet.authority, LDNS_SECTION_AUTHORITY},
            {&packet.additional, LDNS_SECTION_ADDITIONAL},
        };
        for (const auto& [records, section] : sections) {
            for (const auto& r : *records) {
                if (auto rr = glue::rr_from_record(r); rr && ldns_pkt_push_rr(pkt, section, rr.get()))
                    rr.release();
            }
        }
    }
    return Message(std::move(impl));
}

Packet Message::to_packet() const {
    Packet out;
    const ldns_pkt* pkt = impl_->pkt.get();
    if (pkt == nullptr) return out;
    out.id = ldns_pkt_id(pkt);
    out.flags = impl_->flags;

    const ldns_rr_list* questions = ldns_pkt_question(pkt);
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(questions); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(questions, i);
        auto name = glue::name_from_rdf(ldns_rr_owner(rr));
        if (!name) continue;  // cannot happen for names ldns decoded or we built
        out.questions.push_back(Question{std::move(name.value()),
                                         static_cast<std::uint16_t>(ldns_rr_get_type(rr)),
                                         static_cast<std::uint16_t>(ldns_rr_get_class(rr))});
    }
    const std::pair<const ldns_rr_list*, std::vector<Record>*> sections[] = {
        {ldns_pkt_answer(pkt), &out.answers},
        {ldns_pkt_authority(pkt), &out.authority},
        {ldns_pkt_additional(pkt), &out.additional},
    };
    for (const auto& [list, records] : sections) {
        for (std::size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
            auto record = glue::record_from_rr(ldns_rr_list_rr(list, i));
            if (record) records->push_back(std::move(record.value()));
        }
    }
    return out;
}

Bytes Message::to_wire() const {
    if (!impl_->pkt) return {};
    std::uint8_t* buf = nullptr;
    std::size_t size = 0;
    if (ldns_pkt2wire(&buf, impl_->pkt.get(), &size) != LDNS_STATUS_OK || buf == nullptr) {
        free(buf);  // NOLINT: ldns allocates with malloc
        return {};
    }
    Bytes out(buf, buf + size);
    free(buf);              // NOLINT
    if (out.size() >= 4) {  // ldns drops the Z bit; keep the header flags as given
        out[2] = static_cast<std::uint8_t>(impl_->flags >> 8);
        out[3] = static_cast<std::uint8_t>(impl_->flags);
    }
    return out;
}

std::string Message::to_text() const {
    // Our own layout (dig-like) rather than ldns_pkt2str, which prints a query time and date and
    // returns NULL for some malformed rdata; each record goes through ldns via record_to_text.
    Packet p = to_packet();
    std::string out;
    glue::CharPtr opcode(ldns_pkt_opcode2str(static_cast<ldns_pkt_opcode>(p.opcode())));
    out += ";; ->>HEADER<<- opcode: " + std::string(opcode ? opcode.get() : "?") +
           ", status: " + rcode_to_string(p.rcode()) + ", id: " + std::to_string(p.id) + "\n";
    out += ";; flags:";
    const std::pair<std::uint16_t, const char*> flag_names[] = {
        {flag::QR, "qr"}, {flag::AA, "aa"}, {flag::TC, "tc"}, {flag::RD, "rd"},
        {flag::RA, "ra"}, {flag::AD, "ad"}, {flag::CD, "cd"},
    };
    for (const auto& [bit, name] : flag_names) {
        if (p.flags & bit) out += std::string(" ") + name;
    }
    out += "; QUERY: " + std::to_string(p.questions.size()) +
           ", ANSWER: " + std::to_string(p.answers.size()) +
           ", AUTHORITY: " + std::to_string(p.authority.size()) +
           ", ADDITIONAL: " + std::to_string(p.additional.size()) + "\n";
    out += "\n;; QUESTION SECTION:\n";
    for (const auto& q : p.questions) {
        std::string klass = q.klass == class_IN ? "IN" : "CLASS" + std::to_string(q.klass);
        out += ";" + (q.name.is_root() ? std::string(".") : q.name.to_string() + ".") + " " + klass + " " +
               type_to_string(q.type) + "\n";
    }
    const std::pair<const char*, const std::vector<Record>*> sections[] = {
        {"ANSWER", &p.answers}, {"AUTHORITY", &p.authority}, {"ADDITIONAL", &p.additional}};
    for (const auto& [title, records] : sections) {
        out += std::string("\n;; ") + title + " SECTION:\n";
        for (const auto& r : *records) out += record_to_text(r) + "\n";
    }
    return out;
}

}  // namespace pkdns::dns
