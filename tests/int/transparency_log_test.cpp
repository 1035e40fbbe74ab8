// The transparency log end to end: the real agent and the real verifier make the events, the real
// `custos audit fetch` mirrors and verifies the log, Go's sumdb packages check our checkpoints and
// proofs independently, and an operator who rewrites history or edits the store is caught.
#include <sqlite3.h>

#include "crypto/base64.hpp"
#include "tests/int/real_agent.hpp"
#include "tlog/merkle.hpp"

namespace custos::test {
namespace {

class RealAgentLog : public RealAgent {
protected:
    void edit_config(const fs::path& toml) override {
        rewrite(toml, {{"checkpoint_interval_s = 2", "checkpoint_interval_s = 1"}});
    }
    // `custos audit ARGS...` as the auditor.
    process_result audit(std::vector<std::string> args) {
        args.insert(args.begin(), {CUSTOS_CLI_PATH, "audit"});
        return run_process(args, {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "auditor").string()}});
    }
    process_result fetch() {
        return audit({"fetch", "--state", mirror_.string(), "--log-key", (vdir_ / "keys/log.pub").string()});
    }
    json::array search(std::vector<std::string> args) {
        args.insert(args.begin(), {"search", "--state", mirror_.string(), "--json"});
        auto r = audit(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        auto v = sjson::parse(r.out, "audit search");
        return v && v->is_object() ? v->as_object().at("entries").as_array() : json::array{};
    }
    // Fetches until the mirror holds entries matching `args` (the sequencer and the checkpoint run every
    // second or so); returns them.
    json::array fetch_until(std::vector<std::string> args, std::size_t at_least = 1) {
        json::array found;
        wait_until(
            [&] {
                auto f = fetch();
                EXPECT_EQ(f.exit_code, 0) << f.err;
                found = search(args);
                return f.exit_code != 0 || found.size() >= at_least;
            },
            30s);
        return found;
    }
    static std::set<std::string> types(const json::array& es) {
        std::set<std::string> out;
        for (const auto& e : es) out.emplace(e.at("entry").at("type").as_string());
        return out;
    }
    // An HTTPS client with the auditor's credential.
    std::unique_ptr<net::https_client> auditor_client() {
        net::https_client_options o;
        o.ca_file = (vdir_ / "auditor/ca.pem").string();
        o.cert_file = (vdir_ / "auditor/cert.pem").string();
        o.key_file = (vdir_ / "auditor/key.pem").string();
        auto c = net::https_client::create(url_, o);
        EXPECT_TRUE(c);
        return c ? std::move(c).value() : nullptr;
    }
    fs::path mirror_ = dir_.path() / "mirror";
};

class RealAgentLogOn : public RealAgentLog, public ::testing::WithParamInterface<std::string> {
protected:
    std::string backend() const override { return GetParam(); }
};
CUSTOS_ON_BOTH_BACKENDS(RealAgentLogOn);

// What the verifier decided about a host, from enrollment to approval, every round's signed result and the
// reports it took, is in the log; the operator's approval carries the operator's certificate; the
// auditor's credential reads the log and nothing else.
TEST_P(RealAgentLogOn, EveryDecisionAboutAHostIsLoggedAndTheAuditorsMirrorVerifiesIt) {
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(cli({"fleet", "entity", "add", "acme", "--hq", "US", "--status", "uveu"}).exit_code, 0);
    ASSERT_EQ(cli({"fleet", "site", "add", "s1", "--entity", "acme", "--country", "US", "--lat", "37.4", "--lon", "-122.1",
                   "--max-km", "50"}).exit_code, 0);
    ASSERT_EQ(cli({"fleet", "approve", "gpu-r", "--site", "s1"}).exit_code, 0);
    r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;

    const auto results = fetch_until({"--host", "gpu-r", "--type", "result"}, 2);
    ASSERT_EQ(results.size(), 2u);
    const auto about = search({"--host", "gpu-r"});
    const auto seen = types(about);
    for (const char* t : {"host.enrolled", "report_key.bound", "result", "operator"})
        EXPECT_TRUE(seen.count(t)) << "no " << t << " entry about gpu-r";
    // The approval names the operator's certificate.
    bool approval = false;
    for (const auto& e : search({"--type", "operator"})) {
        const auto& o = e.at("entry").as_object();
        if (o.at("action").as_string() != "host.approve") continue;
        approval = true;
        EXPECT_EQ(o.at("host").as_string(), "gpu-r");
        EXPECT_EQ(o.at("subject").as_string(), "s1");
        EXPECT_EQ(o.at("actor").at("role").as_string(), "operator");
        EXPECT_EQ(o.at("actor").at("cert_sha256").as_string().size(), 64u);
    }
    EXPECT_TRUE(approval);
    // Each result names the round's evidence it was computed from and the chain head the verifier held:
    // the agent's rounds come after its reports, so the last one's head is a report the verifier stored.
    for (const auto& e : results) EXPECT_EQ(e.at("entry").at("round_sha256").as_string().size(), 64u);
    const auto last_head = results.back().at("entry").at("chain_seq").as_int64();
    EXPECT_GT(last_head, 0);
    EXPECT_LE(last_head, get("/v1/hosts/gpu-r").at("chain_seq").to_number<std::int64_t>());

    // The auditor's credential reads the log only.
    auto c = auditor_client();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->request("GET", "/v1/log/checkpoint")->status, 200u);
    EXPECT_EQ(c->request("GET", "/v1/hosts")->status, 403u);
    EXPECT_EQ(c->request("POST", "/v1/entities", R"({"id":"x","hq":"US","status":"none"})")->status, 403u);
    // The store agrees with itself.
    auto check = run_process({CUSTOS_VERIFIER_PATH, "check-log", "--config", (vdir_ / "verifier.toml").string(), "--json"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// Go's golang.org/x/mod/sumdb/note and sumdb/tlog open our checkpoints with our key and check our
// inclusion proofs (every entry) and a consistency proof between two checkpoints.
TEST_F(RealAgentLog, GoSumdbOpensOurCheckpointsAndChecksOurProofs) {
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_FALSE(fetch_until({"--type", "result"}).empty());
    const fs::path go_dir = dir_.path() / "go";
    fs::create_directories(go_dir);
    auto state = sjson::parse(read_text(mirror_ / "state.json"), "state.json");
    ASSERT_TRUE(state);
    std::ofstream(go_dir / "checkpoint.old") << std::string(state->at("checkpoint").as_string());
    const std::int64_t old_size = state->at("size").as_int64();
    ASSERT_EQ(cli({"fleet", "entity", "add", "acme", "--hq", "US", "--status", "uveu"}).exit_code, 0);
    r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_GE(fetch_until({"--type", "result"}, 2).size(), 2u);
    state = sjson::parse(read_text(mirror_ / "state.json"), "state.json");
    const std::int64_t size = state->at("size").as_int64();
    ASSERT_GT(size, old_size);
    std::ofstream(go_dir / "checkpoint.new") << std::string(state->at("checkpoint").as_string());
    fs::copy_file(mirror_ / "entries.jsonl", go_dir / "entries.jsonl");
    fs::copy_file(vdir_ / "keys/log.pub", go_dir / "log.pub");

    auto c = auditor_client();
    ASSERT_TRUE(c);
    json::array inclusion;
    for (std::int64_t i = 0; i < size; ++i) {
        auto p = c->request("GET", "/v1/log/proof/inclusion?index=" + std::to_string(i) + "&size=" + std::to_string(size));
        ASSERT_TRUE(p && p->status == 200) << (p ? p->body : p.err().message);
        inclusion.push_back(*sjson::parse(p->body, "proof"));
    }
    std::ofstream(go_dir / "inclusion.json") << json::serialize(inclusion);
    auto con = c->request("GET", "/v1/log/proof/consistency?from=" + std::to_string(old_size) + "&size=" + std::to_string(size));
    ASSERT_TRUE(con && con->status == 200);
    std::ofstream(go_dir / "consistency.json") << con->body;

    // Our C2SP tiles, read by Go over HTTPS with the auditor's credential.
    std::ofstream(go_dir / "tiles.json") << json::serialize(json::object{{"url", url_ + "/v1/log/"},
                                                                         {"ca", (vdir_ / "auditor/ca.pem").string()},
                                                                         {"cert", (vdir_ / "auditor/cert.pem").string()},
                                                                         {"key", (vdir_ / "auditor/key.pem").string()}});
    const fs::path gocache = dir_.path() / "gocache";
    auto go = run_process({"go", "run", std::string(CUSTOS_SOURCE_DIR) + "/tests/interop/tlog_check.go", go_dir.string()},
                          {{"GO111MODULE", "off"}, {"GOPATH", "/usr/share/gocode"}, {"GOCACHE", gocache.string()},
                           {"GOFLAGS", ""}, {"HOME", dir_.path().string()}});
    EXPECT_EQ(go.exit_code, 0) << go.out << go.err;
    EXPECT_NE(go.out.find("ok: log"), std::string::npos) << go.out;
    EXPECT_NE(go.out.find("tiles and 1 entry bundles read through TileHashReader"), std::string::npos) << go.out;
}

// The operator owns the database and the log key. Deleting a finding and rewriting the log without it
// (entries renumbered, every hash recomputed, a new checkpoint signed with the real key) is caught by the
// monitor: the new checkpoint is not consistent with the one it saved. The mirror still holds the finding.
TEST_F(RealAgentLog, AMonitorCatchesAQuietlyDeletedFindingAndKeepsIt) {
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    tpm_->restart();
    r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto raised = fetch_until({"--rule", "reboot"});
    ASSERT_FALSE(raised.empty()) << "the reboot finding is not in the log";
    verifier_.reset();

    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((vdir_ / "verifier.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM findings WHERE rule = 'reboot'", nullptr, nullptr, nullptr), SQLITE_OK);
    // History rewritten as the verifier would have written it without the finding.
    struct row {
        std::string type, host, subject, body;
        std::int64_t time;
    };
    std::vector<row> kept;
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT type, host, subject, time, body FROM log_entries ORDER BY idx", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
        row x{reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), reinterpret_cast<const char*>(sqlite3_column_text(s, 1)),
              reinterpret_cast<const char*>(sqlite3_column_text(s, 2)),
              std::string(static_cast<const char*>(sqlite3_column_blob(s, 4)), static_cast<std::size_t>(sqlite3_column_bytes(s, 4))),
              sqlite3_column_int64(s, 3)};
        if (x.body.find("\"rule\":\"reboot\"") == std::string::npos) kept.push_back(std::move(x));
    }
    sqlite3_finalize(s);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN; DELETE FROM log_entries; DELETE FROM log_hashes; DELETE FROM log_checkpoints;", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    std::vector<tlog::hash> stored;
    const tlog::hash_reader read = [&](std::span<const std::int64_t> idx) -> result<std::vector<tlog::hash>> {
        std::vector<tlog::hash> out;
        for (auto i : idx) out.push_back(stored.at(static_cast<std::size_t>(i)));
        return out;
    };
    for (std::size_t i = 0; i < kept.size(); ++i) {
        sqlite3_prepare_v2(db, "INSERT INTO log_entries (idx, type, host, subject, time, body) VALUES (?, ?, ?, ?, ?, ?)", -1, &s, nullptr);
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(i));
        sqlite3_bind_text(s, 2, kept[i].type.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, kept[i].host.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, kept[i].subject.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 5, kept[i].time);
        sqlite3_bind_blob(s, 6, kept[i].body.data(), static_cast<int>(kept[i].body.size()), SQLITE_TRANSIENT);
        ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
        sqlite3_finalize(s);
        auto hs = tlog::stored_hashes_for(static_cast<std::int64_t>(i), tlog::leaf_hash(as_bytes(kept[i].body)), read);
        ASSERT_TRUE(hs);
        stored.insert(stored.end(), hs->begin(), hs->end());
    }
    for (std::size_t i = 0; i < stored.size(); ++i) {
        sqlite3_prepare_v2(db, "INSERT INTO log_hashes (idx, hash) VALUES (?, ?)", -1, &s, nullptr);
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(i));
        sqlite3_bind_blob(s, 2, stored[i].data(), 32, SQLITE_TRANSIENT);
        ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
        sqlite3_finalize(s);
    }
    const std::string set_size = "UPDATE log_state SET size = " + std::to_string(kept.size()) + "; COMMIT;";
    ASSERT_EQ(sqlite3_exec(db, set_size.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    // The store is consistent with itself again: only a monitor's saved checkpoint can tell.
    start_verifier();
    auto check = run_process({CUSTOS_VERIFIER_PATH, "check-log", "--config", (vdir_ / "verifier.toml").string()});
    EXPECT_EQ(check.exit_code, 0) << check.err;
    EXPECT_TRUE(wait_until([&] { return get("/v1/findings?rule=reboot").at("findings").as_array().empty(); }, 5s));
    process_result f;
    // Until the restarted verifier has signed a checkpoint of the rewritten log (before that: exit 2, none).
    ASSERT_TRUE(wait_until(
        [&] {
            f = fetch();
            return f.exit_code != 2;
        },
        20s)) << f.err;
    EXPECT_EQ(f.exit_code, 1) << f.out << f.err;
    EXPECT_NE(f.err.find("FORK"), std::string::npos) << f.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(f.err, m, std::regex("evidence saved in (\\S+)")));
    const fs::path evidence = m[1].str();
    EXPECT_TRUE(fs::exists(evidence / "checkpoint.saved"));
    EXPECT_TRUE(fs::exists(evidence / "checkpoint.served"));
    EXPECT_TRUE(std::regex_search(read_text(evidence / "problem.txt"), std::regex("rewritten|shrank|different roots")))
        << read_text(evidence / "problem.txt");
    // The mirror was not changed by the lie: the deleted finding is still there to show.
    EXPECT_FALSE(search({"--rule", "reboot"}).empty());
    EXPECT_EQ(fetch().exit_code, 1) << "a monitor keeps refusing the rewritten log";
}

