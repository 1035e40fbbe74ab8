#include "verifier/sql_integrity.hpp"

namespace custos::verifier::sql {

// ALTER TABLE … ADD COLUMN with a constant default reads the same on PostgreSQL. The partial unique index
// makes "one live host per TPM" hold even when two activations race (both run the check; only one insert
// can commit). A database that already holds two live hosts on one EK fails this migration with SQLite's
// UNIQUE error: decommission one of them with the previous version first.
const char* const integrity_migration_v5 = R"sql(
ALTER TABLE hosts ADD COLUMN last_quote_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN quoted_head_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN quoted_head_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN location_due_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN location_misses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_keys ADD COLUMN reset_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_keys ADD COLUMN from_seq BIGINT NOT NULL DEFAULT 1;
ALTER TABLE report_keys ADD COLUMN until_seq BIGINT NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE report_keys ADD COLUMN retired_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_keys ADD COLUMN retire_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE report_keys ADD COLUMN binding TEXT NOT NULL DEFAULT '';
UPDATE report_keys SET reset_count = (SELECT reset_count FROM hosts WHERE hosts.id = report_keys.host_id)
    WHERE EXISTS (SELECT 1 FROM hosts WHERE hosts.id = report_keys.host_id);
ALTER TABLE host_measurements ADD COLUMN have_reset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE host_measurements ADD COLUMN reset_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN repeats BIGINT NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN last_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX findings_host_rule ON findings (host, rule, open);
CREATE INDEX findings_subject ON findings (subject_kind, subject, open);
CREATE UNIQUE INDEX hosts_live_ek ON hosts (ek_sha256) WHERE state <> 'decommissioned' AND ek_sha256 <> '';
)sql";

const char* const finding_columns =
    "id, rule, severity, subject_kind, subject, host, time, detail, open, resolved_at, ref, repeats, last_at";

finding_record read_finding(const stmt& s) {
    finding_record f;
    f.id = s.col_i64(0);
    f.rule = s.col_text(1);
    f.severity = s.col_text(2);
    f.subject_kind = s.col_text(3);
    f.subject = s.col_text(4);
    f.host = s.col_text(5);
    f.time = s.col_i64(6);
    f.detail = s.col_text(7);
    f.open = s.col_i64(8) != 0;
    f.resolved_at = s.col_i64(9);
    f.ref = s.col_text(10);
    f.repeats = static_cast<std::uint64_t>(s.col_i64(11));
    f.last_at = s.col_i64(12);
    return f;
}

namespace {

const char* const key_columns = "report_key, bound_at, reset_count, from_seq, until_seq, retired_at, retire_reason, binding";

report_key_record read_key(const stmt& s) {
    report_key_record k;
    k.key = s.col_blob(0);
    k.bound_at = s.col_i64(1);
    k.reset_count = static_cast<std::uint32_t>(s.col_i64(2));
    k.from_seq = static_cast<std::uint64_t>(s.col_i64(3));
    k.until_seq = static_cast<std::uint64_t>(s.col_i64(4));
    k.retired_at = s.col_i64(5);
    k.retire_reason = s.col_text(6);
    k.binding = s.col_text(7);
    return k;
}

result<std::optional<finding_record>> one_finding(stmt& s, const char* what) {
    CUSTOS_TRY(row, s.step(what));
    if (!row) return std::optional<finding_record>{};
    return std::optional<finding_record>(read_finding(s));
}

}  // namespace

result<void> integrity_tx::bind_report_key(const std::string& host_id, const report_key_record& k) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO report_keys (host_id, report_key, bound_at, reset_count, from_seq, until_seq, "
                             "retired_at, retire_reason, binding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (host_id, report_key) DO NOTHING"));
    return s.text(host_id).blob(k.key).i64(k.bound_at).i64(k.reset_count).u64(k.from_seq).u64(k.until_seq).i64(k.retired_at)
        .text(k.retire_reason).text(k.binding).run("binding a report key");
}

result<std::optional<report_key_record>> integrity_tx::get_report_key(const std::string& host_id, byte_view key) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + key_columns + " FROM report_keys WHERE host_id = ? AND report_key = ?"));
    s.text(host_id).blob(key);
    CUSTOS_TRY(row, s.step("looking up a report key"));
    if (!row) return std::optional<report_key_record>{};
    return std::optional<report_key_record>(read_key(s));
}

result<std::vector<report_key_record>> integrity_tx::list_report_keys(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + key_columns +
                             " FROM report_keys WHERE host_id = ? ORDER BY from_seq, bound_at, report_key"));
    s.text(host_id);
    std::vector<report_key_record> out;
    for (;;) {
        CUSTOS_TRY(row, s.step("listing report keys"));
        if (!row) break;
        out.push_back(read_key(s));
    }
    return out;
}

result<std::size_t> integrity_tx::retire_report_keys(const std::string& host_id, byte_view keep, std::uint64_t until_seq,
                                                     std::int64_t now, const std::string& reason) {
    CUSTOS_TRY(s, s_.prepare("UPDATE report_keys SET until_seq = ?, retired_at = ?, retire_reason = ? "
                             "WHERE host_id = ? AND report_key <> ? AND until_seq = 9223372036854775807"));
    CUSTOS_TRY_VOID(s.u64(until_seq).i64(now).text(reason).text(host_id).blob(keep).run("retiring report keys"));
    return static_cast<std::size_t>(s.changes());
}

result<void> integrity_tx::retire_report_key(const std::string& host_id, byte_view key, std::uint64_t until_seq,
                                             std::int64_t now, const std::string& reason) {
    CUSTOS_TRY(s, s_.prepare("UPDATE report_keys SET until_seq = ?, retired_at = ?, retire_reason = ? "
                             "WHERE host_id = ? AND report_key = ? AND until_seq > ?"));
    return s.u64(until_seq).i64(now).text(reason).text(host_id).blob(key).u64(until_seq).run("retiring a report key");
}

