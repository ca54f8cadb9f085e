#pragma once
// Republishing (issue 5, pkarr-spec.md §5.5): the zones of `[[publish]]` entries and the packets
// accepted through our relay API (`[relay] keep_alive`) are put on the DHT again and again.
//
// - RepublishSchedule: pure timing for one item, driven by `now` (ms on any monotonic clock).
//   Next due = last success + interval ± jitter; after a failure: 30 s, 60 s, 120 s, ... capped at
//   the interval; a content change makes the item due at once.
// - Republisher: the libuv driver. One timer ticks at the zone poll interval (1 s): it notices
//   zone file changes (stat: device, inode, size, mtime, ctime — robust to editors that replace the
//   file by rename — then a content compare) and starts what is due through a PacketPublisher.
//
// Republishing re-puts the identical signed bytes (same seq, §5.5); a zone is re-signed (fresh
// timestamp) only when its content changed. At start the packet in the packet cache is reused
// when it holds the same DNS bytes, so restarts do not re-sign an unchanged zone either. A zone file that
// turns invalid is logged and the last good packet keeps being republished.
//
// Keep-alive: on_accepted() lists the key (persisted in storage::KeepAliveStore, so it survives
// restarts). At each due time the packet is read from the packet cache and republished. A key is
// dropped ("expired") when its packet is no longer in the packet cache (evicted by the LRU), or
// when no PUT accepted it for `keep_alive_max_age` (default 7 days). Our own zone keys are never
// kept alive this way.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/uv.hpp"
#include "conf/config.hpp"
#include "pkarr/keys.hpp"
#include "pkarr/signed_packet.hpp"

namespace pkdns::storage {
class PacketCache;
class KeepAliveStore;
}  // namespace pkdns::storage

namespace pkdns::republish {

using RepublishRng = std::mt19937_64;

struct ScheduleConfig {
    std::uint64_t interval_ms = 3'600'000;
    double jitter = 0.10;                       // next due within interval * (1 ± jitter)
    std::uint64_t backoff_initial_ms = 30'000;  // first retry; doubles, never above interval_ms
};

// Timing of one republished item. Pure: no clock, no I/O.
class RepublishSchedule {
public:
    RepublishSchedule(ScheduleConfig config, std::uint64_t first_due_ms);

    bool due(std::uint64_t now_ms) const { return !in_flight_ && now_ms >= next_due_ms_; }
    std::uint64_t next_due_ms() const { return next_due_ms_; }
    bool in_flight() const { return in_flight_; }
    unsigned failures() const { return failures_; }  // consecutive
    const ScheduleConfig& config() const { return config_; }

    void started();
    void succeeded(std::uint64_t now_ms, RepublishRng& rng);
    void failed(std::uint64_t now_ms);
    // The content changed: due now, or right after the publish in flight ends.
    void changed(std::uint64_t now_ms);
    // Postpones a regular republish (e.g. the item was just published by someone else).
    void postpone(std::uint64_t now_ms, RepublishRng& rng);

