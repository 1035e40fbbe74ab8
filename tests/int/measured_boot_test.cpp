// Measured boot and IMA in the verifier's rounds: a host on swtpm, its logs written by measure-sim, appraised
// by replay against each quote (event-log-mismatch), against the boot reference taken at approval
// (boot-changed) and against the runtime allow-list (agent-modified, ima-unknown-file).
#include <gtest/gtest.h>

#include <thread>

#include "attest/boot_appraisal.hpp"
#include "attest/runtime_policy.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "tests/int/verifier_harness.hpp"

namespace custos::test {
namespace {

class MeasuredBoot : public ::testing::Test {
protected:
    void SetUp() override {
        auto t = swtpm::start();
        v_ = std::make_unique<verifier_instance>(std::vector<const swtpm*>{t.get()}, 30);
        // The runtime allow-list: custos-agent (agent entry) and bash.
        attest::runtime_policy p;
        p.entries.push_back({"/usr/bin/custos-agent", {sha256(as_bytes("agent build 1"))}, true});
        p.entries.push_back({"/usr/bin/bash", {sha256(as_bytes("bash"))}, false});
        p.excludes = {"/var/log/*"};
        ASSERT_TRUE(write_file_atomic(v_->dir() / "runtime-policy.json", attest::runtime_policy_to_json(p)).ok());
        v_->stop();
        v_->mutable_cfg().runtime_policy = "runtime-policy.json";
        v_->start();
        a_ = std::make_unique<sim_host>("host-a", std::move(t));
        boot_ = a_->tpm().dir() / "boot.bin";
        ima_ = a_->tpm().dir() / "ima.bin";
        sim({"boot", "--out", boot_.string()});
        measure("custos-agent", "agent build 1", "/usr/bin/custos-agent");
        measure("bash", "bash", "/usr/bin/bash");
        ASSERT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
        op_ = v_->client();
        unsigned st = 0;
        post(*op_, "/v1/entities", R"({"id":"acme","hq":"KR","status":"none"})", &st);
        post(*op_, "/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", &st);
        const std::string b = post(*op_, "/v1/hosts/host-a/approve", R"({"site":"dc1"})", &st);
        ASSERT_EQ(st, 200u) << b;
    }
    void sim(std::vector<std::string> args) {
        args.insert(args.begin(), CUSTOS_MEASURE_SIM_PATH);
        args.insert(args.begin() + 2, {"--tcti", a_->tpm().tcti()});
        auto r = run_process(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    void measure(const std::string& name, const std::string& content, const std::string& as) {
        const fs::path f = a_->tpm().dir() / name;
        std::ofstream(f) << content;
        sim({"ima", "--log", ima_.string(), "--file", f.string(), "--as", as});
    }
    // The logs as the agent sends them: the boot log, and the IMA entries from `from`.
    void send_logs(std::uint64_t from) {
        auto list = read_file(ima_, 1u << 26);
        ASSERT_TRUE(list.ok());
        auto entries = attest::parse_ima_log(*list);
        ASSERT_TRUE(entries.ok());
        const std::vector<attest::ima_entry> fresh(entries->begin() + static_cast<std::ptrdiff_t>(from), entries->end());
        a_->logs = json::object{{"boot", to_base64(*read_file(boot_))},
                                {"ima_from", from},
                                {"ima", to_base64(attest::serialize_ima_log(fresh))}};
    }
    std::vector<std::string> open_rules() {
        std::vector<std::string> out;
        for (const auto& f : v_->findings("host-a"))
            if (f.open) out.push_back(f.rule);
        std::sort(out.begin(), out.end());
        return out;
    }

    std::unique_ptr<verifier_instance> v_;
    std::unique_ptr<sim_host> a_;
    std::unique_ptr<net::https_client> op_;
    fs::path boot_, ima_;
};

TEST_F(MeasuredBoot, ConsistentLogsAffirmAndOnlyNewImaEntriesTravel) {
    send_logs(0);
    unsigned st = 0;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    EXPECT_EQ(r.at("status").as_string(), "affirming") << json::serialize(r);
    EXPECT_EQ(r.at("ima_next").to_number<std::uint64_t>(), 3u);  // boot_aggregate, custos-agent, bash
    auto m = [&] {
        auto tx = v_->ctx().db->begin();
        return *(*tx)->get_host_measurements("host-a");
    }();
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->ima_count, 3u);
    EXPECT_FALSE(m->boot_reference.empty()) << "captured at the first consistent log after approval";

    // Files measured later (PCR 10 moves): only they are sent, and no pcr-changed fires for PCR 10.
    measure("log", "changes", "/var/log/syslog");
    send_logs(3);
    r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r.at("status").as_string(), "affirming") << json::serialize(r);
    EXPECT_EQ(r.at("ima_next").to_number<std::uint64_t>(), 4u);
    EXPECT_TRUE(open_rules().empty());

