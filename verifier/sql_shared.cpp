#include "verifier/sql_shared.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

#include "verifier/alerts.hpp"

namespace custos::verifier::sql {

// One outbox row per finding and webhook (the body is the finding as it was raised), and the one row of
// fleet generations. Portable SQL.
const char* const shared_migration_v6 = R"sql(
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_ms, id);
CREATE TABLE fleet_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fleet_generation BIGINT NOT NULL,
    policy_generation BIGINT NOT NULL
);
INSERT INTO fleet_state (id, fleet_generation, policy_generation) VALUES (1, 1, 0);
CREATE TABLE leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
INSERT INTO leader (id, holder, expires_ms) VALUES (1, '', 0);
)sql";

result<void> shared_tx::enqueue(const std::vector<std::string>& urls, const finding_record& f) {
    if (urls.empty()) return {};
    const std::string body = boost::json::serialize(finding_to_json(f));
    for (const auto& url : urls) {
        CUSTOS_TRY(s, s_.prepare("INSERT INTO outbox (finding_id, url, body, attempts, due_ms, created_at) VALUES (?, ?, ?, 0, ?, ?)"));
        // Due at once: the delivery thread is woken when the transaction that raised it commits.
        CUSTOS_TRY_VOID(s.i64(f.id).text(url).text(body).i64(0).i64(f.time).run("queueing a webhook delivery"));
    }
    return {};
}

result<std::vector<outbox_entry>> shared_tx::due(std::int64_t now_ms, std::size_t limit) {
    // Claimed, not just read: their due time moves `claim_ms` on, so a replica that takes the lead while
    // they are in flight does not send them again; on PostgreSQL rows another transaction holds are skipped.
    const std::string pick = std::string("SELECT id FROM outbox WHERE due_ms <= ? ORDER BY due_ms, id LIMIT ?") +
                             (s_.which() == dialect::postgresql ? " FOR UPDATE SKIP LOCKED" : "");
    CUSTOS_TRY(s, s_.prepare("UPDATE outbox SET due_ms = ? WHERE id IN (" + pick +
                             ") RETURNING id, finding_id, url, body, attempts, due_ms"));
    s.i64(now_ms + outbox_claim_ms).i64(now_ms).i64(static_cast<std::int64_t>(limit));
    std::vector<outbox_entry> out;
    for (;;) {
        CUSTOS_TRY(row, s.step("claiming due webhook deliveries"));
        if (!row) break;
        out.push_back({s.col_i64(0), s.col_i64(1), s.col_text(2), s.col_text(3), static_cast<unsigned>(s.col_i64(4)), now_ms});
    }
    std::sort(out.begin(), out.end(), [](const outbox_entry& a, const outbox_entry& b) { return a.id < b.id; });
    return out;
}

result<std::optional<std::int64_t>> shared_tx::next_due_ms() {
    CUSTOS_TRY(s, s_.prepare("SELECT MIN(due_ms), COUNT(*) FROM outbox"));
    CUSTOS_TRY(row, s.step("reading the webhook outbox"));
    if (!row || s.col_i64(1) == 0) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>(s.col_i64(0));
}

result<void> shared_tx::remove(std::int64_t id) {
    CUSTOS_TRY(s, s_.prepare("DELETE FROM outbox WHERE id = ?"));
    return s.i64(id).run("removing a webhook delivery");
}

result<void> shared_tx::retry(std::int64_t id, unsigned attempts, std::int64_t due_ms) {
    CUSTOS_TRY(s, s_.prepare("UPDATE outbox SET attempts = ?, due_ms = ? WHERE id = ?"));
    return s.i64(attempts).i64(due_ms).i64(id).run("rescheduling a webhook delivery");
}

result<std::size_t> shared_tx::drop_except(const std::vector<std::string>& urls) {
    // Few webhooks: one statement per kept URL list is not worth it; delete row by row of what is not kept.
    CUSTOS_TRY(s, s_.prepare("SELECT DISTINCT url FROM outbox"));
    std::vector<std::string> gone;
    for (;;) {
        CUSTOS_TRY(row, s.step("reading the webhook outbox"));
        if (!row) break;
        std::string u = s.col_text(0);
        if (std::find(urls.begin(), urls.end(), u) == urls.end()) gone.push_back(std::move(u));
    }
    std::size_t n = 0;
    for (const auto& u : gone) {
        CUSTOS_TRY(d, s_.prepare("DELETE FROM outbox WHERE url = ?"));
        CUSTOS_TRY_VOID(d.text(u).run("dropping deliveries to a removed webhook"));
        n += static_cast<std::size_t>(d.changes());
    }
    return n;
}

result<std::size_t> shared_tx::count() {
    CUSTOS_TRY(s, s_.prepare("SELECT COUNT(*) FROM outbox"));
    CUSTOS_TRY(row, s.step("counting the webhook outbox"));
    return row ? static_cast<std::size_t>(s.col_i64(0)) : std::size_t{0};
}

result<fleet_generations> shared_tx::generations() {
    CUSTOS_TRY(s, s_.prepare("SELECT fleet_generation, policy_generation FROM fleet_state WHERE id = 1"));
    CUSTOS_TRY(row, s.step("reading the fleet generation"));
    if (!row) return make_error(errc::structure, "the fleet_state row is missing");
    return fleet_generations{static_cast<std::uint64_t>(s.col_i64(0)), static_cast<std::uint64_t>(s.col_i64(1))};
}

result<void> shared_tx::bump_fleet_generation() {
    CUSTOS_TRY(s, s_.prepare("UPDATE fleet_state SET fleet_generation = fleet_generation + 1 WHERE id = 1"));
    return s.run("moving the fleet generation on");
}

result<void> shared_tx::set_policy_generation(std::uint64_t g) {
    CUSTOS_TRY(s, s_.prepare("UPDATE fleet_state SET policy_generation = ? WHERE id = 1"));
    return s.u64(g).run("recording the policy generation");
}

result<bool> shared_tx::take_lead(const std::string& replica, std::int64_t now_ms, std::int64_t ttl_ms) {
    // Held by this replica, or by nobody (never taken, given up, or its holder stopped renewing).
    CUSTOS_TRY(s, s_.prepare("UPDATE leader SET holder = ?, expires_ms = ? WHERE id = 1 AND (holder = ? OR expires_ms < ?)"));
    CUSTOS_TRY_VOID(s.text(replica).i64(now_ms + ttl_ms).text(replica).i64(now_ms).run("taking the lead"));
    return s.changes() == 1;
}

result<void> shared_tx::give_up_lead(const std::string& replica) {
    CUSTOS_TRY(s, s_.prepare("UPDATE leader SET expires_ms = 0 WHERE id = 1 AND holder = ?"));
    return s.text(replica).run("giving up the lead");
}

}  // namespace custos::verifier::sql
