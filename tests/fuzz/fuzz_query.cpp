// parse_request on arbitrary bytes; every reply we would send must parse, and a finalized UDP
// answer must fit the client's size with the question intact.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "common/dns/record.hpp"
#include "resolver/pipeline/query.hpp"

using namespace pkdns;
using namespace pkdns::pipeline;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// Answer records whose number and size come from the input, so truncation is exercised.
dns::Packet synthetic_answer(const Request& req, ByteView data) {
    dns::Packet answer;
    const std::size_t count = data.empty() ? 0 : data[data.size() - 1] % 64;
    for (std::size_t i = 0; i < count; ++i) {
        dns::Record r;
        r.name = req.question.name;
        r.type = dns::type::TXT;
        r.ttl = 60;
        const std::size_t len = (i * 37 + data.size()) % 200;
        r.rdata.push_back(static_cast<std::uint8_t>(len));
        for (std::size_t j = 0; j < len; ++j) r.rdata.push_back(data[(i + j) % data.size()]);
        (i % 3 == 2   ? answer.additional
         : i % 3 == 1 ? answer.authority
                      : answer.answers)
            .push_back(std::move(r));
    }
    if (!data.empty() && (data[0] & 1)) answer.flags |= dns::flag::AA;
    return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const ByteView wire(data, size);
    auto parsed = parse_request(wire);
    if (auto* rejection = std::get_if<Rejection>(&parsed)) {
        if (!rejection->reply.empty()) {
            auto reply = dns::parse_packet(rejection->reply);
            check(reply.ok());
            check(reply->id == get_u16(data));
            check((reply->flags & dns::flag::QR) != 0);
        }
        return 0;
    }
    const Request& req = std::get<Request>(parsed);
    check(req.max_udp_size() >= 512 && req.max_udp_size() <= 4096);

    const Bytes udp = finalize(req, synthetic_answer(req, wire), Transport::udp);
    check(udp.size() <= req.max_udp_size());
    auto reply = dns::parse_packet(udp);
    check(reply.ok());
    check(reply->id == req.id);
    check(reply->questions.size() == 1);
    check(reply->questions[0].name.identical(req.question.name));
    check(reply->questions[0].type == req.question.type);
    check((reply->flags & dns::flag::RD) == (req.flags & dns::flag::RD));
    bool has_opt = false;
    for (const auto& r : reply->additional) has_opt = has_opt || r.type == dns::type::OPT;
    check(has_opt == req.edns.present);

    const Bytes tcp = finalize(req, synthetic_answer(req, wire), Transport::tcp);
    check(tcp.size() <= 65535);
    check(dns::parse_packet(tcp).ok());

    auto refused = dns::parse_packet(error_reply(req, dns::rcode::REFUSED));
    check(refused.ok() && refused->rcode() == dns::rcode::REFUSED);
    return 0;
}
