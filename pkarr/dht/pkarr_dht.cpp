#include "pkarr/dht/pkarr_dht.hpp"

#include <algorithm>
#include <memory>

namespace pkdns::dht {

MutableItem to_mutable_item(const pkarr::SignedPacket& packet) {
    MutableItem item;
    item.key = packet.public_key().bytes();
    item.seq = static_cast<std::int64_t>(packet.timestamp());
    auto dns = packet.dns_bytes();
    item.value.assign(dns.begin(), dns.end());
    auto sig = packet.signature();
    std::copy(sig.begin(), sig.end(), item.signature.begin());
    return item;
}

void publish(DhtNode& node, const pkarr::SignedPacket& packet, std::optional<pkarr::Micros> cas,
             std::function<void(Result<PutOutcome>)> done) {
    std::optional<std::int64_t> c;
    if (cas) c = static_cast<std::int64_t>(*cas);
    node.put_mutable(to_mutable_item(packet), c, std::move(done));
}

void resolve(DhtNode& node, const pkarr::PublicKey& key, std::optional<pkarr::Micros> more_recent_than,
             std::function<void(ResolveOutcome)> done,
             std::function<void(const pkarr::SignedPacket&)> on_packet) {
    auto state = std::make_shared<ResolveOutcome>();
    std::optional<std::int64_t> seq;
    if (more_recent_than) seq = static_cast<std::int64_t>(*more_recent_than);
    node.get_mutable(
        key.bytes(), {}, seq,
        [state, key, on_packet](const MutableItem& item, const NodeInfo&) {
            // The lookup checked target == sha1(k) and the signature; k must still be our key.
            if (item.key != key.bytes() || !item.salt.empty()) {
                ++state->invalid_packets;
                return;
            }
            auto packet = pkarr::SignedPacket::from_parts(key, item.seq, item.value, item.signature);
            if (!packet) {
                ++state->invalid_packets;
                return;
            }
            ++state->packets;
            if (!state->packet || packet->more_recent_than(*state->packet)) state->packet = packet.value();
            if (on_packet) on_packet(packet.value());
        },
        [state, done = std::move(done)](GetOutcome outcome) {
            state->stats = outcome.stats;
            done(std::move(*state));
        });
}

std::string describe_failure(const ResolveOutcome& o) {
    const auto& s = o.stats;
    std::string counts = "queried " + std::to_string(s.queried) + " nodes, " + std::to_string(s.responded) +
                         " answered, " + std::to_string(s.timeouts) + " timed out";
    if (s.queried == 0) return "no DHT node to query (bootstrap failed)";
    if (s.responded == 0) return "no DHT node answered (" + counts + ")";
    if (o.invalid_packets > 0 || s.invalid > 0)
        return "only invalid records were found (" + std::to_string(o.invalid_packets + s.invalid) +
               " invalid; " + counts + ")";
    return "no signed packet stored for this key (" + counts + ")";
}

}  // namespace pkdns::dht
