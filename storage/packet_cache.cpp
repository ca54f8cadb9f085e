#include "storage/packet_cache.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

namespace pkdns::storage {

namespace {

constexpr std::size_t header_bytes = 104;  // pk | sig | ts
// pkarr's deserialize: a last_seen more than 60 s ahead is not believed.
constexpr pkarr::Micros max_last_seen_skew = 60'000'000;

// Columns are only read inside length bounds so a hostile file cannot make us load huge blobs.
constexpr std::string_view packet_column =
    "CASE WHEN typeof(packet) = 'blob' AND length(packet) BETWEEN 104 AND 1104 THEN packet END";

const std::string select_one_sql =
    "SELECT timestamp, last_seen, " + std::string(packet_column) + " FROM packets WHERE key = ?1";

const std::string select_page_sql = "SELECT key, timestamp, last_seen, " + std::string(packet_column) +
                                    " FROM packets WHERE key > ?1 ORDER BY key LIMIT ?2";

// The recency rule (pkarr-spec §2.4, §3.7) as one statement. DNS bytes start at byte 105 in
// SQL's 1-based substr; blobs compare with memcmp, a proper prefix being smaller.
constexpr std::string_view upsert_sql = R"sql(
INSERT INTO packets (key, timestamp, last_seen, packet, last_access)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (key) DO UPDATE SET
    timestamp = excluded.timestamp,
    packet = excluded.packet,
    last_seen = CASE WHEN excluded.packet = packets.packet
                     THEN max(packets.last_seen, excluded.last_seen)
                     ELSE excluded.last_seen END,
    last_access = max(packets.last_access, excluded.last_access)
WHERE excluded.timestamp > packets.timestamp
   OR (excluded.timestamp = packets.timestamp
       AND substr(excluded.packet, 105) > substr(packets.packet, 105))
   OR excluded.packet = packets.packet
)sql";

constexpr std::string_view remove_sql = "DELETE FROM packets WHERE key = ?1";
constexpr std::string_view touch_sql = "UPDATE packets SET last_access = max(last_access, ?2) WHERE key = ?1";
constexpr std::string_view count_sql = "SELECT count(*) FROM packets";
constexpr std::string_view evict_sql =
    "DELETE FROM packets WHERE key IN "
    "(SELECT key FROM packets ORDER BY last_access, key LIMIT ?1)";

Error misuse(std::string msg) {
    return make_error(std::move(msg), static_cast<int>(DbErrc::misuse));
}

std::int64_t to_sql(std::uint64_t v) {
    // Timestamps of a SignedPacket are < 2^63; clocks are far below.
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX));
}

}  // namespace

const char* to_string(PutOutcome outcome) {
    switch (outcome) {
        case PutOutcome::stored:
            return "stored";
        case PutOutcome::refreshed:
            return "refreshed";
        case PutOutcome::ignored_older:
            return "ignored_older";
    }
    return "?";
}

struct PacketCache::Impl {
    Database db;
    PacketCacheOptions options;
    Statement select_one;
    Statement select_page;
    Statement upsert;
    Statement remove;
    Statement touch;
    Statement count;
    Statement evict;
    std::map<pkarr::PublicKey::Raw, pkarr::Micros> pending_touches;
    std::int64_t rows = 0;  // this connection's view of count(*); recounted before evicting

    Impl(Database d, PacketCacheOptions o, Statement s1, Statement s2, Statement s3, Statement s4,
         Statement s5, Statement s6, Statement s7)
        : db(std::move(d)),
          options(std::move(o)),
          select_one(std::move(s1)),
          select_page(std::move(s2)),
          upsert(std::move(s3)),
          remove(std::move(s4)),
          touch(std::move(s5)),
          count(std::move(s6)),
          evict(std::move(s7)) {}

    pkarr::Micros now() const { return options.clock ? options.clock() : pkarr::now_micros(); }

