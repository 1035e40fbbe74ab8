#include "verifier/sql_log.hpp"

#include <algorithm>
#include <map>

namespace custos::verifier::sql {

// Portable SQL. log_state holds the number of sequenced entries; its row is what sequencers lock.
const char* const log_migration_v7 = R"sql(
CREATE TABLE log_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    host TEXT NOT NULL,
    subject TEXT NOT NULL,
    time BIGINT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE log_entries (
    idx BIGINT PRIMARY KEY,
    type TEXT NOT NULL,
    host TEXT NOT NULL,
    subject TEXT NOT NULL,
    time BIGINT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX log_entries_host ON log_entries (host, idx);
CREATE INDEX log_entries_subject ON log_entries (subject, idx);
CREATE TABLE log_hashes (
    idx BIGINT PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE log_checkpoints (
    size BIGINT PRIMARY KEY,
    note TEXT NOT NULL,
    time BIGINT NOT NULL
);
CREATE TABLE log_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO log_state (id, size) VALUES (1, 0);
ALTER TABLE appraisals ADD COLUMN round_evidence BLOB;
)sql";

namespace {

log_entry read_entry(stmt& s, int first) {
    const bytes body = s.col_blob(first + 4);
    return log_entry{s.col_text(first), s.col_text(first + 1), s.col_text(first + 2), s.col_i64(first + 3),
                     std::string(body.begin(), body.end())};
}

sequenced_log_entry read_sequenced(stmt& s) { return sequenced_log_entry{s.col_i64(0), read_entry(s, 1)}; }

}  // namespace

result<void> log_tx::append(const log_entry& e) {
    if (!s_.log_enabled()) return {};
    CUSTOS_TRY(s, s_.prepare("INSERT INTO log_pending (type, host, subject, time, body) VALUES (?, ?, ?, ?, ?)"));
    return s.text(e.type).text(e.host).text(e.subject).i64(e.time).blob(as_bytes(e.body)).run("queueing a log entry");
}

result<std::int64_t> log_tx::size(bool lock) {
    CUSTOS_TRY(s, s_.prepare("SELECT size FROM log_state WHERE id = 1" + (lock ? s_.lock_suffix() : std::string())));
    CUSTOS_TRY(row, s.step("reading the log's size"));
    if (!row) return make_error(errc::structure, "the log_state row is missing");
    return s.col_i64(0);
}

result<std::vector<pending_log_entry>> log_tx::pending(std::size_t limit) {
    CUSTOS_TRY(s, s_.prepare("SELECT id, type, host, subject, time, body FROM log_pending ORDER BY id LIMIT ?"));
    s.i64(static_cast<std::int64_t>(limit));
    return collect<pending_log_entry>(s, "reading queued log entries",
                                      [](stmt& st) { return pending_log_entry{st.col_i64(0), read_entry(st, 1)}; });
}

result<std::vector<tlog::hash>> log_tx::hashes(std::span<const std::int64_t> indexes) {
    // One range read covering every index asked (they are close together: a tree's frontier or a proof's
    // path), then picked out in the order asked.
    if (indexes.empty()) return std::vector<tlog::hash>{};
    const auto [lo, hi] = std::minmax_element(indexes.begin(), indexes.end());
    std::map<std::int64_t, tlog::hash> got;
    if (*hi - *lo < 4096) {
        CUSTOS_TRY(s, s_.prepare("SELECT idx, hash FROM log_hashes WHERE idx >= ? AND idx <= ?"));
        s.i64(*lo).i64(*hi);
        for (;;) {
            CUSTOS_TRY(row, s.step("reading the log's hashes"));
            if (!row) break;
            const std::int64_t i = s.col_i64(0);
            if (std::find(indexes.begin(), indexes.end(), i) == indexes.end()) continue;
            const bytes h = s.col_blob(1);
            if (h.size() != 32) return make_error(errc::structure, "the log's stored hash " + std::to_string(i) + " is not 32 bytes");
            std::copy(h.begin(), h.end(), got[i].begin());
        }
    } else {
        for (auto i : indexes) {
            CUSTOS_TRY(s, s_.prepare("SELECT idx, hash FROM log_hashes WHERE idx = ?"));
            s.i64(i);
            CUSTOS_TRY(row, s.step("reading the log's hashes"));
            if (!row) continue;
            const bytes h = s.col_blob(1);
            if (h.size() != 32) return make_error(errc::structure, "the log's stored hash " + std::to_string(i) + " is not 32 bytes");
            std::copy(h.begin(), h.end(), got[i].begin());
        }
    }
    std::vector<tlog::hash> out;
    out.reserve(indexes.size());
    for (auto i : indexes) {
        const auto it = got.find(i);
        if (it == got.end()) return make_error(errc::structure, "the log's stored hash " + std::to_string(i) + " is missing");
        out.push_back(it->second);
    }
    return out;
}

namespace {

// The sequencer writes a batch at a time: rows go `rows_per_statement` to a statement (one round trip on
// PostgreSQL instead of one each), the remainder one by one, so only two statement shapes are prepared.
constexpr std::size_t rows_per_statement = 64;

std::string repeated(const char* head, const char* group, const char* sep, std::size_t n, const char* tail = "") {
    std::string sql = head;
    for (std::size_t i = 0; i < n; ++i) sql += (i ? sep : "") + std::string(group);
    return sql + tail;
}

template <class Bind>
result<void> in_chunks(statements& st, std::size_t count, const char* head, const char* group, const char* sep, const char* tail,
                       const char* what, Bind bind) {
    std::size_t i = 0;
    for (; i + rows_per_statement <= count; i += rows_per_statement) {
        CUSTOS_TRY(s, st.prepare(repeated(head, group, sep, rows_per_statement, tail)));
        for (std::size_t k = i; k < i + rows_per_statement; ++k) bind(s, k);
        CUSTOS_TRY_VOID(s.run(what));
    }
    for (; i < count; ++i) {
        CUSTOS_TRY(s, st.prepare(repeated(head, group, sep, 1, tail)));
        bind(s, i);
        CUSTOS_TRY_VOID(s.run(what));
    }
    return {};
}

}  // namespace

result<void> log_tx::put_entries(std::int64_t first_index, std::span<const log_entry> es) {
    return in_chunks(s_, es.size(), "INSERT INTO log_entries (idx, type, host, subject, time, body) VALUES ", "(?, ?, ?, ?, ?, ?)",
                     ", ", "", "storing log entries", [&](stmt& s, std::size_t k) {
                         const auto& e = es[k];
                         s.i64(first_index + static_cast<std::int64_t>(k)).text(e.type).text(e.host).text(e.subject).i64(e.time)
                             .blob(as_bytes(e.body));
                     });
}

result<void> log_tx::put_hashes(std::int64_t first_index, std::span<const tlog::hash> hashes) {
    return in_chunks(s_, hashes.size(), "INSERT INTO log_hashes (idx, hash) VALUES ", "(?, ?)", ", ", "",
                     "storing the log's hashes",
                     [&](stmt& s, std::size_t k) { s.i64(first_index + static_cast<std::int64_t>(k)).blob(hashes[k]); });
}

result<void> log_tx::remove_pending(std::span<const std::int64_t> ids) {
    return in_chunks(s_, ids.size(), "DELETE FROM log_pending WHERE id IN (", "?", ", ", ")",
                     "removing sequenced log entries from the queue", [&](stmt& s, std::size_t k) { s.i64(ids[k]); });
}

result<void> log_tx::set_size(std::int64_t size) {
    CUSTOS_TRY(s, s_.prepare("UPDATE log_state SET size = ? WHERE id = 1"));
    return s.i64(size).run("recording the log's size");
}

result<std::size_t> log_tx::count_pending() {
    CUSTOS_TRY(s, s_.prepare("SELECT COUNT(*) FROM log_pending"));
    CUSTOS_TRY(row, s.step("counting queued log entries"));
    return row ? static_cast<std::size_t>(s.col_i64(0)) : std::size_t{0};
}

result<std::vector<sequenced_log_entry>> log_tx::entries(std::int64_t start, std::int64_t end) {
    CUSTOS_TRY(s, s_.prepare("SELECT idx, type, host, subject, time, body FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx"));
    s.i64(start).i64(end);
    return collect<sequenced_log_entry>(s, "reading log entries", read_sequenced);
}

result<std::vector<sequenced_log_entry>> log_tx::entries_about(const std::string& host, const std::string& subject,
                                                               const std::string& type, std::int64_t from, std::size_t limit) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT idx, type, host, subject, time, body FROM log_entries WHERE ") +
                             (host.empty() ? "subject" : "host") + " = ?" + (type.empty() ? "" : " AND type = ?") +
                             " AND idx >= ? ORDER BY idx LIMIT ?"));
    s.text(host.empty() ? subject : host);
    if (!type.empty()) s.text(type);
    s.i64(from).i64(static_cast<std::int64_t>(limit));
    return collect<sequenced_log_entry>(s, "reading log entries", read_sequenced);
}

result<void> log_tx::put_checkpoint(const log_checkpoint& c) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO log_checkpoints (size, note, time) VALUES (?, ?, ?) "
                             "ON CONFLICT (size) DO NOTHING"));
    return s.i64(c.size).text(c.note).i64(c.time).run("storing a log checkpoint");
}

result<std::optional<log_checkpoint>> log_tx::latest_checkpoint() {
    CUSTOS_TRY(s, s_.prepare("SELECT size, note, time FROM log_checkpoints ORDER BY size DESC LIMIT 1"));
    CUSTOS_TRY(row, s.step("reading the latest log checkpoint"));
    if (!row) return std::optional<log_checkpoint>{};
    return std::optional<log_checkpoint>(log_checkpoint{s.col_i64(0), s.col_text(1), s.col_i64(2)});
}

}  // namespace custos::verifier::sql
