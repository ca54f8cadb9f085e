#include "resolver/republish/republisher.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "common/log.hpp"
#include "common/file.hpp"
#include "pkarr/zone_file.hpp"
#include "storage/keep_alive.hpp"
#include "storage/packet_cache.hpp"

namespace pkdns::republish {

// ------------------------------------------------------------------ RepublishSchedule

RepublishSchedule::RepublishSchedule(ScheduleConfig config, std::uint64_t first_due_ms)
    : config_(config), next_due_ms_(first_due_ms) {
    config_.interval_ms = std::max<std::uint64_t>(config_.interval_ms, 1);
    config_.jitter = std::clamp(config_.jitter, 0.0, 0.5);
    config_.backoff_initial_ms =
        std::clamp<std::uint64_t>(config_.backoff_initial_ms, 1, config_.interval_ms);
}

std::uint64_t RepublishSchedule::jittered_interval(RepublishRng& rng) const {
    const auto spread = static_cast<std::uint64_t>(static_cast<double>(config_.interval_ms) * config_.jitter);
    std::uniform_int_distribution<std::uint64_t> dist(config_.interval_ms - spread,
                                                      config_.interval_ms + spread);
    return dist(rng);
}

std::uint64_t RepublishSchedule::backoff_ms(unsigned failures) const {
    std::uint64_t delay = config_.backoff_initial_ms;
    for (unsigned i = 1; i < failures && delay < config_.interval_ms; ++i) delay *= 2;
    return std::min(delay, config_.interval_ms);
}

void RepublishSchedule::started() {
    in_flight_ = true;
}

void RepublishSchedule::succeeded(std::uint64_t now_ms, RepublishRng& rng) {
    in_flight_ = false;
    failures_ = 0;
    next_due_ms_ = now_ms + jittered_interval(rng);
    if (changed_in_flight_) next_due_ms_ = now_ms;
    changed_in_flight_ = false;
}

void RepublishSchedule::failed(std::uint64_t now_ms) {
    in_flight_ = false;
    if (failures_ < 64) ++failures_;
    next_due_ms_ = now_ms + backoff_ms(failures_);
    if (changed_in_flight_) next_due_ms_ = now_ms;
    changed_in_flight_ = false;
}

void RepublishSchedule::changed(std::uint64_t now_ms) {
    if (in_flight_)
        changed_in_flight_ = true;
    else
        next_due_ms_ = now_ms;
}

void RepublishSchedule::postpone(std::uint64_t now_ms, RepublishRng& rng) {
    if (in_flight_ || changed_in_flight_ || failures_ > 0) return;
    next_due_ms_ = std::max(next_due_ms_, now_ms + jittered_interval(rng));
}

// ------------------------------------------------------------------ FanOutPublisher

void FanOutPublisher::add(PacketPublisher& target, std::string name) {
    targets_.push_back(Target{&target, std::move(name)});
}

void FanOutPublisher::publish(const pkarr::SignedPacket& packet, Done done) {
    struct State {
        std::size_t pending = 0, stored = 0;
        std::string errors;
        Done done;
    };
    auto state = std::make_shared<State>();
    state->pending = targets_.size();
    state->done = std::move(done);
    if (targets_.empty()) {
        // No loop to defer to; the Republisher tolerates a call from inside publish().
        state->done(make_error("no publish target configured"));
        return;
    }
    for (const auto& t : targets_) {
        t.publisher->publish(packet, [state, name = t.name](Result<std::size_t> r) {
            if (r)
                state->stored += *r;
            else
                state->errors += (state->errors.empty() ? "" : "; ") + name + ": " + r.error().message;
            if (--state->pending > 0) return;
            if (state->stored > 0) return state->done(state->stored);
            state->done(make_error(state->errors.empty() ? "stored on no node" : state->errors));
        });
    }
}

// ------------------------------------------------------------------ zone files

namespace {

// Identity and version of a file as stat() sees it; a rename-replace changes the inode.
struct FileStamp {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    FileStamp s;
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    s.ctime_ns = std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
    return s;
}

Result<std::string> read_text(const std::string& path) {
    return read_bounded_file(path, pkarr::max_zone_file_bytes);
}

Result<pkarr::SignedPacket> sign_zone(const pkarr::Keypair& keypair, const std::vector<dns::Record>& records,
                                      pkarr::Micros timestamp, const std::string& zone_path) {
    auto packet = pkarr::SignedPacket::sign(keypair, records, timestamp);
    if (!packet) return make_error(zone_path + ": cannot sign: " + packet.error().message);
    return packet;
}

}  // namespace

Result<LoadedZone> load_publish_entry(const conf::PublishEntry& entry) {
    auto keypair = pkarr::Keypair::load(entry.key);
    if (!keypair) return keypair.error();
    auto text = read_text(entry.zone);
    if (!text) return text.error();
    auto records = pkarr::parse_zone(*text, keypair->public_key(), entry.zone);
    if (!records) return records.error();
    return LoadedZone{std::move(*keypair), std::move(*text), std::move(*records)};
}

Result<pkarr::SignedPacket> check_publish_entry(const conf::PublishEntry& entry, pkarr::Micros timestamp) {
    auto zone = load_publish_entry(entry);
    if (!zone) return zone.error();
    return sign_zone(zone->keypair, zone->records, timestamp, entry.zone);
}

// ------------------------------------------------------------------ Republisher

struct Republisher::Impl : std::enable_shared_from_this<Impl> {
    struct Zone {
        conf::PublishEntry entry;
        pkarr::Keypair keypair;
        std::string text;      // content of the last good load
        FileStamp stamp;       // of the last look at the file
        FileStamp handled;     // the stamp last acted on
        std::string bad_text;  // content of the last failed load (logged once)
        pkarr::SignedPacket packet;
        RepublishSchedule schedule;
    };
    struct Kept {
        pkarr::Micros accepted_at;
        RepublishSchedule schedule;
    };

