// SQLite plumbing shared by the store's source files: a cached statement bound positionally, exec, and
// the interface a transaction's helpers prepare statements through. Internal to verifier/.
#pragma once

#include <sqlite3.h>

#include <string>
#include <utility>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::verifier::sqlite {

// A statement bound positionally; reset on destruction so the cached statement can be reused.
class stmt {
public:
    stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
    ~stmt() {
        if (s_) {
            sqlite3_reset(s_);
            sqlite3_clear_bindings(s_);
        }
    }
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;
    stmt(stmt&& o) noexcept : db_(o.db_), s_(std::exchange(o.s_, nullptr)), i_(o.i_) {}
    stmt& operator=(stmt&&) = delete;
    stmt& text(const std::string& v) {
        sqlite3_bind_text(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    stmt& blob(byte_view v) {
        // An empty span has no data pointer, which SQLite would store as NULL: bind a zero-length blob.
        if (v.empty()) sqlite3_bind_zeroblob(s_, ++i_, 0);
        else sqlite3_bind_blob(s_, ++i_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    stmt& i64(std::int64_t v) {
        sqlite3_bind_int64(s_, ++i_, v);
        return *this;
    }
    stmt& u64(std::uint64_t v) { return i64(static_cast<std::int64_t>(v)); }
    stmt& dbl(double v) {
        sqlite3_bind_double(s_, ++i_, v);
        return *this;
    }
    // SQLITE_ROW → true, SQLITE_DONE → false, anything else → error naming `what`.
    result<bool> step(const char* what) {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            return make_error(errc::mismatch, std::string(what) + ": " + sqlite3_errmsg(db_));
        return make_error(errc::io, std::string(what) + ": " + sqlite3_errmsg(db_));
    }
    result<void> run(const char* what) {
        CUSTOS_TRY(row, step(what));
        (void)row;
        return {};
    }
    std::string col_text(int c) const {
        const auto* p = sqlite3_column_text(s_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
                 : std::string();
    }
    bytes col_blob(int c) const {
        const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, c));
        return p ? bytes(p, p + sqlite3_column_bytes(s_, c)) : bytes();
    }
    std::int64_t col_i64(int c) const { return sqlite3_column_int64(s_, c); }
    double col_dbl(int c) const { return sqlite3_column_double(s_, c); }

private:
    sqlite3* db_;
    sqlite3_stmt* s_;
    int i_ = 0;
};

inline result<void> exec(sqlite3* db, const char* sql, const char* what) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string m = msg ? msg : sqlite3_errmsg(db);
        sqlite3_free(msg);
        return make_error(errc::io, std::string(what) + ": " + m);
    }
    return {};
}

// What a transaction's helpers need from the store: statements prepared once and cached, and the handle.
class statements {
public:
    virtual ~statements() = default;
    virtual result<stmt> prepare(const std::string& sql) = 0;
    virtual sqlite3* db() = 0;
};

}  // namespace custos::verifier::sqlite
