// The host's own operator as the adversary: root on a GPU host (the AK blob, the agent's certificate and
// report keys, the TPM's state file on a software TPM, reboots at will) tries to stay trusted while lying,
// against a real verifier (HTTPS, SQLite) and real swtpms. Each test plays one attack with the test-side
// rogue agent and fails if the attack works.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <thread>

#include "attest/report_ext.hpp"
#include "tests/int/verifier_harness.hpp"
#include "verifier/chain_integrity.hpp"
#include "verifier/findings.hpp"

namespace custos::test {
namespace {

using namespace std::chrono_literals;
using verifier::finding_record;

class HostileHost : public two_hosts {
protected:
    std::string status(const std::string& host) { return v_->host(host)->status; }
    std::size_t open_count(const std::string& host, const std::string& rule) {
        return open_only(v_->findings(host, rule)).size();
    }
    std::optional<verifier::appraisal_record> latest_appraisal(const std::string& host) {
        auto tx = v_->ctx().db->begin();
        auto a = (*tx)->latest_appraisal(host);
        EXPECT_TRUE(a.ok());
        return a.ok() ? *a : std::nullopt;
    }
    // The verifier again on the same database, with settings changed.
    void restart_verifier(unsigned attest_interval_s) {
        v_->stop();
        v_->mutable_cfg().attest_interval_s = attest_interval_s;
        v_->start();
    }
};

// Hole 1: after one good round the host stops answering challenges (a replaced agent that cannot pass
// appraisal) and keeps its reports flowing. Before, reports alone kept it affirming forever.
TEST_F(HostileHost, ReportsAloneDoNotKeepAHostTrustedAfterItStopsAnsweringChallenges) {
    enroll(*a_);
    add_site();
    approve("host-a");
    unsigned st = 0;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    ASSERT_EQ(status("host-a"), "affirming");
    restart_verifier(1);  // rounds every second: overdue after 3 s without one
    std::vector<std::string> results;
    for (int i = 0; i < 5; ++i) {
        for (const auto& s : a_->send_reports({a_->make_report()})) results.push_back(s);
        std::this_thread::sleep_for(1s);
    }
    // Every report is still stored (they are the audit record), but they vouch for nothing.
    EXPECT_EQ(results, std::vector<std::string>(5, "accepted"));
    EXPECT_EQ(open_count("host-a", "attestation-overdue"), 1u);
    EXPECT_EQ(status("host-a"), "contraindicated");
    auto op = v_->client();
    auto hr = op->request("GET", "/v1/hosts/host-a");
    ASSERT_TRUE(hr.ok());
    EXPECT_EQ(parse_json(hr->body).at("status").as_string(), "contraindicated") << hr->body;
    // One more report does not add a row; a challenged round ends it.
    a_->send_reports({a_->make_report()});
    EXPECT_EQ(v_->findings("host-a", "attestation-overdue").size(), 1u);
    r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    EXPECT_EQ(std::string(r["status"].as_string()), "affirming") << json::serialize(r);
    EXPECT_EQ(open_count("host-a", "attestation-overdue"), 0u);
}

// Hole 2: a report-key binding without a verifier nonce (any quote the host can make at any time) used to
// write an appraisal row that key release accepted, and skipped PCR 10.
TEST_F(HostileHost, AKeyBindingNeedsAFreshNonceAndIsNeverAnAppraisal) {
    enroll(*a_);
    enroll(*b_);
    add_site();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    const auto before = latest_appraisal("host-a");
    ASSERT_TRUE(before.has_value());
    const std::int64_t quoted_at = v_->host("host-a")->last_quote_at;
    ASSERT_GT(quoted_at, 0);

    // A nonce the verifier never issued (host-b plays it): refused, and it is on record.
    std::string body;
    EXPECT_EQ(b_->bind_key_body(b_->binding_body(bytes(32, 0x5a)), &body), 409u) << body;
    EXPECT_EQ(open_count("host-b", "nonce-mismatch"), 1u);
    // A nonce issued to another host: refused too.
    const bytes a_nonce = a_->challenge();
    EXPECT_EQ(b_->bind_key_body(b_->binding_body(a_nonce), &body), 409u) << body;

    // A genuine binding: bound, but no appraisal row, no new challenged-quote time, no status vouched for.
    std::this_thread::sleep_for(1100ms);
    a_->new_report_key();
    const std::string binding = a_->binding_body(a_->challenge());
    ASSERT_EQ(a_->bind_key_body(binding, &body), 200u) << body;
    EXPECT_EQ(parse_json(body).at("status").as_string(), "bound");
    EXPECT_FALSE(parse_json(body).as_object().contains("result")) << body;
    const auto after = latest_appraisal("host-a");
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->token, before->token);
    EXPECT_EQ(v_->host("host-a")->last_quote_at, quoted_at);
    // The same binding again: its nonce is spent.
    EXPECT_EQ(a_->bind_key_body(binding, &body), 409u) << body;
    EXPECT_EQ(open_count("host-a", "nonce-mismatch"), 1u);
}

TEST_F(HostileHost, ABindingOverAnotherBootStateOrAnotherChainIsCaught) {
    enroll(*a_);
    add_site();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    ASSERT_EQ(a_->send_reports({a_->make_report(), a_->make_report()}), (std::vector<std::string>{"accepted", "accepted"}));
    // The agent stopped, the TPM rebooted into another boot state, a key of root's own is bound: the
    // binding's quote is judged like any evidence of the TPM now.
    a_->tpm().restart();
    a_->extend_pcr(7);
    a_->new_report_key();
    std::string body;
    ASSERT_EQ(a_->bind_key(&body), 200u) << body;
    EXPECT_EQ(open_count("host-a", "pcr-changed"), 1u) << body;
    EXPECT_EQ(open_count("host-a", "reboot"), 1u) << body;
    EXPECT_EQ(status("host-a"), "contraindicated");
    // A binding that continues a chain the verifier does not hold.
    const auto head = a_->head_hash();
    a_->set_head(2, bytes(32, 0x77));
    a_->new_report_key();
    EXPECT_EQ(a_->bind_key(&body), 409u) << body;
    EXPECT_NE(body.find("forked"), std::string::npos) << body;
    EXPECT_EQ(open_count("host-a", "report-rollback"), 1u);
    a_->set_head(2, head);
}

// Hole 3: every key ever bound used to keep signing. A key retires where the next agent start's key begins,
// and a key of an earlier boot retires at the first round of the new one.
TEST_F(HostileHost, ARetiredReportKeySignsNothingNew) {
    enroll(*a_);
    unsigned st = 0;
    a_->round(&st);  // binds key 1 from report 1
    ASSERT_EQ(st, 200u);
    ASSERT_EQ(a_->send_reports({a_->make_report(), a_->make_report()}), (std::vector<std::string>{"accepted", "accepted"}));
    // The agent restarts: key 2 signs from report 3. Root kept key 1 from the old process's memory.
    auto key1 = a_->new_report_key();
    std::string body;
    ASSERT_EQ(a_->bind_key(&body), 200u) << body;
    EXPECT_EQ(parse_json(body).at("from_seq").to_number<std::uint64_t>(), 3u);
    ASSERT_EQ(a_->send_reports({a_->make_report()}), std::vector<std::string>{"accepted"});
    auto key2 = a_->new_report_key();
    a_->use_report_key(key1);
    unsigned code = 0;
    const std::string answer = post(a_->client(), "/v1/reports",
                                    sim_host::reports_body({a_->make_report(4, a_->head_hash())}), &code);
    ASSERT_EQ(code, 200u);
    EXPECT_NE(answer.find("retired after report 2"), std::string::npos) << answer;
    EXPECT_EQ(open_count("host-a", "report-signature-invalid"), 1u);
    // Key 2 was bound in boot 0. After a reboot, a round that still names it retires it at the quoted head:
    // no agent outlives a TPM reset, so whoever signs with it now is not the measured agent.
    a_->use_report_key(key2);
    a_->tpm().restart();
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    const std::string later = post(a_->client(), "/v1/reports", sim_host::reports_body({a_->make_report()}), &code);
    ASSERT_EQ(code, 200u);
    EXPECT_NE(later.find("retired after report 3"), std::string::npos) << later;
    EXPECT_NE(later.find("TPM boot 0"), std::string::npos) << later;
    auto tx = v_->ctx().db->begin();
    auto keys = (*tx)->list_report_keys("host-a");
    ASSERT_TRUE(keys.ok());
    ASSERT_EQ(keys->size(), 2u);
    EXPECT_EQ((*keys)[0].until_seq, 2u);
    EXPECT_NE((*keys)[0].retired_at, 0);
    EXPECT_EQ((*keys)[1].from_seq, 3u);
    EXPECT_EQ((*keys)[1].until_seq, 3u);
}

// Hole 4 (the store's side; the key-release side is in key_release_test.cpp): forged reports with ever new
// sequence numbers cannot grow a host's open findings without bound.
TEST_F(HostileHost, ForgedReportsCannotFloodTheStore) {
    enroll(*a_);
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    for (int batch = 0; batch < 4; ++batch) {
        std::vector<std::pair<bytes, bytes>> forged;
        for (int i = 0; i < 200; ++i) {
            auto [body, sig] = a_->make_report(1000 + batch * 200 + i, bytes(32, 1));
            sig[0] ^= 1;
            forged.emplace_back(body, sig);
        }
        a_->send_reports(forged);
    }
    const auto fs = v_->findings("host-a", "report-signature-invalid");
    EXPECT_EQ(fs.size(), verifier::max_open_findings_per_rule);
    std::uint64_t repeats = 0;
    for (const auto& f : fs) repeats += f.repeats;
    EXPECT_EQ(repeats + fs.size(), 800u);  // every refusal is counted, none is lost
    EXPECT_EQ(status("host-a"), "contraindicated");
}

// Hole 7: the duplicate-EK check ran only at /v1/enroll, so two enrollments pending at once both activated.
TEST_F(HostileHost, OneTpmCannotActivateAsTwoHostsNorTwoTpmsAsOne) {
    auto c = v_->client(false);
    auto start = [&](sim_host& tpm, const std::string& as) {
        unsigned st = 0;
        const std::string b = post(*c, "/v1/enroll", tpm.enroll_body(as, v_->token(as)), &st);
        EXPECT_EQ(st, 200u) << b;
        return parse_json(b).as_object();
    };
    auto activate = [&](sim_host& tpm, json::object started, std::string* body) {
        attest::credential_blob blob;
        blob.id_object = *from_base64(std::string(started["id_object"].as_string()));
        blob.encrypted_secret = *from_base64(std::string(started["encrypted_secret"].as_string()));
        auto secret = tpm.dev().activate_credential(tpm.ak(), blob);
        EXPECT_TRUE(secret.ok());
        unsigned st = 0;
        *body = post(*c, "/v1/enroll/activate",
                     json::serialize(json::object{{"enrollment_id", started["enrollment_id"]}, {"secret", to_base64(secret->view())}}),
                     &st);
        return st;
    };
    // Two TPMs, one name, both pending before either activates: the second would have replaced the first.
    auto y_by_b = start(*b_, "host-y");
    auto y_by_a = start(*a_, "host-y");
    std::string body;
    ASSERT_EQ(activate(*b_, y_by_b, &body), 200u) << body;
    const std::string ek_b = v_->host("host-y")->ek_sha256;
    EXPECT_EQ(activate(*a_, y_by_a, &body), 409u) << body;
    EXPECT_NE(body.find("ek-changed"), std::string::npos) << body;
    EXPECT_EQ(v_->host("host-y")->ek_sha256, ek_b);
    EXPECT_EQ(open_count("host-y", "ek-changed"), 1u);
    // One TPM, two names, both pending before either activates.
    auto as_a = start(*a_, "host-a");
    auto as_x = start(*a_, "host-x");
    ASSERT_EQ(activate(*a_, as_a, &body), 200u) << body;
    EXPECT_EQ(activate(*a_, as_x, &body), 409u) << body;
    EXPECT_NE(body.find("ek-duplicated"), std::string::npos) << body;
    EXPECT_FALSE(v_->host("host-x").has_value());
    EXPECT_EQ(open_count("host-x", "ek-duplicated"), 1u);
    // The schema holds it too: a second live host on one EK cannot be written, whatever the code above does.
    auto copy = *v_->host("host-a");
    copy.id = "host-z";
    auto tx = v_->ctx().db->begin();
    EXPECT_FALSE((*tx)->put_host(copy).ok());
}

// Hole 8: TPM resetCount and restartCount never go down on one TPM. Root restores an old state file of a
// software TPM: before, a lower resetCount was taken as a plain reboot.
TEST_F(HostileHost, ARolledBackTpmIsClockRollbackAndTheRecordIsNotRewound) {
    enroll(*a_);
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    const fs::path saved = a_->tpm().dir() / "saved-state";
    a_->tpm().save_state(saved);  // a power loss: resetCount 1 on the way back
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    a_->tpm().restart();
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    const std::uint32_t reached = v_->host("host-a")->reset_count;
    ASSERT_EQ(reached, 2u);
    EXPECT_EQ(open_count("host-a", "clock-rollback"), 0u);
    a_->tpm().restore_state(saved);  // resetCount 1 again
    r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    EXPECT_EQ(std::string(r["status"].as_string()), "contraindicated");
    const auto fs = open_only(v_->findings("host-a", "clock-rollback"));
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].detail.find("went back from 2/0 to 1/0"), std::string::npos) << fs[0].detail;
    EXPECT_EQ(v_->host("host-a")->reset_count, reached);
}

