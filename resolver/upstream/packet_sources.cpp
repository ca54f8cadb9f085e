#include "resolver/upstream/packet_sources.hpp"

#include <utility>

#include "pkarr/dht/node.hpp"
#include "pkarr/dht/pkarr_dht.hpp"
#include "pkarr/relay/relay_client.hpp"

namespace pkdns::upstream {

void DhtSource::resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) {
    dht::resolve(node_, key, newer_than, [done = std::move(done)](dht::ResolveOutcome outcome) {
        if (outcome.packet) return done(std::move(outcome.packet), "");
        // Nobody answered: a failure (serve stale / SERVFAIL), not "this key has nothing".
        if (outcome.stats.queried == 0 || outcome.stats.responded == 0)
            return done(std::nullopt, dht::describe_failure(outcome));
        done(std::nullopt, "");
    });
}

void RelaySource::resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than, Done done) {
    relay::GetOptions options;
    options.newer_than = newer_than;
    relay::RelayClient::OnNewer on_newer;
    if (on_newer_) on_newer = [hook = on_newer_](const pkarr::SignedPacket& p) { hook(p); };
    client_.get(
        key, options,
        [done = std::move(done)](relay::GetOutcome o) {
            if (o.packet) return done(std::move(o.packet), "");
            done(std::nullopt, o.error.empty() ? "" : "relays: " + o.error);
        },
        std::move(on_newer));
}

struct CombinedSource::Lookup {
    Done done;
    std::weak_ptr<OnLatePacket> on_late;
    std::size_t pending = 0;
    bool fired = false;
    std::optional<pkarr::SignedPacket> delivered;  // the most recent packet handed out so far
    std::size_t not_found = 0;
    std::string errors;

    void leg_done(std::optional<pkarr::SignedPacket> packet, std::string error) {
        --pending;
        if (packet) {
            if (!fired) {
                fired = true;
                delivered = packet;
                Done d = std::move(done);
                return d(std::move(packet), "");
            }
            if (delivered && !packet->more_recent_than(*delivered)) return;
            delivered = packet;
            if (auto hook = on_late.lock(); hook && *hook) (*hook)(std::move(*packet));
            return;
        }
        if (error.empty())
            ++not_found;
        else
            errors += (errors.empty() ? "" : "; ") + error;
        if (fired || pending > 0) return;
        fired = true;
        Done d = std::move(done);
        if (not_found > 0)
            d(std::nullopt, "");
        else
            d(std::nullopt, errors.empty() ? "no packet source answered" : errors);
    }
};

CombinedSource::CombinedSource(std::vector<pipeline::PacketSource*> legs, OnLatePacket on_late)
    : legs_(std::move(legs)), on_late_(std::make_shared<OnLatePacket>(std::move(on_late))) {}

void CombinedSource::resolve(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than,
                             Done done) {
    if (legs_.empty()) return done(std::nullopt, "no packet source configured");
    auto lookup = std::make_shared<Lookup>();
    lookup->done = std::move(done);
    lookup->on_late = on_late_;
    lookup->pending = legs_.size();
    // A copy: a leg completing synchronously may run code that touches this object.
    const std::vector<pipeline::PacketSource*> legs = legs_;
    for (pipeline::PacketSource* leg : legs) {
        leg->resolve(key, newer_than, [lookup](std::optional<pkarr::SignedPacket> packet, std::string error) {
            lookup->leg_done(std::move(packet), std::move(error));
        });
    }
}

}  // namespace pkdns::upstream