    Result<std::int64_t> count_rows() {
        StatementScope s(count);
        auto row = s->step();
        if (!row) return row.error();
        return *row ? s->column_int64(0) : 0;
    }

    Result<bool> delete_raw(ByteView key) {
        StatementScope s(remove);
        s->bind_blob(1, key);
        if (auto r = s->run(); !r) return r.error();
        const auto n = db.changes();
        rows = std::max<std::int64_t>(0, rows - n);
        return n > 0;
    }

    void drop_corrupt(ByteView key, const std::string& why) {
        spdlog::warn("packet cache {}: dropping unreadable row for key {}: {}", db.path(), to_hex(key), why);
        if (auto r = delete_raw(key); !r)
            spdlog::warn("packet cache {}: could not delete the row: {}", db.path(), r.error().message);
    }

    // Loads the current row of a SELECT with columns (timestamp, last_seen, packet) starting at
    // `col`. Checks what a hostile file could get wrong; the error says what.
    Result<pkarr::SignedPacket> load_row(Statement& s, int col, ByteView key, pkarr::Micros now) {
        if (!s.column_is_blob(col + 2)) return make_error("packet missing, not a blob, or of invalid length");
        if (!s.column_is_integer(col)) return make_error("timestamp is not an integer");
        ByteView bytes = s.column_blob(col + 2);
        pkarr::Micros last_seen = 0;
        if (s.column_is_integer(col + 1) && s.column_int64(col + 1) > 0)
            last_seen = static_cast<pkarr::Micros>(s.column_int64(col + 1));
        if (last_seen > now + max_last_seen_skew) last_seen = 0;
        auto packet = pkarr::SignedPacket::from_trusted_bytes(bytes, last_seen);
        if (!packet) return packet.error();
        if (!std::equal(key.begin(), key.end(), packet->public_key().bytes().begin(),
                        packet->public_key().bytes().end()))
            return make_error("packet belongs to another key");
        if (s.column_int64(col) < 0 || static_cast<pkarr::Micros>(s.column_int64(col)) != packet->timestamp())
            return make_error("timestamp column does not match the packet");
        return packet;
    }

    // One page of rows with key > after. `last_key` receives the last key scanned (valid or
    // not) so the next page starts after it; `scanned` counts rows.
    Result<std::vector<pkarr::SignedPacket>> page(ByteView after, std::size_t limit, Bytes& last_key,
                                                  std::size_t& scanned) {
        std::vector<pkarr::SignedPacket> out;
        std::vector<std::pair<Bytes, std::string>> bad;
        scanned = 0;
        const pkarr::Micros t = now();
        {
            StatementScope s(select_page);
            s->bind_blob(1, after).bind_int64(2, to_sql(limit));
            for (std::size_t i = 0; i < limit; ++i) {
                auto row = s->step();
                if (!row) return row.error();
                if (!*row) break;
                ++scanned;
                ByteView key = s->column_blob(0);
                last_key.assign(key.begin(), key.end());
                auto packet = load_row(*s, 1, key, t);
                if (packet)
                    out.push_back(std::move(packet).value());
                else
                    bad.emplace_back(last_key, packet.error().message);
            }
        }
        for (const auto& [key, why] : bad) drop_corrupt(key, why);
        return out;
    }

    Result<void> flush() {
        if (pending_touches.empty()) return {};
        auto touches = std::exchange(pending_touches, {});  // advisory: dropped on failure
        auto txn = db.begin_immediate();
        if (!txn) return txn.error();
        for (const auto& [key, when] : touches) {
            StatementScope s(touch);
            s->bind_blob(1, ByteView(key)).bind_int64(2, to_sql(when));
            if (auto r = s->run(); !r) return r.error();
        }
        return txn->commit();
    }

    void note_access(const pkarr::PublicKey& key) {
        pending_touches[key.bytes()] = now();
        if (pending_touches.size() >= std::max<std::size_t>(1, options.touch_batch)) {
            if (auto r = flush(); !r)
                spdlog::warn("packet cache {}: writing access times failed: {}", db.path(),
                             r.error().message);
        }
    }

