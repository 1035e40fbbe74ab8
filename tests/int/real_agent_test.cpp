// The real custos-agent against the real custos-verifier (both as processes, swtpm, SQLite and PostgreSQL): enrollment,
// rounds and reports across agent restarts and a reboot, each start's report key bound over a verifier
// nonce for its own part of the chain, and the whole chain re-verified offline by `custos report verify`.
#include "tests/int/real_agent.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <sqlite3.h>

#include <csignal>

namespace custos::test {
namespace {

TEST_P(RealAgentOn, EachStartBindsItsOwnKeyOverANonceForItsPartOfTheChainAndTheChainVerifiesOffline) {
    for (int start = 1; start <= 3; ++start) {
        auto r = agent_once();
        ASSERT_EQ(r.exit_code, 0) << "start " << start << "\n" << r.err;
    }
    const json::value host = get("/v1/hosts/gpu-r");
    EXPECT_EQ(host.at("reports").to_number<std::uint64_t>(), 3u);
    EXPECT_EQ(host.at("status").as_string(), "affirming") << json::serialize(host);
    EXPECT_TRUE(open_rules().empty());
    const json::value chain = get("/v1/hosts/gpu-r/reports");
    const auto& keys = chain.at("keys").as_array();
    ASSERT_EQ(keys.size(), 3u) << json::serialize(chain);
    // Each start's key begins where the chain stood and ended where the next began; only the last is current.
    for (std::size_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(keys[i].at("from_seq").to_number<std::uint64_t>(), i + 1) << json::serialize(keys[i]);
        EXPECT_FALSE(keys[i].at("binding").as_string().empty());
        if (i + 1 < keys.size()) {
            EXPECT_FALSE(keys[i].at("until_seq").is_null()) << json::serialize(keys[i]);
        }
    }
    EXPECT_TRUE(keys[2].at("until_seq").is_null());
    auto v = verify_chain();
    EXPECT_EQ(v.exit_code, 0) << v.err;
    EXPECT_NE(v.out.find("reports: 3 (1 to 3)"), std::string::npos) << v.out;
}

TEST_P(RealAgentOn, AfterARebootTheFirstRoundIsFreshAndTheOldBootsKeyIsRetired) {
    ASSERT_EQ(agent_once().exit_code, 0);
    tpm_->restart();
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(open_rules(), std::vector<std::string>{"reboot"});
    const json::value chain = get("/v1/hosts/gpu-r/reports");
    const auto& keys = chain.at("keys").as_array();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].at("reset_count").to_number<std::uint64_t>(), 0u);
    EXPECT_EQ(keys[1].at("reset_count").to_number<std::uint64_t>(), 1u);
    EXPECT_FALSE(keys[0].at("until_seq").is_null());
    EXPECT_EQ(verify_chain().exit_code, 0);
}

TEST_P(RealAgentOn, ADamagedSpoolFileDoesNotStopTheAgentOrItsChain) {
    ASSERT_EQ(agent_once().exit_code, 0);
    // A damaged report file past the head (torn write, disk error): the next start still runs, its report
    // takes that number, and the chain the verifier holds stays whole.
    std::ofstream(dir_.path() / "agent/spool/r-00000000000000000002.json") << "{\"report\":\"%%%";
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(get("/v1/hosts/gpu-r").at("reports").to_number<std::uint64_t>(), 2u);
    EXPECT_TRUE(open_rules().empty());
    EXPECT_EQ(verify_chain().exit_code, 0);
}

// An operator moving a running fleet from SQLite to PostgreSQL: stop the verifier, migrate-store, point
// verifier.toml at the new database, start again. The agent's next report continues its chain there (no
// finding), the whole chain still verifies offline, a second migrate-store into the filled database is
// refused, and the SQLite file is untouched.
class RealAgentMoved : public RealAgent {
protected:
    std::string backend() const override { return backend_; }
    std::string backend_ = "sqlite";
};

