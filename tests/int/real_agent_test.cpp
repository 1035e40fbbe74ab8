// The real custos-agent against the real custos-verifier (both as processes, swtpm, SQLite): enrollment,
// rounds and reports across agent restarts and a reboot, each start's report key bound over a verifier
// nonce for its own part of the chain, and the whole chain re-verified offline by `custos report verify`.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <regex>

#include "crypto/strict_json.hpp"
#include "net/https_client.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

class RealAgent : public ::testing::Test {
protected:
    void SetUp() override {
        tpm_ = swtpm::start();
        vdir_ = dir_.path() / "v";
        fs::copy_file(tpm_->ca_cert(), dir_.path() / "ek-ca.pem");
        auto init = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", vdir_.string(), "--ek-ca",
                                 (dir_.path() / "ek-ca.pem").string()});
        ASSERT_EQ(init.exit_code, 0) << init.err;
        verifier_ = std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_VERIFIER_PATH, "serve", "--config", (vdir_ / "verifier.toml").string(),
                                     "--listen", "127.0.0.1:0"},
            dir_.path() / "verifier.log");
        ASSERT_TRUE(wait_until([&] { return verifier_->log().find("listening on port") != std::string::npos ||
                                            !verifier_->running(); },
                               20s));
        std::smatch m;
        const std::string log = verifier_->log();
        ASSERT_TRUE(std::regex_search(log, m, std::regex("listening on port ([0-9]+)"))) << log;
        url_ = "https://127.0.0.1:" + m[1].str();
        auto tok = run_process({CUSTOS_VERIFIER_PATH, "enroll-token", "--config", (vdir_ / "verifier.toml").string(),
                                "--host-id", "gpu-r"});
        ASSERT_EQ(tok.exit_code, 0) << tok.err;
        token_ = tok.out.substr(0, tok.out.find('\n'));
    }

    // One agent life: enroll if needed, one report, one round, flush, exit.
    process_result agent_once() {
        return run_process({CUSTOS_AGENT_PATH, "--allow-root", "--once", "--host-id", "gpu-r", "--verifier-url", url_,
                            "--ca-file", (vdir_ / "ca/ca.pem").string(), "--state-dir", (dir_.path() / "agent").string(),
                            "--tcti", tpm_->tcti(), "--enroll-token", token_});
    }
    json::value get(const std::string& path) {
        net::https_client_options o;
        o.ca_file = (vdir_ / "operator/ca.pem").string();
        o.cert_file = (vdir_ / "operator/cert.pem").string();
        o.key_file = (vdir_ / "operator/key.pem").string();
        auto c = net::https_client::create(url_, o);
        EXPECT_TRUE(c.ok());
        auto r = (*c)->request("GET", path, "");
        EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.err().message);
        auto v = sjson::parse(r.ok() ? r->body : "{}", path);
        return v.ok() ? *v : json::value();
    }
    std::vector<std::string> open_rules() {
        std::vector<std::string> out;
        const json::value answer = get("/v1/findings?host=gpu-r&open=1");  // kept alive for the loop
        for (const auto& f : answer.at("findings").as_array())
            out.emplace_back(f.at("rule").as_string());
        std::sort(out.begin(), out.end());
        return out;
    }
    process_result verify_chain() {
        const std::string file = (dir_.path() / "chain.json").string();
        auto ex = run_process({CUSTOS_CLI_PATH, "fleet", "reports", "gpu-r", "--out", file},
                              {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "operator").string()}});
        EXPECT_EQ(ex.exit_code, 0) << ex.err;
        return run_process({CUSTOS_CLI_PATH, "report", "verify", file});
    }

    temp_dir dir_{"custos-real-agent"};
    std::unique_ptr<swtpm> tpm_;
    fs::path vdir_;
    std::string url_, token_;
    std::unique_ptr<daemon_process> verifier_;
};

TEST_F(RealAgent, EachStartBindsItsOwnKeyOverANonceForItsPartOfTheChainAndTheChainVerifiesOffline) {
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

TEST_F(RealAgent, AfterARebootTheFirstRoundIsFreshAndTheOldBootsKeyIsRetired) {
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

}  // namespace
}  // namespace custos::test
