#pragma once
// SQLite through RAII handles. A Database is a cheap, copyable handle to one connection (shared
// by the Statements prepared on it, so they can never outlive it). One connection per event
// loop: a handle is not for use from several threads at once.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace pkdns::storage {

// Error::code values of every storage error.
enum class DbErrc : int {
    cant_open = 1,       // path not openable/creatable (missing or unwritable directory, ...)
    not_a_database = 2,  // the file exists but is not SQLite
    corrupt = 3,
    read_only = 4,
    busy = 5,  // locked by another connection past busy_timeout
    full = 6,
    io = 7,
    schema_too_new = 8,  // written by a newer pkdns
    constraint = 9,
    misuse = 10,  // API misuse (bind index out of range, ...): a programming error
    other = 11,   // includes SQL errors (no such table, ...)
};

namespace detail {
struct Connection;
}

class Statement {
public:
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    // Resets and clears the bindings. Also ends the statement's read transaction, so call it
    // (or use StatementScope) once done with the rows.
    Statement& reset();
    // Parameter indexes are 1-based. A failed bind is reported by the next step().
    Statement& bind_int64(int index, std::int64_t value);
    Statement& bind_blob(int index, ByteView value);          // copied
    Statement& bind_text(int index, std::string_view value);  // copied
    Statement& bind_null(int index);

    // true: a row is available; false: done (the statement is then reset, bindings kept).
    // On error the statement is reset too.
    Result<bool> step();
    // Steps to the end, ignoring rows; resets.
    Result<void> run();

    // Column accessors for the current row (0-based). Blob/text views are valid until the next
    // step() or reset().
    bool column_is_integer(int column) const;
    bool column_is_blob(int column) const;
    std::int64_t column_int64(int column) const;
    ByteView column_blob(int column) const;
    std::string column_text(int column) const;

    std::string_view sql() const;

private:
    friend class Database;
    Statement(std::shared_ptr<detail::Connection> conn, sqlite3_stmt* stmt)
        : conn_(std::move(conn)), stmt_(stmt) {}
    std::shared_ptr<detail::Connection> conn_;
    sqlite3_stmt* stmt_ = nullptr;
    int bind_rc_ = 0;  // first failed bind since the last reset
};

// Resets a statement on entry and on exit, so no read transaction stays open between uses.
class StatementScope {
public:
    explicit StatementScope(Statement& statement) : s_(statement) { s_.reset(); }
    ~StatementScope() { s_.reset(); }
    StatementScope(const StatementScope&) = delete;
    StatementScope& operator=(const StatementScope&) = delete;
    Statement& operator*() { return s_; }
    Statement* operator->() { return &s_; }

private:
    Statement& s_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted.
class Transaction {
public:
    Transaction(Transaction&& other) noexcept : conn_(std::move(other.conn_)) {}
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    ~Transaction();
    Result<void> commit();

private:
    friend class Database;
    explicit Transaction(std::shared_ptr<detail::Connection> conn) : conn_(std::move(conn)) {}
    std::shared_ptr<detail::Connection> conn_;  // null once committed or rolled back
};

struct DatabaseOptions {
    int busy_timeout_ms = 5000;
    // Bring the file to the current pkdns schema (storage/schema.hpp) on open.
    bool apply_schema = true;
};

class Database {
public:
    // `path` is a file (created if absent) or ":memory:". Sets WAL (for files), synchronous=NORMAL,
    // foreign_keys, busy_timeout, defensive mode, then migrates the schema. Errors (code DbErrc)
    // for unopenable paths, non-database files, corrupt files and too new schemas.
    static Result<Database> open(const std::string& path, const DatabaseOptions& options = {});

    Result<Statement> prepare(std::string_view sql);
    // One or more statements without parameters; rows are discarded.
    Result<void> exec(std::string_view sql);
    Result<Transaction> begin_immediate();

    Result<std::int64_t> user_version();
    // steps[i] upgrades schema version i to i+1; each pending step runs in its own immediate
    // transaction with the version bump. A file at a version beyond steps.size() is an error.
    Result<void> migrate(std::span<const std::string_view> steps);

    std::int64_t changes() const;  // rows changed by the last INSERT/UPDATE/DELETE
    bool in_transaction() const;
    const std::string& path() const;
    std::string journal_mode();  // "wal", "memory", ...; "" on error

private:
    explicit Database(std::shared_ptr<detail::Connection> conn) : conn_(std::move(conn)) {}
    std::shared_ptr<detail::Connection> conn_;
};

}  // namespace pkdns::storage