// Edits to the store that leave the hashes as they were — an entry changed, removed, or two swapped — are
// named by `custos-verifier check-log`, and the monitor refuses an edited entry it has not mirrored yet.
TEST_F(RealAgentLog, CheckLogNamesAnEditedRemovedOrReorderedEntry) {
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_FALSE(fetch_until({"--type", "result"}).empty());
    verifier_.reset();
    const std::string toml = (vdir_ / "verifier.toml").string();
    auto ok = run_process({CUSTOS_VERIFIER_PATH, "check-log", "--config", toml});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    const auto tamper = [&](const std::string& sql) {
        sqlite3* db = nullptr;
        EXPECT_EQ(sqlite3_open((vdir_ / "verifier.db").c_str(), &db), SQLITE_OK);
        char* err = nullptr;
        EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_close(db);
        return run_process({CUSTOS_VERIFIER_PATH, "check-log", "--config", toml});
    };
    const std::string undo = "UPDATE log_entries SET body = CAST(REPLACE(CAST(body AS TEXT), '\"status\":\"XX', '\"status\":\"') AS BLOB)";
    auto edited = tamper("UPDATE log_entries SET body = CAST(REPLACE(CAST(body AS TEXT), '\"status\":\"', '\"status\":\"XX') AS BLOB) "
                         "WHERE type = 'result'");
    EXPECT_EQ(edited.exit_code, 1);
    EXPECT_NE(edited.err.find("is not what its entries hash to"), std::string::npos) << edited.err;
    ASSERT_EQ(tamper(undo).exit_code, 0);
    const std::string swap = "UPDATE log_entries SET idx = -1 WHERE idx = 1; UPDATE log_entries SET idx = 1 WHERE idx = 2; "
                             "UPDATE log_entries SET idx = 2 WHERE idx = -1";
    auto swapped = tamper(swap);
    EXPECT_EQ(swapped.exit_code, 1);
    EXPECT_NE(swapped.err.find("stored hash"), std::string::npos) << swapped.err;
    ASSERT_EQ(tamper(swap).exit_code, 0);
    auto removed = tamper("DELETE FROM log_entries WHERE idx = 1");
    EXPECT_EQ(removed.exit_code, 1);
    EXPECT_NE(removed.err.find("log entry 1 is missing"), std::string::npos) << removed.err;
}

}  // namespace
}  // namespace custos::test

