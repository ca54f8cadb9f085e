#include "resolver/pipeline/packet_store.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/log.hpp"
#include "storage/packet_cache.hpp"

namespace pkdns::pipeline {

namespace {

constexpr pkarr::Micros micros_per_second = 1'000'000;

PacketLookup found(std::shared_ptr<const pkarr::SignedPacket> packet, bool stale) {
    PacketLookup r;
    r.status = PacketLookup::Status::found;
    r.packet = std::move(packet);
    r.stale = stale;
    return r;
}

PacketLookup failed(std::string error) {
    PacketLookup r;
    r.status = PacketLookup::Status::failed;
    r.error = std::move(error);
    return r;
}

}  // namespace

std::size_t PacketStore::KeyHash::operator()(const pkarr::PublicKey& k) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, k.bytes().data(), sizeof h);  // keys are uniformly distributed bytes
    return h;
}

PacketStore::PacketStore(PacketSource& source, storage::PacketCache* cache, PacketStoreConfig config,
                         Clock clock)
    : source_(source),
      cache_(cache),
      config_(config),
      clock_(std::move(clock)),
      front_({.max_entries = std::max<std::size_t>(config.front_capacity, 1)}) {}

PacketStore::~PacketStore() {
    close();
}

void PacketStore::close() {
    closed_ = true;
    auto pending = std::move(inflight_);
    inflight_.clear();
    for (auto& [key, in] : pending)
        for (auto& w : in.waiters) w(failed("shutting down"));
}

// Replaces what the front holds for `key`; the new packet or mark has no refresh pending.
PacketStore::Entry* PacketStore::front_put(const pkarr::PublicKey& key,
                                           std::shared_ptr<const pkarr::SignedPacket> packet,
                                           pkarr::Micros marked_at) {
    return front_.insert_or_assign(key, Entry{std::move(packet), marked_at, 0});
}

void PacketStore::lookup(const pkarr::PublicKey& key, const Admit& admit, Done done) {
    if (closed_) return done(failed("shutting down"));
    const pkarr::Micros now = clock_();

    Entry* entry = front_.find(key);
    if (entry && entry->packet) {
        ++stats_.front_hits;
        if (cache_) cache_->touch(key);  // batched in memory, not a SQLite access
        return serve_packet(key, *entry, now, done);
    }
    if (entry && now - entry->marked_at < pkarr::Micros{config_.min_ttl} * micros_per_second) {
        ++stats_.negative_hits;
        PacketLookup r;
        r.status = PacketLookup::Status::not_found;
        return done(std::move(r));
    }
    if (!entry && cache_) {
        auto got = cache_->get(key);
        if (!got) {
            spdlog::warn("packet cache read for {} failed: {}", key.to_z32(), got.error().message);
        } else if (got->has_value()) {
            ++stats_.sqlite_hits;
            Entry* put = front_put(key, std::make_shared<const pkarr::SignedPacket>(std::move(**got)), 0);
            return serve_packet(key, *put, now, done);
        }
    }

    if (auto it = inflight_.find(key); it != inflight_.end()) {
        ++stats_.coalesced;
        it->second.waiters.push_back(std::move(done));
        return;
    }
    if (admit && !admit()) {
        PacketLookup r;
        r.status = PacketLookup::Status::rate_limited;
        return done(std::move(r));
    }
    start_lookup(key, std::nullopt, std::move(done));
}

std::shared_ptr<const pkarr::SignedPacket> PacketStore::cached(const pkarr::PublicKey& key) {
    if (Entry* entry = front_.find(key); entry && entry->packet) return entry->packet;
    if (!cache_) return nullptr;
    auto got = cache_->get(key);
    if (!got) {
        spdlog::warn("packet cache read for {} failed: {}", key.to_z32(), got.error().message);
        return nullptr;
    }
    if (!got->has_value()) return nullptr;
    ++stats_.sqlite_hits;
    return front_put(key, std::make_shared<const pkarr::SignedPacket>(std::move(**got)), 0)->packet;
}

