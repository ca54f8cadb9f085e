// parse_packet on arbitrary bytes must never crash; whatever parses must re-encode to bytes that
// parse again to the same records, and every record must print.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/dns/message.hpp"
#include "common/dns/record.hpp"

using namespace pkdns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto packet = dns::parse_packet(ByteView(data, size));
    if (!packet) return 0;
    Bytes wire = dns::encode_packet(*packet);
    auto again = dns::parse_packet(wire);
    if (!again) std::abort();
    if (again->answers != packet->answers || again->authority != packet->authority ||
        again->additional != packet->additional || again->questions.size() != packet->questions.size()) {
        std::abort();
    }
    for (const auto* section : {&packet->answers, &packet->authority, &packet->additional}) {
        for (const auto& r : *section) {
            if (dns::record_to_text(r).empty()) std::abort();
            (void)r.target();
        }
    }
    auto message = dns::Message::from_packet(*packet);
    (void)message.to_text();
    (void)message.to_wire();
    return 0;
}