    // interval ± jitter, uniformly.
    std::uint64_t jittered_interval(RepublishRng& rng) const;
    // The delay after `failures` consecutive failures (>= 1).
    std::uint64_t backoff_ms(unsigned failures) const;

private:
    ScheduleConfig config_;
    std::uint64_t next_due_ms_;
    unsigned failures_ = 0;
    bool in_flight_ = false;
    bool changed_in_flight_ = false;
};

// Where packets go: the DHT, relays, or several (FanOutPublisher).
class PacketPublisher {
public:
    // How many nodes (or relays) stored it; 0 counts as a failure. Called exactly once, from the
    // event loop, never from inside publish().
    using Done = std::function<void(Result<std::size_t> stored)>;
    virtual ~PacketPublisher() = default;
    virtual void publish(const pkarr::SignedPacket& packet, Done done) = 0;
};

// Publishes to every target in parallel; the stored counts add up. Fails only when every target
// failed or none stored it (the error names each target's failure). The targets must outlive it.
class FanOutPublisher final : public PacketPublisher {
public:
    void add(PacketPublisher& target, std::string name);
    void publish(const pkarr::SignedPacket& packet, Done done) override;

private:
    struct Target {
        PacketPublisher* publisher;
        std::string name;
    };
    std::vector<Target> targets_;
};

struct RepublisherStats {
    std::uint64_t published = 0;  // publishes stored on >= 1 node
    std::uint64_t failed = 0;     // publishes that failed or stored on none
    std::string last_error;       // most recent failure, "" when none yet
    // Earliest next publish, µs since the Unix epoch; empty when nothing is scheduled.
    std::optional<pkarr::Micros> next_due;
    std::size_t zones = 0;
    std::size_t keep_alive_keys = 0;
    std::uint64_t zone_changes = 0;  // zone files re-signed after an edit
    std::uint64_t zone_errors = 0;   // edits that did not load (the last good zone stays)
    std::uint64_t keep_alive_expired = 0;
};

struct RepublisherConfig {
    std::vector<conf::PublishEntry> zones;
    bool keep_alive = false;
    std::uint64_t keep_alive_interval_ms = 3'600'000;
    pkarr::Micros keep_alive_max_age = 7ull * 24 * 3600 * 1'000'000;
    std::size_t max_keep_alive = 10'000;
    std::uint64_t backoff_initial_ms = 30'000;
    double jitter = 0.10;
    std::uint64_t poll_interval_ms = 1000;  // zone file checks and due publishes
    std::uint64_t second_ms = 1000;         // length of a republish_interval second (tests shrink it)
    std::size_t max_in_flight = 16;         // concurrent publishes
    std::optional<std::uint64_t> rng_seed;  // default: random
    std::function<pkarr::Micros()> clock = pkarr::now_micros;  // signing time and stats
};

// A `[[publish]]` entry loaded: the key, the zone file's text and the records it holds.
struct LoadedZone {
    pkarr::Keypair keypair;
    std::string text;
    std::vector<dns::Record> records;
};
// Errors name the file (and the line for zone syntax errors).
Result<LoadedZone> load_publish_entry(const conf::PublishEntry& entry);
// Loads and signs (checks that the records fit one packet); for `check-config`.
Result<pkarr::SignedPacket> check_publish_entry(const conf::PublishEntry& entry,
                                                pkarr::Micros timestamp = pkarr::now_micros());

class Republisher {
public:
    // Loads and signs every zone (errors name the file and line: a fatal config error). `cache`
    // (optional) receives our signed zones and holds kept-alive packets; keep-alive needs both
    // `cache` and `keep_alive_store`. All of them must outlive the Republisher's use (close()).
    static Result<std::unique_ptr<Republisher>> create(uv::Loop& loop, RepublisherConfig config,
                                                       PacketPublisher& publisher,
                                                       storage::PacketCache* cache = nullptr,
                                                       storage::KeepAliveStore* keep_alive_store = nullptr);
    ~Republisher();
    Republisher(const Republisher&) = delete;
    Republisher& operator=(const Republisher&) = delete;

    // Loads the kept-alive keys (spread over the first interval), publishes the zones now and
    // starts the timer.
    void start();
    // Stops the timer; results of publishes still in flight are ignored. Idempotent.
    void close();

    // Hook for the relay API: a packet accepted by PUT /{key} (already verified and stored in
    // the packet cache) is kept alive from now on. Ignored when keep-alive is off.
    void on_accepted(const pkarr::SignedPacket& packet);

    const RepublisherStats& stats() const;
    // The packet currently published for one of our zones.
    std::optional<pkarr::SignedPacket> zone_packet(const pkarr::PublicKey& key) const;
    bool keeps_alive(const pkarr::PublicKey& key) const;

    struct Impl;

private:
    explicit Republisher(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

}  // namespace pkdns::republish