    uv::Loop& loop;
    RepublisherConfig config;
    PacketPublisher& publisher;
    storage::PacketCache* cache;
    storage::KeepAliveStore* store;
    uv::Timer timer;
    RepublishRng rng;
    std::vector<Zone> zones;
    std::map<pkarr::PublicKey, Kept> kept;
    std::size_t in_flight = 0;
    bool started = false;
    bool closed = false;
    RepublisherStats stats;

    Impl(uv::Loop& l, RepublisherConfig c, PacketPublisher& p, storage::PacketCache* pc,
         storage::KeepAliveStore* ks)
        : loop(l),
          config(std::move(c)),
          publisher(p),
          cache(pc),
          store(ks),
          timer(l),
          rng(config.rng_seed ? *config.rng_seed : std::random_device{}()) {}

    bool keep_alive_on() const { return config.keep_alive && cache && store; }
    std::uint64_t now_ms() { return loop.now_ms(); }
    pkarr::Micros wall() { return config.clock ? config.clock() : pkarr::now_micros(); }

    ScheduleConfig schedule_config(std::uint64_t interval_ms) const {
        return ScheduleConfig{interval_ms, config.jitter, config.backoff_initial_ms};
    }

    bool is_zone_key(const pkarr::PublicKey& key) const {
        return std::any_of(zones.begin(), zones.end(),
                           [&](const Zone& z) { return z.keypair.public_key() == key; });
    }

    void store_in_cache(const pkarr::SignedPacket& packet) {
        if (!cache) return;
        if (auto r = cache->put(packet); !r) spdlog::warn("republisher: packet cache: {}", r.error().message);
    }

    // ---- start / tick

    void start() {
        if (started || closed) return;
        started = true;
        if (keep_alive_on()) load_kept();
        tick();
        timer.start(config.poll_interval_ms, config.poll_interval_ms, [weak = weak_from_this()] {
            if (auto self = weak.lock()) self->tick();
        });
    }

    void load_kept() {
        auto entries = store->load(config.max_keep_alive);
        if (!entries) {
            spdlog::error("republisher: cannot load the kept-alive keys: {}", entries.error().message);
            return;
        }
        const std::uint64_t now = now_ms();
        std::uniform_int_distribution<std::uint64_t> spread(0, config.keep_alive_interval_ms);
        for (const auto& e : *entries) {
            if (is_zone_key(e.key)) continue;
            // Spread over the first interval: a restart must not publish every key at once.
            kept.emplace(e.key,
                         Kept{e.accepted_at, RepublishSchedule(schedule_config(config.keep_alive_interval_ms),
                                                               now + spread(rng))});
        }
        stats.keep_alive_keys = kept.size();
        if (!kept.empty()) spdlog::info("republisher: keeping {} relay packets alive", kept.size());
    }

    void tick() {
        if (closed) return;
        loop.update_time();
        const std::uint64_t now = now_ms();
        for (std::size_t i = 0; i < zones.size(); ++i) check_zone_file(i, now);
        for (std::size_t i = 0; i < zones.size() && in_flight < config.max_in_flight; ++i)
            if (zones[i].schedule.due(now)) publish_zone(i, now);
        std::vector<pkarr::PublicKey> due;
        for (auto& [key, k] : kept)
            if (k.schedule.due(now)) due.push_back(key);
        for (const auto& key : due) {
            if (in_flight >= config.max_in_flight) break;
            publish_kept(key, now);
        }
        update_next_due();
    }

