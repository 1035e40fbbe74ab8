// The store's transaction, written once for both backends: every statement is portable SQL with `?`
// placeholders (pg_store.cpp numbers them for PostgreSQL). What differs is said where it differs: on
// PostgreSQL, where several verifier processes write at once under READ COMMITTED, a read-write
// transaction locks the rows it reads to change (hosts, tokens, pending enrollments, GPUs, leases:
// lock_suffix()) and takes an advisory lock before a check-then-insert (serialize_on), so two replicas
// never both accept one report, spend one nonce or raise one finding; SQLite has one writer at a time.
#include "verifier/sql_tx.hpp"

#include "verifier/sql_fleet.hpp"
#include "verifier/sql_integrity.hpp"
#include "verifier/sql_location.hpp"
#include "verifier/sql_log.hpp"
#include "verifier/log_events.hpp"
#include "verifier/sql_shared.hpp"

namespace custos::verifier::sql {

const char* const core_migration_v1 = R"sql(
CREATE TABLE enroll_tokens (
    token_hash BLOB PRIMARY KEY,
    host_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE pending_enrollments (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    ek_cert BLOB NOT NULL,
    ek_spki BLOB NOT NULL,
    ek_sha256 TEXT NOT NULL,
    ak_public BLOB NOT NULL,
    ak_name TEXT NOT NULL,
    csr_pem TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    site TEXT NOT NULL,
    ek_cert BLOB NOT NULL,
    ek_spki BLOB NOT NULL,
    ek_sha256 TEXT NOT NULL,
    ak_public BLOB NOT NULL,
    ak_name TEXT NOT NULL,
    cert_sha256 TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    approved_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    golden_pcrs TEXT NOT NULL,
    golden_from_operator INTEGER NOT NULL,
    have_clock INTEGER NOT NULL,
    clock BIGINT NOT NULL,
    reset_count BIGINT NOT NULL,
    restart_count BIGINT NOT NULL,
    chain_seq BIGINT NOT NULL,
    chain_hash BLOB NOT NULL,
    status TEXT NOT NULL,
    status_at BIGINT NOT NULL
);
CREATE INDEX hosts_ek ON hosts (ek_sha256);
CREATE TABLE challenges (
    nonce BLOB PRIMARY KEY,
    host_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE report_keys (
    host_id TEXT NOT NULL,
    report_key BLOB NOT NULL,
    bound_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, report_key)
);
CREATE TABLE reports (
    host_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash BLOB NOT NULL,
    body BLOB NOT NULL,
    signature BLOB NOT NULL,
    report_key BLOB NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, seq)
);
CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    host TEXT NOT NULL,
    time BIGINT NOT NULL,
    detail TEXT NOT NULL,
    open INTEGER NOT NULL,
    resolved_at BIGINT NOT NULL
);
CREATE INDEX findings_host ON findings (host, open);
CREATE INDEX findings_time ON findings (time);
CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    country TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    max_km DOUBLE PRECISION NOT NULL
);
CREATE TABLE entities (
    id TEXT PRIMARY KEY,
    hq TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE appraisals (
    host_id TEXT NOT NULL,
    time BIGINT NOT NULL,
    status TEXT NOT NULL,
    token TEXT NOT NULL
);
CREATE INDEX appraisals_host ON appraisals (host_id, time);
)sql";

namespace {

const char* const host_columns =
    "id, state, site, ek_cert, ek_spki, ek_sha256, ak_public, ak_name, cert_sha256, enrolled_at, approved_at, "
    "last_seen, golden_pcrs, golden_from_operator, have_clock, clock, reset_count, restart_count, chain_seq, "
    "chain_hash, status, status_at, last_quote_at, quoted_head_seq, quoted_head_at, location_due_at, location_misses";

host_record read_host(const stmt& s) {
    host_record h;
    h.id = s.col_text(0);
    h.state = s.col_text(1);
    h.site = s.col_text(2);
    h.ek_cert = s.col_blob(3);
    h.ek_spki = s.col_blob(4);
    h.ek_sha256 = s.col_text(5);
    h.ak_public = s.col_blob(6);
    h.ak_name = s.col_text(7);
    h.cert_sha256 = s.col_text(8);
    h.enrolled_at = s.col_i64(9);
    h.approved_at = s.col_i64(10);
    h.last_seen = s.col_i64(11);
    h.golden_pcrs = s.col_text(12);
    h.golden_from_operator = s.col_i64(13) != 0;
    h.have_clock = s.col_i64(14) != 0;
    h.clock = static_cast<std::uint64_t>(s.col_i64(15));
    h.reset_count = static_cast<std::uint32_t>(s.col_i64(16));
    h.restart_count = static_cast<std::uint32_t>(s.col_i64(17));
    h.chain_seq = static_cast<std::uint64_t>(s.col_i64(18));
    h.chain_hash = s.col_blob(19);
    h.status = s.col_text(20);
    h.status_at = s.col_i64(21);
    h.last_quote_at = s.col_i64(22);
    h.quoted_head_seq = static_cast<std::uint64_t>(s.col_i64(23));
    h.quoted_head_at = s.col_i64(24);
    h.location_due_at = s.col_i64(25);
    h.location_misses = static_cast<std::uint32_t>(s.col_i64(26));
    return h;
}


class sql_tx final : public store_tx {
public:
    explicit sql_tx(std::unique_ptr<session> s) : owner_(std::move(s)), s_(*owner_), fleet_(s_), loc_(s_), integ_(s_), shared_(s_), log_(s_) {}
    ~sql_tx() override {
        if (!done_) s_.rollback();
    }