    // Deletes least recently accessed rows down to the target. Deleting a slice at once keeps
    // this off the per-insert path once the cache is full.
    Result<void> evict_if_needed() {
        const auto max = static_cast<std::int64_t>(options.max_packets);
        if (rows <= max) return {};
        if (auto r = flush(); !r) return r;
        auto txn = db.begin_immediate();
        if (!txn) return txn.error();
        auto n = count_rows();
        if (!n) return n.error();
        rows = *n;
        if (rows <= max) return {};
        const std::int64_t target = max - max / 100;
        {
            StatementScope s(evict);
            s->bind_int64(1, rows - target);
            if (auto r = s->run(); !r) return r.error();
        }
        const auto deleted = db.changes();
        if (auto r = txn->commit(); !r) return r;
        rows -= deleted;
        spdlog::debug("packet cache {}: evicted {} least recently used packets", db.path(), deleted);
        return {};
    }
};

PacketCache::PacketCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PacketCache::PacketCache(PacketCache&&) noexcept = default;
PacketCache& PacketCache::operator=(PacketCache&& other) noexcept {
    if (this != &other) {
        if (impl_) (void)impl_->flush();
        impl_ = std::move(other.impl_);
    }
    return *this;
}

PacketCache::~PacketCache() {
    if (!impl_) return;
    if (auto r = impl_->flush(); !r)
        spdlog::warn("packet cache {}: writing access times failed: {}", impl_->db.path(), r.error().message);
}

Result<PacketCache> PacketCache::open(Database db, PacketCacheOptions options) {
    if (options.max_packets == 0) return misuse("packet cache: max_packets must be at least 1");
    auto s1 = db.prepare(select_one_sql);
    if (!s1) return s1.error();
    auto s2 = db.prepare(select_page_sql);
    if (!s2) return s2.error();
    auto s3 = db.prepare(upsert_sql);
    if (!s3) return s3.error();
    auto s4 = db.prepare(remove_sql);
    if (!s4) return s4.error();
    auto s5 = db.prepare(touch_sql);
    if (!s5) return s5.error();
    auto s6 = db.prepare(count_sql);
    if (!s6) return s6.error();
    auto s7 = db.prepare(evict_sql);
    if (!s7) return s7.error();
    auto impl = std::make_unique<Impl>(std::move(db), std::move(options), std::move(*s1), std::move(*s2),
                                       std::move(*s3), std::move(*s4), std::move(*s5), std::move(*s6),
                                       std::move(*s7));
    auto n = impl->count_rows();
    if (!n) return n.error();
    impl->rows = *n;
    PacketCache cache(std::move(impl));
    // A smaller max_packets than last run takes effect now.
    if (auto r = cache.impl_->evict_if_needed(); !r) return r.error();
    return cache;
}

Result<std::optional<pkarr::SignedPacket>> PacketCache::get(const pkarr::PublicKey& key) {
    Impl& m = *impl_;
    std::optional<pkarr::SignedPacket> found;
    std::string why;
    {
        StatementScope s(m.select_one);
        s->bind_blob(1, key.view());
        auto row = s->step();
        if (!row) return row.error();
        if (!*row) return std::optional<pkarr::SignedPacket>{};
        auto packet = m.load_row(*s, 0, key.view(), m.now());
        if (packet)
            found = std::move(packet).value();
        else
            why = packet.error().message;
    }
    if (!found) {
        m.drop_corrupt(key.view(), why);
        return std::optional<pkarr::SignedPacket>{};
    }
    m.note_access(key);
    return found;
}

