// RAII wrappers over the SQLite C API; see sqlite_db.h.
#include "sqlite_db.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <utility>

#include "icu_tokenizer.h"

namespace lectern::store {

namespace {

// SQLite reports ENOSPC/EFBIG as SQLITE_FULL only for short writes and otherwise as
// SQLITE_IOERR_WRITE with an errno that is often lost by then, so look at the disk: a
// nearly full file system, or the database or its WAL at the RLIMIT_FSIZE limit.
bool outOfSpace(const std::string& path) {
    const std::filesystem::path file(path);
    struct statvfs fs = {};
    if (statvfs(file.parent_path().c_str(), &fs) == 0 &&
        uint64_t(fs.f_bavail) * fs.f_frsize < (uint64_t(4) << 20)) {
        return true;
    }
    struct rlimit limit = {};
    if (getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return false;
    for (const std::string& name : {path, path + "-wal", path + "-journal"}) {
        struct stat st = {};
        if (stat(name.c_str(), &st) == 0 && uint64_t(st.st_size) + (1 << 16) >= limit.rlim_cur) {
            return true;
        }
    }
    return false;
}

}  // namespace

Status sqliteError(sqlite3* db, int rc, const std::string& path, std::string_view doing) {
    const int primary = rc & 0xff;
    const int sysErrno = db ? sqlite3_system_errno(db) : 0;
    const bool writeFailed = rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_FSYNC ||
                             rc == SQLITE_IOERR_TRUNCATE || rc == SQLITE_IOERR_SHMSIZE;
    if (primary == SQLITE_FULL ||
        (primary == SQLITE_IOERR && (sysErrno == ENOSPC || sysErrno == EFBIG)) ||
        (writeFailed && outOfSpace(path))) {
        return Status::error("disk full while writing " + path);
    }
    std::string message = "store " + path + ": ";
    message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
        message += " (the store file is damaged; move it aside and ingest again)";
    }
    if (!doing.empty()) message += " (while " + std::string(doing) + ")";
    return Status::error(message);
}

Stmt::~Stmt() {
    if (stmt_) sqlite3_finalize(stmt_);
}

Stmt::Stmt(Stmt&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), dbPath_(other.dbPath_) {}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
    if (this != &other) {
        if (stmt_) sqlite3_finalize(stmt_);
        stmt_ = std::exchange(other.stmt_, nullptr);
        dbPath_ = other.dbPath_;
    }
    return *this;
}

Stmt& Stmt::bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

Stmt& Stmt::bind(int index, std::string_view text) {
    sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
}

Stmt& Stmt::bindNull(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}

Expected<bool> Stmt::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(stmt_);
    const char* sql = sqlite3_sql(stmt_);
    std::string doing = sql ? std::string(sql).substr(0, 60) : std::string();
    Status error = sqliteError(db, rc, dbPath_ ? *dbPath_ : std::string("?"), doing);
    sqlite3_reset(stmt_);
    return error;
}

Status Stmt::run() {
    for (;;) {
        Expected<bool> row = step();
        if (!row) return row.status();
        if (!*row) break;
    }
    reset();
    return Status::ok();
}

void Stmt::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::columnInt(int index) const {
    return sqlite3_column_int64(stmt_, index);
}

std::string Stmt::columnText(int index) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
    const int size = sqlite3_column_bytes(stmt_, index);
    return text ? std::string(text, size) : std::string();
}

bool Stmt::columnIsNull(int index) const {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

Db::~Db() {
    if (db_) sqlite3_close_v2(db_);
}

Db::Db(Db&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {
    other.path_ = std::make_unique<std::string>();
}

Db& Db::operator=(Db&& other) noexcept {
    if (this != &other) {
        if (db_) sqlite3_close_v2(db_);
        db_ = std::exchange(other.db_, nullptr);
        std::swap(path_, other.path_);
    }
    return *this;
}

Expected<Db> Db::open(const std::filesystem::path& file, bool create, const char* vfs) {
    Db db;
    *db.path_ = file.string();
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                      SQLITE_OPEN_NOMUTEX;  // each connection stays on one thread
    int rc = sqlite3_open_v2(db.path_->c_str(), &db.db_, flags, vfs);
    if (rc != SQLITE_OK) return sqliteError(db.db_, rc, *db.path_, "opening");
    sqlite3_extended_result_codes(db.db_, 1);
    sqlite3_busy_timeout(db.db_, 10000);
    // WAL lets readers (search, status) run beside the ingest writer; NORMAL sync in WAL
    // mode keeps the file consistent after a crash and loses no commit on a process kill.
    const char* pragmas =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768;";
    if (Status s = db.exec(pragmas); !s) return s;
    if (Status s = registerIcuTokenizer(db.db_); !s) return s.withContext("store " + *db.path_);
    return db;
}

Status Db::exec(const char* sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) return sqliteError(db_, rc, *path_, std::string_view(sql).substr(0, 60));
    return Status::ok();
}

Expected<Stmt> Db::prepare(std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), int(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                      &stmt, nullptr);
    if (rc != SQLITE_OK) return sqliteError(db_, rc, *path_, sql.substr(0, 60));
    return Stmt(stmt, path_.get());
}

Status Db::error(int rc, std::string_view doing) const {
    return sqliteError(db_, rc, *path_, doing);
}

Transaction::~Transaction() {
    rollback();
}

Status Transaction::begin() {
    Status s = db_->exec("BEGIN IMMEDIATE");
    open_ = s.isOk();
    return s;
}

Status Transaction::commit() {
    if (!open_) return Status::error("store " + db_->path() + ": commit without a transaction");
    Status s = db_->exec("COMMIT");
    if (s) open_ = false;
    return s;
}

void Transaction::rollback() {
    if (open_ && !sqlite3_get_autocommit(db_->handle())) db_->exec("ROLLBACK");
    open_ = false;
}

}  // namespace lectern::store