    result<void> insert_token(const enroll_token_record& t) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO enroll_tokens (token_hash, host_id, created_at, expires_at, used_at) "
                                 "VALUES (?, ?, ?, ?, ?)"));
        return s.blob(t.token_hash).text(t.host_id).i64(t.created_at).i64(t.expires_at).i64(t.used_at).run("storing an enrollment token");
    }
    result<std::optional<enroll_token_record>> get_token(byte_view token_hash) override {
        CUSTOS_TRY(s, s_.prepare(std::string("SELECT token_hash, host_id, created_at, expires_at, used_at FROM enroll_tokens WHERE token_hash = ?") +
                                 s_.lock_suffix()));
        s.blob(token_hash);
        CUSTOS_TRY(row, s.step("reading an enrollment token"));
        if (!row) return std::optional<enroll_token_record>{};
        return std::optional<enroll_token_record>(
            enroll_token_record{s.col_blob(0), s.col_text(1), s.col_i64(2), s.col_i64(3), s.col_i64(4)});
    }
    result<void> mark_token_used(byte_view token_hash, std::int64_t now) override {
        CUSTOS_TRY(s, s_.prepare("UPDATE enroll_tokens SET used_at = ? WHERE token_hash = ?"));
        return s.i64(now).blob(token_hash).run("marking an enrollment token used");
    }

    result<void> insert_pending(const pending_enrollment_record& p) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO pending_enrollments (id, host_id, ek_cert, ek_spki, ek_sha256, ak_public, "
                                 "ak_name, csr_pem, secret_hash, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
        return s.text(p.id).text(p.host_id).blob(p.ek_cert).blob(p.ek_spki).text(p.ek_sha256).blob(p.ak_public)
            .text(p.ak_name).text(p.csr_pem).blob(p.secret_hash).i64(p.expires_at).run("storing a pending enrollment");
    }
    result<std::optional<pending_enrollment_record>> get_pending(const std::string& id) override {
        CUSTOS_TRY(s, s_.prepare("SELECT id, host_id, ek_cert, ek_spki, ek_sha256, ak_public, ak_name, csr_pem, "
                                 "secret_hash, expires_at FROM pending_enrollments WHERE id = ?" + s_.lock_suffix()));
        s.text(id);
        CUSTOS_TRY(row, s.step("reading a pending enrollment"));
        if (!row) return std::optional<pending_enrollment_record>{};
        pending_enrollment_record p;
        p.id = s.col_text(0);
        p.host_id = s.col_text(1);
        p.ek_cert = s.col_blob(2);
        p.ek_spki = s.col_blob(3);
        p.ek_sha256 = s.col_text(4);
        p.ak_public = s.col_blob(5);
        p.ak_name = s.col_text(6);
        p.csr_pem = s.col_text(7);
        p.secret_hash = s.col_blob(8);
        p.expires_at = s.col_i64(9);
        return std::optional<pending_enrollment_record>(std::move(p));
    }
    result<void> delete_pending(const std::string& id) override {
        CUSTOS_TRY(s, s_.prepare("DELETE FROM pending_enrollments WHERE id = ?"));
        return s.text(id).run("deleting a pending enrollment");
    }

    result<std::optional<host_record>> get_host(const std::string& id) override {
        CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + host_columns + " FROM hosts WHERE id = ?" + s_.lock_suffix()));
        s.text(id);
        CUSTOS_TRY(row, s.step("reading a host"));
        if (!row) return std::optional<host_record>{};
        return std::optional<host_record>(read_host(s));
    }
    result<std::optional<host_record>> get_host_by_ek(const std::string& ek_sha256) override {
        CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + host_columns + " FROM hosts WHERE ek_sha256 = ? "
                                 "ORDER BY CASE WHEN state = 'decommissioned' THEN 1 ELSE 0 END, id LIMIT 1" + s_.lock_suffix()));
        s.text(ek_sha256);
        CUSTOS_TRY(row, s.step("reading a host by EK"));
        if (!row) return std::optional<host_record>{};
        return std::optional<host_record>(read_host(s));
    }
    result<void> put_host(const host_record& h) override {
        CUSTOS_TRY(s, s_.prepare(std::string("INSERT INTO hosts (") + host_columns +
                                 ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                 "ON CONFLICT (id) DO UPDATE SET state = excluded.state, site = excluded.site, "
                                 "ek_cert = excluded.ek_cert, ek_spki = excluded.ek_spki, ek_sha256 = excluded.ek_sha256, "
                                 "ak_public = excluded.ak_public, ak_name = excluded.ak_name, "
                                 "cert_sha256 = excluded.cert_sha256, enrolled_at = excluded.enrolled_at, "
                                 "approved_at = excluded.approved_at, last_seen = excluded.last_seen, "
                                 "golden_pcrs = excluded.golden_pcrs, golden_from_operator = excluded.golden_from_operator, "
                                 "have_clock = excluded.have_clock, clock = excluded.clock, "
                                 "reset_count = excluded.reset_count, restart_count = excluded.restart_count, "
                                 "chain_seq = excluded.chain_seq, chain_hash = excluded.chain_hash, "
                                 "status = excluded.status, status_at = excluded.status_at, "
                                 "last_quote_at = excluded.last_quote_at, quoted_head_seq = excluded.quoted_head_seq, "
                                 "quoted_head_at = excluded.quoted_head_at, location_due_at = excluded.location_due_at, "
                                 "location_misses = excluded.location_misses"));
        return s.text(h.id).text(h.state).text(h.site).blob(h.ek_cert).blob(h.ek_spki).text(h.ek_sha256)
            .blob(h.ak_public).text(h.ak_name).text(h.cert_sha256).i64(h.enrolled_at).i64(h.approved_at)
            .i64(h.last_seen).text(h.golden_pcrs).i64(h.golden_from_operator).i64(h.have_clock).u64(h.clock)
            .i64(h.reset_count).i64(h.restart_count).u64(h.chain_seq).blob(h.chain_hash).text(h.status)
            .i64(h.status_at).i64(h.last_quote_at).u64(h.quoted_head_seq).i64(h.quoted_head_at).i64(h.location_due_at)
            .i64(h.location_misses).run("storing a host");
    }
    result<void> update_host_progress(const std::string& id, std::uint64_t chain_seq, byte_view chain_hash,
                                      std::int64_t last_seen) override {
        CUSTOS_TRY(s, s_.prepare("UPDATE hosts SET chain_seq = ?, chain_hash = ?, last_seen = ? WHERE id = ?"));
        return s.u64(chain_seq).blob(chain_hash).i64(last_seen).text(id).run("updating a host's report chain");
    }
    result<std::vector<host_record>> list_hosts() override {
        CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + host_columns + " FROM hosts ORDER BY id" + s_.lock_suffix()));
        std::vector<host_record> out;
        for (;;) {
            CUSTOS_TRY(row, s.step("listing hosts"));
            if (!row) break;
            out.push_back(read_host(s));
        }
        return out;
    }

    result<void> insert_challenge(byte_view nonce, const std::string& host_id, std::int64_t expires_at) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO challenges (nonce, host_id, expires_at) VALUES (?, ?, ?)"));
        return s.blob(nonce).text(host_id).i64(expires_at).run("storing a challenge");
    }
    result<std::optional<challenge>> take_challenge(byte_view nonce) override {
        // One statement that reads and deletes: of two transactions racing for one nonce, one gets it.
        CUSTOS_TRY(s, s_.prepare("DELETE FROM challenges WHERE nonce = ? RETURNING host_id, expires_at"));
        s.blob(nonce);
        CUSTOS_TRY(row, s.step("consuming a challenge"));
        if (!row) return std::optional<challenge>{};
        std::optional<challenge> c = challenge{s.col_text(0), s.col_i64(1)};
        CUSTOS_TRY(more, s.step("consuming a challenge"));
        (void)more;
        return c;
    }
    result<void> purge_challenges(std::int64_t now) override {
        CUSTOS_TRY(s, s_.prepare("DELETE FROM challenges WHERE expires_at < ?"));
        return s.i64(now).run("purging challenges");
    }

    // Report keys and exact finding questions: sql_integrity.cpp.
    result<void> bind_report_key(const std::string& h, const report_key_record& k) override { return integ_.bind_report_key(h, k); }
    result<std::optional<report_key_record>> get_report_key(const std::string& h, byte_view key) override {
        return integ_.get_report_key(h, key);
    }
    result<std::vector<report_key_record>> list_report_keys(const std::string& h) override { return integ_.list_report_keys(h); }
    result<std::size_t> retire_report_keys(const std::string& h, byte_view keep, std::uint64_t until, std::int64_t now,
                                           const std::string& reason) override {
        return integ_.retire_report_keys(h, keep, until, now, reason);
    }
    result<void> retire_report_key(const std::string& h, byte_view key, std::uint64_t until, std::int64_t now,
                                   const std::string& reason) override {
        return integ_.retire_report_key(h, key, until, now, reason);
    }
    result<open_finding_counts> count_open_findings(const std::string& h) override { return integ_.count_open_findings(h); }
    result<std::optional<finding_record>> find_open_finding(const std::string& h, const std::string& rule, const std::string& kind,
                                                            const std::string& subject,
                                                            const std::optional<std::string>& detail) override {
        return integ_.find_open_finding(h, rule, kind, subject, detail);
    }
    result<std::uint64_t> count_open_rule(const std::string& h, const std::string& rule) override { return integ_.count_open_rule(h, rule); }
    result<std::optional<finding_record>> newest_open_finding(const std::string& h, const std::string& rule) override {
        return integ_.newest_open_finding(h, rule);
    }
    result<void> repeat_finding(std::int64_t id, std::int64_t now) override { return integ_.repeat_finding(id, now); }
    result<std::optional<finding_record>> first_open_violation(const violation_scope& v) override {
        return integ_.first_open_violation(v);
    }
    result<std::vector<report_record>> list_reports(const std::string& h, std::uint64_t from, std::size_t limit) override {
        return integ_.list_reports(h, from, limit);
    }
    result<std::size_t> prune_resolved_findings(std::int64_t before, std::size_t limit) override {
        return integ_.prune_resolved_findings(before, limit);
    }
    result<std::size_t> prune_appraisals(std::int64_t before, std::size_t limit) override {
        return integ_.prune_appraisals(before, limit);
    }

    result<void> unbind_report_keys(const std::string& host_id) override {
        CUSTOS_TRY(s, s_.prepare("DELETE FROM report_keys WHERE host_id = ?"));
        return s.text(host_id).run("unbinding report keys");
    }
    result<std::optional<report_record>> get_report(const std::string& host_id, std::uint64_t seq) override {
        CUSTOS_TRY(s, s_.prepare("SELECT host_id, seq, hash, body, signature, report_key, received_at FROM reports "
                                 "WHERE host_id = ? AND seq = ?"));
        s.text(host_id).u64(seq);
        CUSTOS_TRY(row, s.step("reading a report"));
        if (!row) return std::optional<report_record>{};
        return std::optional<report_record>(report_record{s.col_text(0), static_cast<std::uint64_t>(s.col_i64(1)),
                                                          s.col_blob(2), s.col_blob(3), s.col_blob(4), s.col_blob(5),
                                                          s.col_i64(6)});
    }
    result<void> insert_report(const report_record& r) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO reports (host_id, seq, hash, body, signature, report_key, received_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)"));
        auto x = s.text(r.host_id).u64(r.seq).blob(r.hash).blob(r.body).blob(r.signature).blob(r.key).i64(r.received_at)
                     .run("storing a report");
        if (!x && x.err().code == errc::mismatch)
            return make_error(errc::mismatch,
                              "report " + r.host_id + " seq " + std::to_string(r.seq) + " is already stored");
        return x;
    }
    result<std::uint64_t> count_reports(const std::string& host_id) override {
        CUSTOS_TRY(s, s_.prepare("SELECT COUNT(*) FROM reports WHERE host_id = ?"));
        s.text(host_id);
        CUSTOS_TRY(row, s.step("counting reports"));
        return row ? static_cast<std::uint64_t>(s.col_i64(0)) : 0;
    }
    result<void> delete_reports(const std::string& host_id) override {
        CUSTOS_TRY(s, s_.prepare("DELETE FROM reports WHERE host_id = ?"));
        return s.text(host_id).run("deleting reports");
    }

    result<std::int64_t> insert_finding(const finding_record& f) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO findings (rule, severity, subject_kind, subject, host, time, detail, open, "
                                 "resolved_at, ref, repeats, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"));
        s.text(f.rule).text(f.severity).text(f.subject_kind).text(f.subject).text(f.host).i64(f.time).text(f.detail)
            .i64(f.open).i64(f.resolved_at).text(f.ref).u64(f.repeats).i64(f.last_at ? f.last_at : f.time);
        CUSTOS_TRY(row, s.step("storing a finding"));
        if (!row) return make_error(errc::io, "storing a finding: no id came back");
        const std::int64_t id = s.col_i64(0);
        finding_record stored = f;
        stored.id = id;
        CUSTOS_TRY_VOID(shared_.enqueue(s_.webhooks(), stored));
        CUSTOS_TRY_VOID(log_.append(finding_raised_entry(stored)));
        return id;
    }
    result<std::vector<outbox_entry>> due_outbox(std::int64_t now_ms, std::size_t limit) override { return shared_.due(now_ms, limit); }
    result<std::optional<std::int64_t>> next_outbox_due_ms() override { return shared_.next_due_ms(); }
    result<void> remove_outbox(std::int64_t id) override { return shared_.remove(id); }
    result<void> retry_outbox(std::int64_t id, unsigned attempts, std::int64_t due_ms) override {
        return shared_.retry(id, attempts, due_ms);
    }
    result<std::size_t> drop_outbox_except(const std::vector<std::string>& urls) override { return shared_.drop_except(urls); }
    result<std::size_t> count_outbox() override { return shared_.count(); }
    result<fleet_generations> generations() override { return shared_.generations(); }
    result<void> bump_fleet_generation() override { return shared_.bump_fleet_generation(); }
    result<void> set_policy_generation(std::uint64_t g) override { return shared_.set_policy_generation(g); }
    result<bool> take_lead(const std::string& r, std::int64_t now_ms, std::int64_t ttl_ms) override {
        return shared_.take_lead(r, now_ms, ttl_ms);
    }
    result<void> give_up_lead(const std::string& r) override { return shared_.give_up_lead(r); }
    result<std::vector<finding_record>> list_findings(const finding_filter& f) override {
        // One statement per filter shape, so each is prepared once.
        std::string sql = std::string("SELECT ") + finding_columns + " FROM findings WHERE time >= ?";
        if (f.host) sql += " AND host = ?";
        if (f.rule) sql += " AND rule = ?";
        if (f.open_only) sql += " AND open = 1";
        sql += " ORDER BY time DESC, id DESC LIMIT ?";
        CUSTOS_TRY(s, s_.prepare(sql));
        s.i64(f.since);
        if (f.host) s.text(*f.host);
        if (f.rule) s.text(*f.rule);
        s.i64(static_cast<std::int64_t>(f.limit));
        std::vector<finding_record> out;
        for (;;) {
            CUSTOS_TRY(row, s.step("listing findings"));
            if (!row) break;
            out.push_back(read_finding(s));
        }
        return out;
    }
    result<std::size_t> resolve_findings(const std::string& host_id, const std::optional<std::string>& rule,
                                         std::int64_t now) override {
        return close_findings(rule ? "host = ? AND rule = ?" : "host = ?", now, [&](stmt& s) {
            s.text(host_id);
            if (rule) s.text(*rule);
        });
    }

    result<void> put_site(const site_record& r) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO sites (id, entity, country, lat, lon, max_km) VALUES (?, ?, ?, ?, ?, ?) "
                                 "ON CONFLICT (id) DO UPDATE SET entity = excluded.entity, country = excluded.country, "
                                 "lat = excluded.lat, lon = excluded.lon, max_km = excluded.max_km"));
        return s.text(r.id).text(r.entity).text(r.country).dbl(r.lat).dbl(r.lon).dbl(r.max_km).run("storing a site");
    }
    result<std::optional<site_record>> get_site(const std::string& id) override {
        CUSTOS_TRY(s, s_.prepare("SELECT id, entity, country, lat, lon, max_km FROM sites WHERE id = ?"));
        s.text(id);
        CUSTOS_TRY(row, s.step("reading a site"));
        if (!row) return std::optional<site_record>{};
        return std::optional<site_record>(
            site_record{s.col_text(0), s.col_text(1), s.col_text(2), s.col_dbl(3), s.col_dbl(4), s.col_dbl(5)});
    }
    result<std::vector<site_record>> list_sites() override {
        CUSTOS_TRY(s, s_.prepare("SELECT id, entity, country, lat, lon, max_km FROM sites ORDER BY id"));
        std::vector<site_record> out;
        for (;;) {
            CUSTOS_TRY(row, s.step("listing sites"));
            if (!row) break;
            out.push_back(site_record{s.col_text(0), s.col_text(1), s.col_text(2), s.col_dbl(3), s.col_dbl(4), s.col_dbl(5)});
        }
        return out;
    }
    result<void> put_entity(const entity_record& e) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO entities (id, hq, status) VALUES (?, ?, ?) "
                                 "ON CONFLICT (id) DO UPDATE SET hq = excluded.hq, status = excluded.status"));
        return s.text(e.id).text(e.hq).text(e.status).run("storing an entity");
    }
    result<std::optional<entity_record>> get_entity(const std::string& id) override {
        CUSTOS_TRY(s, s_.prepare("SELECT id, hq, status FROM entities WHERE id = ?"));
        s.text(id);
        CUSTOS_TRY(row, s.step("reading an entity"));
        if (!row) return std::optional<entity_record>{};
        return std::optional<entity_record>(entity_record{s.col_text(0), s.col_text(1), s.col_text(2)});
    }
    result<std::vector<entity_record>> list_entities() override {
        CUSTOS_TRY(s, s_.prepare("SELECT id, hq, status FROM entities ORDER BY id"));
        std::vector<entity_record> out;
        for (;;) {
            CUSTOS_TRY(row, s.step("listing entities"));
            if (!row) break;
            out.push_back(entity_record{s.col_text(0), s.col_text(1), s.col_text(2)});
        }
        return out;
    }

    result<void> insert_appraisal(const appraisal_record& a) override {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO appraisals (host_id, time, status, token, round_evidence) VALUES (?, ?, ?, ?, ?)"));
        s.text(a.host_id).i64(a.time).text(a.status).text(a.token);
        if (a.round_evidence.empty()) s.null();
        else s.blob(a.round_evidence);
        return s.run("storing an appraisal");
    }
    result<std::vector<appraisal_record>> list_appraisals(const std::string& host_id, std::int64_t since, std::int64_t until,
                                                          std::size_t limit) override {
        CUSTOS_TRY(s, s_.prepare(std::string("SELECT host_id, time, status, token, round_evidence FROM appraisals WHERE host_id = ? "
                                             "AND time >= ? AND time <= ? ORDER BY time, ") + row_order() + " LIMIT ?"));
        s.text(host_id).i64(since).i64(until).i64(static_cast<std::int64_t>(limit));
        std::vector<appraisal_record> out;
        for (;;) {
            CUSTOS_TRY(row, s.step("listing appraisals"));
            if (!row) break;
            out.push_back(appraisal_record{s.col_text(0), s.col_i64(1), s.col_text(2), s.col_text(3), s.col_null(4) ? bytes{} : s.col_blob(4)});
        }
        return out;
    }
    result<std::optional<appraisal_record>> latest_appraisal(const std::string& host_id) override {
        CUSTOS_TRY(s, s_.prepare(std::string("SELECT host_id, time, status, token, round_evidence FROM appraisals WHERE host_id = ? "
                                             "ORDER BY time DESC, ") + row_order() + " DESC LIMIT 1"));
        s.text(host_id);
        CUSTOS_TRY(row, s.step("reading the latest appraisal"));
        if (!row) return std::optional<appraisal_record>{};
        return std::optional<appraisal_record>(
            appraisal_record{s.col_text(0), s.col_i64(1), s.col_text(2), s.col_text(3), s.col_null(4) ? bytes{} : s.col_blob(4)});
    }

    // GPU registry, compute, models and leases: sql_fleet.cpp.
    result<std::optional<gpu_record>> get_gpu(const std::string& serial) override { return fleet_.get_gpu(serial); }
    result<void> put_gpu(const gpu_record& g) override { return fleet_.put_gpu(g); }
    result<std::vector<gpu_record>> list_gpus(const std::optional<std::string>& host) override { return fleet_.list_gpus(host); }
    result<std::optional<host_inventory_record>> get_host_inventory(const std::string& h) override { return fleet_.get_host_inventory(h); }
    result<void> put_host_inventory(const host_inventory_record& r) override { return fleet_.put_host_inventory(r); }
    result<std::vector<std::string>> gpu_approvals(const std::string& h) override { return fleet_.gpu_approvals(h); }
    result<void> approve_gpu(const std::string& h, const std::string& serial, std::int64_t now) override {
        return fleet_.approve_gpu(h, serial, now);
    }
    result<bool> release_gpu(const std::string& h, const std::string& serial) override { return fleet_.release_gpu(h, serial); }
    result<void> clear_gpu_approvals(const std::string& h) override { return fleet_.clear_gpu_approvals(h); }
    result<void> insert_gpu_event(const gpu_event_record& e) override {
        CUSTOS_TRY_VOID(fleet_.insert_gpu_event(e));
        return log_.append(gpu_event_entry(e));
    }
    result<std::vector<gpu_event_record>> list_gpu_events(const std::optional<std::string>& serial, const std::optional<std::string>& host,
                                                          std::size_t limit) override {
        return fleet_.list_gpu_events(serial, host, limit);
    }
    result<std::size_t> resolve_subject_findings(const std::string& h, const std::string& rule, const std::string& subject,
                                                 std::int64_t now) override {
        return close_findings("host = ? AND rule = ? AND subject = ?", now, [&](stmt& s) { s.text(h).text(rule).text(subject); });
    }
    result<std::optional<gpu_attestation_record>> get_gpu_attestation(const std::string& serial) override {
        return fleet_.get_gpu_attestation(serial);
    }
    result<std::vector<gpu_attestation_record>> gpu_attestations_of_device(const std::string& d) override {
        return fleet_.gpu_attestations_of_device(d);
    }
    result<std::vector<gpu_attestation_record>> list_gpu_attestations(const std::optional<std::string>& h) override {
        return fleet_.list_gpu_attestations(h);
    }
    result<void> put_gpu_attestation(const gpu_attestation_record& r) override { return fleet_.put_gpu_attestation(r); }
    result<std::vector<std::pair<std::string, counter_record>>> gpu_counters(const std::string& h) override { return fleet_.gpu_counters(h); }
    result<void> put_gpu_counter(const std::string& h, const std::string& key, const counter_record& c) override {
        return fleet_.put_gpu_counter(h, key, c);
    }
    result<void> add_compute(const std::string& h, const std::string& model, const counter_record& d, std::int64_t now) override {
        return fleet_.add_compute(h, model, d, now);
    }
    result<std::vector<compute_record>> list_compute() override { return fleet_.list_compute(); }
    result<void> put_model(const model_record& m) override { return fleet_.put_model(m); }
    result<std::optional<model_record>> get_model(const std::string& id) override { return fleet_.get_model(id); }
    result<std::vector<model_record>> list_models() override { return fleet_.list_models(); }
    result<void> approve_model_site(const std::string& m, const std::string& site, std::int64_t now) override {
        return fleet_.approve_model_site(m, site, now);
    }
    result<std::vector<std::string>> model_sites(const std::string& m) override { return fleet_.model_sites(m); }
    result<void> insert_lease(const lease_record& l) override { return fleet_.insert_lease(l); }
    result<std::vector<lease_record>> active_leases(const std::optional<std::string>& h, std::int64_t now) override {
        return fleet_.active_leases(h, now);
    }
    result<std::optional<lease_record>> get_lease(const std::string& id) override { return fleet_.get_lease(id); }
    result<std::vector<lease_record>> host_model_leases(const std::string& h, const std::string& m) override {
        return fleet_.host_model_leases(h, m);
    }
    result<void> revoke_lease(const std::string& id, std::int64_t now, const std::string& reason) override {
        return fleet_.revoke_lease(id, now, reason);
    }
    result<void> renew_lease(const std::string& id, std::int64_t expires_at) override { return fleet_.renew_lease(id, expires_at); }

    result<void> resolve_finding(std::int64_t id, std::int64_t now) override {
        CUSTOS_TRY(n, close_findings("id = ?", now, [&](stmt& s) { s.i64(id); }));
        (void)n;
        return {};
    }

    // Landmarks and location proofs: sql_location.cpp.
    result<void> put_landmark(const landmark_record& l) override { return loc_.put_landmark(l); }
    result<std::optional<landmark_record>> get_landmark(const std::string& id) override { return loc_.get_landmark(id); }
    result<std::vector<landmark_record>> list_landmarks() override { return loc_.list_landmarks(); }
    result<void> assign_landmark(const std::string& site, const std::string& lm) override { return loc_.assign_landmark(site, lm); }
    result<std::vector<landmark_record>> site_landmarks(const std::string& site) override { return loc_.site_landmarks(site); }
    result<std::vector<std::string>> landmark_sites(const std::string& lm) override { return loc_.landmark_sites(lm); }
    result<void> put_host_location(const host_location_record& r) override { return loc_.put_host_location(r); }
    result<std::optional<host_location_record>> get_host_location(const std::string& h) override { return loc_.get_host_location(h); }
    result<void> put_host_measurements(const host_measurement_record& r) override { return loc_.put_host_measurements(r); }
    result<std::optional<host_measurement_record>> get_host_measurements(const std::string& h) override {
        return loc_.get_host_measurements(h);
    }

    // The transparency log: sql_log.cpp.
    result<void> append_log(const log_entry& e) override { return log_.append(e); }
    result<std::int64_t> lock_log_size() override { return log_.size(true); }
    result<std::vector<pending_log_entry>> pending_log(std::size_t limit) override { return log_.pending(limit); }
    result<std::vector<tlog::hash>> log_hashes(std::span<const std::int64_t> idx) override { return log_.hashes(idx); }
    result<void> put_log_entries(std::int64_t first, std::span<const log_entry> es) override { return log_.put_entries(first, es); }
    result<void> put_log_hashes(std::int64_t first, std::span<const tlog::hash> h) override { return log_.put_hashes(first, h); }
    result<void> remove_pending_log(std::span<const std::int64_t> ids) override { return log_.remove_pending(ids); }
    result<void> set_log_size(std::int64_t size) override { return log_.set_size(size); }
    result<std::int64_t> log_size() override { return log_.size(); }
    result<std::size_t> count_pending_log() override { return log_.count_pending(); }
    result<std::vector<sequenced_log_entry>> log_entries(std::int64_t start, std::int64_t end) override {
        return log_.entries(start, end);
    }
    result<std::vector<sequenced_log_entry>> log_entries_about(const std::string& host, const std::string& subject,
                                                               const std::string& type, std::int64_t from,
                                                               std::size_t limit) override {
        return log_.entries_about(host, subject, type, from, limit);
    }
    result<void> put_checkpoint(const log_checkpoint& c) override { return log_.put_checkpoint(c); }
    result<std::optional<log_checkpoint>> latest_checkpoint() override { return log_.latest_checkpoint(); }

    result<void> commit() override {
        done_ = true;
        return s_.commit();
    }
    result<void> serialize_on(const std::string& key) override {
        // Held until the transaction ends: a second writer asking for the same key waits for this one.
        if (s_.which() != dialect::postgresql || !s_.writable()) return {};
        CUSTOS_TRY(s, s_.prepare("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))"));
        return s.text(key).run("taking an advisory lock");
    }

