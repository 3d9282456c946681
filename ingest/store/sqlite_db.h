// A thin RAII layer over the SQLite C API (the system libsqlite3, one copy only): a
// connection that sets Lectern's pragmas, prepared statements that bind and read by
// index, and a transaction guard that rolls back unless committed. Every failure comes
// back as a Status naming the database file and what was being done.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "lectern/status.h"

namespace lectern::store {

class Stmt {
public:
    Stmt() = default;
    Stmt(sqlite3_stmt* stmt, const std::string* dbPath) : stmt_(stmt), dbPath_(dbPath) {}
    ~Stmt();
    Stmt(Stmt&& other) noexcept;
    Stmt& operator=(Stmt&& other) noexcept;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int index, int64_t value);
    Stmt& bind(int index, std::string_view text);
    Stmt& bindNull(int index);

    // One step: true when a row is available, false when done.
    Expected<bool> step();
    // Steps to completion (for statements without rows) and resets for reuse.
    Status run();
    void reset();

    int64_t columnInt(int index) const;
    std::string columnText(int index) const;
    bool columnIsNull(int index) const;

    sqlite3_stmt* handle() const { return stmt_; }

private:
    sqlite3_stmt* stmt_ = nullptr;
    const std::string* dbPath_ = nullptr;
};

class Db {
public:
    Db() = default;
    ~Db();
    Db(Db&& other) noexcept;
    Db& operator=(Db&& other) noexcept;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    // Opens (creating when `create`) the database, sets WAL, foreign keys and the busy
    // timeout, and registers the ICU tokenizer. `vfs` is for fault-injection tests.
    static Expected<Db> open(const std::filesystem::path& file, bool create,
                             const char* vfs = nullptr);

    Status exec(const char* sql);
    Expected<Stmt> prepare(std::string_view sql);
    // The error of the last failed call on this connection, as a Status naming the file.
    Status error(int rc, std::string_view doing) const;

    sqlite3* handle() const { return db_; }
    const std::string& path() const { return *path_; }
    int64_t lastInsertId() const { return sqlite3_last_insert_rowid(db_); }

private:
    sqlite3* db_ = nullptr;
    // Heap-held so statements can keep a pointer across moves of the Db.
    std::unique_ptr<std::string> path_ = std::make_unique<std::string>();
};

// Turns an SQLite result code into a message a user can act on ("disk full while
// writing <path>" for SQLITE_FULL and EFBIG/ENOSPC write errors).
Status sqliteError(sqlite3* db, int rc, const std::string& path, std::string_view doing);

// BEGIN IMMEDIATE … COMMIT; rolls back in the destructor unless commit() succeeded.
class Transaction {
public:
    explicit Transaction(Db& db) : db_(&db) {}
    ~Transaction();
    Status begin();
    Status commit();
    void rollback();

private:
    Db* db_;
    bool open_ = false;
};

}  // namespace lectern::store
