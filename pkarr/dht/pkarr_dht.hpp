#pragma once
// PKARR on top of the DHT node (pkarr-spec.md §5): a SignedPacket is the BEP44 mutable item
// k = public key, seq = timestamp (µs), v = DNS packet, sig, no salt; target = sha1(k).

#include <cstddef>
#include <functional>
#include <optional>

#include "common/result.hpp"
#include "pkarr/dht/item_store.hpp"
#include "pkarr/dht/lookup.hpp"
#include "pkarr/dht/node.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::dht {

MutableItem to_mutable_item(const pkarr::SignedPacket& packet);

struct ResolveOutcome {
    std::optional<pkarr::SignedPacket> packet;  // most recent valid packet
    LookupStats stats;
    std::size_t packets = 0;          // valid packets received (duplicates counted)
    std::size_t invalid_packets = 0;  // valid BEP44 items that are not valid SignedPackets
};

// Stores the packet at the closest nodes; the callback gets how many stored it.
void publish(DhtNode& node, const pkarr::SignedPacket& packet, std::optional<pkarr::Micros> cas,
             std::function<void(Result<PutOutcome>)> done);

// Full lookup for `key`; keeps the most recent valid packet whose k is `key`. `on_packet` (optional)
// sees every valid packet as it arrives. The outcome's packet is empty when none was found.
void resolve(DhtNode& node, const pkarr::PublicKey& key, std::optional<pkarr::Micros> more_recent_than,
             std::function<void(ResolveOutcome)> done,
             std::function<void(const pkarr::SignedPacket&)> on_packet = nullptr);

// One line saying why a resolve found nothing ("no DHT node answered", ...).
std::string describe_failure(const ResolveOutcome& outcome);

}  // namespace pkdns::dht