TEST_F(RealAgentMoved, MigrateStoreMovesTheFleetToPostgreSQLAndTheAgentsChainContinuesThere) {
    for (int start = 1; start <= 2; ++start) ASSERT_EQ(agent_once().exit_code, 0) << "start " << start;
    const fs::path db = vdir_ / "verifier.db";
    auto pg = postgres_cluster::start();
    const std::vector<std::string> migrate = {CUSTOS_VERIFIER_PATH, "migrate-store", "--from", "sqlite:" + db.string(),
                                              "--to", pg->dsn(), "--json"};
    // While the verifier still serves the file, what it writes after the copy would be lost: refused.
    ASSERT_TRUE(wait_until([&] { return verifier_->log().find("leads the background work") != std::string::npos; }, 20s));
    auto early = run_process(migrate);
    EXPECT_EQ(early.exit_code, 2) << early.err;
    EXPECT_NE(early.err.find("stop it first"), std::string::npos) << early.err;
    EXPECT_EQ(pg->psql("SELECT COUNT(*) FROM hosts").out, "0\n");
    verifier_->signal(SIGTERM);  // a clean stop gives the lead up
    ASSERT_EQ(verifier_->wait(std::chrono::milliseconds(20000)), 0) << verifier_->log();
    verifier_.reset();
    // What the SQLite file holds, read with SQLite itself.
    const auto sqlite_text = [&](const char* sql) {
        sqlite3* h = nullptr;
        EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
        sqlite3_stmt* st = nullptr;
        std::string out;
        if (sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(h);
        return out;
    };
    const std::string head_before = sqlite_text("SELECT lower(hex(chain_hash)) FROM hosts WHERE id = 'gpu-r'");
    const std::string appraisals_before = sqlite_text("SELECT COUNT(*) FROM appraisals");
    ASSERT_EQ(head_before.size(), 64u);
    const auto db_bytes = fs::file_size(db);
    auto moved = run_process(migrate);
    ASSERT_EQ(moved.exit_code, 0) << moved.err << moved.out;
    auto summary = sjson::parse(moved.out, "migrate-store");
    ASSERT_TRUE(summary.ok()) << moved.out;
    EXPECT_EQ(summary->at("hosts").to_number<int>(), 1);
    EXPECT_EQ(summary->at("chain_heads").to_number<int>(), 1);
    std::map<std::string, std::uint64_t> rows;
    for (const auto& t : summary->at("tables").as_array()) rows[std::string(t.at("table").as_string())] = t.at("rows").to_number<std::uint64_t>();
    EXPECT_EQ(rows["reports"], 2u);
    EXPECT_EQ(rows["report_keys"], 2u);
    EXPECT_EQ(rows["hosts"], 1u);
    EXPECT_EQ(std::to_string(rows["appraisals"]), appraisals_before);
    // The counts are the database's own, asked with psql.
    EXPECT_EQ(pg->psql("SELECT COUNT(*) FROM reports").out, "2\n");
    EXPECT_EQ(pg->psql("SELECT encode(chain_hash, 'hex') FROM hosts WHERE id = 'gpu-r'").out,
              head_before + "\n");

    // A second run would double the fleet: refused, and nothing of the first copy is lost.
    auto again = run_process(migrate);
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.err.find("already holds fleet data"), std::string::npos) << again.err;
    EXPECT_EQ(pg->psql("SELECT COUNT(*) FROM reports").out, "2\n");
    EXPECT_EQ(fs::file_size(db), db_bytes);

    pg_ = std::move(pg);
    backend_ = "postgresql";
    rewrite(vdir_ / "verifier.toml", {{"\nbackend = 'sqlite'", "\nbackend = 'postgresql'"}, {"\ndsn = ''", "\ndsn = '" + pg_->dsn() + "'"}});
    start_verifier();
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json::value after = get("/v1/hosts/gpu-r");
    EXPECT_EQ(after.at("reports").to_number<std::uint64_t>(), 3u) << json::serialize(after);
    EXPECT_EQ(after.at("status").as_string(), "affirming") << json::serialize(after);
    EXPECT_TRUE(open_rules().empty());
    // Appraisals number on from the copied ones (the identity sequence moved past them).
    EXPECT_EQ(pg_->psql("SELECT COUNT(*) > " + appraisals_before + " AND COUNT(DISTINCT id) = COUNT(*) FROM appraisals").out, "t\n");
    auto v = verify_chain();
    EXPECT_EQ(v.exit_code, 0) << v.err;
    EXPECT_NE(v.out.find("reports: 3 (1 to 3)"), std::string::npos) << v.out;
}

