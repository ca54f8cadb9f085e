#include "storage/database.hpp"

#include <climits>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "storage/schema.hpp"

namespace pkdns::storage {

namespace detail {

struct Connection {
    sqlite3* db = nullptr;
    std::string path;
    // Transaction control, prepared on first use.
    sqlite3_stmt* begin = nullptr;
    sqlite3_stmt* commit = nullptr;
    sqlite3_stmt* rollback = nullptr;

    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() {
        sqlite3_finalize(begin);
        sqlite3_finalize(commit);
        sqlite3_finalize(rollback);
        sqlite3_close_v2(db);  // NULL is a no-op
    }
};

}  // namespace detail

namespace {

DbErrc errc_from(int rc) {
    switch (rc & 0xff) {
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return DbErrc::cant_open;
        case SQLITE_NOTADB:
            return DbErrc::not_a_database;
        case SQLITE_CORRUPT:
            return DbErrc::corrupt;
        case SQLITE_READONLY:
            return DbErrc::read_only;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return DbErrc::busy;
        case SQLITE_FULL:
            return DbErrc::full;
        case SQLITE_IOERR:
            return DbErrc::io;
        case SQLITE_CONSTRAINT:
            return DbErrc::constraint;
        case SQLITE_MISUSE:
        case SQLITE_RANGE:
            return DbErrc::misuse;
        default:
            return DbErrc::other;
    }
}

Error make_db_error(sqlite3* db, int rc, const std::string& path, std::string_view what = {}) {
    std::string msg = "database " + path;
    if (!what.empty()) {
        msg += " (";
        msg += what;
        msg += ")";
    }
    msg += ": ";
    // errmsg describes the most recent failure on the connection; prefer it when it is this one.
    if (db != nullptr && sqlite3_extended_errcode(db) == rc)
        msg += sqlite3_errmsg(db);
    else
        msg += sqlite3_errstr(rc);
    return make_error(std::move(msg), static_cast<int>(errc_from(rc)));
}

std::string_view sql_excerpt(std::string_view sql) {
    while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n')) sql.remove_prefix(1);
    return sql.substr(0, 48);
}

// Runs a parameterless cached statement (BEGIN/COMMIT/ROLLBACK) to completion.
int run_cached(detail::Connection& conn, sqlite3_stmt*& slot, const char* sql) {
    if (slot == nullptr) {
        int rc = sqlite3_prepare_v3(conn.db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot, nullptr);
        if (rc != SQLITE_OK) return rc;
    }
    int rc = sqlite3_step(slot);
    sqlite3_reset(slot);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

}  // namespace

// ---- Statement -------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : conn_(std::move(other.conn_)), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(stmt_);
        stmt_ = std::exchange(other.stmt_, nullptr);
        conn_ = std::move(other.conn_);
        bind_rc_ = other.bind_rc_;
    }
    return *this;
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

Statement& Statement::reset() {
    if (stmt_ != nullptr) {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    bind_rc_ = SQLITE_OK;
    return *this;
}

namespace {
void keep_first_error(int& slot, int rc) {
    if (slot == SQLITE_OK && rc != SQLITE_OK) slot = rc;
}
}  // namespace

Statement& Statement::bind_int64(int index, std::int64_t value) {
    if (stmt_ != nullptr) keep_first_error(bind_rc_, sqlite3_bind_int64(stmt_, index, value));
    return *this;
}

Statement& Statement::bind_blob(int index, ByteView value) {
    if (stmt_ == nullptr) return *this;
    // A NULL data pointer would bind SQL NULL, not an empty blob.
    int rc = value.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                           : sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT);
    keep_first_error(bind_rc_, rc);
    return *this;
}

Statement& Statement::bind_text(int index, std::string_view value) {
    if (stmt_ == nullptr) return *this;
    const char* data = value.empty() ? "" : value.data();
    keep_first_error(bind_rc_,
                     sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
}

Statement& Statement::bind_null(int index) {
    if (stmt_ != nullptr) keep_first_error(bind_rc_, sqlite3_bind_null(stmt_, index));
    return *this;
}

Result<bool> Statement::step() {
    if (stmt_ == nullptr)
        return make_error("database: statement used after move", static_cast<int>(DbErrc::misuse));
    const std::string& path = conn_->path;
    if (bind_rc_ != SQLITE_OK) {
        Error e = make_db_error(nullptr, bind_rc_, path, "bind: " + std::string(sql_excerpt(sql())));
        reset();
        return e;
    }
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(stmt_);
        return false;
    }
    Error e = make_db_error(conn_->db, rc, path, sql_excerpt(sql()));
    sqlite3_reset(stmt_);
    return e;
}

Result<void> Statement::run() {
    // Bounded by the statement itself; callers use run() for statements without result rows.
    for (;;) {
        auto r = step();
        if (!r) return r.error();
        if (!*r) return {};
    }
}

bool Statement::column_is_integer(int column) const {
    return stmt_ != nullptr && sqlite3_column_type(stmt_, column) == SQLITE_INTEGER;
}
bool Statement::column_is_blob(int column) const {
    return stmt_ != nullptr && sqlite3_column_type(stmt_, column) == SQLITE_BLOB;
}
std::int64_t Statement::column_int64(int column) const {
    return stmt_ == nullptr ? 0 : sqlite3_column_int64(stmt_, column);
}
ByteView Statement::column_blob(int column) const {
    if (stmt_ == nullptr) return {};
    const void* data = sqlite3_column_blob(stmt_, column);  // before _bytes, as SQLite asks
    int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr || size <= 0) return {};
    return {static_cast<const std::uint8_t*>(data), static_cast<std::size_t>(size)};
}
std::string Statement::column_text(int column) const {
    if (stmt_ == nullptr) return {};
    const unsigned char* data = sqlite3_column_text(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr || size <= 0) return {};
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::string_view Statement::sql() const {
    const char* s = stmt_ == nullptr ? nullptr : sqlite3_sql(stmt_);
    return s == nullptr ? std::string_view{} : std::string_view{s};
}

// ---- Transaction -----------------------------------------------------------------------------

Transaction::~Transaction() {
    // An error such as SQLITE_FULL may already have rolled the transaction back.
    if (conn_ && sqlite3_get_autocommit(conn_->db) == 0) {
        int rc = run_cached(*conn_, conn_->rollback, "ROLLBACK");
        if (rc != SQLITE_OK)
            spdlog::warn("database {}: rollback failed: {}", conn_->path, sqlite3_errstr(rc));
    }
}

Result<void> Transaction::commit() {
    if (!conn_) return make_error("database: transaction already finished", static_cast<int>(DbErrc::misuse));
    int rc = run_cached(*conn_, conn_->commit, "COMMIT");
    if (rc != SQLITE_OK) return make_db_error(conn_->db, rc, conn_->path, "COMMIT");
    conn_.reset();
    return {};
}

// ---- Database --------------------------------------------------------------------------------

Result<Database> Database::open(const std::string& path, const DatabaseOptions& options) {
    auto conn = std::make_shared<detail::Connection>();
    conn->path = path;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(path.c_str(), &conn->db, flags, nullptr);
    if (rc != SQLITE_OK) return make_db_error(conn->db, rc, path, "open");

    sqlite3_extended_result_codes(conn->db, 1);
    sqlite3_busy_timeout(conn->db, options.busy_timeout_ms);
    // The file may have been written by someone else: no schema-level functions with side
    // effects, no writes to the schema through ordinary SQL.
    sqlite3_db_config(conn->db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_db_config(conn->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);

    Database db(std::move(conn));
    // SQLite reads the file lazily: touch the header now so a non-database file fails here.
    if (auto r = db.exec("SELECT count(*) FROM sqlite_schema"); !r) return r.error();

    auto mode = db.prepare("PRAGMA journal_mode = WAL");
    if (!mode) return mode.error();
    {
        StatementScope scope(*mode);
        auto row = scope->step();
        if (!row) return row.error();
        std::string got = *row ? scope->column_text(0) : std::string{};
        if (got != "wal" && path != ":memory:" && !path.empty())
            spdlog::warn("database {}: WAL journal not available, using '{}'", path, got);
    }
    if (auto r = db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"); !r) return r.error();
    if (options.apply_schema) {
        if (auto r = db.migrate(schema_migrations()); !r) return r.error();
    }
    return db;
}

Result<Statement> Database::prepare(std::string_view sql) {
    if (sql.size() > INT_MAX) return make_error("database: SQL too long", static_cast<int>(DbErrc::misuse));
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(conn_->db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return make_db_error(conn_->db, rc, conn_->path, "prepare: " + std::string(sql_excerpt(sql)));
    }
    if (stmt == nullptr)  // only whitespace or a comment
        return make_error("database: empty SQL statement", static_cast<int>(DbErrc::misuse));
    return Statement(conn_, stmt);
}

Result<void> Database::exec(std::string_view sql) {
    const std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
    int rc = sqlite3_exec(conn_->db, text.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return make_db_error(conn_->db, rc, conn_->path, sql_excerpt(sql));
    return {};
}

Result<Transaction> Database::begin_immediate() {
    int rc = run_cached(*conn_, conn_->begin, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return make_db_error(conn_->db, rc, conn_->path, "BEGIN IMMEDIATE");
    return Transaction(conn_);
}

Result<std::int64_t> Database::user_version() {
    auto stmt = prepare("PRAGMA user_version");
    if (!stmt) return stmt.error();
    StatementScope scope(*stmt);
    auto row = scope->step();
    if (!row) return row.error();
    if (!*row)
        return make_error("database " + conn_->path + ": no user_version", static_cast<int>(DbErrc::other));
    return scope->column_int64(0);
}

Result<void> Database::migrate(std::span<const std::string_view> steps) {
    const auto latest = static_cast<std::int64_t>(steps.size());
    // Each round applies one step or returns, so steps.size() + 1 rounds always suffice.
    for (std::size_t round = 0; round <= steps.size(); ++round) {
        // Read the version inside the write transaction: another process may be migrating too.
        auto txn = begin_immediate();
        if (!txn) return txn.error();
        auto version = user_version();
        if (!version) return version.error();
        if (*version < 0 || *version > latest)
            return make_error("database " + conn_->path + ": schema version " + std::to_string(*version) +
                                  (*version < 0 ? " is invalid" : " is newer than this pkdns supports") +
                                  " (latest " + std::to_string(latest) + ")",
                              static_cast<int>(DbErrc::schema_too_new));
        if (*version == latest) return {};
        const auto step = static_cast<std::size_t>(*version);
        if (auto r = exec(steps[step]); !r) return r.error();
        if (auto r = exec("PRAGMA user_version = " + std::to_string(*version + 1)); !r) return r.error();
        if (auto r = txn->commit(); !r) return r.error();
        spdlog::debug("database {}: schema migrated to version {}", conn_->path, *version + 1);
    }
    return make_error("database " + conn_->path + ": migration did not converge",
                      static_cast<int>(DbErrc::other));
}

std::int64_t Database::changes() const {
    return sqlite3_changes64(conn_->db);
}

bool Database::in_transaction() const {
    return sqlite3_get_autocommit(conn_->db) == 0;
}

const std::string& Database::path() const {
    return conn_->path;
}

std::string Database::journal_mode() {
    auto stmt = prepare("PRAGMA journal_mode");
    if (!stmt) return {};
    StatementScope scope(*stmt);
    auto row = scope->step();
    return row && *row ? scope->column_text(0) : std::string{};
}

}  // namespace pkdns::storage
