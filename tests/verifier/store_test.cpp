// verifier/store: one suite, run on both backends — a real SQLite file, and a real PostgreSQL cluster
// started for the test (tests/support/postgres.hpp) — round trips, transactions, read-only snapshots,
// migrations, and what several verifier processes on one database must never both do (accept one report,
// spend one nonce, raise one finding, send one webhook, lead). SQLite-only checks (WAL, file permissions,
// old schema versions, junk files) are the SqliteStore tests at the end.
#include <gtest/gtest.h>

#include <set>
#include <sqlite3.h>

#include <atomic>
#include <barrier>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"
#include "verifier/findings.hpp"
#include "verifier/store.hpp"
#include "verifier/sql_tx.hpp"
#include "verifier/store_copy.hpp"

namespace custos::verifier {
namespace {

using custos::test::temp_dir;

host_record sample_host(const std::string& id) {
    host_record h;
    h.id = id;
    h.state = "approved";
    h.site = "seoul-1";
    h.ek_cert = {1, 2, 3};
    h.ek_spki = {4, 5};
    h.ek_sha256 = "ek-" + id;
    h.ak_public = {6, 7, 8, 9};
    h.ak_name = "000b" + id;
    h.cert_sha256 = "cert-" + id;
    h.enrolled_at = 100;
    h.approved_at = 200;
    h.last_seen = 300;
    h.golden_pcrs = R"({"sha256":{"0":"00"}})";
    h.golden_from_operator = true;
    h.have_clock = true;
    h.clock = 1ull << 40;
    h.reset_count = 7;
    h.restart_count = 3;
    h.chain_seq = 42;
    h.chain_hash = bytes(32, 0xcd);
    h.status = "warning";
    h.status_at = 400;
    h.last_quote_at = 350;
    h.quoted_head_seq = 45;
    h.quoted_head_at = 360;
    return h;
}

// The backend under test: "sqlite" or "postgresql".
class Store : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (pg()) {
            try {
                cluster_ = test::postgres_cluster::start();
            } catch (const std::exception& e) {
                FAIL() << "PostgreSQL: " << e.what();
            }
        }
        open();
    }
    bool pg() const { return GetParam() == "postgresql"; }
    // Another verifier process on the same database: a store of its own.
    std::unique_ptr<store> open_again() {
        auto s = pg() ? open_postgres_store({cluster_->dsn(), "", 8}) : open_sqlite_store(path());
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
        return s.ok() ? std::move(s).value() : nullptr;
    }
    void open() {
        db_.reset();
        db_ = open_again();
        ASSERT_TRUE(db_);
    }
    // SQL run beside the store (sqlite3 on the file; psql on the cluster).
    void raw_sql(const std::string& sql) {
        if (pg()) {
            auto r = cluster_->psql(sql);
            ASSERT_EQ(r.exit_code, 0) << r.err;
            return;
        }
        sqlite3* raw = nullptr;
        ASSERT_EQ(sqlite3_open(path().c_str(), &raw), SQLITE_OK);
        char* msg = nullptr;
        const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &msg);
        const std::string m = msg ? msg : "";
        sqlite3_free(msg);
        sqlite3_close(raw);
        ASSERT_EQ(rc, SQLITE_OK) << m;
    }
    std::filesystem::path path() const { return dir_.path() / "v.db"; }
    std::unique_ptr<store_tx> tx() {
        auto t = db_->begin();
        EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.err().message);
        return std::move(t).value();
    }
    temp_dir dir_{"custos-store"};
    std::unique_ptr<test::postgres_cluster> cluster_;
    std::unique_ptr<store> db_;
};