// Hole 10: the quoted evidence carries the agent's chain head. Reports it names that never arrive are
// withheld (and with them their GPU inventory and compute counts); a head that contradicts the stored
// chain is a rollback.
TEST_F(HostileHost, WithheldReportsBecomeAChainGapAndAContradictingHeadARollback) {
    enroll(*a_);
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    std::vector<std::pair<bytes, bytes>> made;
    for (int i = 0; i < 5; ++i) made.push_back(a_->make_report());
    ASSERT_EQ(a_->send_reports({made[0], made[1]}), (std::vector<std::string>{"accepted", "accepted"}));
    a_->round(&st);  // quotes head 5 while the verifier holds 2
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(v_->host("host-a")->quoted_head_seq, 5u);
    const std::int64_t now = verifier::unix_now();
    const std::int64_t grace = v_->ctx().chain_gap_grace_s();
    ASSERT_TRUE(verifier::check_dark_hosts(v_->ctx(), now + grace - 1).ok());
    EXPECT_EQ(open_count("host-a", "report-chain-gap"), 0u);
    ASSERT_TRUE(verifier::check_dark_hosts(v_->ctx(), now + grace + 2).ok());
    const auto gap = open_only(v_->findings("host-a", "report-chain-gap"));
    ASSERT_EQ(gap.size(), 1u);
    EXPECT_EQ(gap[0].detail, verifier::chain_gap_detail("host-a", 5));
    // They arrive after all: the claim is settled and the gap resolved.
    ASSERT_EQ(a_->send_reports({made[2], made[3], made[4]}), (std::vector<std::string>(3, "accepted")));
    EXPECT_EQ(open_count("host-a", "report-chain-gap"), 0u);
    EXPECT_EQ(v_->host("host-a")->quoted_head_at, 0);

    // A head the verifier holds with another hash: a forked chain.
    const bytes real = a_->head_hash();
    a_->set_head(5, bytes(32, 0x42));
    auto r = a_->round(&st);
    EXPECT_EQ(open_count("host-a", "report-rollback"), 1u) << json::serialize(r);
    // A head behind what the verifier holds: the agent's state was rolled back.
    a_->set_head(3, made[2].first.empty() ? bytes() : attest::report_hash(made[2].first));
    r = a_->round(&st);
    const auto rb = open_only(v_->findings("host-a", "report-rollback"));
    ASSERT_EQ(rb.size(), 2u) << json::serialize(r);
    a_->set_head(5, real);
}

