// SignedPacket parsing of hostile bytes: the canonical form and the relay payload for a fixed key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

using namespace pkdns;
using namespace pkdns::pkarr;

namespace {

void exercise(const SignedPacket& sp) {
    volatile std::size_t sink = 0;
    sink = sink + sp.records().size() + sp.ttl() + sp.ttl(0, 0) + sp.expires_in(sp.last_seen() + 123'456'789);
    sink = sink + sp.relay_payload().size() + sp.signature().size() + sp.dns_bytes().size();
    for (const char* q : {"@", ".", "*", "*.foo", "_foo", "a.b.c.", "*."})
        sink = sink + sp.resource_records(q).size();
    for (const auto& r : sp.records()) sink = sink + sp.resource_records(r.name.to_string()).size();
    sink = sink + sp.fresh_resource_records("@", sp.last_seen() + 1'000'000).size();
    if (sp.more_recent_than(sp)) std::abort();

    auto again = SignedPacket::from_bytes(sp.bytes(), sp.last_seen());
    if (!again.ok() || !again->same_as(sp) || again->records() != sp.records()) std::abort();
    auto trusted = SignedPacket::from_trusted_bytes(sp.bytes(), sp.last_seen());
    if (!trusted.ok() || !trusted->same_as(sp)) std::abort();
    auto relayed = SignedPacket::from_relay_payload(sp.public_key(), sp.relay_payload(), sp.last_seen());
    if (!relayed.ok() || !relayed->same_as(sp)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Keypair keypair = Keypair::from_seed(Keypair::Seed{});  // the vectors' zero seed
    const ByteView input(data, size);

    if (auto sp = SignedPacket::from_bytes(input, 1'000'000); sp.ok()) exercise(*sp);
    if (auto sp = SignedPacket::from_relay_payload(keypair.public_key(), input, 1'000'000); sp.ok())
        exercise(*sp);
    // Without the signature check the DNS parser and accessors see every input.
    if (auto sp = SignedPacket::from_trusted_bytes(input, 1'000'000); sp.ok()) {
        volatile std::size_t sink = 0;
        sink = sink + sp->records().size() + sp->ttl() + sp->resource_records("*").size();
        for (const auto& r : sp->records()) sink = sink + sp->resource_records(r.name.to_string()).size();
    }
    // Re-signing what the parser produced must give a packet that parses back the same.
    if (size >= 104 && size <= 400) {
        if (auto sp = SignedPacket::from_trusted_bytes(input, 0); sp.ok()) {
            auto resigned = SignedPacket::sign(keypair, sp->records(), sp->timestamp(), max_dns_bytes);
            if (resigned.ok()) exercise(*resigned);
        }
    }
    return 0;
}
