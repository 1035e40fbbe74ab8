// store on SQLite, the embedded default: one writer connection in WAL mode, a few read-only connections
// that read beside it (begin_read), statements prepared once per connection. The transactions themselves
// are sql_tx.cpp, shared with PostgreSQL.
//
// Group commit: read-write transactions run one at a time on the writer, each as a SAVEPOINT inside one
// outer transaction (BEGIN IMMEDIATE) that stays open while more writers are waiting their turn. A
// transaction that commits releases its savepoint and waits; the last writer of the run (no one waiting,
// or max_group members) COMMITs for all of them, and only then does any of them return. So concurrent
// requests share one commit (one WAL append and one fsync) and nothing is acknowledged before it is
// durable. That is with synchronous=FULL; with NORMAL (no fsync per commit, cheaper than the wait) each
// transaction commits alone. A transaction that rolls back undoes only its savepoint; a commit that fails
// fails every member of its group, none of which has answered yet.
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "verifier/sql_tx.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {
namespace {

// Versioned migrations (sql_tx.hpp): the same statements make the PostgreSQL schema, so they stay portable.
using sql::latest_version;
using sql::migrations;
constexpr std::size_t read_connections = 4;
// At most this many transactions share one commit with synchronous=FULL (bounds the wait of the first).
// With NORMAL a commit is a WAL append without fsync, cheaper than the wait: each commits alone.
constexpr std::size_t max_group_full = 64;

result<void> exec(sqlite3* db, const char* sql, const char* what) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string m = msg ? msg : sqlite3_errmsg(db);
        sqlite3_free(msg);
        return make_error(errc::io, std::string(what) + ": " + m);
    }
    return {};
}

