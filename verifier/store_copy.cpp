// migrate-store's copy (store_copy.hpp). Generic over tables: the table and column lists come from the two
// databases' catalogues (both schemas are made by the same migrations, sql_tx.hpp), so a table added by
// a later migration is copied without touching this file. Values are read by the type the target column
// has, so SQLite's dynamic typing cannot leak a text into a BIGINT. The read-back check hashes every row
// (a tagged encoding of each value) and adds the row hashes modulo 2^256: the sum does not depend on row
// order, which the two backends do not share, and needs no memory per row. It guards against a lossy
// copy, not against someone who controls both databases.
#include "verifier/store_copy.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>

#include "crypto/digest.hpp"
#include "verifier/sql_tx.hpp"

namespace custos::verifier {
namespace {

enum class kind { integer, real, text, blob };

struct column {
    std::string name;
    std::string source_expr;  // what the source SELECTs for it (the name, or rowid for an id SQLite keeps there)
    kind k = kind::text;
    bool identity = false;
};

// Tables a fresh target's migrations fill with one row (replaced by the source's).
const std::set<std::string> seeded_tables = {"fleet_state", "leader", "log_state"};

std::string ident(const std::string& id) {
    std::string out = "\"";
    for (char c : id) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

const char* kind_name(kind k) {
    switch (k) {
        case kind::integer: return "an integer";
        case kind::real: return "a double";
        case kind::text: return "text";
        case kind::blob: return "bytes";
    }
    return "?";
}

result<kind> kind_of(const std::string& table, const std::string& col, const std::string& pg_type) {
    if (pg_type == "bigint" || pg_type == "integer" || pg_type == "smallint" || pg_type == "boolean") return kind::integer;
    if (pg_type == "double precision" || pg_type == "real") return kind::real;
    if (pg_type == "text" || pg_type == "character varying") return kind::text;
    if (pg_type == "bytea") return kind::blob;
    return make_error(errc::unsupported, "table " + table + ", column " + col + ": type \"" + pg_type + "\" is not one migrate-store copies");
}

// A 256-bit sum of row hashes.
class row_digest {
public:
    void add(const sql::stmt& s, const std::vector<column>& cols) {
        bytes enc;
        for (std::size_t i = 0; i < cols.size(); ++i) {
            const int c = static_cast<int>(i);
            if (s.col_null(c)) {
                enc.push_back(0);
                continue;
            }
            switch (cols[i].k) {
                case kind::integer: put(enc, 1, s.col_i64(c)); break;
                case kind::real: {
                    const double d = s.col_dbl(c);
                    std::int64_t bits = 0;
                    std::memcpy(&bits, &d, sizeof bits);
                    put(enc, 2, bits);
                    break;
                }
                case kind::text: {
                    const std::string t = s.col_text(c);
                    put(enc, 3, static_cast<std::int64_t>(t.size()));
                    enc.insert(enc.end(), t.begin(), t.end());
                    break;
                }
                case kind::blob: {
                    const bytes b = s.col_blob(c);
                    put(enc, 4, static_cast<std::int64_t>(b.size()));
                    enc.insert(enc.end(), b.begin(), b.end());
                    break;
                }
            }
        }
        const bytes h = sha256(enc);
        unsigned carry = 0;
        for (std::size_t i = 0; i < sum_.size(); ++i) {
            const unsigned v = sum_[i] + h[i] + carry;
            sum_[i] = static_cast<std::uint8_t>(v);
            carry = v >> 8;
        }
        ++rows_;
    }
    std::uint64_t rows() const { return rows_; }
    bool operator==(const row_digest& o) const { return rows_ == o.rows_ && sum_ == o.sum_; }

private:
    static void put(bytes& enc, std::uint8_t tag, std::int64_t v) {
        enc.push_back(tag);
        for (int k = 0; k < 8; ++k) enc.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * k)));
    }
    std::array<std::uint8_t, 32> sum_{};
    std::uint64_t rows_ = 0;
};