// Bad input to migrate-store: a missing file, a DSN holding a password, a password file others can read,
// an unreachable database; each named, each leaving nothing behind.
TEST_F(RealAgent, MigrateStoreRefusesBadSourcesTargetsAndPasswordFiles) {
    verifier_.reset();
    const std::string db = "sqlite:" + (vdir_ / "verifier.db").string();
    auto missing = run_process({CUSTOS_VERIFIER_PATH, "migrate-store", "--from", "sqlite:" + (dir_.path() / "nope.db").string(), "--to", "host=/nonexistent"});
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_NE(missing.err.find("no such database file"), std::string::npos) << missing.err;
    EXPECT_FALSE(fs::exists(dir_.path() / "nope.db"));
    auto scheme = run_process({CUSTOS_VERIFIER_PATH, "migrate-store", "--from", (vdir_ / "verifier.db").string(), "--to", "host=/nonexistent"});
    EXPECT_EQ(scheme.exit_code, 2);
    EXPECT_NE(scheme.err.find("expected sqlite:PATH"), std::string::npos) << scheme.err;
    auto pw_in_dsn = run_process({CUSTOS_VERIFIER_PATH, "migrate-store", "--from", db, "--to", "postgresql://u:secret@127.0.0.1:1/x"});
    EXPECT_EQ(pw_in_dsn.exit_code, 2);
    EXPECT_NE(pw_in_dsn.err.find("holds a password"), std::string::npos) << pw_in_dsn.err;
    EXPECT_EQ(pw_in_dsn.err.find("secret"), std::string::npos) << pw_in_dsn.err;
    const fs::path pw = dir_.path() / "pw";
    std::ofstream(pw) << "hunter2\n";
    fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    auto open_pw = run_process({CUSTOS_VERIFIER_PATH, "migrate-store", "--from", db, "--to", "host=127.0.0.1 port=1", "--password-file", pw.string()});
    EXPECT_EQ(open_pw.exit_code, 2);
    EXPECT_NE(open_pw.err.find("readable by group or others"), std::string::npos) << open_pw.err;
    fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
    auto down = run_process({CUSTOS_VERIFIER_PATH, "migrate-store", "--from", db, "--to", "host=127.0.0.1 port=1 dbname=x", "--password-file", pw.string()});
    EXPECT_EQ(down.exit_code, 1);
    EXPECT_NE(down.err.find("target: PostgreSQL: connecting"), std::string::npos) << down.err;
    EXPECT_EQ(down.err.find("hunter2"), std::string::npos) << down.err;
}