namespace custos::test {
namespace {

// A host's evidence bundle, exported with the auditor's credential, verifies offline from the TPM makers'
// CA and the log key alone; a bundle with one quote, report, result, entry or proof altered, or checked
// against another log key or CA, fails naming what failed.
TEST_F(RealAgentLog, AnExportedBundleVerifiesOfflineAndEveryAlterationIsNamed) {
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_GE(fetch_until({"--host", "gpu-r", "--type", "result"}, 2).size(), 2u);
    const fs::path bundle = dir_.path() / "gpu-r.bundle.json";
    auto ex = run_process({CUSTOS_CLI_PATH, "fleet", "export", "--host", "gpu-r", "--out", bundle.string()},
                          {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "auditor").string()}});
    ASSERT_EQ(ex.exit_code, 0) << ex.err;
    const std::string ek_ca = (dir_.path() / "ek-ca.pem").string(), log_pub = (vdir_ / "keys/log.pub").string();
    const auto verify = [&](const fs::path& b, const std::string& key = {}, const std::string& ca = {}) {
        return run_process({CUSTOS_CLI_PATH, "audit", "verify", b.string(), "--ek-ca", ca.empty() ? ek_ca : ca, "--log-key",
                            key.empty() ? log_pub : key});
    };
    auto ok = verify(bundle);
    ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("bundle: valid (host gpu-r)"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("EK certificate chains to the TPM makers' CA bundle"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("2 rounds: each quote signed by the AK"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("rests on the verifier's word"), std::string::npos) << ok.out;

    const auto original = sjson::parse(read_text(bundle), "bundle");
    ASSERT_TRUE(original);
    int n = 0;
    const auto altered = [&](const std::function<void(json::object&)>& change, const std::string& expect) {
        json::value v = *original;
        change(v.as_object());
        const fs::path f = dir_.path() / ("altered-" + std::to_string(++n) + ".json");
        std::ofstream(f) << json::serialize(v);
        auto res = verify(f);
        EXPECT_EQ(res.exit_code, 1) << expect << ": " << res.out << res.err;
        EXPECT_NE(res.err.find(expect), std::string::npos) << res.err;
    };
    const auto flip_b64 = [](json::value& s, std::size_t at) {
        auto b = *from_base64(s.as_string());
        b[at % b.size()] ^= 0x01;
        s = to_base64(b);
    };
    altered([&](json::object& b) { flip_b64(b["rounds"].as_array()[1].as_object()["round"], 300); },
            "round 1: its evidence is not what log entry");
    altered([&](json::object& b) { flip_b64(b["chain"].as_object()["reports"].as_array()[1].as_object()["report"], 40); },
            "report chain: report 2");
    altered([&](json::object& b) {
        auto& t = b["rounds"].as_array()[0].as_object()["token"];
        std::string s(t.as_string());
        s[s.size() - 5] = s[s.size() - 5] == 'A' ? 'B' : 'A';
        t = s;
    }, "round 0: its signed result is not in the log");
    altered([&](json::object& b) { flip_b64(b["entries"].as_array()[2].as_object()["proof"].as_array()[0], 3); },
            "its inclusion proof does not verify against the checkpoint");
    altered([&](json::object& b) {
        auto& e = b["entries"].as_array()[1].as_object()["body"];
        auto body = *from_base64(e.as_string());
        std::string s(body.begin(), body.end());
        s.insert(s.size() - 1, ",\"note\":\"edited\"");
        e = to_base64(as_bytes(s));
    }, "its inclusion proof does not verify against the checkpoint");
    altered([&](json::object& b) { b["host"].as_object()["ak_public"] = to_base64(as_bytes("not an AK")); }, "AK public area");
    // Against the auditor's mirror: complete as exported; an entry about the host left out is named.
    ASSERT_FALSE(fetch_until({"--host", "gpu-r", "--type", "report_key.bound"}).empty());
    const auto with_mirror = [&](const fs::path& b) {
        return run_process({CUSTOS_CLI_PATH, "audit", "verify", b.string(), "--ek-ca", ek_ca, "--log-key", log_pub, "--state",
                            mirror_.string()});
    };
    auto complete = with_mirror(bundle);
    ASSERT_EQ(complete.exit_code, 0) << complete.out << complete.err;
    EXPECT_NE(complete.out.find("complete against your mirror"), std::string::npos) << complete.out;
    {
        json::value v = *original;
        auto& es = v.as_object()["entries"].as_array();
        bool dropped = false;
        for (auto it = es.begin(); it != es.end(); ++it) {
            const auto body = *from_base64(it->at("body").as_string());
            if (std::string(body.begin(), body.end()).find("\"type\":\"report_key.bound\"") == std::string::npos) continue;
            es.erase(it);
            dropped = true;
            break;
        }
        ASSERT_TRUE(dropped);
        const fs::path f = dir_.path() / "dropped.json";
        std::ofstream(f) << json::serialize(v);
        ASSERT_EQ(verify(f).exit_code, 0) << "without the mirror, a bundle cannot know what it lacks";
        auto res = with_mirror(f);
        EXPECT_EQ(res.exit_code, 1) << res.out;
        EXPECT_NE(res.err.find("(report_key.bound) belongs in host gpu-r's entries, but it is not in the bundle"), std::string::npos)
            << res.err;
    }
    // Other roots: another log's key, another maker's CA.
    auto other = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", (dir_.path() / "other").string()});
    ASSERT_EQ(other.exit_code, 0) << other.err;
    auto wrong_key = verify(bundle, (dir_.path() / "other/keys/log.pub").string());
    EXPECT_EQ(wrong_key.exit_code, 1);
    EXPECT_NE(wrong_key.err.find("checkpoint:"), std::string::npos) << wrong_key.err;
    auto wrong_ca = verify(bundle, {}, (dir_.path() / "other/ca/ca.pem").string());
    EXPECT_EQ(wrong_ca.exit_code, 1);
    EXPECT_NE(wrong_ca.err.find("EK certificate chain"), std::string::npos) << wrong_ca.err;
}

}  // namespace
}  // namespace custos::test