INSTANTIATE_TEST_SUITE_P(Backends, Store, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(Store, HostsRoundTripEveryFieldAndSurviveReopening) {
    {
        auto t = tx();
        ASSERT_TRUE(t->put_host(sample_host("h1")).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    open();
    auto t = tx();
    auto h = t->get_host("h1");
    ASSERT_TRUE(h.ok() && h->has_value());
    const host_record& r = **h;
    const host_record e = sample_host("h1");
    EXPECT_EQ(r.state, e.state);
    EXPECT_EQ(r.site, e.site);
    EXPECT_EQ(r.ek_cert, e.ek_cert);
    EXPECT_EQ(r.ek_spki, e.ek_spki);
    EXPECT_EQ(r.ak_public, e.ak_public);
    EXPECT_EQ(r.ak_name, e.ak_name);
    EXPECT_EQ(r.cert_sha256, e.cert_sha256);
    EXPECT_EQ(r.enrolled_at, 100);
    EXPECT_EQ(r.approved_at, 200);
    EXPECT_EQ(r.last_seen, 300);
    EXPECT_EQ(r.golden_pcrs, e.golden_pcrs);
    EXPECT_TRUE(r.golden_from_operator);
    EXPECT_TRUE(r.have_clock);
    EXPECT_EQ(r.clock, 1ull << 40);
    EXPECT_EQ(r.reset_count, 7u);
    EXPECT_EQ(r.restart_count, 3u);
    EXPECT_EQ(r.chain_seq, 42u);
    EXPECT_EQ(r.chain_hash, bytes(32, 0xcd));
    EXPECT_EQ(r.status, "warning");
    EXPECT_EQ(r.status_at, 400);
    EXPECT_EQ(r.last_quote_at, 350);
    EXPECT_EQ(r.quoted_head_seq, 45u);
    EXPECT_EQ(r.quoted_head_at, 360);
    auto by_ek = t->get_host_by_ek("ek-h1");
    ASSERT_TRUE(by_ek.ok() && by_ek->has_value());
    EXPECT_EQ((*by_ek)->id, "h1");
    EXPECT_FALSE(t->get_host("nope")->has_value());
    EXPECT_EQ(db_->schema_version(), sql::latest_version);
}

TEST_P(Store, AnUncommittedTransactionLeavesNothing) {
    {
        auto t = tx();
        ASSERT_TRUE(t->put_host(sample_host("h1")).ok());
        ASSERT_TRUE(t->insert_finding(finding_record{0, "reboot", "info", "host", "h1", "h1", 5, "d", true, 0, ""}).ok());
    }
    auto t = tx();
    EXPECT_FALSE(t->get_host("h1")->has_value());
    EXPECT_TRUE(t->list_findings({})->empty());
}

TEST_P(Store, TokensChallengesAndReportKeys) {
    auto t = tx();
    enroll_token_record tok{bytes(32, 1), "h1", 10, 20, 0};
    ASSERT_TRUE(t->insert_token(tok).ok());
    ASSERT_TRUE(t->mark_token_used(bytes(32, 1), 15).ok());
    auto got = t->get_token(bytes(32, 1));
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->used_at, 15);
    EXPECT_EQ((*got)->host_id, "h1");
    ASSERT_TRUE(t->insert_challenge(bytes(32, 9), "h1", 50).ok());
    auto c = t->take_challenge(bytes(32, 9));
    ASSERT_TRUE(c.ok() && c->has_value());
    EXPECT_EQ((*c)->host_id, "h1");
    EXPECT_EQ((*c)->expires_at, 50);
    EXPECT_FALSE(t->take_challenge(bytes(32, 9))->has_value());  // single use
    ASSERT_TRUE(t->insert_challenge(bytes(32, 8), "h1", 10).ok());
    ASSERT_TRUE(t->purge_challenges(11).ok());
    EXPECT_FALSE(t->take_challenge(bytes(32, 8))->has_value());
    report_key_record k1;
    k1.key = bytes(32, 3);
    k1.bound_at = 1;
    k1.reset_count = 4;
    ASSERT_TRUE(t->bind_report_key("h1", k1).ok());
    auto again = k1;
    again.bound_at = 2;
    again.from_seq = 9;
    ASSERT_TRUE(t->bind_report_key("h1", again).ok());  // idempotent: the first binding stands
    auto got1 = t->get_report_key("h1", bytes(32, 3));
    ASSERT_TRUE(got1.ok() && got1->has_value());
    EXPECT_EQ((*got1)->bound_at, 1);
    EXPECT_EQ((*got1)->from_seq, 1u);
    EXPECT_EQ((*got1)->reset_count, 4u);
    EXPECT_TRUE((*got1)->current());
    EXPECT_FALSE(t->get_report_key("h2", bytes(32, 3))->has_value());
}

TEST_P(Store, ANewerBindingRetiresTheCurrentKeysAtItsStart) {
    auto t = tx();
    for (std::uint8_t k = 1; k <= 2; ++k) {
        report_key_record r;
        r.key = bytes(32, k);
        r.from_seq = k == 1 ? 1 : 5;
        ASSERT_TRUE(t->bind_report_key("h1", r).ok());
    }
    report_key_record other;
    other.key = bytes(32, 7);
    ASSERT_TRUE(t->bind_report_key("h2", other).ok());
    // Key 3 starts at 11: every other current key of h1 ends at 10, h2's are untouched.
    report_key_record k3;
    k3.key = bytes(32, 3);
    k3.from_seq = 11;
    ASSERT_TRUE(t->bind_report_key("h1", k3).ok());
    auto n = t->retire_report_keys("h1", k3.key, 10, 77, "newer");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 2u);
    auto keys = t->list_report_keys("h1");
    ASSERT_TRUE(keys.ok());
    ASSERT_EQ(keys->size(), 3u);
    EXPECT_EQ((*keys)[0].until_seq, 10u);
    EXPECT_EQ((*keys)[0].retired_at, 77);
    EXPECT_EQ((*keys)[0].retire_reason, "newer");
    EXPECT_TRUE((*keys)[2].current());
    EXPECT_TRUE(t->get_report_key("h2", bytes(32, 7)).value()->current());
    // A retirement never widens a window.
    ASSERT_TRUE(t->retire_report_key("h1", bytes(32, 1), 20, 78, "later").ok());
    EXPECT_EQ(t->get_report_key("h1", bytes(32, 1)).value()->until_seq, 10u);
    ASSERT_TRUE(t->retire_report_key("h1", bytes(32, 3), 12, 79, "boot").ok());
    EXPECT_EQ(t->get_report_key("h1", bytes(32, 3)).value()->until_seq, 12u);
}

TEST_P(Store, OpenFindingQuestionsAreExactWhateverTheirNumber) {
    auto t = tx();
    auto add = [&](const std::string& host, const std::string& rule, const std::string& sev, const std::string& kind,
                   const std::string& subject, std::int64_t time) {
        finding_record f;
        f.rule = rule;
        f.severity = sev;
        f.subject_kind = kind;
        f.subject = subject;
        f.host = host;
        f.time = time;
        f.detail = rule + "@" + std::to_string(time);
        auto id = t->insert_finding(f);
        EXPECT_TRUE(id.ok());
        return *id;
    };
    const auto v = add("h1", "agent-modified", "violation", "host", "h1", 10);
    for (int i = 0; i < 12'000; ++i) add("h1", "ima-unknown-file", "warning", "host", "h1", 100 + i);
    add("", "uveu-us-share", "violation", "entity", "acme", 5);
    add("", "closed-weights-unapproved-site", "violation", "model", "m1", 6);
    auto c = t->count_open_findings("h1");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->violations, 1u);
    EXPECT_EQ(c->warnings, 12'000u);
    // The host's own violation comes first, however old; then the oldest about its site, entity, country, model.
    violation_scope s{"h1", "dc1", "acme", "KR", "m1"};
    auto first = t->first_open_violation(s);
    ASSERT_TRUE(first.ok() && first->has_value());
    EXPECT_EQ((*first)->id, v);
    ASSERT_TRUE(t->resolve_finding(v, 50).ok());
    first = t->first_open_violation(s);
    ASSERT_TRUE(first.ok() && first->has_value());
    EXPECT_EQ((*first)->rule, "uveu-us-share");
    EXPECT_FALSE(t->first_open_violation({"h2", "dc2", "other", "SG", "m2"})->has_value());
    EXPECT_EQ((*t->first_open_violation({"h2", "", "", "", "m1"}))->rule, "closed-weights-unapproved-site");
    // Lookups and repeats.
    EXPECT_EQ(*t->count_open_rule("h1", "ima-unknown-file"), 12'000u);
    auto same = t->find_open_finding("h1", "ima-unknown-file", "host", "h1", std::string("ima-unknown-file@105"));
    ASSERT_TRUE(same.ok() && same->has_value());
    ASSERT_TRUE(t->repeat_finding((*same)->id, 999).ok());
    ASSERT_TRUE(t->repeat_finding((*same)->id, 1000).ok());
    same = t->find_open_finding("h1", "ima-unknown-file", "host", "h1", std::string("ima-unknown-file@105"));
    EXPECT_EQ((*same)->repeats, 2u);
    EXPECT_EQ((*same)->last_at, 1000);
    EXPECT_EQ((*t->newest_open_finding("h1", "ima-unknown-file"))->time, 100 + 11'999);
}

TEST_P(Store, RetentionPrunesOnlyOldResolvedFindingsAndSupersededAppraisals) {
    auto t = tx();
    auto add = [&](const std::string& host, std::int64_t time, bool open, std::int64_t resolved_at) {
        finding_record f;
        f.rule = "reboot";
        f.severity = "info";
        f.subject_kind = "host";
        f.subject = host;
        f.host = host;
        f.time = time;
        f.open = open;
        f.resolved_at = resolved_at;
        return *t->insert_finding(f);
    };
    const auto old_open = add("h1", 10, true, 0);
    add("h1", 10, false, 20);
    add("h1", 10, false, 30);
    const auto recent = add("h1", 10, false, 500);
    EXPECT_EQ(*t->prune_resolved_findings(100, 1), 1u);  // the limit holds
    EXPECT_EQ(*t->prune_resolved_findings(100, 10), 1u);
    EXPECT_EQ(*t->prune_resolved_findings(100, 10), 0u);
    finding_filter all;
    all.host = "h1";
    auto left = t->list_findings(all);
    ASSERT_TRUE(left.ok());
    ASSERT_EQ(left->size(), 2u);
    std::set<std::int64_t> ids;
    for (const auto& f : *left) ids.insert(f.id);
    EXPECT_EQ(ids, (std::set<std::int64_t>{old_open, recent}));
    // Appraisals: h1's old ones go, its latest stays however old; h2's only one stays.
    for (std::int64_t time : {10, 20, 30}) ASSERT_TRUE(t->insert_appraisal({"h1", time, "affirming", "t", {}}).ok());
    ASSERT_TRUE(t->insert_appraisal({"h2", 5, "warning", "t", {}}).ok());
    EXPECT_EQ(*t->prune_appraisals(1000, 100), 2u);
    EXPECT_EQ(t->latest_appraisal("h1").value()->time, 30);
    EXPECT_EQ(t->latest_appraisal("h2").value()->time, 5);
}

// A statement that fails ends its transaction on PostgreSQL (SQLite would let it go on): every step that
// must fail runs in a transaction of its own, as the verifier's handlers give up on the first error.
TEST_P(Store, OneLiveHostPerEk) {
    auto put = [&](const host_record& h) {
        auto t = tx();
        auto x = t->put_host(h);
        return x.ok() && t->commit().ok();
    };
    ASSERT_TRUE(put(sample_host("gpu-1")));
    auto twin = sample_host("gpu-2");
    twin.ek_sha256 = "ek-gpu-1";
    EXPECT_FALSE(put(twin));
    auto old = sample_host("gpu-1");
    old.state = "decommissioned";
    ASSERT_TRUE(put(old));
    ASSERT_TRUE(put(twin));  // the TPM moved on once the old name was decommissioned
    EXPECT_EQ(tx()->get_host_by_ek("ek-gpu-1").value()->id, "gpu-2");
}

TEST_P(Store, ReportsAreUniquePerHostAndSeq) {
    report_record r{"h1", 1, bytes(32, 1), {'{', '}'}, bytes(64, 2), bytes(32, 3), 9};
    {
        auto t = tx();
        ASSERT_TRUE(t->insert_report(r).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    {
        auto t = tx();
        auto dup = t->insert_report(r);
        ASSERT_FALSE(dup.ok());
        EXPECT_EQ(dup.err().code, errc::mismatch);
        EXPECT_NE(dup.err().message.find("h1 seq 1 is already stored"), std::string::npos) << dup.err().message;
    }
    auto t = tx();
    r.host_id = "h2";
    ASSERT_TRUE(t->insert_report(r).ok());
    EXPECT_EQ(*t->count_reports("h1"), 1u);
    auto got = t->get_report("h1", 1);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->signature, bytes(64, 2));
    ASSERT_TRUE(t->delete_reports("h1").ok());
    EXPECT_EQ(*t->count_reports("h1"), 0u);
    EXPECT_EQ(*t->count_reports("h2"), 1u);
}

TEST_P(Store, FindingsFilterOrderLimitAndResolve) {
    auto t = tx();
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(t->insert_finding({0, i % 2 ? "pcr-changed" : "host-dark", "violation", "host", "h1", "h1", 100 + i, "d" + std::to_string(i), true, 0, ""}).ok());
    ASSERT_TRUE(t->insert_finding({0, "host-dark", "warning", "host", "h2", "h2", 50, "x", true, 0, ""}).ok());
    finding_filter f;
    f.host = "h1";
    auto all = t->list_findings(f);
    ASSERT_EQ(all->size(), 5u);
    EXPECT_EQ((*all)[0].time, 104);  // newest first
    f.rule = "pcr-changed";
    EXPECT_EQ(t->list_findings(f)->size(), 2u);
    f.rule.reset();
    f.limit = 2;
    EXPECT_EQ(t->list_findings(f)->size(), 2u);
    f.limit = 1000;
    f.since = 103;
    EXPECT_EQ(t->list_findings(f)->size(), 2u);
    EXPECT_EQ(*t->resolve_findings("h1", std::string("host-dark"), 500), 3u);
    finding_filter open;
    open.host = "h1";
    open.open_only = true;
    auto o = t->list_findings(open);
    ASSERT_EQ(o->size(), 2u);
    EXPECT_EQ((*o)[0].rule, "pcr-changed");
    EXPECT_EQ(*t->resolve_findings("h1", std::nullopt, 600), 2u);
    EXPECT_TRUE(t->list_findings(open)->empty());
    open.host = "h2";
    EXPECT_EQ(t->list_findings(open)->size(), 1u);
}

TEST_P(Store, ConcurrentWritersAllLand) {
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th)
        threads.emplace_back([&, th] {
            for (int i = 0; i < 200; ++i) {
                auto t = db_->begin();
                ASSERT_TRUE(t.ok());
                ASSERT_TRUE((*t)->insert_report({"h" + std::to_string(th), static_cast<std::uint64_t>(i + 1), bytes(32),
                                                 {}, bytes(64), bytes(32), 0}).ok());
                ASSERT_TRUE((*t)->commit().ok());
            }
        });
    for (auto& t : threads) t.join();
    auto t = tx();
    for (int th = 0; th < 4; ++th) EXPECT_EQ(*t->count_reports("h" + std::to_string(th)), 200u);
}

// Many writers at once (on SQLite they share commits: sqlite_store.cpp's group commit): a transaction is
// visible to a read-only transaction as soon as its commit() returns (nothing is acknowledged before it is
// committed); one that rolls back, or fails on a duplicate key, undoes only itself.
void expect_concurrent_commits_visible(store& db) {
    constexpr int threads_n = 8, per_thread = 120;
    std::atomic<int> not_visible{0}, failures{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < threads_n; ++th)
        threads.emplace_back([&, th] {
            const std::string host = "g" + std::to_string(th);
            std::uint64_t seq = 0;
            for (int i = 0; i < per_thread; ++i) {
                auto t = db.begin();
                if (!t.ok()) {
                    ++failures;
                    continue;
                }
                const bool roll_back = i % 7 == 3;
                const bool duplicate = i % 11 == 5 && seq > 0;
                const std::uint64_t at = duplicate ? seq : seq + 1;
                auto ins = (*t)->insert_report({host, at, bytes(32, static_cast<std::uint8_t>(i)), {}, bytes(64), bytes(32), 0});
                if (duplicate) {
                    if (ins.ok()) ++failures;  // a duplicate key must be refused
                    continue;                  // and the transaction rolled back
                }
                if (!ins.ok()) {
                    ++failures;
                    continue;
                }
                if (roll_back) continue;
                if (!(*t)->commit().ok()) {
                    ++failures;
                    continue;
                }
                ++seq;
                (*t).reset();  // its connection back to the pool first
                auto r = db.begin_read();
                if (!r.ok() || *(*r)->count_reports(host) != seq) ++not_visible;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(not_visible.load(), 0);
    int expected = 0;
    for (int i = 0; i < per_thread; ++i) expected += (i % 7 == 3 || (i % 11 == 5 && i > 0)) ? 0 : 1;
    auto t = db.begin_read();
    ASSERT_TRUE(t.ok());
    for (int th = 0; th < threads_n; ++th) EXPECT_EQ(*(*t)->count_reports("g" + std::to_string(th)), static_cast<std::uint64_t>(expected));
}

TEST_P(Store, ConcurrentCommitsAreVisibleWhenTheyReturnAndRollbacksUndoOnlyThemselves) { expect_concurrent_commits_visible(*db_); }

TEST_P(Store, AReadOnlyTransactionSeesOneSnapshotAndRefusesWrites) {
    {
        auto t = tx();
        ASSERT_TRUE(t->put_host(sample_host("h1")).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    auto r = db_->begin_read();
    ASSERT_TRUE(r.ok()) << r.err().message;
    ASSERT_TRUE((*r)->get_host("h1").value().has_value());
    {
        // A writer commits beside the reader (it does not wait for it).
        auto t = tx();
        ASSERT_TRUE(t->put_host(sample_host("h2")).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    auto hosts = (*r)->list_hosts();
    ASSERT_TRUE(hosts.ok()) << hosts.err().message;
    EXPECT_EQ(hosts->size(), 1u);  // the snapshot the reader began with
    auto w = (*r)->put_host(sample_host("h3"));
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.err().message.find("storing a host"), std::string::npos) << w.err().message;
    r = db_->begin_read();
    EXPECT_EQ((*r)->list_hosts()->size(), 2u);
}

// Several verifier processes (stores) with many threads each, all appending the next report of one host
// at once, the way ingestion does: read the chain head, store head + 1, move the head. Each sequence
// number is stored once and the head counts them all; no writer fails on a duplicate key.
TEST_P(Store, ReplicasRacingForOneHostsNextReportAcceptEachSequenceNumberOnce) {
    {
        auto t = tx();
        auto h = sample_host("h1");
        h.chain_seq = 0;
        ASSERT_TRUE(t->put_host(h).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    std::vector<std::unique_ptr<store>> replicas;
    replicas.push_back(open_again());
    replicas.push_back(open_again());
    std::atomic<int> accepted{0}, failed{0};
    std::mutex mu;
    std::string first_error;
    std::vector<std::thread> threads;
    for (int th = 0; th < 8; ++th)
        threads.emplace_back([&, th] {
            store& db = *replicas[static_cast<std::size_t>(th % 2)];
            for (int i = 0; i < 25; ++i) {
                auto t = db.begin();
                if (!t) { ++failed; continue; }
                auto h = (*t)->get_host("h1");
                if (!h || !*h) { ++failed; continue; }
                const std::uint64_t seq = (**h).chain_seq + 1;
                auto ins = (*t)->insert_report({"h1", seq, bytes(32, 1), {}, bytes(64), bytes(32), th});
                auto up = ins ? (*t)->update_host_progress("h1", seq, bytes(32, 2), i) : result<void>(ins);
                auto c = up ? (*t)->commit() : up;
                if (c) ++accepted;
                else {
                    ++failed;
                    std::lock_guard lock(mu);
                    if (first_error.empty()) first_error = c.err().message;
                }
            }
        });
    for (auto& x : threads) x.join();
    EXPECT_EQ(failed.load(), 0) << first_error;
    auto t = tx();
    EXPECT_EQ(*t->count_reports("h1"), static_cast<std::uint64_t>(accepted.load()));
    EXPECT_EQ(t->get_host("h1").value()->chain_seq, static_cast<std::uint64_t>(accepted.load()));
    EXPECT_EQ(t->list_reports("h1", 1, 1000)->size(), static_cast<std::size_t>(accepted.load()));
}

TEST_P(Store, ANonceIsSpentOnceFleetWideWhateverTheRace) {
    constexpr int nonces = 100;
    {
        auto t = tx();
        for (int i = 0; i < nonces; ++i) ASSERT_TRUE(t->insert_challenge(bytes(32, static_cast<std::uint8_t>(i)), "h1", 1000).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    std::vector<std::unique_ptr<store>> replicas;
    replicas.push_back(open_again());
    replicas.push_back(open_again());
    std::vector<std::atomic<int>> taken(nonces);
    std::vector<std::thread> threads;
    for (int th = 0; th < 8; ++th)
        threads.emplace_back([&, th] {
            store& db = *replicas[static_cast<std::size_t>(th % 2)];
            for (int i = 0; i < nonces; ++i) {
                auto t = db.begin();
                if (!t) continue;
                auto c = (*t)->take_challenge(bytes(32, static_cast<std::uint8_t>(i)));
                if (c && *c && (*t)->commit()) ++taken[static_cast<std::size_t>(i)];
            }
        });
    for (auto& x : threads) x.join();
    for (int i = 0; i < nonces; ++i) EXPECT_EQ(taken[static_cast<std::size_t>(i)].load(), 1) << "nonce " << i;
}

TEST_P(Store, AFindingRaisedByManyWritersAtOnceIsStoredOnce) {
    std::vector<std::unique_ptr<store>> replicas;
    replicas.push_back(open_again());
    replicas.push_back(open_again());
    std::atomic<int> committed{0};
    std::vector<std::thread> threads;
    std::barrier together(8);  // every round, all eight look for the open finding at the same moment
    for (int th = 0; th < 8; ++th)
        threads.emplace_back([&, th] {
            store& db = *replicas[static_cast<std::size_t>(th % 2)];
            for (int i = 0; i < 10; ++i) {
                together.arrive_and_wait();
                auto t = db.begin();
                if (!t) continue;
                std::vector<finding_record> raised;
                auto f = host_finding("host-dark", "h1", "no report from host h1", 100 + i);
                f.severity = "violation";
                if (raise_finding(**t, f, raised, on_repeat::count) && (*t)->commit()) ++committed;
            }
        });
    for (auto& x : threads) x.join();
    EXPECT_EQ(committed.load(), 80);
    finding_filter all;
    all.host = "h1";
    auto fs = tx()->list_findings(all);
    ASSERT_TRUE(fs.ok());
    ASSERT_EQ(fs->size(), 1u);
    EXPECT_EQ((*fs)[0].repeats, 79u);  // every other raise counted on the one finding
}

// The interleaving that would double a finding, made to happen: replica A has raised it and not yet
// committed when replica B raises it too. B must wait for A and then count a repeat, not insert a twin.
TEST_P(Store, AFindingRaisedWhileAnotherReplicasRaiseIsUncommittedWaitsForIt) {
    auto a_store = open_again();
    auto b_store = open_again();
    auto f = host_finding("pcr-changed", "h1", "PCR 7 changed", 100);
    f.severity = "violation";
    auto a = std::move(a_store->begin()).value();
    std::vector<finding_record> raised_a, raised_b;
    ASSERT_TRUE(raise_finding(*a, f, raised_a, on_repeat::count).ok());
    ASSERT_EQ(raised_a.size(), 1u);
    std::atomic<bool> b_done{false};
    std::thread b([&] {
        auto t = b_store->begin();
        ASSERT_TRUE(t.ok()) << t.err().message;
        auto r = raise_finding(**t, f, raised_b, on_repeat::count);
        ASSERT_TRUE(r.ok()) << r.err().message;
        ASSERT_TRUE((*t)->commit().ok());
        b_done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(b_done.load());  // B waits for A
    ASSERT_TRUE(a->commit().ok());
    b.join();
    EXPECT_TRUE(raised_b.empty());  // B found A's finding
    finding_filter all;
    all.host = "h1";
    auto fs = tx()->list_findings(all);
    ASSERT_TRUE(fs.ok());
    ASSERT_EQ(fs->size(), 1u);
    EXPECT_EQ((*fs)[0].repeats, 1u);
}

TEST_P(Store, EachWebhookDeliveryIsClaimedByOneSender) {
    constexpr int findings = 60;
    db_->set_webhooks({"https://a.example/hook"});
    {
        auto t = tx();
        for (int i = 0; i < findings; ++i)
            ASSERT_TRUE(t->insert_finding({0, "reboot", "info", "host", "h1", "h1", i, "d", true, 0, ""}).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    std::vector<std::unique_ptr<store>> replicas;
    replicas.push_back(open_again());
    replicas.push_back(open_again());
    std::mutex mu;
    std::map<std::int64_t, int> claims;
    std::vector<std::thread> threads;
    for (int th = 0; th < 6; ++th)
        threads.emplace_back([&, th] {
            store& db = *replicas[static_cast<std::size_t>(th % 2)];
            for (int i = 0; i < 20; ++i) {
                auto t = db.begin();
                if (!t) continue;
                auto due = (*t)->due_outbox(1'000'000, 4);
                if (!due || !(*t)->commit()) continue;
                std::lock_guard lock(mu);
                for (const auto& e : *due) ++claims[e.id];
            }
        });
    for (auto& x : threads) x.join();
    EXPECT_EQ(claims.size(), static_cast<std::size_t>(findings));
    for (const auto& [id, n] : claims) EXPECT_EQ(n, 1) << "delivery " << id;
    // Claimed deliveries come back when their claim lapses (a sender that died), not before.
    auto t = tx();
    EXPECT_TRUE(t->due_outbox(1'000'000 + 1000, 100)->empty());
    EXPECT_EQ(t->due_outbox(1'000'000 + 10 * 60'000, 100)->size(), static_cast<std::size_t>(findings));
}

TEST_P(Store, OneOfTwoReplicasTakesTheLeadWhenBothTryAtOnce) {
    for (int round = 0; round < 20; ++round) {
        std::vector<std::unique_ptr<store>> replicas;
        replicas.push_back(open_again());
        replicas.push_back(open_again());
        std::atomic<int> leaders{0};
        const std::int64_t now = 1'000'000 + round * 100'000;
        std::vector<std::thread> threads;
        for (int th = 0; th < 4; ++th)
            threads.emplace_back([&, th] {
                auto t = replicas[static_cast<std::size_t>(th % 2)]->begin();
                if (!t) return;
                auto l = (*t)->take_lead("replica-" + std::to_string(th), now, 3000);
                if (l && *l && (*t)->commit()) ++leaders;
            });
        for (auto& x : threads) x.join();
        EXPECT_EQ(leaders.load(), 1) << "round " << round;
    }
}

// What only SQLite has: a file, its journal mode, its permissions and schemas older than PostgreSQL support.
class SqliteStore : public Store {};
INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteStore, ::testing::Values("sqlite"), [](const auto& info) { return info.param; });

// With synchronous=FULL concurrent transactions share commits (group commit): the same guarantees.
TEST_P(SqliteStore, WithSynchronousFullConcurrentCommitsAreVisibleWhenTheyReturnAndRollbacksUndoOnlyThemselves) {
    auto full = open_sqlite_store(dir_.path() / "full.db", true);
    ASSERT_TRUE(full.ok()) << full.err().message;
    expect_concurrent_commits_visible(**full);
}

TEST_P(SqliteStore, TheDatabaseIsInWalModeWithPrivatePermissions) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path().c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &s, nullptr);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
    sqlite3_finalize(s);
    sqlite3_close(raw);
    EXPECT_EQ(std::filesystem::status(path()).permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_P(Store, ADatabaseFromANewerBuildIsRefused) {
    db_.reset();
    raw_sql("UPDATE schema_version SET version = 999");
    auto s = pg() ? open_postgres_store({cluster_->dsn(), "", 8}) : open_sqlite_store(path());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("schema version 999"), std::string::npos) << s.err().message;
    EXPECT_NE(s.err().message.find("up to version " + std::to_string(sql::latest_version)), std::string::npos) << s.err().message;
}

TEST_P(SqliteStore, AVersion1DatabaseMigratesToVersion2KeepingItsHosts) {
    {
        auto t = tx();
        ASSERT_TRUE(t->put_host(sample_host("gpu-1")).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    db_.reset();
    // Back to what a version-1 build left: none of the GPU, compute, model, lease, landmark, location or
    // measurement tables.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path().c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw,
                           "DROP TABLE gpus; DROP TABLE host_inventory; DROP TABLE gpu_approvals; DROP TABLE gpu_events; "
                           "DROP TABLE gpu_counters; DROP TABLE compute; DROP TABLE models; DROP TABLE model_sites; "
                           "DROP TABLE leases; DROP TABLE site_landmarks; DROP TABLE landmarks; DROP TABLE host_locations; "
                           "DROP TABLE host_measurements; DROP TABLE outbox; DROP TABLE fleet_state; DROP TABLE leader; "
                           "DROP TABLE log_pending; DROP TABLE log_entries; DROP TABLE log_hashes; DROP TABLE log_checkpoints; "
                           "DROP TABLE log_state; DROP TABLE gpu_attestations; ALTER TABLE appraisals DROP COLUMN round_evidence; "
                           "DROP INDEX findings_host_rule; DROP INDEX findings_subject; DROP INDEX hosts_live_ek; "
                           "ALTER TABLE findings DROP COLUMN repeats; ALTER TABLE findings DROP COLUMN last_at; "
                           "ALTER TABLE hosts DROP COLUMN last_quote_at; ALTER TABLE hosts DROP COLUMN quoted_head_seq; "
                           "ALTER TABLE hosts DROP COLUMN quoted_head_at; ALTER TABLE hosts DROP COLUMN location_due_at; "
                           "ALTER TABLE hosts DROP COLUMN location_misses; ALTER TABLE report_keys DROP COLUMN reset_count; "
                           "ALTER TABLE report_keys DROP COLUMN from_seq; ALTER TABLE report_keys DROP COLUMN until_seq; "
                           "ALTER TABLE report_keys DROP COLUMN retired_at; ALTER TABLE report_keys DROP COLUMN retire_reason; "
                           "ALTER TABLE report_keys DROP COLUMN binding; "
                           "ALTER TABLE findings DROP COLUMN ref; UPDATE schema_version SET version = 1",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
    open();
    auto t = tx();
    auto h = t->get_host("gpu-1");
    ASSERT_TRUE(h.ok() && h->has_value());
    EXPECT_EQ((*h)->chain_seq, 42u);
    ASSERT_TRUE(t->approve_gpu("gpu-1", "1654922006536", 5).ok());
    auto a = t->gpu_approvals("gpu-1");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, std::vector<std::string>{"1654922006536"});
}

TEST_P(Store, TheFleetGenerationIsSharedByEveryProcessOnTheStore) {
    {
        auto t = tx();
        auto g = t->generations();
        ASSERT_TRUE(g.ok()) << g.err().message;
        EXPECT_EQ(g->fleet, 1u);
        EXPECT_EQ(g->policy, 0u);  // the engine has never run: the first round runs it
        ASSERT_TRUE(t->set_policy_generation(1).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    // Another verifier process on the same database (another connection) moves it on; this one sees it.
    auto other = open_again();
    ASSERT_TRUE(other);
    {
        auto t = std::move(other->begin()).value();
        ASSERT_TRUE(t->bump_fleet_generation().ok());
        ASSERT_TRUE(t->commit().ok());
    }
    auto t = tx();
    EXPECT_EQ(t->generations()->fleet, 2u);
    EXPECT_EQ(t->generations()->policy, 1u);
}

TEST_P(Store, OneReplicaLeadsUntilItsLeaseLapsesOrItGivesItUp) {
    auto other = open_again();  // a second verifier process on the same database
    ASSERT_TRUE(other);
    auto lead = [](store& db, const std::string& who, std::int64_t now) {
        auto t = std::move(db.begin()).value();
        auto l = t->take_lead(who, now, 3000);
        EXPECT_TRUE(l.ok());
        EXPECT_TRUE(t->commit().ok());
        return l.ok() && *l;
    };
    EXPECT_TRUE(lead(*db_, "a", 1000));
    EXPECT_FALSE(lead(*other, "b", 2000));  // a's lease runs to 4000
    EXPECT_TRUE(lead(*db_, "a", 3500));      // renewed to 6500
    EXPECT_FALSE(lead(*other, "b", 6000));
    EXPECT_TRUE(lead(*other, "b", 6501));   // a stopped renewing: b takes over
    EXPECT_FALSE(lead(*db_, "a", 6600));
    {
        auto t = std::move(other->begin()).value();
        ASSERT_TRUE(t->give_up_lead("b").ok());
        ASSERT_TRUE(t->commit().ok());
    }
    EXPECT_TRUE(lead(*db_, "a", 6700));  // given up: taken at once
}

TEST_P(Store, HostMeasurementStateRoundTripsAndIsReplaced) {
    host_measurement_record r;
    {
        auto t = tx();
        auto none = t->get_host_measurements("gpu-1");
        ASSERT_TRUE(none.ok());
        EXPECT_FALSE(none->has_value());
        r.host_id = "gpu-1";
        r.ima_count = 12345;
        r.ima_pcrs = R"({"sha256":{"10":"ab"}})";
        r.boot_reference = R"({"components":[]})";
        r.updated_at = 99;
        ASSERT_TRUE(t->put_host_measurements(r).ok());
        r.ima_count = 12346;
        r.boot_reference.clear();
        ASSERT_TRUE(t->put_host_measurements(r).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    auto t2 = tx();
    auto got = t2->get_host_measurements("gpu-1");
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->ima_count, 12346u);
    EXPECT_EQ((*got)->ima_pcrs, r.ima_pcrs);
    EXPECT_EQ((*got)->boot_reference, "");
    EXPECT_EQ((*got)->updated_at, 99);
}

TEST_P(Store, ModelsLeasesAndInventoriesRoundTrip) {
    auto t = tx();
    model_record m{"llm-1", std::string(64, 'a'), true, 3.5e25, "{\"index\":1}", bytes{1, 2, 3}, 77};
    ASSERT_TRUE(t->put_model(m).ok());
    ASSERT_TRUE(t->approve_model_site("llm-1", "seoul-1", 78).ok());
    ASSERT_TRUE(t->insert_lease({"l1", "gpu-1", "llm-1", "000bff", 100, 400, 0, ""}).ok());
    ASSERT_TRUE(t->put_host_inventory({"gpu-1", "nvml", "550.54.15", "", {"a", "b"}, 90, true,
                                        {"0000:c1:00.0 19e5:d802 Ascend-910B", "0000:c2:00.0 1002:74a1 MI300X"}}).ok());
    auto got = t->get_model("llm-1");
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->training_ops, 3.5e25);
    EXPECT_TRUE((*got)->closed_weights);
    EXPECT_EQ((*got)->key_sealed, (bytes{1, 2, 3}));
    EXPECT_EQ(*t->model_sites("llm-1"), std::vector<std::string>{"seoul-1"});
    EXPECT_EQ(t->active_leases(std::string("gpu-1"), 399)->size(), 1u);
    EXPECT_TRUE(t->active_leases(std::string("gpu-1"), 400)->empty());  // expired at 400
    ASSERT_TRUE(t->renew_lease("l1", 900).ok());
    EXPECT_EQ(t->active_leases(std::nullopt, 800)->size(), 1u);
    ASSERT_TRUE(t->revoke_lease("l1", 500, "test").ok());
    EXPECT_TRUE(t->active_leases(std::nullopt, 501)->empty());
    EXPECT_EQ((*t->get_lease("l1"))->revoke_reason, "test");
    auto inv = t->get_host_inventory("gpu-1");
    ASSERT_TRUE(inv.ok() && inv->has_value());
    EXPECT_EQ((*inv)->serials, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ((*inv)->pci_only, (std::vector<std::string>{"0000:c1:00.0 19e5:d802 Ascend-910B", "0000:c2:00.0 1002:74a1 MI300X"}));
    EXPECT_TRUE((*inv)->baseline_taken);
}

TEST(SqliteStoreFiles, AFileThatIsNotADatabaseIsAClearError) {
    temp_dir d("custos-store");
    std::ofstream(d.path() / "junk.db") << std::string(8192, 'x');
    auto s = open_sqlite_store(d.path() / "junk.db");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.err().code, errc::io);
    EXPECT_NE(s.err().message.find("junk.db"), std::string::npos) << s.err().message;
    EXPECT_NE(s.err().message.find("not a"), std::string::npos) << s.err().message;
}

}  // namespace
}  // namespace custos::verifier

namespace custos::verifier {
namespace {

// migrate-store's copy, below the CLI (tests/int has the real program moving a real agent's fleet):
// every table arrives with its ids, doubles keep every bit, new rows number on after the copied ones,
// and a filled target or the wrong direction is refused without touching either side.
TEST(StoreCopy, EveryTableMovesFromSqliteToPostgreSQLWithItsIdsAndNewRowsNumberOnAfterThem) {
    temp_dir dir{"custos-store-copy"};
    std::unique_ptr<test::postgres_cluster> cluster;
    try {
        cluster = test::postgres_cluster::start();
    } catch (const std::exception& e) {
        FAIL() << "PostgreSQL: " << e.what();
    }
    auto from = open_sqlite_store(dir.path() / "v.db");
    ASSERT_TRUE(from.ok()) << from.err().message;
    (*from)->set_webhooks({"https://hooks.example/a"});
    {
        auto t = (*from)->begin();
        ASSERT_TRUE(t.ok());
        ASSERT_TRUE((*t)->put_host(sample_host("h1")).ok());
        ASSERT_TRUE((*t)->put_site({"seoul-1", "acme", "KR", 37.566535, 126.9779692, 0.1}).ok());
        for (int i = 0; i < 3; ++i)
            ASSERT_TRUE((*t)->insert_finding({0, "host-dark", "violation", "host", "h1", "h1", 100 + i, "d", true, 0, ""}).ok());
        // Resolved ones move too, open = 0, with their ids.
        ASSERT_TRUE((*t)->resolve_findings("h1", std::string("host-dark"), 200).ok());
        ASSERT_TRUE((*t)->insert_finding({0, "pcr-changed", "violation", "host", "h1", "h1", 300, "e", true, 0, ""}).ok());
        ASSERT_TRUE((*t)->commit().ok());
    }
    auto to = open_postgres_store({cluster->dsn(), "", 2});
    ASSERT_TRUE(to.ok()) << to.err().message;
    std::vector<std::string> lines;
    auto copied = copy_store(**from, **to, [&](const std::string& l) { lines.push_back(l); });
    ASSERT_TRUE(copied.ok()) << copied.err().message;
    std::map<std::string, std::uint64_t> rows;
    for (const auto& t : copied->tables) rows[t.table] = t.rows;
    EXPECT_EQ(rows["hosts"], 1u);
    EXPECT_EQ(rows["findings"], 4u);
    EXPECT_EQ(rows["outbox"], 4u);
    EXPECT_EQ(rows["sites"], 1u);
    EXPECT_EQ(rows["fleet_state"], 1u);
    EXPECT_EQ(copied->hosts, 1u);
    EXPECT_EQ(lines.size(), copied->tables.size());
    EXPECT_EQ(cluster->psql("SELECT COUNT(*) FROM findings WHERE open = 1").out, "1\n");

    {
        auto t = (*to)->begin();
        ASSERT_TRUE(t.ok());
        auto h = (*t)->get_host("h1");
        ASSERT_TRUE(h.ok() && h->has_value());
        const host_record want = sample_host("h1");
        EXPECT_EQ((*h)->chain_hash, want.chain_hash);
        EXPECT_EQ((*h)->clock, want.clock);
        EXPECT_EQ((*h)->golden_pcrs, want.golden_pcrs);
        auto s = (*t)->get_site("seoul-1");
        ASSERT_TRUE(s.ok() && s->has_value());
        EXPECT_EQ((*s)->lat, 37.566535);  // every bit
        EXPECT_EQ((*s)->lon, 126.9779692);
        (*to)->set_webhooks({"https://hooks.example/a"});
        auto id = (*t)->insert_finding({0, "gpu-missing", "violation", "host", "h1", "h1", 400, "f", true, 0, ""});
        ASSERT_TRUE(id.ok()) << id.err().message;
        EXPECT_EQ(*id, 5);
        auto due = (*t)->due_outbox(1'000'000'000'000'000, 100);
        ASSERT_TRUE(due.ok()) << due.err().message;
        std::set<std::int64_t> ids;
        for (const auto& e : *due) ids.insert(e.id);
        EXPECT_EQ(ids.size(), 5u);
        ASSERT_TRUE((*t)->commit().ok());
    }
    auto again = copy_store(**from, **to);
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.err().message.find("already holds fleet data"), std::string::npos) << again.err().message;
    EXPECT_EQ(cluster->psql("SELECT COUNT(*) FROM findings").out, "5\n");
    auto backwards = copy_store(**to, **from);
    ASSERT_FALSE(backwards.ok());
    EXPECT_EQ(backwards.err().code, errc::unsupported);
    // The source still takes writes: its lock was given back.
    auto t = (*from)->begin();
    ASSERT_TRUE(t.ok()) << t.err().message;
    ASSERT_TRUE((*t)->commit().ok());
}

}  // namespace
}  // namespace custos::verifier

namespace custos::verifier {
namespace {

std::unique_ptr<test::postgres_cluster> cluster_with(const test::postgres_cluster_options& o) {
    try {
        return test::postgres_cluster::start(o);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "PostgreSQL: " << e.what();
        return nullptr;
    }
}

// TLS to the database as the docs tell operators to set it: sslmode=verify-full with the database's CA.
// The connection is encrypted (the server says so), and a server whose certificate another CA signed, or
// that names another host, is refused with libpq's reason.
TEST(PostgresTls, VerifyFullConnectsOverTlsAndRefusesAnotherCaOrAnotherName) {
    auto cluster = cluster_with({true, ""});
    ASSERT_TRUE(cluster);
    const std::string tls = " sslmode=verify-full sslrootcert=" + cluster->ca_file().string();
    auto db = open_postgres_store({cluster->dsn() + tls, "", 2});
    ASSERT_TRUE(db.ok()) << db.err().message;
    {
        auto s = (*db)->begin_session(false);
        ASSERT_TRUE(s.ok()) << s.err().message;
        auto q = (*s)->prepare("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        ASSERT_TRUE(q.ok());
        auto row = q->step("asking about TLS");
        ASSERT_TRUE(row.ok() && *row);
        EXPECT_EQ(q->col_i64(0), 1);
        (*s)->rollback();
    }
    auto other_ca = open_postgres_store({cluster->dsn() + " sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt", "", 1});
    ASSERT_FALSE(other_ca.ok());
    EXPECT_NE(other_ca.err().message.find("certificate verify failed"), std::string::npos) << other_ca.err().message;
    const std::string other_name = "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(cluster->port()) + " user=custos dbname=postgres";
    auto wrong_name = open_postgres_store({other_name + tls, "", 1});
    ASSERT_FALSE(wrong_name.ok());
    EXPECT_NE(wrong_name.err().message.find("does not match host name"), std::string::npos) << wrong_name.err().message;
}

// A database that wants a password: none, or the wrong one, is refused with the server's reason and the
// password never appears in the error; the right one (from store.password_file or the environment,
// passed beside the DSN) gets in.
TEST(PostgresPassword, TheRightPasswordGetsInAndAWrongOneIsRefusedWithoutBeingEchoed) {
    auto cluster = cluster_with({false, "correct horse battery"});
    ASSERT_TRUE(cluster);
    auto none = open_postgres_store({cluster->dsn(), "", 1});
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.err().message.find("password"), std::string::npos) << none.err().message;
    auto wrong = open_postgres_store({cluster->dsn(), "staple", 1});
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.err().message.find("password authentication failed"), std::string::npos) << wrong.err().message;
    EXPECT_EQ(wrong.err().message.find("staple"), std::string::npos) << wrong.err().message;
    auto right = open_postgres_store({cluster->dsn(), "correct horse battery", 1});
    ASSERT_TRUE(right.ok()) << right.err().message;
    auto t = (*right)->begin();
    ASSERT_TRUE(t.ok()) << t.err().message;
    ASSERT_TRUE((*t)->put_host(sample_host("h1")).ok());
    ASSERT_TRUE((*t)->commit().ok());
}

}  // namespace
}  // namespace custos::verifier