    void update_next_due() {
        std::optional<std::uint64_t> earliest;
        auto consider = [&](const RepublishSchedule& s) {
            if (s.in_flight()) return;
            if (!earliest || s.next_due_ms() < *earliest) earliest = s.next_due_ms();
        };
        for (const auto& z : zones) consider(z.schedule);
        for (const auto& [key, k] : kept) consider(k.schedule);
        if (!earliest) {
            stats.next_due.reset();
            return;
        }
        const std::uint64_t now = now_ms();
        const std::uint64_t wait_ms = *earliest > now ? *earliest - now : 0;
        stats.next_due = wall() + wait_ms * 1000;
    }

    // ---- zones

    void check_zone_file(std::size_t i, std::uint64_t now) {
        Zone& z = zones[i];
        FileStamp stamp = stamp_of(z.entry.zone);
        // Act only once the file stayed the same for one poll: an editor writing in several
        // steps (truncate, then write) must not get its empty intermediate state published.
        if (stamp != z.stamp) {
            z.stamp = stamp;
            return;
        }
        if (stamp == z.handled) return;
        z.handled = stamp;
        if (!stamp.exists) {
            // Editors that replace by rename leave a short gap; the next tick sees the new file.
            spdlog::warn("republisher: zone file {} is missing; republishing the last good zone",
                         z.entry.zone);
            return;
        }
        auto text = read_text(z.entry.zone);
        if (!text) return zone_error(z, z.bad_text, text.error().message);
        if (*text == z.text || *text == z.bad_text) return;
        auto records = pkarr::parse_zone(*text, z.keypair.public_key(), z.entry.zone);
        if (!records) return zone_error(z, *text, records.error().message);
        // Strictly newer than what we published, even when the clock stepped back.
        const pkarr::Micros ts = std::max(wall(), z.packet.timestamp() + 1);
        auto packet = sign_zone(z.keypair, *records, ts, z.entry.zone);
        if (!packet) return zone_error(z, *text, packet.error().message);
        z.text = std::move(*text);
        z.bad_text.clear();
        z.packet = std::move(*packet);
        store_in_cache(z.packet);
        ++stats.zone_changes;
        spdlog::info("republisher: zone file {} changed; publishing {} records for {}", z.entry.zone,
                     z.packet.records().size(), z.keypair.public_key().to_z32());
        z.schedule.changed(now);
    }

    void zone_error(Zone& z, std::string text, const std::string& why) {
        ++stats.zone_errors;
        z.bad_text = std::move(text);
        spdlog::error("republisher: {}; still publishing the last good zone of {}", why,
                      z.keypair.public_key().to_z32());
    }

    void publish_zone(std::size_t i, std::uint64_t now) {
        (void)now;
        Zone& z = zones[i];
        z.schedule.started();
        ++in_flight;
        const pkarr::PublicKey key = z.keypair.public_key();
        const pkarr::Micros ts = z.packet.timestamp();
        publisher.publish(z.packet, [weak = weak_from_this(), i, key, ts](Result<std::size_t> r) {
            auto self = weak.lock();
            if (!self || self->closed) return;
            --self->in_flight;
            Zone& z = self->zones[i];
            std::string what = "zone " + key.to_z32() + " (timestamp " + std::to_string(ts) + ")";
            if (self->finish(z.schedule, r, what))
                spdlog::info("republisher: published {}: stored by {} nodes/relays; next in about {} s", what,
                             *r, (z.schedule.next_due_ms() - self->now_ms()) / 1000);
            self->update_next_due();
        });
    }

    // Books the outcome; true on success.
    bool finish(RepublishSchedule& schedule, const Result<std::size_t>& r, const std::string& what) {
        loop.update_time();
        const std::uint64_t now = now_ms();
        if (r && *r > 0) {
            ++stats.published;
            schedule.succeeded(now, rng);
            return true;
        }
        ++stats.failed;
        stats.last_error = what + ": " + (r ? std::string("stored on no node") : r.error().message);
        schedule.failed(now);
        spdlog::warn("republisher: publishing {} failed; retrying in {} s", stats.last_error,
                     (schedule.next_due_ms() - now) / 1000);
        return false;
    }

    // ---- keep-alive

    void drop_kept(const pkarr::PublicKey& key, const char* why) {
        kept.erase(key);
        stats.keep_alive_keys = kept.size();
        ++stats.keep_alive_expired;
        spdlog::debug("republisher: no longer keeping {} alive: {}", key.to_z32(), why);
        if (auto r = store->remove(key); !r)
            spdlog::warn("republisher: keep-alive store: {}", r.error().message);
    }