namespace custos::test {
namespace {

// A bundle for a window holds the report chain from the head the last logged result before the window
// recorded (the anchor, itself among the proven entries), not the whole chain from report 1; it verifies,
// and a chain that starts elsewhere, an anchor that is not that result, or a report left out, is named.
TEST_F(RealAgentLog, AWindowedBundleStartsItsChainAtTheLastLoggedHeadBeforeIt) {
    for (int i = 0; i < 2; ++i) {
        auto r = agent_once();
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    std::this_thread::sleep_for(1100ms);
    const auto from = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto r = agent_once();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_GE(fetch_until({"--host", "gpu-r", "--type", "result"}, 3).size(), 3u);
    const fs::path bundle = dir_.path() / "window.json";
    auto ex = run_process({CUSTOS_CLI_PATH, "fleet", "export", "--host", "gpu-r", "--from", std::to_string(from), "--out", bundle.string()},
                          {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "auditor").string()}});
    ASSERT_EQ(ex.exit_code, 0) << ex.err;
    const auto verify = [&](const fs::path& b) {
        return run_process({CUSTOS_CLI_PATH, "audit", "verify", b.string(), "--ek-ca", (dir_.path() / "ek-ca.pem").string(),
                            "--log-key", (vdir_ / "keys/log.pub").string()});
    };
    auto ok = verify(bundle);
    ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("1 rounds: each quote signed by the AK"), std::string::npos) << ok.out;

