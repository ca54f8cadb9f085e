#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "storage/database.hpp"
#include "storage/schema.hpp"
#include "storage_test_support.hpp"

using namespace pkdns;
using namespace pkdns::storage;
using pkdns::storage::test::TempDir;

namespace {

int errc(const Error& e) {
    return e.code;
}
constexpr int code(DbErrc c) {
    return static_cast<int>(c);
}

std::int64_t scalar(Database& db, std::string_view sql) {
    auto stmt = db.prepare(sql);
    REQUIRE(stmt.ok());
    StatementScope s(*stmt);
    auto row = s->step();
    REQUIRE(row.ok());
    REQUIRE(*row);
    return s->column_int64(0);
}

bool table_exists(Database& db, std::string_view name) {
    auto stmt = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    REQUIRE(stmt.ok());
    StatementScope s(*stmt);
    s->bind_text(1, name);
    auto row = s->step();
    REQUIRE(row.ok());
    return s->column_int64(0) == 1;
}

// Runs Database::open(path) as an unprivileged user in a child process (root ignores directory
// permissions). Returns the error code, 0 on success, -1 when the child could not run the test.
int open_as_nobody(const std::string& path) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(250);
        auto db = Database::open(path);
        ::_exit(db.ok() ? 0 : (db.error().code > 0 && db.error().code < 200 ? db.error().code : 251));
    }
    if (pid < 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    const int rc = WEXITSTATUS(status);
    return rc >= 250 ? -1 : rc;
}

}  // namespace

TEST_CASE("an in-memory database gets the pkdns schema", "[storage][database]") {
    auto db = Database::open(":memory:");
    REQUIRE(db.ok());
    CHECK(db->journal_mode() == "memory");
    auto version = db->user_version();
    REQUIRE(version.ok());
    CHECK(*version == static_cast<std::int64_t>(schema_migrations().size()));
    CHECK(table_exists(*db, "packets"));
    CHECK(scalar(*db, "PRAGMA foreign_keys") == 1);
}

