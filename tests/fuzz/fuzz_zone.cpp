// Zone text from an untrusted file, then zone answering over whatever it yields: never a crash,
// and every answer stays inside the limits a DNS reply can carry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/dns/name.hpp"
#include "common/dns/record.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/zone.hpp"
#include "pkarr/zone_file.hpp"

using namespace pkdns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto key =
        pkarr::PublicKey::from_z32("8pinxxgqs41n4aididenw5apqp1urfmzdztr8jt4abrkdn435ewo").value();
    static const auto apex = dns::Name::parse(key.to_z32()).value();
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto zone = pkarr::parse_zone(text, key, "fuzz");
    if (!zone.ok()) return 0;
    // Ask for every owner name in the zone, a name below each, and the apex, with a few types.
    std::vector<dns::Name> names{apex};
    for (const auto& r : *zone) {
        names.push_back(r.name);
        if (r.name.label_count() < 100) names.push_back(r.name.prepend("x"));
    }
    for (const auto& qname : names) {
        if (qname.wire_length() > 255) continue;
        for (std::uint16_t qtype : {dns::type::A, dns::type::CNAME, dns::type::TXT, dns::type::ANY}) {
            auto answer = pkarr::answer_from_zone(*zone, apex, qname, qtype);
            // Each chain step adds at most a DNAME and its synthesized CNAME.
            if (answer.answer.size() > zone->size() + 2 * (pkarr::max_zone_chain + 1)) std::abort();
        }
    }
    return 0;
}