// /healthz is what a load balancer asks: it is 200 while the database takes writes and 503 while it
// cannot (here another process holds SQLite's write lock past the busy timeout), and recovers after.
TEST_F(RealAgent, HealthzReportsWhetherTheDatabaseTakesWrites) {
    auto ok = health();
    EXPECT_EQ(ok.first, 200u);
    EXPECT_NE(ok.second.find(R"("database":"ok")"), std::string::npos) << ok.second;
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open((vdir_ / "verifier.db").c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    auto down = health();
    EXPECT_EQ(down.first, 503u);
    EXPECT_NE(down.second.find(R"("database":"unavailable")"), std::string::npos) << down.second;
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
    EXPECT_EQ(health().first, 200u);
}

// On PostgreSQL /healthz asks the database too: 200 while it takes writes, 503 once the server is gone
// (a load balancer then sends agents to a replica that can still store their reports).
class RealAgentOnPostgres : public RealAgent {
protected:
    std::string backend() const override { return "postgresql"; }
};

TEST_F(RealAgentOnPostgres, HealthzIs503WhileThePostgreSQLServerIsDown) {
    ASSERT_EQ(agent_once().exit_code, 0);
    auto ok = health();
    EXPECT_EQ(ok.first, 200u);
    EXPECT_NE(ok.second.find(R"("database":"ok")"), std::string::npos) << ok.second;
    pg_->stop();
    auto down = health();
    EXPECT_EQ(down.first, 503u);
    EXPECT_NE(down.second.find(R"("database":"unavailable")"), std::string::npos) << down.second;
    // The agent is refused a place to store its report, not told it was stored.
    auto r = agent_once();
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_TRUE(verifier_->running());  // the verifier waits for its database; it does not die
}

// Two verifier processes on one database: exactly one leads the background work (custos_leader 1), and
// when it is killed with SIGKILL the other takes over within the lease (three watcher periods).
class RealAgentReplicas : public RealAgentOn {
protected:
    void edit_config(const fs::path& toml) override {
        rewrite(toml, {{"\nreport_interval_s = [0-9]+", "\nreport_interval_s = 1"}});
    }
    // custos_leader from GET /metrics at `url` (-1: no answer).
    int leader_at(const std::string& url) {
        const std::string text = metrics_text(url);
        std::smatch m;
        if (!std::regex_search(text, m, std::regex("\ncustos_leader ([01])\n"))) return -1;
        return std::stoi(m[1].str());
    }
};

TEST_P(RealAgentReplicas, OneOfTwoLeadsTheBackgroundWorkAndTheOtherTakesOverWhenItIsKilled) {
    auto first = std::move(verifier_);
    const std::string first_url = url_;
    start_verifier();  // a second replica, same config and database
    const std::string second_url = url_;
    ASSERT_TRUE(wait_until([&] { return leader_at(first_url) + leader_at(second_url) == 1; }, 10s));
    // It stays that way: never both, never neither, over a few lease renewals.
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(leader_at(first_url) + leader_at(second_url), 1);
    }
    const bool first_leads = leader_at(first_url) == 1;
    auto& leader = first_leads ? first : verifier_;
    const std::string survivor = first_leads ? second_url : first_url;
    leader->kill9();
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until([&] { return leader_at(survivor) == 1; }, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // a lease of 3 s, renewed every second
}

// Findings go to webhooks from an outbox written with them: a verifier killed with SIGKILL while its
// receiver was failing sends what it owed once it is back, exactly once.
class RealAgentWebhooks : public RealAgentOn {
protected:
    void edit_config(const fs::path& toml) override {
        hook_.fail_first = 1'000'000;
        rewrite(toml, {{"\nreport_interval_s = [0-9]+", "\nreport_interval_s = 1"},
                       {"\nwebhooks = \\[\\]", "\nwebhooks = [\"" + hook_.url() + "\"]"},
                       {"\nwebhook_ca_file = '[^']*'", "\nwebhook_ca_file = '" + hook_.ca() + "'"}});
    }
    webhook_receiver hook_;
};

TEST_P(RealAgentWebhooks, AFindingOwedToAWebhookSurvivesAKilledVerifierAndIsSentOnce) {
    ASSERT_EQ(agent_once().exit_code, 0);
    tpm_->restart();
    ASSERT_EQ(agent_once().exit_code, 0);  // a reboot: one finding, owed to the webhook
    ASSERT_TRUE(wait_until([&] { return hook_.calls.load() >= 1; }, 20s)) << verifier_->log();
    verifier_->kill9();
    EXPECT_TRUE(hook_.received().empty());
    hook_.fail_first = 0;
    start_verifier();
    ASSERT_TRUE(wait_until([&] { return !hook_.received().empty(); }, 30s)) << verifier_->log();
    std::this_thread::sleep_for(2s);  // a second delivery, if one were coming, would come within its retry
    // Each finding once (the host going dark after the agent's last run is a finding of its own).
    std::map<std::int64_t, int> per_id;
    int reboots = 0;
    for (const auto& body : hook_.received()) {
        const auto f = json::parse(body).as_object();
        ++per_id[f.at("id").as_int64()];
        if (f.at("rule").as_string() == "reboot" && f.at("host").as_string() == "gpu-r") ++reboots;
    }
    EXPECT_EQ(reboots, 1) << verifier_->log();
    for (const auto& [id, n] : per_id) EXPECT_EQ(n, 1) << "finding " << id << " delivered " << n << " times";
    // The operator sees the outbox drained and what this replica delivered.
    const std::string metrics = metrics_text();
    EXPECT_NE(metrics.find("\ncustos_webhook_deliveries_pending 0\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("custos_webhook_deliveries_total{result=\"delivered\"} " + std::to_string(per_id.size()) + "\n"),
              std::string::npos)
        << metrics;
}

CUSTOS_ON_BOTH_BACKENDS(RealAgentOn);
CUSTOS_ON_BOTH_BACKENDS(RealAgentReplicas);
CUSTOS_ON_BOTH_BACKENDS(RealAgentWebhooks);

}  // namespace
}  // namespace custos::test