TEST_CASE("a database file uses WAL and keeps its data across reopen", "[storage][database]") {
    TempDir dir;
    const std::string path = dir.file("pkdns.db");
    {
        auto db = Database::open(path);
        REQUIRE(db.ok());
        CHECK(db->journal_mode() == "wal");
        CHECK(scalar(*db, "PRAGMA synchronous") == 1);  // NORMAL
        REQUIRE(db->exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (41), (1);").ok());
    }
    CHECK(std::filesystem::exists(path));
    auto db = Database::open(path);
    REQUIRE(db.ok());
    CHECK(scalar(*db, "SELECT sum(v) FROM t") == 42);
    CHECK(*db->user_version() == static_cast<std::int64_t>(schema_migrations().size()));
}

TEST_CASE("a file that is not a database is an error value", "[storage][database]") {
    TempDir dir;
    const std::string path = dir.file("notes.txt");
    test::write_file(path, std::string(8192, 'x') + "this is a text file, not SQLite\n");
    auto db = Database::open(path);
    REQUIRE_FALSE(db.ok());
    CHECK(errc(db.error()) == code(DbErrc::not_a_database));
    CHECK_THAT(db.error().message, Catch::Contains(path));
    // The file is left alone.
    CHECK(std::filesystem::file_size(path) == 8192 + 32);
}

TEST_CASE("an unopenable path is an error value", "[storage][database]") {
    TempDir dir;
    SECTION("parent is a regular file") {
        const std::string file = dir.file("plain");
        test::write_file(file, "x");
        auto db = Database::open(file + "/pkdns.db");
        REQUIRE_FALSE(db.ok());
        CHECK(errc(db.error()) == code(DbErrc::cant_open));
        CHECK_THAT(db.error().message, Catch::Contains("plain/pkdns.db"));
    }
    SECTION("parent directory does not exist") {
        auto db = Database::open(dir.file("missing/pkdns.db"));
        REQUIRE_FALSE(db.ok());
        CHECK(errc(db.error()) == code(DbErrc::cant_open));
    }
    SECTION("path is a directory") {
        auto db = Database::open(dir.path().string());
        REQUIRE_FALSE(db.ok());
    }
}

TEST_CASE("a read-only directory is an error value", "[storage][database]") {
    TempDir dir;
    const auto ro = dir.path() / "ro";
    std::filesystem::create_directory(ro);
    // r-x for everyone: nobody can create the database file in it.
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    REQUIRE(::chmod(ro.c_str(), 0555) == 0);
    const std::string path = (ro / "pkdns.db").string();
    if (::geteuid() == 0) {
        const int rc = open_as_nobody(path);
        REQUIRE(rc != -1);
        CHECK(rc == code(DbErrc::cant_open));
    } else {
        auto db = Database::open(path);
        REQUIRE_FALSE(db.ok());
        CHECK(errc(db.error()) == code(DbErrc::cant_open));
    }
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a schema newer than this build is refused", "[storage][database]") {
    TempDir dir;
    const std::string path = dir.file("pkdns.db");
    {
        auto db = Database::open(path);
        REQUIRE(db.ok());
        REQUIRE(db->exec("PRAGMA user_version = 99").ok());
    }
    auto db = Database::open(path);
    REQUIRE_FALSE(db.ok());
    CHECK(errc(db.error()) == code(DbErrc::schema_too_new));
    CHECK_THAT(db.error().message, Catch::Contains("99"));
}

TEST_CASE("migrate applies pending steps once, each atomically", "[storage][database]") {
    auto db = Database::open(":memory:", {.apply_schema = false});
    REQUIRE(db.ok());
    CHECK(*db->user_version() == 0);
    CHECK_FALSE(table_exists(*db, "packets"));

    const std::array<std::string_view, 2> two{"CREATE TABLE a (x)",
                                              "CREATE TABLE b (y); INSERT INTO b VALUES (7)"};
    REQUIRE(db->migrate(two).ok());
    CHECK(*db->user_version() == 2);
    CHECK(table_exists(*db, "a"));
    CHECK(scalar(*db, "SELECT count(*) FROM b") == 1);

    // Already current: nothing re-runs (b would get a second row).
    REQUIRE(db->migrate(two).ok());
    CHECK(scalar(*db, "SELECT count(*) FROM b") == 1);

    // A failing step rolls back with its version bump; earlier steps stay.
    const std::array<std::string_view, 4> four{two[0], two[1], "CREATE TABLE c (z)",
                                               "CREATE TABLE d (w); SELECT no_such_function()"};
    auto r = db->migrate(four);
    REQUIRE_FALSE(r.ok());
    CHECK(*db->user_version() == 3);
    CHECK(table_exists(*db, "c"));
    CHECK_FALSE(table_exists(*db, "d"));
    CHECK_FALSE(db->in_transaction());

    // Fewer steps than the file has: the file is newer.
    const std::array<std::string_view, 1> one{two[0]};
    auto older = db->migrate(one);
    REQUIRE_FALSE(older.ok());
    CHECK(errc(older.error()) == code(DbErrc::schema_too_new));
}

TEST_CASE("statements bind, step, reset and are reusable", "[storage][database]") {
    auto db = Database::open(":memory:", {.apply_schema = false});
    REQUIRE(db.ok());
    REQUIRE(db->exec("CREATE TABLE t (k INTEGER PRIMARY KEY, b BLOB, s TEXT)").ok());
    auto insert = db->prepare("INSERT INTO t (k, b, s) VALUES (?1, ?2, ?3)");
    REQUIRE(insert.ok());
    const Bytes blob{0, 1, 2, 0xff};
    for (std::int64_t k = 1; k <= 3; ++k) {
        StatementScope s(*insert);
        s->bind_int64(1, k).bind_blob(2, blob).bind_text(3, "v" + std::to_string(k));
        REQUIRE(s->run().ok());
        CHECK(db->changes() == 1);
    }
    {
        StatementScope s(*insert);
        s->bind_int64(1, 4).bind_blob(2, Bytes{}).bind_text(3, "");
        REQUIRE(s->run().ok());
    }
    auto select = db->prepare("SELECT b, s, typeof(b) FROM t WHERE k = ?1");
    REQUIRE(select.ok());
    {
        StatementScope s(*select);
        s->bind_int64(1, 2);
        auto row = s->step();
        REQUIRE(row.ok());
        REQUIRE(*row);
        CHECK(Bytes(s->column_blob(0).begin(), s->column_blob(0).end()) == blob);
        CHECK(s->column_text(1) == "v2");
        auto done = s->step();
        REQUIRE(done.ok());
        CHECK_FALSE(*done);
    }
    {
        // An empty blob stays a blob, not NULL.
        StatementScope s(*select);
        s->bind_int64(1, 4);
        REQUIRE(*s->step());
        CHECK(s->column_text(2) == "blob");
        CHECK(s->column_blob(0).empty());
    }
    // Constraint violation: an error value, and the statement is usable afterwards.
    {
        StatementScope s(*insert);
        s->bind_int64(1, 1).bind_blob(2, blob).bind_text(3, "dup");
        auto r = s->run();
        REQUIRE_FALSE(r.ok());
        CHECK(errc(r.error()) == code(DbErrc::constraint));
    }
    {
        StatementScope s(*insert);
        s->bind_int64(1, 5).bind_null(2).bind_text(3, "five");
        REQUIRE(s->run().ok());
    }
    CHECK(scalar(*db, "SELECT count(*) FROM t") == 5);

    // A bind to a parameter that does not exist is reported by step().
    {
        StatementScope s(*select);
        s->bind_int64(7, 1);
        auto r = s->step();
        REQUIRE_FALSE(r.ok());
        CHECK(errc(r.error()) == code(DbErrc::misuse));
    }
    auto bad = db->prepare("SELEC nonsense");
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("SELEC"));
}

