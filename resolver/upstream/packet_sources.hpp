#pragma once
// PacketSources for the pipeline's PacketStore: the DHT, the relays, and both at once.
//
// CombinedSource asks every leg in parallel on a miss. `done` runs exactly once:
//   - with the first valid packet any leg returns (the others keep running);
//   - otherwise when every leg has finished: "not found" when at least one leg reached the
//     network and found nothing, "failed" (the legs' reasons joined) only when every leg failed.
// A packet arriving after `done` that is more recent than everything delivered so far for that
// lookup goes to `on_late` (the app stores it with PacketStore::offer).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"
#include "resolver/pipeline/packet_store.hpp"

namespace pkdns::dht {
class DhtNode;
}
namespace pkdns::relay {
class RelayClient;
}

namespace pkdns::upstream {

using OnLatePacket = std::function<void(pkarr::SignedPacket)>;

// PKARR lookups on the DHT node; "nobody answered" is a failure, not "not found".
class DhtSource final : public pipeline::PacketSource {
public:
    explicit DhtSource(dht::DhtNode& node) : node_(node) {}
    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override;

private:
    dht::DhtNode& node_;
};

// The relays: the first valid answer; more recent ones from slower relays go to `on_newer`.
class RelaySource final : public pipeline::PacketSource {
public:
    explicit RelaySource(relay::RelayClient& client, OnLatePacket on_newer = nullptr)
        : client_(client), on_newer_(std::move(on_newer)) {}
    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override;

private:
    relay::RelayClient& client_;
    OnLatePacket on_newer_;
};

class CombinedSource final : public pipeline::PacketSource {
public:
    // The legs must outlive this object or be closed first (closing completes their lookups).
    explicit CombinedSource(std::vector<pipeline::PacketSource*> legs, OnLatePacket on_late = nullptr);
    ~CombinedSource() override = default;
    CombinedSource(const CombinedSource&) = delete;
    CombinedSource& operator=(const CombinedSource&) = delete;

    void resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) override;

private:
    struct Lookup;
    std::vector<pipeline::PacketSource*> legs_;
    // Shared with the lookups: `on_late` is not called once this object is gone.
    std::shared_ptr<OnLatePacket> on_late_;
};

}  // namespace pkdns::upstream