class sqlite_cursor final : public sql::cursor {
public:
    sqlite_cursor(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
    ~sqlite_cursor() override { sqlite3_finalize(s_); }
    sqlite_cursor(const sqlite_cursor&) = delete;
    sqlite_cursor& operator=(const sqlite_cursor&) = delete;

    void bind_null(int i) override { sqlite3_bind_null(s_, i); }
    void bind_text(int i, std::string_view v) override {
        sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    void bind_blob(int i, byte_view v) override {
        // An empty span has no data pointer, which SQLite would store as NULL: bind a zero-length blob.
        if (v.empty()) sqlite3_bind_zeroblob(s_, i, 0);
        else sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    void bind_i64(int i, std::int64_t v) override { sqlite3_bind_int64(s_, i, v); }
    void bind_dbl(int i, double v) override { sqlite3_bind_double(s_, i, v); }
    result<bool> step(const char* what) override {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) {
            changes_ = sqlite3_changes64(db_);
            return false;
        }
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            return make_error(errc::mismatch, std::string(what) + ": " + sqlite3_errmsg(db_));
        return make_error(errc::io, std::string(what) + ": " + sqlite3_errmsg(db_));
    }
    int col_count() const override { return sqlite3_column_count(s_); }
    bool col_null(int c) const override { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
    std::string col_text(int c) const override {
        const auto* p = sqlite3_column_text(s_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
                 : std::string();
    }
    bytes col_blob(int c) const override {
        const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, c));
        return p ? bytes(p, p + sqlite3_column_bytes(s_, c)) : bytes();
    }
    std::int64_t col_i64(int c) const override { return sqlite3_column_int64(s_, c); }
    double col_dbl(int c) const override { return sqlite3_column_double(s_, c); }
    std::int64_t changes() const override { return changes_; }
    void reset() override {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
        changes_ = 0;
    }

private:
    sqlite3* db_;
    sqlite3_stmt* s_;
    std::int64_t changes_ = 0;
};

// One connection and the statements prepared on it.
struct connection {
    sqlite3* db = nullptr;
    std::map<std::string, std::unique_ptr<sqlite_cursor>> cache;

    connection() = default;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() {
        cache.clear();
        if (db) sqlite3_close_v2(db);
    }
    result<sql::stmt> prepare(const std::string& sql) {
        auto it = cache.find(sql);
        if (it == cache.end()) {
            sqlite3_stmt* s = nullptr;
            if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
                return make_error(errc::io, "preparing \"" + sql.substr(0, 60) + "\": " + sqlite3_errmsg(db));
            it = cache.emplace(sql, std::make_unique<sqlite_cursor>(db, s)).first;
        }
        return sql::stmt(it->second.get());
    }
};

class sqlite_store final : public store {
public:
    ~sqlite_store() override {
        {
            std::lock_guard lock(ckpt_mu_);
            ckpt_stop_ = true;
        }
        ckpt_cv_.notify_all();
        if (ckpt_thread_.joinable()) ckpt_thread_.join();
        if (ckpt_db_) sqlite3_close_v2(ckpt_db_);
    }
    result<std::unique_ptr<store_tx>> begin() override { return tx(true); }
    result<std::unique_ptr<store_tx>> begin_read() override { return tx(false); }
    result<std::unique_ptr<sql::session>> begin_session(bool writable) override;
    int schema_version() const override { return latest_version; }
    const char* backend() const override { return "sqlite"; }
    void set_webhooks(std::vector<std::string> urls) override { webhooks_ = std::move(urls); }
    const std::vector<std::string>& webhooks() const { return webhooks_; }
    void set_log_enabled(bool on) override { log_enabled_ = on; }
    bool log_enabled() const { return log_enabled_; }

    static result<std::unique_ptr<sqlite_store>> open(const std::filesystem::path& path, bool full);

    // Group commit (see the top of the file). Called with write_mu_ held by the writer whose transaction
    // just ended (`committed`: released its savepoint into the group). Returns the group's outcome for a
    // member, after it is durable; unlocks write_mu_ either way.
    result<void> end_write(std::unique_lock<std::mutex>& write_lock, bool committed);
    result<void> start_write();
    std::atomic<unsigned> want_write_{0};  // writers waiting for write_mu_

    void give_back(connection* c) {
        {
            std::lock_guard lock(read_mu_);
            free_readers_.push_back(c);
        }
        read_cv_.notify_one();
    }

private:
    result<std::unique_ptr<store_tx>> tx(bool writable) {
        CUSTOS_TRY(s, begin_session(writable));
        return sql::make_tx(std::move(s));
    }
    // Checkpoints run on their own connection and thread (PASSIVE: they never block writers), so the
    // fsync of the database file is not paid inside a request's transaction.
    result<void> start_checkpointer(const std::filesystem::path& path) {
        CUSTOS_TRY_VOID(exec(writer_.db, "PRAGMA wal_autocheckpoint=0", "disabling inline checkpoints"));
        if (sqlite3_open_v2(path.c_str(), &ckpt_db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK)
            return make_error(errc::io, "database " + path.string() + ": checkpoint connection: " + sqlite3_errmsg(ckpt_db_));
        sqlite3_busy_timeout(ckpt_db_, 5000);
        ckpt_thread_ = std::thread([this] {
            std::unique_lock lock(ckpt_mu_);
            for (;;) {
                const bool stop = ckpt_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return ckpt_stop_; });
                lock.unlock();
                sqlite3_wal_checkpoint_v2(ckpt_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
                lock.lock();
                if (stop) return;
            }
        });
        return {};
    }
    result<void> open_readers(const std::filesystem::path& path) {
        for (std::size_t i = 0; i < read_connections; ++i) {
            auto c = std::make_unique<connection>();
            if (sqlite3_open_v2(path.c_str(), &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
                return make_error(errc::io, "database " + path.string() + ": read connection: " + sqlite3_errmsg(c->db));
            sqlite3_busy_timeout(c->db, 5000);
            sqlite3_extended_result_codes(c->db, 1);
            free_readers_.push_back(c.get());
            readers_.push_back(std::move(c));
        }
        return {};
    }

    // `waiting`: members blocked in end_write for this group's outcome.
    result<void> flush_group(std::size_t waiting);

    connection writer_;
    std::mutex write_mu_;
    // Group commit state, guarded by write_mu_ (group_mu_ for what waiting members read).
    std::size_t max_group_ = 1;
    bool outer_open_ = false;
    std::size_t members_ = 0;   // savepoints released into the open outer transaction
    std::size_t sessions_ = 0;  // sessions ended in it, committed or not
    std::mutex group_mu_;
    std::condition_variable group_cv_;
    std::uint64_t group_ = 0;       // the open group's number
    std::uint64_t done_group_ = 0;  // groups below this one have ended
    std::map<std::uint64_t, error> failed_groups_;  // ended groups whose commit failed (pruned as members read)
    std::map<std::uint64_t, std::size_t> failed_waiters_;
    std::vector<std::unique_ptr<connection>> readers_;
    std::vector<connection*> free_readers_;
    std::mutex read_mu_;
    std::condition_variable read_cv_;
    sqlite3* ckpt_db_ = nullptr;
    std::thread ckpt_thread_;
    std::mutex ckpt_mu_;
    std::condition_variable ckpt_cv_;
    bool ckpt_stop_ = false;
    std::vector<std::string> webhooks_;
    bool log_enabled_ = true;
};

class sqlite_session final : public sql::session {
public:
    // A read-write session holds the writer's lock (a savepoint in the open group); a read-only one holds a
    // reader it gives back.
    sqlite_session(sqlite_store& st, connection& c, std::unique_lock<std::mutex> write_lock)
        : st_(st), c_(c), write_lock_(std::move(write_lock)), writer_(write_lock_.owns_lock()) {}
    ~sqlite_session() override {
        if (!writer_) {
            if (!sqlite3_get_autocommit(c_.db)) (void)exec(c_.db, "ROLLBACK", "rollback");  // not ended by its owner
            st_.give_back(&c_);
        } else if (write_lock_.owns_lock()) {
            rollback();
        }
    }
    result<sql::stmt> prepare(const std::string& sql) override { return c_.prepare(sql); }
    sql::dialect which() const override { return sql::dialect::sqlite; }
    const std::vector<std::string>& webhooks() const override { return st_.webhooks(); }
    bool log_enabled() const override { return st_.log_enabled(); }
    bool writable() const override { return writer_; }
    result<void> commit() override {
        if (!writer_) return exec(c_.db, "COMMIT", "committing");
        if (!write_lock_.owns_lock()) return make_error(errc::io, "committing: the transaction has ended");
        if (auto r = exec(c_.db, "RELEASE custos_tx", "committing"); !r) {
            undo_savepoint();
            (void)st_.end_write(write_lock_, false);
            return r;
        }
        return st_.end_write(write_lock_, true);
    }
    void rollback() noexcept override {
        if (!writer_) {
            (void)exec(c_.db, "ROLLBACK", "rollback");
            return;
        }
        if (!write_lock_.owns_lock()) return;
        undo_savepoint();
        (void)st_.end_write(write_lock_, false);
    }

private:
    // Undoes this transaction's savepoint; if even that fails, the whole group's outer transaction, so that
    // what this one wrote is never committed (the group's members then fail: flush_group sees it ended).
    void undo_savepoint() noexcept {
        if (exec(c_.db, "ROLLBACK TO custos_tx", "rollback") && exec(c_.db, "RELEASE custos_tx", "rollback")) return;
        if (!sqlite3_get_autocommit(c_.db)) (void)exec(c_.db, "ROLLBACK", "rollback");
    }

    sqlite_store& st_;
    connection& c_;
    std::unique_lock<std::mutex> write_lock_;
    bool writer_;
};

// With write_mu_ held: the outer transaction is open (a new group, or the one this writer joins).
result<void> sqlite_store::start_write() {
    if (outer_open_ && sqlite3_get_autocommit(writer_.db)) {
        // SQLite rolled the whole outer transaction back (an I/O error, a full disk): its members fail.
        (void)flush_group(members_);
    }
    if (!outer_open_) {
        // A transaction left open by a COMMIT and ROLLBACK that both failed: end it before starting again.
        if (!sqlite3_get_autocommit(writer_.db)) (void)exec(writer_.db, "ROLLBACK", "rollback");
        CUSTOS_TRY_VOID(exec(writer_.db, "BEGIN IMMEDIATE", "starting a transaction"));
        outer_open_ = true;
    }
    if (auto r = exec(writer_.db, "SAVEPOINT custos_tx", "starting a transaction"); !r) {
        if (members_ == 0) {
            (void)exec(writer_.db, "ROLLBACK", "rollback");
            outer_open_ = false;
        }
        return r;
    }
    return {};
}

// With write_mu_ held: COMMIT the open group and tell its members (an empty one just ends).
result<void> sqlite_store::flush_group(std::size_t waiting) {
    result<void> r;
    if (outer_open_) {
        if (sqlite3_get_autocommit(writer_.db)) {
            r = make_error(errc::io, "committing: the database rolled the transaction back (" +
                                         std::string(sqlite3_errmsg(writer_.db)) + ")");
        } else {
            r = exec(writer_.db, "COMMIT", "committing");
            if (!r) (void)exec(writer_.db, "ROLLBACK", "rollback");
        }
    }
    outer_open_ = false;
    members_ = 0;
    sessions_ = 0;
    {
        std::lock_guard lock(group_mu_);
        if (!r && waiting > 0) {
            failed_groups_[group_] = r.err();
            failed_waiters_[group_] = waiting;
        }
        ++group_;
        done_group_ = group_;
    }
    group_cv_.notify_all();
    return r;
}

result<void> sqlite_store::end_write(std::unique_lock<std::mutex>& write_lock, bool committed) {
    if (committed) ++members_;
    ++sessions_;  // every session, committed or not, counts towards the bound on a group
    if (members_ == 0 && want_write_.load() > 0) {
        // Nothing to make durable yet and someone else will carry the open transaction on.
        write_lock.unlock();
        return {};
    }
    if (want_write_.load() == 0 || sessions_ >= max_group_) {
        auto r = flush_group(committed ? members_ - 1 : members_);
        write_lock.unlock();
        return committed ? r : result<void>{};
    }
    // Another writer is waiting its turn: it (or the last one after it) commits for us. A session that
    // rolled back waits too: it may have read what members before it wrote, and must not act on that
    // before it is durable.
    std::uint64_t mine = 0;
    {
        std::lock_guard lock(group_mu_);
        mine = group_;
    }
    write_lock.unlock();
    std::unique_lock lock(group_mu_);
    group_cv_.wait(lock, [&] { return done_group_ > mine; });
    if (!committed) return {};
    auto it = failed_groups_.find(mine);
    if (it == failed_groups_.end()) return {};
    error e = it->second;
    if (--failed_waiters_[mine] == 0) {
        failed_groups_.erase(mine);
        failed_waiters_.erase(mine);
    }
    return e;
}

result<std::unique_ptr<sql::session>> sqlite_store::begin_session(bool writable) {
    if (writable) {
        ++want_write_;
        std::unique_lock lock(write_mu_);
        --want_write_;
        if (auto r = start_write(); !r) {
            if (members_ > 0 && want_write_.load() == 0) (void)flush_group(members_);  // the members before us
            return std::move(r).err();
        }
        return std::unique_ptr<sql::session>(std::make_unique<sqlite_session>(*this, writer_, std::move(lock)));
    }
    connection* c = nullptr;
    {
        std::unique_lock lock(read_mu_);
        read_cv_.wait(lock, [this] { return !free_readers_.empty(); });
        c = free_readers_.back();
        free_readers_.pop_back();
    }
    if (auto b = exec(c->db, "BEGIN", "starting a read transaction"); !b) {
        give_back(c);
        return std::move(b).err();
    }
    return std::unique_ptr<sql::session>(std::make_unique<sqlite_session>(*this, *c, std::unique_lock<std::mutex>()));
}

result<std::unique_ptr<sqlite_store>> sqlite_store::open(const std::filesystem::path& path, bool full) {
    auto st = std::make_unique<sqlite_store>();
    sqlite3*& db = st->writer_.db;
    const std::string where = "database " + path.string();
    const bool existed = std::filesystem::exists(path);
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) return make_error(errc::io, where + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    if (!existed) ::chmod(path.c_str(), 0600);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 1);
    {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, nullptr) != SQLITE_OK)
            return make_error(errc::io, where + " is not a SQLite database: " + sqlite3_errmsg(db));
        const int r = sqlite3_step(s);
        const std::string mode = r == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(s, 0)) : "";
        const std::string err = sqlite3_errmsg(db);
        sqlite3_finalize(s);
        if (r != SQLITE_ROW) return make_error(errc::io, where + " is not a usable SQLite database: " + err);
        if (mode != "wal") return make_error(errc::io, where + ": journal mode is \"" + mode + "\", not wal");
    }
    CUSTOS_TRY_VOID(exec(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", where.c_str()));
    st->max_group_ = full ? max_group_full : 1;
    CUSTOS_TRY_VOID(exec(db, "PRAGMA foreign_keys=ON", where.c_str()));
    CUSTOS_TRY_VOID(exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", where.c_str()));
    int version = 0;
    {
        CUSTOS_TRY(s, st->writer_.prepare("SELECT MAX(version) FROM schema_version"));
        CUSTOS_TRY(row, s.step("reading the schema version"));
        if (row) version = static_cast<int>(s.col_i64(0));
    }
    if (version > latest_version)
        return make_error(errc::unsupported, where + " has schema version " + std::to_string(version) +
                                                 "; this build knows up to version " + std::to_string(latest_version) +
                                                 " (a newer custos wrote it)");
    for (int v = version; v < latest_version; ++v) {
        CUSTOS_TRY_VOID(exec(db, "BEGIN IMMEDIATE", where.c_str()));
        if (auto m = exec(db, migrations[v], ("migrating " + where + " to version " + std::to_string(v + 1)).c_str()); !m) {
            (void)exec(db, "ROLLBACK", "rollback");
            return std::move(m).err();
        }
        const std::string set = "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (" +
                                std::to_string(v + 1) + "); COMMIT";
        CUSTOS_TRY_VOID(exec(db, set.c_str(), where.c_str()));
    }
    CUSTOS_TRY_VOID(st->open_readers(path));
    CUSTOS_TRY_VOID(st->start_checkpointer(path));
    return st;
}

}  // namespace

result<std::unique_ptr<store>> open_sqlite_store(const std::filesystem::path& path, bool synchronous_full) {
    CUSTOS_TRY(s, sqlite_store::open(path, synchronous_full));
    return std::unique_ptr<store>(std::move(s));
}

result<std::unique_ptr<store>> open_store(const store_options& o) {
    if (o.backend == "sqlite") return open_sqlite_store(o.sqlite_path, o.sqlite_synchronous_full);
    if (o.backend == "postgresql") return open_postgres_store(o.postgres);
    return make_error(errc::unsupported, "store backend \"" + o.backend + "\": expected \"sqlite\" or \"postgresql\"");
}

}  // namespace custos::verifier