    void publish_kept(const pkarr::PublicKey& key, std::uint64_t now) {
        Kept& k = kept.at(key);
        if (wall() > k.accepted_at + config.keep_alive_max_age) return drop_kept(key, "too old");
        auto packet = cache->get(key);
        if (!packet) {
            stats.last_error = "keep-alive " + key.to_z32() + ": " + packet.error().message;
            ++stats.failed;
            k.schedule.failed(now);
            return;
        }
        if (!*packet) return drop_kept(key, "evicted from the packet cache");
        k.schedule.started();
        ++in_flight;
        publisher.publish(**packet, [weak = weak_from_this(), key](Result<std::size_t> r) {
            auto self = weak.lock();
            if (!self || self->closed) return;
            --self->in_flight;
            auto it = self->kept.find(key);
            if (it == self->kept.end()) return;
            if (self->finish(it->second.schedule, r, "kept-alive " + key.to_z32()))
                spdlog::debug("republisher: republished kept-alive {} to {} nodes", key.to_z32(), *r);
            self->update_next_due();
        });
    }

    void on_accepted(const pkarr::SignedPacket& packet) {
        if (closed || !keep_alive_on()) return;
        const auto& key = packet.public_key();
        if (is_zone_key(key)) return;
        const pkarr::Micros at = wall();
        const std::uint64_t now = now_ms();
        auto it = kept.find(key);
        if (it == kept.end()) {
            if (kept.size() >= config.max_keep_alive) {
                spdlog::warn("republisher: already keeping {} packets alive; not adding {}", kept.size(),
                             key.to_z32());
                return;
            }
            // The relay API has just published it: the first republish is one interval away.
            RepublishSchedule schedule(schedule_config(config.keep_alive_interval_ms), now);
            schedule.postpone(now, rng);
            it = kept.emplace(key, Kept{at, schedule}).first;
            stats.keep_alive_keys = kept.size();
        } else {
            it->second.accepted_at = std::max(it->second.accepted_at, at);
            it->second.schedule.postpone(now, rng);
        }
        if (auto r = store->add(key, at); !r)
            spdlog::warn("republisher: keep-alive store: {}", r.error().message);
        update_next_due();
    }
};

Result<std::unique_ptr<Republisher>> Republisher::create(uv::Loop& loop, RepublisherConfig config,
                                                         PacketPublisher& publisher,
                                                         storage::PacketCache* cache,
                                                         storage::KeepAliveStore* keep_alive_store) {
    config.poll_interval_ms = std::max<std::uint64_t>(config.poll_interval_ms, 1);
    config.keep_alive_interval_ms = std::max<std::uint64_t>(config.keep_alive_interval_ms, 1);
    config.max_in_flight = std::max<std::size_t>(config.max_in_flight, 1);
    config.second_ms = std::max<std::uint64_t>(config.second_ms, 1);
    auto impl = std::make_shared<Impl>(loop, config, publisher, cache, keep_alive_store);
    const pkarr::Micros ts = impl->wall();
    for (const auto& entry : config.zones) {
        auto zone = load_publish_entry(entry);
        if (!zone) return zone.error();
        auto packet = sign_zone(zone->keypair, zone->records, ts, entry.zone);
        if (!packet) return packet.error();
        // An unchanged zone keeps the packet we published before the restart (same seq, §5.5).
        if (cache) {
            auto cached = cache->get(packet->public_key());
            if (cached && *cached && (*cached)->timestamp() <= ts &&
                std::ranges::equal((*cached)->dns_bytes(), packet->dns_bytes()))
                packet = std::move(**cached);
        }
        if (entry.republish_interval < 60)
            spdlog::warn("republisher: republish_interval = {} s for {} (below 60 s: meant for tests)",
                         entry.republish_interval, entry.zone);
        const std::uint64_t interval_ms = std::uint64_t{entry.republish_interval} * config.second_ms;
        impl->zones.push_back(
            Impl::Zone{entry,
                       std::move(zone->keypair),
                       std::move(zone->text),
                       stamp_of(entry.zone),
                       {},
                       "",
                       std::move(*packet),
                       RepublishSchedule(impl->schedule_config(interval_ms), loop.now_ms())});
        impl->zones.back().handled = impl->zones.back().stamp;
        impl->store_in_cache(impl->zones.back().packet);
    }
    impl->stats.zones = impl->zones.size();
    return std::unique_ptr<Republisher>(new Republisher(std::move(impl)));
}

Republisher::Republisher(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Republisher::~Republisher() {
    close();
}

void Republisher::start() {
    impl_->start();
}

void Republisher::close() {
    if (impl_->closed) return;
    impl_->closed = true;
    impl_->timer.stop();
}

void Republisher::on_accepted(const pkarr::SignedPacket& packet) {
    impl_->on_accepted(packet);
}

const RepublisherStats& Republisher::stats() const {
    return impl_->stats;
}

std::optional<pkarr::SignedPacket> Republisher::zone_packet(const pkarr::PublicKey& key) const {
    for (const auto& z : impl_->zones)
        if (z.keypair.public_key() == key) return z.packet;
    return std::nullopt;
}

bool Republisher::keeps_alive(const pkarr::PublicKey& key) const {
    return impl_->kept.count(key) > 0;
}

}  // namespace pkdns::republish