private:
    std::unique_ptr<session> owner_;
    session& s_;
    fleet_tx fleet_;
    location_tx loc_;
    integrity_tx integ_;
    shared_tx shared_;
    bool done_ = false;

    log_tx log_;

    // Closes the open findings `where` picks (its parameters bound by `bind`, after resolved_at) and logs
    // each one closed, in this transaction.
    template <class Bind>
    result<std::size_t> close_findings(const std::string& where, std::int64_t now, Bind bind) {
        CUSTOS_TRY(s, s_.prepare("UPDATE findings SET open = 0, resolved_at = ? WHERE " + where + " AND open = 1 RETURNING " +
                                 finding_columns));
        s.i64(now);
        bind(s);
        std::vector<finding_record> closed;
        for (;;) {
            CUSTOS_TRY(row, s.step("resolving findings"));
            if (!row) break;
            closed.push_back(read_finding(s));
        }
        for (const auto& f : closed) CUSTOS_TRY_VOID(log_.append(finding_resolved_entry(f)));
        return closed.size();
    }

    // Insertion order of appraisals: SQLite's rowid, PostgreSQL's identity column.
    const char* row_order() const { return s_.which() == dialect::sqlite ? "rowid" : "id"; }
};

}  // namespace

const char* const migrations[latest_version] = {
    core_migration_v1,         fleet_migration_v2,      location_migration_v3,
    measurements_migration_v4, integrity_migration_v5,  shared_migration_v6,
    log_migration_v7,          pci_migration_v8,        gpu_attestation_migration_v9,
};

std::unique_ptr<store_tx> make_tx(std::unique_ptr<session> s) { return std::make_unique<sql_tx>(std::move(s)); }

}  // namespace custos::verifier::sql