Result<PutOutcome> PacketCache::put(const pkarr::SignedPacket& packet) {
    Impl& m = *impl_;
    const ByteView key = packet.public_key().view();
    const Bytes& bytes = packet.bytes();
    if (bytes.size() < header_bytes) return misuse("packet cache: packet shorter than its header");
    const pkarr::Micros now = m.now();

    auto txn = m.db.begin_immediate();
    if (!txn) return txn.error();

    // Only to tell stored from refreshed: the decision itself is the upsert's WHERE clause.
    std::optional<Bytes> old;
    std::string corrupt;
    {
        StatementScope s(m.select_one);
        s->bind_blob(1, key);
        auto row = s->step();
        if (!row) return row.error();
        if (*row) {
            // Check types before reading values: reading converts them.
            const bool blob = s->column_is_blob(2);  // the SELECT bounds its length to 104..1104
            const bool integer = s->column_is_integer(0);
            ByteView b = blob ? s->column_blob(2) : ByteView{};
            if (b.size() < header_bytes)
                corrupt = "packet missing, not a blob, or of invalid length";
            else if (!integer || s->column_int64(0) < 0 ||
                     static_cast<std::uint64_t>(s->column_int64(0)) != get_u64(b.data() + 96))
                corrupt = "timestamp column does not match the packet";
            else if (!std::equal(key.begin(), key.end(), b.begin()))
                corrupt = "packet belongs to another key";
            else
                old.emplace(b.begin(), b.end());
        }
    }
    // A malformed row would make the comparisons meaningless: replace it.
    if (!corrupt.empty()) m.drop_corrupt(key, corrupt);

    {
        StatementScope s(m.upsert);
        s->bind_blob(1, key)
            .bind_int64(2, to_sql(packet.timestamp()))
            .bind_int64(3, to_sql(packet.last_seen()))
            .bind_blob(4, bytes)
            .bind_int64(5, to_sql(now));
        if (auto r = s->run(); !r) return r.error();
    }
    const bool changed = m.db.changes() > 0;
    if (auto r = txn->commit(); !r) return r.error();

    PutOutcome outcome = PutOutcome::ignored_older;
    if (changed) {
        outcome = old && *old == bytes ? PutOutcome::refreshed : PutOutcome::stored;
        if (!old) ++m.rows;
        m.pending_touches.erase(packet.public_key().bytes());  // the upsert set last_access
    }
    if (auto r = m.evict_if_needed(); !r)
        spdlog::warn("packet cache {}: eviction failed: {}", m.db.path(), r.error().message);
    return outcome;
}

void PacketCache::touch(const pkarr::PublicKey& key) {
    impl_->note_access(key);
}

Result<void> PacketCache::flush_touches() {
    return impl_->flush();
}

Result<bool> PacketCache::remove(const pkarr::PublicKey& key) {
    impl_->pending_touches.erase(key.bytes());
    return impl_->delete_raw(key.view());
}

Result<std::size_t> PacketCache::size() {
    auto n = impl_->count_rows();
    if (!n) return n.error();
    impl_->rows = *n;
    return static_cast<std::size_t>(*n);
}

Result<std::vector<pkarr::SignedPacket>> PacketCache::list(const std::optional<pkarr::PublicKey>& after,
                                                           std::size_t limit) {
    Bytes last;
    std::size_t scanned = 0;
    return impl_->page(after ? after->view() : ByteView{}, limit, last, scanned);
}

Result<void> PacketCache::for_each(const std::function<bool(const pkarr::SignedPacket&)>& fn,
                                   std::size_t page_size) {
    page_size = std::max<std::size_t>(1, page_size);
    Bytes after;  // empty blob: below every key
    // Keys strictly increase from page to page, so this ends after at most count(*) pages.
    for (;;) {
        Bytes last;
        std::size_t scanned = 0;
        auto packets = impl_->page(after, page_size, last, scanned);
        if (!packets) return packets.error();
        for (const auto& p : *packets)
            if (!fn(p)) return {};
        if (scanned < page_size) return {};
        after = std::move(last);
    }
}

std::size_t PacketCache::max_packets() const {
    return impl_->options.max_packets;
}

}  // namespace pkdns::storage