result<open_finding_counts> integrity_tx::count_open_findings(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT severity, COUNT(*) FROM findings WHERE host = ? AND open = 1 GROUP BY severity"));
    s.text(host_id);
    open_finding_counts c;
    for (;;) {
        CUSTOS_TRY(row, s.step("counting open findings"));
        if (!row) break;
        const std::string sev = s.col_text(0);
        const auto n = static_cast<std::uint64_t>(s.col_i64(1));
        if (sev == "violation") c.violations += n;
        else if (sev == "warning") c.warnings += n;
        else c.infos += n;
    }
    return c;
}

result<std::optional<finding_record>> integrity_tx::find_open_finding(const std::string& host, const std::string& rule,
                                                                      const std::string& subject_kind,
                                                                      const std::string& subject,
                                                                      const std::optional<std::string>& detail) {
    std::string sql = std::string("SELECT ") + finding_columns +
                      " FROM findings WHERE host = ? AND rule = ? AND open = 1 AND subject_kind = ? AND subject = ?";
    if (detail) sql += " AND detail = ?";
    sql += " ORDER BY id LIMIT 1";
    CUSTOS_TRY(s, s_.prepare(sql));
    s.text(host).text(rule).text(subject_kind).text(subject);
    if (detail) s.text(*detail);
    return one_finding(s, "looking up an open finding");
}

result<std::uint64_t> integrity_tx::count_open_rule(const std::string& host, const std::string& rule) {
    CUSTOS_TRY(s, s_.prepare("SELECT COUNT(*) FROM findings WHERE host = ? AND rule = ? AND open = 1"));
    s.text(host).text(rule);
    CUSTOS_TRY(row, s.step("counting open findings of a rule"));
    return row ? static_cast<std::uint64_t>(s.col_i64(0)) : 0;
}

result<std::optional<finding_record>> integrity_tx::newest_open_finding(const std::string& host, const std::string& rule) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + finding_columns +
                             " FROM findings WHERE host = ? AND rule = ? AND open = 1 ORDER BY id DESC LIMIT 1"));
    s.text(host).text(rule);
    return one_finding(s, "reading the newest open finding of a rule");
}

result<void> integrity_tx::repeat_finding(std::int64_t id, std::int64_t now) {
    CUSTOS_TRY(s, s_.prepare("UPDATE findings SET repeats = repeats + 1, last_at = ? WHERE id = ?"));
    return s.i64(now).i64(id).run("counting a repeated finding");
}

result<std::optional<finding_record>> integrity_tx::first_open_violation(const violation_scope& v) {
    // Empty parts of the scope match nothing: no finding has an empty subject of those kinds.
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + finding_columns +
                             " FROM findings WHERE open = 1 AND severity = 'violation' AND ("
                             "(host <> '' AND host = ?) OR (subject_kind = 'site' AND subject = ?) OR "
                             "(subject_kind = 'entity' AND subject = ?) OR (subject_kind = 'country' AND subject = ?) OR "
                             "(subject_kind = 'model' AND host = '' AND subject = ?)) "
                             "ORDER BY CASE WHEN host = ? THEN 0 ELSE 1 END, id LIMIT 1"));
    s.text(v.host).text(v.site).text(v.entity).text(v.country).text(v.model).text(v.host);
    return one_finding(s, "looking for a standing violation");
}

result<std::vector<report_record>> integrity_tx::list_reports(const std::string& host_id, std::uint64_t from_seq,
                                                               std::size_t limit) {
    CUSTOS_TRY(s, s_.prepare("SELECT host_id, seq, hash, body, signature, report_key, received_at FROM reports "
                             "WHERE host_id = ? AND seq >= ? ORDER BY seq LIMIT ?"));
    s.text(host_id).u64(from_seq).i64(static_cast<std::int64_t>(limit));
    std::vector<report_record> out;
    for (;;) {
        CUSTOS_TRY(row, s.step("listing reports"));
        if (!row) break;
        out.push_back(report_record{s.col_text(0), static_cast<std::uint64_t>(s.col_i64(1)), s.col_blob(2), s.col_blob(3),
                                    s.col_blob(4), s.col_blob(5), s.col_i64(6)});
    }
    return out;
}

result<std::size_t> integrity_tx::prune_resolved_findings(std::int64_t before, std::size_t limit) {
    CUSTOS_TRY(s, s_.prepare("DELETE FROM findings WHERE id IN (SELECT id FROM findings WHERE open = 0 AND "
                             "resolved_at > 0 AND resolved_at < ? ORDER BY id LIMIT ?)"));
    CUSTOS_TRY_VOID(s.i64(before).i64(static_cast<std::int64_t>(limit)).run("pruning resolved findings"));
    return static_cast<std::size_t>(s.changes());
}

result<std::size_t> integrity_tx::prune_appraisals(std::int64_t before, std::size_t limit) {
    // The latest appraisal of each host stays whatever its age: it is what key release and the host view read.
    const std::string id = s_.which() == dialect::sqlite ? "rowid" : "id";  // insertion order
    CUSTOS_TRY(s, s_.prepare("DELETE FROM appraisals WHERE " + id + " IN (SELECT a." + id + " FROM appraisals a WHERE a.time < ? "
                             "AND a.time < (SELECT MAX(b.time) FROM appraisals b WHERE b.host_id = a.host_id) "
                             "ORDER BY a.time LIMIT ?)"));
    CUSTOS_TRY_VOID(s.i64(before).i64(static_cast<std::int64_t>(limit)).run("pruning appraisals"));
    return static_cast<std::size_t>(s.changes());
}

}  // namespace custos::verifier::sql