    const auto original = sjson::parse(read_text(bundle), "bundle");
    ASSERT_TRUE(original);
    const auto& chain = original->at("chain").as_object();
    ASSERT_TRUE(chain.at("anchor").is_int64()) << json::serialize(chain);
    const auto first = chain.at("from_seq").to_number<std::uint64_t>();
    EXPECT_GT(first, 1u) << "the chain before the window is not in the bundle";
    ASSERT_FALSE(chain.at("reports").as_array().empty());
    EXPECT_EQ(chain.at("reports").as_array()[0].at("seq").to_number<std::uint64_t>(), first);

    int n = 0;
    const auto altered = [&](const std::function<void(json::object&)>& change, const std::string& expect) {
        json::value v = *original;
        change(v.as_object()["chain"].as_object());
        const fs::path f = dir_.path() / ("window-" + std::to_string(++n) + ".json");
        std::ofstream(f) << json::serialize(v);
        auto res = verify(f);
        EXPECT_EQ(res.exit_code, 1) << expect << ": " << res.out << res.err;
        EXPECT_NE(res.err.find(expect), std::string::npos) << res.err;
    };
    // The window's first report left out: the next one does not link to the anchor's head.
    altered([](json::object& c) {
        auto& rs = c["reports"].as_array();
        rs.erase(rs.begin());
        c["from_seq"] = rs.empty() ? 0 : rs[0].at("seq").to_number<std::uint64_t>();
    }, "not after report");
    altered([&](json::object& c) { c["anchor"] = c["anchor"].as_int64() + 1; }, "which is not a result in the bundle");
    altered([](json::object& c) { c["anchor"] = nullptr; }, "with no logged result before it to link it to");
}

}  // namespace
}  // namespace custos::test