TEST_CASE("a transaction rolls back unless committed", "[storage][database]") {
    auto db = Database::open(":memory:", {.apply_schema = false});
    REQUIRE(db.ok());
    REQUIRE(db->exec("CREATE TABLE t (v)").ok());
    {
        auto txn = db->begin_immediate();
        REQUIRE(txn.ok());
        CHECK(db->in_transaction());
        REQUIRE(db->exec("INSERT INTO t VALUES (1)").ok());
    }
    CHECK_FALSE(db->in_transaction());
    CHECK(scalar(*db, "SELECT count(*) FROM t") == 0);
    {
        auto txn = db->begin_immediate();
        REQUIRE(txn.ok());
        REQUIRE(db->exec("INSERT INTO t VALUES (1)").ok());
        REQUIRE(txn->commit().ok());
        CHECK_FALSE(txn->commit().ok());  // only once
    }
    CHECK(scalar(*db, "SELECT count(*) FROM t") == 1);
}

TEST_CASE("statements keep the connection alive after the Database handle is gone", "[storage][database]") {
    std::optional<Statement> stmt;
    {
        auto db = Database::open(":memory:");
        REQUIRE(db.ok());
        auto s = db->prepare("SELECT 6 * 7");
        REQUIRE(s.ok());
        stmt.emplace(std::move(*s));
    }
    StatementScope s(*stmt);
    auto row = s->step();
    REQUIRE(row.ok());
    REQUIRE(*row);
    CHECK(s->column_int64(0) == 42);
}

TEST_CASE("a database file with corrupt pages gives error values, not a crash", "[storage][database]") {
    TempDir dir;
    const std::string path = dir.file("pkdns.db");
    {
        auto db = Database::open(path, {.apply_schema = false});
        REQUIRE(db.ok());
        REQUIRE(db->exec("PRAGMA journal_mode = DELETE; CREATE TABLE t (v BLOB);"
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
                         "INSERT INTO t SELECT randomblob(500) FROM n;")
                    .ok());
    }
    const auto size = std::filesystem::file_size(path);
    REQUIRE(size > 4 * 4096);
    {
        // Keep page 1 (header and schema), scribble over every other page.
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096);
        const std::string junk(size - 4096, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto db = Database::open(path, {.apply_schema = false});
    REQUIRE(db.ok());  // page 1 is intact
    auto stmt = db->prepare("SELECT sum(length(v)) FROM t");
    REQUIRE(stmt.ok());
    StatementScope s(*stmt);
    auto row = s->step();
    REQUIRE_FALSE(row.ok());
    CHECK(errc(row.error()) == code(DbErrc::corrupt));
}
