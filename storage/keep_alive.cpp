#include "storage/keep_alive.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

namespace pkdns::storage {

namespace {

constexpr std::string_view add_sql = R"sql(
INSERT INTO keep_alive (key, accepted_at) VALUES (?1, ?2)
ON CONFLICT (key) DO UPDATE SET accepted_at = max(keep_alive.accepted_at, excluded.accepted_at)
)sql";
constexpr std::string_view remove_sql = "DELETE FROM keep_alive WHERE key = ?1";
// Only blobs of the right length are read, so a hostile file cannot make us load huge values.
constexpr std::string_view load_sql =
    "SELECT CASE WHEN typeof(key) = 'blob' AND length(key) = 32 THEN key END, accepted_at, rowid "
    "FROM keep_alive ORDER BY key LIMIT ?1";
constexpr std::string_view remove_rowid_sql = "DELETE FROM keep_alive WHERE rowid = ?1";
constexpr std::string_view count_sql = "SELECT count(*) FROM keep_alive";

std::int64_t to_sql(std::uint64_t v) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX));
}

}  // namespace

struct KeepAliveStore::Impl {
    Database db;
    Statement add, remove, load, remove_rowid, count;
};

Result<KeepAliveStore> KeepAliveStore::open(Database db) {
    auto add = db.prepare(add_sql);
    if (!add) return add.error();
    auto remove = db.prepare(remove_sql);
    if (!remove) return remove.error();
    auto load = db.prepare(load_sql);
    if (!load) return load.error();
    auto remove_rowid = db.prepare(remove_rowid_sql);
    if (!remove_rowid) return remove_rowid.error();
    auto count = db.prepare(count_sql);
    if (!count) return count.error();
    return KeepAliveStore(
        std::make_unique<Impl>(Impl{std::move(db), std::move(*add), std::move(*remove), std::move(*load),
                                    std::move(*remove_rowid), std::move(*count)}));
}

KeepAliveStore::KeepAliveStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeepAliveStore::KeepAliveStore(KeepAliveStore&&) noexcept = default;
KeepAliveStore& KeepAliveStore::operator=(KeepAliveStore&&) noexcept = default;
KeepAliveStore::~KeepAliveStore() = default;

Result<void> KeepAliveStore::add(const pkarr::PublicKey& key, pkarr::Micros accepted_at) {
    StatementScope s(impl_->add);
    s->bind_blob(1, key.view()).bind_int64(2, to_sql(accepted_at));
    return s->run();
}

Result<bool> KeepAliveStore::remove(const pkarr::PublicKey& key) {
    StatementScope s(impl_->remove);
    s->bind_blob(1, key.view());
    if (auto r = s->run(); !r) return r.error();
    return impl_->db.changes() > 0;
}

Result<std::vector<KeepAliveEntry>> KeepAliveStore::load(std::size_t limit) {
    std::vector<KeepAliveEntry> out;
    std::vector<std::int64_t> bad_rows;
    {
        StatementScope s(impl_->load);
        s->bind_int64(1, to_sql(limit));
        while (true) {
            auto row = s->step();
            if (!row) return row.error();
            if (!*row) break;
            auto key = s->column_is_blob(0) ? pkarr::PublicKey::from_bytes(s->column_blob(0))
                                            : Result<pkarr::PublicKey>(make_error("not a 32-byte blob"));
            if (!key || !s->column_is_integer(1) || s->column_int64(1) < 0) {
                bad_rows.push_back(s->column_int64(2));
                continue;
            }
            out.push_back(KeepAliveEntry{*key, static_cast<pkarr::Micros>(s->column_int64(1))});
        }
    }
    for (auto rowid : bad_rows) {
        spdlog::warn("keep-alive store: dropping an invalid row");
        StatementScope s(impl_->remove_rowid);
        s->bind_int64(1, rowid);
        if (auto r = s->run(); !r) return r.error();
    }
    return out;
}

Result<std::size_t> KeepAliveStore::size() {
    StatementScope s(impl_->count);
    auto row = s->step();
    if (!row) return row.error();
    return *row ? static_cast<std::size_t>(s->column_int64(0)) : std::size_t{0};
}

}  // namespace pkdns::storage