    // An agent that lost its place sends everything again: nothing is judged twice.
    send_logs(0);
    r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r.at("ima_next").to_number<std::uint64_t>(), 4u);
    EXPECT_TRUE(open_rules().empty());
}

// Hole 9 of the hostile-host work: the agent's start-up binding after a reboot records the new resetCount
// before the first round, which then took the new IMA list as a continuation of the previous boot's. The
// IMA state carries the boot it belongs to, so a real reboot is a fresh replay and nothing else.
TEST_F(MeasuredBoot, ARebootFollowedByAKeyBindingStartsAFreshImaReplayWithoutFalseFindings) {
    send_logs(0);
    unsigned st = 0;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    ASSERT_EQ(r.at("ima_next").to_number<std::uint64_t>(), 3u);
    measure("log", "changes", "/var/log/syslog");
    send_logs(3);
    r = a_->round(&st);
    ASSERT_EQ(r.at("ima_next").to_number<std::uint64_t>(), 4u);
    // The reboot: a new TPM boot, the same firmware and kernel, IMA's list from the start.
    a_->tpm().restart();
    fs::remove(ima_);
    sim({"boot", "--out", boot_.string()});
    measure("custos-agent", "agent build 1", "/usr/bin/custos-agent");
    measure("bash", "bash", "/usr/bin/bash");
    // The new agent binds its key first (a quote of the new boot), then attests.
    a_->new_report_key();
    std::string body;
    ASSERT_EQ(a_->bind_key(&body), 200u) << body;
    send_logs(0);
    r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    EXPECT_EQ(r.at("ima_next").to_number<std::uint64_t>(), 3u) << json::serialize(r);
    EXPECT_EQ(open_rules(), std::vector<std::string>{"reboot"});
    EXPECT_EQ(r.at("status").as_string(), "affirming") << json::serialize(r);
    auto tx = v_->ctx().db->begin();
    auto m = (*tx)->get_host_measurements("host-a");
    ASSERT_TRUE(m.ok() && m->has_value());
    EXPECT_EQ((*m)->ima_count, 3u);
    EXPECT_TRUE((*m)->have_reset);
    EXPECT_EQ((*m)->reset_count, 1u);
}

// A host that sent its IMA list before and leaves it out of a round (root switching off what would show a
// swapped agent) gets an answer, but the round does not count as its challenged quote: key release and
// attestation-overdue go by the last round that carried every log.
TEST_F(MeasuredBoot, ARoundThatLeavesOutALogTheHostSentBeforeDoesNotCount) {
    send_logs(0);
    unsigned st = 0;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    EXPECT_TRUE(r.at("counted").as_bool());
    const std::int64_t counted_at = v_->host("host-a")->last_quote_at;
    ASSERT_GT(counted_at, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    a_->logs.erase("ima");
    a_->logs.erase("ima_from");
    r = a_->round(&st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    EXPECT_FALSE(r.at("counted").as_bool()) << json::serialize(r);
    EXPECT_NE(std::string(r.at("not_counted").as_string()).find("IMA list"), std::string::npos);
    EXPECT_EQ(v_->host("host-a")->last_quote_at, counted_at);
    send_logs(3);
    r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_TRUE(r.at("counted").as_bool());
    EXPECT_GT(v_->host("host-a")->last_quote_at, counted_at);
}

TEST_F(MeasuredBoot, ASwappedAgentBinaryIsAgentModifiedAndAnUnknownProgramAWarning) {
    send_logs(0);
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    measure("xmrig", "miner", "/opt/xmrig");
    send_logs(3);
    auto r = a_->round(&st);
    EXPECT_EQ(r.at("status").as_string(), "warning");
    EXPECT_EQ(open_rules(), std::vector<std::string>{"ima-unknown-file"});
    measure("custos-agent.new", "agent build 1 with a backdoor", "/usr/bin/custos-agent");
    send_logs(4);
    r = a_->round(&st);
    EXPECT_EQ(r.at("status").as_string(), "contraindicated");
    EXPECT_EQ(open_rules(), (std::vector<std::string>{"agent-modified", "ima-unknown-file"}));
    for (const auto& f : v_->findings("host-a", "agent-modified"))
        EXPECT_NE(f.detail.find("custos-agent file /usr/bin/custos-agent was measured with sha256:"), std::string::npos) << f.detail;
}

TEST_F(MeasuredBoot, AnExtensionWithoutALogEntryIsAMismatchNotAGoldenValueChange) {
    send_logs(0);
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    // A bootloader that measures something into PCR 4 and leaves it out of the log.
    ASSERT_TRUE(a_->dev().pcr_extend(4, {{hash_alg::sha256, bytes(32, 0x5a)}}).ok());
    send_logs(3);
    auto r = a_->round(&st);
    EXPECT_EQ(r.at("status").as_string(), "contraindicated");
    EXPECT_EQ(open_rules(), std::vector<std::string>{"event-log-mismatch"});
    const auto f = v_->findings("host-a", "event-log-mismatch");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_NE(f[0].detail.find("sha256 PCR 4 is "), std::string::npos) << f[0].detail;
    // IMA entries removed from the list: PCR 10 cannot be met.
    ASSERT_TRUE(a_->dev().pcr_extend(10, {{hash_alg::sha256, bytes(32, 1)}}).ok());
    send_logs(3);
    a_->round(&st);
    bool ima = false;
    for (const auto& x : v_->findings("host-a", "event-log-mismatch")) ima = ima || x.detail.find("IMA list replays") != std::string::npos;
    EXPECT_TRUE(ima);
}

TEST_F(MeasuredBoot, MalformedLogsAreRefusedSayingWhereAndNothingIsKept) {
    send_logs(0);
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    // A truncated boot log: refused with its offset; the IMA state stays.
    auto boot = *read_file(boot_);
    boot.resize(boot.size() - 5);
    a_->logs["boot"] = to_base64(boot);
    a_->logs["ima_from"] = 3;
    a_->logs["ima"] = "";
    a_->round(&st);
    const auto f = v_->findings("host-a", "event-log-mismatch");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_NE(f[0].detail.find("the boot event log is refused: boot event log at offset "), std::string::npos) << f[0].detail;
    EXPECT_NE(f[0].detail.find("truncated"), std::string::npos) << f[0].detail;
    // "ima" without "ima_from": a bad request, nothing stored.
    a_->logs = json::object{{"ima", ""}};
    const std::string b = [&] {
        std::string body;
        a_->round(&st, &body);
        return body;
    }();
    EXPECT_EQ(st, 400u) << b;
    EXPECT_NE(b.find("ima_from"), std::string::npos) << b;
    auto tx = v_->ctx().db->begin();
    EXPECT_EQ((*(*tx)->get_host_measurements("host-a"))->ima_count, 3u);
}

TEST_F(MeasuredBoot, AnOperatorsBootReferenceIsWhatTheBootIsJudgedAgainst) {
    // The operator approves with the reference of another build (another kernel): the host's own boot,
    // though consistent with its quote, is then a boot change.
    auto other = swtpm::start();
    ASSERT_TRUE(other);
    const fs::path theirs = a_->tpm().dir() / "other-boot.bin";
    auto r = run_process({CUSTOS_MEASURE_SIM_PATH, "boot", "--tcti", other->tcti(), "--out", theirs.string(), "--kernel", "vmlinuz-6.9"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ref = run_process({CUSTOS_CLI_PATH, "eventlog", "reference", theirs.string()});
    ASSERT_EQ(ref.exit_code, 0) << ref.err;
    unsigned st = 0;
    const std::string b = post(*op_, "/v1/hosts/host-a/approve", R"({"site":"dc1","boot_reference":)" + ref.out + "}", &st);
    ASSERT_EQ(st, 200u) << b;
    send_logs(0);
    auto answer = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(answer.at("status").as_string(), "contraindicated");
    const auto f = v_->findings("host-a", "boot-changed");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_NE(f[0].detail.find("PCR 4 event 2 (EV_EFI_BOOT_SERVICES_APPLICATION): digest "), std::string::npos) << f[0].detail;
    // A reference that is not one is refused, and the stored one stays.
    post(*op_, "/v1/hosts/host-a/approve", R"({"site":"dc1","boot_reference":{"components":[{"pcr":9}]}})", &st);
    EXPECT_EQ(st, 400u);
    auto tx = v_->ctx().db->begin();
    EXPECT_EQ(attest::parse_boot_reference((*(*tx)->get_host_measurements("host-a"))->boot_reference)->size(),
              attest::parse_boot_reference(ref.out)->size());
}

}  // namespace
}  // namespace custos::test