result<std::vector<std::string>> source_tables(sql::session& src) {
    std::vector<std::string> out;
    CUSTOS_TRY(s, src.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                              "AND name <> 'schema_version' ORDER BY rowid"));
    for (;;) {
        CUSTOS_TRY(row, s.step("listing the source's tables"));
        if (!row) break;
        out.push_back(s.col_text(0));
    }
    return out;
}

result<std::set<std::string>> target_tables(sql::session& dst) {
    std::set<std::string> out;
    CUSTOS_TRY(s, dst.prepare("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() "
                              "AND table_type = 'BASE TABLE' AND table_name <> 'schema_version'"));
    for (;;) {
        CUSTOS_TRY(row, s.step("listing the target's tables"));
        if (!row) break;
        out.insert(s.col_text(0));
    }
    return out;
}

// The target's columns in order, matched to the source's: the same names, except an id the target keeps
// in a column and SQLite in its rowid (appraisals).
result<std::vector<column>> columns_of(sql::session& src, sql::session& dst, const std::string& table) {
    std::set<std::string> in_source;
    {
        CUSTOS_TRY(s, src.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid"));
        s.text(table);
        for (;;) {
            CUSTOS_TRY(row, s.step("listing the source's columns"));
            if (!row) break;
            in_source.insert(s.col_text(0));
        }
    }
    std::vector<column> out;
    CUSTOS_TRY(s, dst.prepare("SELECT column_name::text, data_type::text, is_identity::text FROM information_schema.columns "
                              "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"));
    s.text(table);
    for (;;) {
        CUSTOS_TRY(row, s.step("listing the target's columns"));
        if (!row) break;
        column c;
        c.name = s.col_text(0);
        CUSTOS_TRY(k, kind_of(table, c.name, s.col_text(1)));
        c.k = k;
        c.identity = s.col_text(2) == "YES";
        if (in_source.erase(c.name)) c.source_expr = ident(c.name);
        else if (c.name == "id" && c.identity) c.source_expr = "rowid";
        else return make_error(errc::mismatch, "table " + table + ": the target has a column " + c.name + " the source lacks "
                                               "(are both at the same schema version?)");
        out.push_back(std::move(c));
    }
    if (!in_source.empty())
        return make_error(errc::mismatch, "table " + table + ": the source has a column " + *in_source.begin() + " the target lacks");
    return out;
}

std::string select_list(const std::vector<column>& cols, bool source) {
    std::string out;
    for (const auto& c : cols) out += (out.empty() ? "" : ", ") + (source ? c.source_expr : ident(c.name));
    return out;
}

result<std::int64_t> count_rows(sql::session& s, const std::string& table) {
    CUSTOS_TRY(q, s.prepare("SELECT COUNT(*) FROM " + ident(table)));
    CUSTOS_TRY(row, q.step(("counting " + table).c_str()));
    return row ? q.col_i64(0) : 0;
}

void bind_column(sql::stmt& ins, const sql::stmt& from, int c, kind k) {
    if (from.col_null(c)) {
        ins.null();
        return;
    }
    switch (k) {
        case kind::integer: ins.i64(from.col_i64(c)); break;
        case kind::real: ins.dbl(from.col_dbl(c)); break;
        case kind::text: ins.text(from.col_text(c)); break;
        case kind::blob: ins.blob(from.col_blob(c)); break;
    }
}

// Copies one table and reads it back from the target (inside the target's transaction) to compare.
result<std::uint64_t> copy_table(sql::session& src, sql::session& dst, const std::string& table, const std::vector<column>& cols) {
    CUSTOS_TRY(existing, count_rows(dst, table));
    if (existing > 0) {
        if (!seeded_tables.count(table))
            return make_error(errc::invalid_argument, "the target database already holds fleet data (table " + table + " has " +
                                                          std::to_string(existing) + " rows): migrate-store only fills an empty database");
        CUSTOS_TRY(del, dst.prepare("DELETE FROM " + ident(table)));
        CUSTOS_TRY_VOID(del.run(("emptying " + table).c_str()));
    }
    bool identity = false;
    std::string marks;
    for (const auto& c : cols) {
        identity = identity || c.identity;
        marks += marks.empty() ? "?" : ", ?";
    }
    const std::string what = "copying table " + table;
    const std::string insert = "INSERT INTO " + ident(table) + " (" + select_list(cols, false) + ")" +
                               (identity ? " OVERRIDING SYSTEM VALUE" : "") + " VALUES (" + marks + ")";
    // Beside each value, SQLite's storage class for it: a value the target column's type cannot hold as
    // it is (a text in a BIGINT column, say) is refused, not converted on the way.
    std::string types;
    for (const auto& c : cols) types += ", typeof(" + c.source_expr + ")";
    row_digest copied;
    std::uint64_t n = 0;
    {
        CUSTOS_TRY(read, src.prepare("SELECT " + select_list(cols, true) + types + " FROM " + ident(table)));
        for (;;) {
            CUSTOS_TRY(row, read.step(what.c_str()));
            if (!row) break;
            ++n;
            for (std::size_t i = 0; i < cols.size(); ++i) {
                const std::string t = read.col_text(static_cast<int>(cols.size() + i));
                const bool fits = t == "null" || (cols[i].k == kind::integer && t == "integer") ||
                                  (cols[i].k == kind::real && (t == "real" || t == "integer")) ||
                                  (cols[i].k == kind::text && t == "text") || (cols[i].k == kind::blob && t == "blob");
                if (!fits)
                    return make_error(errc::mismatch, "table " + table + ", row " + std::to_string(n) + ", column " + cols[i].name +
                                                          ": SQLite holds a " + t + " value where the target column is " +
                                                          kind_name(cols[i].k));
            }
            CUSTOS_TRY(ins, dst.prepare(insert));
            for (std::size_t i = 0; i < cols.size(); ++i) bind_column(ins, read, static_cast<int>(i), cols[i].k);
            CUSTOS_TRY_VOID(ins.run(what.c_str()));
            copied.add(read, cols);
        }
    }
    row_digest back;
    {
        CUSTOS_TRY(read, dst.prepare("SELECT " + select_list(cols, false) + " FROM " + ident(table)));
        for (;;) {
            CUSTOS_TRY(row, read.step(("reading back table " + table).c_str()));
            if (!row) break;
            back.add(read, cols);
        }
    }
    if (back.rows() != copied.rows())
        return make_error(errc::mismatch, "table " + table + ": " + std::to_string(copied.rows()) + " rows copied but " +
                                              std::to_string(back.rows()) + " read back from the target");
    if (!(back == copied)) return make_error(errc::mismatch, "table " + table + ": the rows read back from the target differ from the source's");
    // Identity columns number on past the largest copied id, and past any id SQLite already handed out
    // for an AUTOINCREMENT table (sqlite_sequence), so no id is ever given twice.
    for (const auto& c : cols) {
        if (!c.identity) continue;
        std::int64_t next = 1;
        {
            CUSTOS_TRY(q, dst.prepare("SELECT COALESCE(MAX(" + ident(c.name) + "), 0) FROM " + ident(table)));
            CUSTOS_TRY(row, q.step(("reading the largest " + table + "." + c.name).c_str()));
            if (row) next = q.col_i64(0) + 1;
        }
        {
            CUSTOS_TRY(has, src.prepare("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'"));
            CUSTOS_TRY(row, has.step("looking for sqlite_sequence"));
            if (row && has.col_i64(0) > 0) {
                CUSTOS_TRY(q, src.prepare("SELECT seq FROM sqlite_sequence WHERE name = ?"));
                q.text(table);
                CUSTOS_TRY(seq, q.step("reading sqlite_sequence"));
                if (seq) next = std::max(next, q.col_i64(0) + 1);
            }
        }
        CUSTOS_TRY(q, dst.prepare("SELECT setval(pg_get_serial_sequence(?, ?), ?, false)"));
        q.text(ident(table)).text(c.name).i64(next);
        CUSTOS_TRY_VOID(q.run(("moving the sequence of " + table + "." + c.name).c_str()));
    }
    return copied.rows();
}

struct chain_head {
    std::int64_t seq = 0;
    bytes hash;
    std::int64_t last_seq = 0;  // the last stored report (0: none)
    bytes last_hash;
    bool operator==(const chain_head&) const = default;
};

result<std::optional<chain_head>> head_of(sql::session& s, const std::string& host) {
    CUSTOS_TRY(q, s.prepare("SELECT h.chain_seq, h.chain_hash, r.seq, r.hash FROM hosts h LEFT JOIN reports r ON r.host_id = h.id "
                            "AND r.seq = (SELECT MAX(seq) FROM reports WHERE host_id = h.id) WHERE h.id = ?"));
    q.text(host);
    CUSTOS_TRY(row, q.step("reading a chain head"));
    if (!row) return std::optional<chain_head>();
    chain_head h{q.col_i64(0), q.col_blob(1), q.col_null(2) ? 0 : q.col_i64(2), q.col_null(3) ? bytes() : q.col_blob(3)};
    return std::optional<chain_head>(std::move(h));
}

// Rolls a raw session back unless it committed (sessions leave that to their owner).
struct rollback_unless_done {
    sql::session& s;
    bool done = false;
    ~rollback_unless_done() {
        if (!done) s.rollback();
    }
};

}  // namespace

