// The SQL plumbing the store's statements are written against, whatever the backend: a prepared statement
// bound positionally (`?` placeholders), stepped row by row, read column by column. SQLite runs it through
// sqlite3_stmt (sqlite_store.cpp), PostgreSQL through libpq prepared statements with binary parameters
// and results (pg_store.cpp). Internal to verifier/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::verifier::sql {

enum class dialect { sqlite, postgresql };

// One prepared statement on one connection, as its backend runs it. Parameters are 1-based, columns
// 0-based; step() runs the statement on its first call and moves to the next row on every call.
class cursor {
public:
    virtual ~cursor() = default;
    virtual void bind_null(int i) = 0;
    virtual void bind_text(int i, std::string_view v) = 0;
    virtual void bind_blob(int i, byte_view v) = 0;
    virtual void bind_i64(int i, std::int64_t v) = 0;
    virtual void bind_dbl(int i, double v) = 0;
    // true: a row is there to read; false: done; an error names `what` (errc::mismatch for a constraint).
    virtual result<bool> step(const char* what) = 0;
    virtual int col_count() const = 0;
    virtual bool col_null(int c) const = 0;
    virtual std::string col_text(int c) const = 0;
    virtual bytes col_blob(int c) const = 0;
    virtual std::int64_t col_i64(int c) const = 0;
    virtual double col_dbl(int c) const = 0;
    // Rows the last run inserted, updated or deleted.
    virtual std::int64_t changes() const = 0;
    // Ready to bind and run again (bindings cleared, result dropped).
    virtual void reset() = 0;
};

// A statement bound positionally; reset on destruction so the cached statement can be reused.
class stmt {
public:
    explicit stmt(cursor* c) : c_(c) {}
    ~stmt() {
        if (c_) c_->reset();
    }
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;
    stmt(stmt&& o) noexcept : c_(std::exchange(o.c_, nullptr)), i_(o.i_) {}
    stmt& operator=(stmt&&) = delete;
    stmt& null() {
        c_->bind_null(++i_);
        return *this;
    }
    stmt& text(std::string_view v) {
        c_->bind_text(++i_, v);
        return *this;
    }
    stmt& blob(byte_view v) {
        c_->bind_blob(++i_, v);
        return *this;
    }
    stmt& i64(std::int64_t v) {
        c_->bind_i64(++i_, v);
        return *this;
    }
    stmt& u64(std::uint64_t v) { return i64(static_cast<std::int64_t>(v)); }
    stmt& dbl(double v) {
        c_->bind_dbl(++i_, v);
        return *this;
    }
    result<bool> step(const char* what) { return c_->step(what); }
    result<void> run(const char* what) {
        CUSTOS_TRY(row, step(what));
        (void)row;
        return {};
    }
    int col_count() const { return c_->col_count(); }
    bool col_null(int c) const { return c_->col_null(c); }
    std::string col_text(int c) const { return c_->col_text(c); }
    bytes col_blob(int c) const { return c_->col_blob(c); }
    std::int64_t col_i64(int c) const { return c_->col_i64(c); }
    double col_dbl(int c) const { return c_->col_dbl(c); }
    std::int64_t changes() const { return c_->changes(); }

private:
    cursor* c_;
    int i_ = 0;
};

// Every row a statement gives, each made into a T by read(stmt).
template <class T, class F>
result<std::vector<T>> collect(stmt& s, const char* what, F read) {
    std::vector<T> out;
    for (;;) {
        CUSTOS_TRY(row, s.step(what));
        if (!row) break;
        out.push_back(read(s));
    }
    return out;
}

// What a transaction's statements need from the connection it runs on: statements prepared once per
// connection and cached, which SQL dialect it speaks, and the webhook URLs findings are queued for.
class statements {
public:
    virtual ~statements() = default;
    virtual result<stmt> prepare(const std::string& sql) = 0;
    virtual dialect which() const = 0;
    virtual const std::vector<std::string>& webhooks() const = 0;
    virtual bool log_enabled() const = 0;  // the transparency log is on (store::set_log_enabled)
    virtual bool writable() const = 0;  // in a read-write transaction (false: read-only)
    // " FOR UPDATE" where concurrent writers need the rows a read-write transaction reads to change locked
    // (PostgreSQL); "" where one writer runs at a time (SQLite) or the transaction only reads.
    std::string lock_suffix() const { return which() == dialect::postgresql && writable() ? " FOR UPDATE" : ""; }
};

}  // namespace custos::verifier::sql