// The report chain an auditor re-checks without the verifier: exported page by page with `custos fleet
// reports` (the real CLI against the real verifier), verified with `custos report verify`; a rewritten report,
// a dropped one or a key whose binding quote is not the AK's is caught, naming it.
TEST_F(HostileHost, AnExportedReportChainReverifiesOfflineAndEveryTamperingIsNamed) {
    enroll(*a_);
    unsigned st = 0;
    a_->round(&st);  // binds key 1 (round kind)
    ASSERT_EQ(st, 200u);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(a_->send_reports({a_->make_report()}), std::vector<std::string>{"accepted"});
    a_->new_report_key();
    ASSERT_EQ(a_->bind_key(), 200u);  // key 2 (report-key kind) from report 4
    for (int i = 0; i < 2; ++i) ASSERT_EQ(a_->send_reports({a_->make_report()}), std::vector<std::string>{"accepted"});
    temp_dir d("custos-chain-export");
    const std::string file = (d.path() / "chain.json").string();
    std::vector<std::pair<std::string, std::string>> env{{"CUSTOS_VERIFIER", v_->url()},
                                                         {"CUSTOS_CREDENTIAL", (v_->dir() / "operator").string()}};
    auto ex = run_process({CUSTOS_CLI_PATH, "fleet", "reports", "host-a", "--out", file}, env);
    ASSERT_EQ(ex.exit_code, 0) << ex.err;
    auto ok = run_process({CUSTOS_CLI_PATH, "report", "verify", file});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_NE(ok.out.find("reports: 5 (1 to 5)"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("keys: 2"), std::string::npos) << ok.out;
    // Pages: the operator API serves the same chain two at a time.
    auto op = v_->client();
    auto page = op->request("GET", "/v1/hosts/host-a/reports?from_seq=2&limit=2");
    ASSERT_TRUE(page.ok());
    const json::value p = parse_json(page->body);
    EXPECT_EQ(p.at("reports").as_array().size(), 2u);
    EXPECT_EQ(p.at("next_from_seq").to_number<std::uint64_t>(), 4u);
    auto agent_try = post(a_->client(), "/v1/hosts/host-a/reports", "{}", &st);
    EXPECT_NE(st, 200u) << agent_try;

    const json::value whole = parse_json(text_of(file));
    auto tampered = [&](const std::function<void(json::object&)>& edit) {
        json::value v = whole;
        edit(v.as_object());
        const std::string f = (d.path() / "t.json").string();
        std::ofstream(f) << json::serialize(v);
        return run_process({CUSTOS_CLI_PATH, "report", "verify", f});
    };
    auto rewritten = tampered([](json::object& o) {
        auto& r = o["reports"].as_array()[2].as_object();
        auto body = *from_base64(std::string(r["report"].as_string()));
        body[body.size() / 2] ^= 1;
        r["report"] = to_base64(body);
    });
    EXPECT_EQ(rewritten.exit_code, 1) << rewritten.err;
    EXPECT_NE(rewritten.err.find("report 3"), std::string::npos) << rewritten.err;
    auto dropped = tampered([](json::object& o) { o["reports"].as_array().erase(o["reports"].as_array().begin() + 1); });
    EXPECT_EQ(dropped.exit_code, 1);
    EXPECT_NE(dropped.err.find("report 2: seq"), std::string::npos) << dropped.err;
    auto widened = tampered([](json::object& o) { o["keys"].as_array()[0].as_object()["until_seq"] = nullptr; });
    EXPECT_EQ(widened.exit_code, 0) << "a wider window alone proves nothing wrong: the chain still links";
    auto foreign = tampered([](json::object& o) {
        auto& k = o["keys"].as_array()[1].as_object();
        k["binding"] = o["keys"].as_array()[0].as_object()["binding"];  // another key's quote
    });
    EXPECT_EQ(foreign.exit_code, 1);
    EXPECT_NE(foreign.err.find("binding"), std::string::npos) << foreign.err;
    auto other_ak = tampered([&](json::object& o) { o["ak_public"] = to_base64(attest::marshal_public(b_->ak().pub)); });
    EXPECT_EQ(other_ak.exit_code, 1);
    EXPECT_NE(other_ak.err.find("signature"), std::string::npos) << other_ak.err;
}

// Hole 6: host B reporting host A's GPU serial used to raise gpu-missing on A at once and revoke A's leases.
TEST_F(HostileHost, OneHostCannotFrameAnotherWithItsGpuSerials) {
    enroll(*a_);
    enroll(*b_);
    add_site();
    approve("host-a");
    approve("host-b");
    unsigned st = 0;
    a_->round(&st);
    b_->round(&st);
    // A's approved set is its first inventory.
    ASSERT_EQ(a_->send_reports({a_->make_report({}, {}, inventory_ext({"A-1", "A-2"}))}), std::vector<std::string>{"accepted"});
    ASSERT_EQ(b_->send_reports({b_->make_report({}, {}, inventory_ext({"B-1"}))}), std::vector<std::string>{"accepted"});
    ASSERT_EQ(status("host-a"), "affirming");
    // B claims A's A-2 while A still reports it.
    ASSERT_EQ(b_->send_reports({b_->make_report({}, {}, inventory_ext({"B-1", "A-2"}))}), std::vector<std::string>{"accepted"});
    EXPECT_EQ(open_count("host-a", "gpu-missing"), 0u);
    EXPECT_EQ(open_count("host-a", "gpu-duplicated"), 0u);
    EXPECT_EQ(status("host-a"), "affirming");
    EXPECT_EQ(open_count("host-b", "gpu-duplicated"), 1u);
    {
        auto tx = v_->ctx().db->begin();
        auto g = (*tx)->get_gpu("A-2");
        ASSERT_TRUE(g.ok() && g->has_value());
        EXPECT_EQ((*g)->host_id, "host-a");
    }
    // A's own inventory without A-2 is A's evidence: then, and only then, A-2 is missing there.
    ASSERT_EQ(a_->send_reports({a_->make_report({}, {}, inventory_ext({"A-1"}))}), std::vector<std::string>{"accepted"});
    EXPECT_EQ(open_count("host-a", "gpu-missing"), 1u);
}

}  // namespace
}  // namespace custos::test