result<copy_summary> copy_store(store& from, store& to, const std::function<void(const std::string&)>& progress) {
    if (std::string(from.backend()) != "sqlite" || std::string(to.backend()) != "postgresql")
        return make_error(errc::unsupported, std::string("migrate-store copies SQLite into PostgreSQL, not ") + from.backend() +
                                                 " into " + to.backend());
    if (from.schema_version() != to.schema_version())
        return make_error(errc::mismatch, "the source is at schema version " + std::to_string(from.schema_version()) +
                                              " and the target at " + std::to_string(to.schema_version()));
    CUSTOS_TRY(src, from.begin_session(true));  // the writer's lock: nothing changes under the copy
    rollback_unless_done src_guard{*src};
    {
        // A verifier still serving this file would go on writing after the copy, and lose it at cut-over.
        CUSTOS_TRY(q, src->prepare("SELECT holder, expires_ms FROM leader WHERE id = 1"));
        CUSTOS_TRY(row, q.step("reading the lead"));
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        if (row && q.col_i64(1) > now_ms)
            return make_error(errc::invalid_argument, "a verifier (" + q.col_text(0) + ") is serving this database (its lead runs " +
                                                          std::to_string((q.col_i64(1) - now_ms + 999) / 1000) +
                                                          " s more): stop it first; a killed one's lapses within 15 s");
    }
    CUSTOS_TRY(dst, to.begin_session(true));
    rollback_unless_done dst_guard{*dst};
    CUSTOS_TRY(tables, source_tables(*src));
    CUSTOS_TRY(targets, target_tables(*dst));
    for (const auto& t : tables)
        if (!targets.erase(t)) return make_error(errc::mismatch, "table " + t + " is in the source but not in the target");
    if (!targets.empty()) return make_error(errc::mismatch, "table " + *targets.begin() + " is in the target but not in the source");

    copy_summary out;
    for (const auto& t : tables) {
        CUSTOS_TRY(cols, columns_of(*src, *dst, t));
        CUSTOS_TRY(rows, copy_table(*src, *dst, t, cols));
        out.tables.push_back({t, rows});
        out.rows += rows;
        if (progress) progress(t + ": " + std::to_string(rows) + " rows copied and read back equal");
    }
    // Every host's chain head, asked of each side by name: what an agent's next report is checked against.
    std::vector<std::string> hosts;
    {
        CUSTOS_TRY(q, src->prepare("SELECT id FROM hosts ORDER BY id"));
        for (;;) {
            CUSTOS_TRY(row, q.step("listing hosts"));
            if (!row) break;
            hosts.push_back(q.col_text(0));
        }
    }
    for (const auto& h : hosts) {
        CUSTOS_TRY(a, head_of(*src, h));
        CUSTOS_TRY(b, head_of(*dst, h));
        if (!a || !b || !(*a == *b)) return make_error(errc::mismatch, "host " + h + ": its chain head differs in the target");
        ++out.hosts;
        if (a->last_seq > 0) ++out.chain_heads;
    }
    CUSTOS_TRY_VOID(dst->commit());
    dst_guard.done = true;
    return out;
}

}  // namespace custos::verifier