PacketStore::Offer PacketStore::offer(pkarr::SignedPacket packet) {
    const pkarr::PublicKey key = packet.public_key();
    std::shared_ptr<const pkarr::SignedPacket> current = cached(key);
    if (current && !packet.more_recent_than(*current))
        return packet.same_as(*current) ? Offer::same : Offer::older;
    ++stats_.stored;
    packet.set_last_seen(clock_());
    auto fresh = std::make_shared<const pkarr::SignedPacket>(std::move(packet));
    store(*fresh);
    front_put(key, std::move(fresh), 0);
    return Offer::stored;
}

void PacketStore::serve_packet(const pkarr::PublicKey& key, Entry& entry, pkarr::Micros now, Done& done) {
    const bool expired = entry.packet->is_expired(now, config_.min_ttl, config_.max_ttl);
    PacketLookup r = found(entry.packet, expired);
    if (expired) {
        ++stats_.stale_served;
        if (now >= entry.retry_after && !inflight_.contains(key)) {
            ++stats_.refreshes;
            entry.retry_after = now + pkarr::Micros{config_.min_ttl} * micros_per_second;
            start_lookup(key, entry.packet->timestamp(), nullptr);  // `entry` may be gone now
        }
    }
    done(std::move(r));
}

void PacketStore::start_lookup(const pkarr::PublicKey& key, std::optional<pkarr::Micros> newer_than,
                               Done done) {
    const std::uint64_t id = next_id_++;
    Inflight& in = inflight_[key];
    in.id = id;
    if (done) in.waiters.push_back(std::move(done));
    ++stats_.lookups;
    std::weak_ptr<int> alive = alive_;
    source_.resolve(key, newer_than,
                    [this, alive, key, id](std::optional<pkarr::SignedPacket> packet, std::string error) {
                        if (alive.expired()) return;
                        on_result(key, id, std::move(packet), std::move(error));
                    });
}

void PacketStore::store(const pkarr::SignedPacket& packet) {
    if (!cache_) return;
    auto r = cache_->put(packet);
    if (!r)
        spdlog::warn("packet cache write for {} failed: {}", packet.public_key().to_z32(), r.error().message);
}

void PacketStore::on_result(const pkarr::PublicKey& key, std::uint64_t id,
                            std::optional<pkarr::SignedPacket> packet, std::string error) {
    auto it = inflight_.find(key);
    if (it == inflight_.end() || it->second.id != id) return;  // closed, or a second call
    std::vector<Done> waiters = std::move(it->second.waiters);
    inflight_.erase(it);

    const pkarr::Micros now = clock_();
    Entry* entry = front_.find(key);
    std::shared_ptr<const pkarr::SignedPacket> current = entry ? entry->packet : nullptr;
    const pkarr::Micros retry_at = now + pkarr::Micros{config_.min_ttl} * micros_per_second;
    PacketLookup result;

    // Marks the cached packet as seen now: the network confirmed nothing newer exists.
    auto confirm_current = [&] {
        auto copy = std::make_shared<pkarr::SignedPacket>(*current);
        copy->set_last_seen(now);
        store(*copy);
        front_put(key, copy, 0);
        return found(std::move(copy), false);
    };

    if (packet) {
        if (packet->public_key() != key) {
            ++stats_.failures;  // a source bug; never store under the wrong key
            result = current ? found(current, true) : failed("the packet source returned another key");
        } else if (!current || packet->more_recent_than(*current)) {
            ++stats_.stored;
            packet->set_last_seen(now);
            auto fresh = std::make_shared<const pkarr::SignedPacket>(std::move(*packet));
            store(*fresh);
            front_put(key, fresh, 0);
            result = found(std::move(fresh), false);
        } else if (packet->same_as(*current)) {
            result = confirm_current();
        } else {
            ++stats_.ignored_older;
            entry->retry_after = retry_at;
            result = found(current, current->is_expired(now, config_.min_ttl, config_.max_ttl));
        }
    } else if (error.empty()) {
        if (current) {
            result = confirm_current();
        } else {
            front_put(key, nullptr, now);
            result.status = PacketLookup::Status::not_found;
        }
    } else {
        ++stats_.failures;
        spdlog::debug("PKARR lookup for {} failed: {}", key.to_z32(), error);
        if (current) {
            entry->retry_after = retry_at;
            result = found(current, true);
        } else {
            result = failed(std::move(error));
        }
    }
    for (auto& w : waiters) w(result);
}

}  // namespace pkdns::pipeline
