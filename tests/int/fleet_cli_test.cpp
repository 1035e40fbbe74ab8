// custos fleet and custos result verify against a running verifier with enrolled swtpm hosts.
#include <gtest/gtest.h>

#include "tests/int/verifier_harness.hpp"

namespace custos::test {
namespace {

class FleetCli : public ::testing::Test {
protected:
    void SetUp() override {
        auto t = swtpm::start();
        v_ = std::make_unique<verifier_instance>(std::vector<const swtpm*>{t.get()});
        h_ = std::make_unique<sim_host>("gpu-1", std::move(t));
        ASSERT_EQ(h_->enroll(*v_, v_->token("gpu-1")), 200u);
    }
    process_result fleet(std::vector<std::string> args, bool with_credential = true) {
        args.insert(args.begin(), {CUSTOS_CLI_PATH, "fleet"});
        std::vector<std::pair<std::string, std::string>> env{{"CUSTOS_VERIFIER", v_->url()}};
        env.emplace_back("CUSTOS_CREDENTIAL", with_credential ? (v_->dir() / "operator").string() : "");
        return run_process(args, env);
    }
    std::unique_ptr<verifier_instance> v_;
    std::unique_ptr<sim_host> h_;
};

TEST_F(FleetCli, ManagesSitesApprovesHostsAndListsFindings) {
    auto e = fleet({"entity", "add", "acme", "--hq", "US", "--status", "uveu"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_EQ(e.out, "entity acme saved\n");
    auto bad_site = fleet({"site", "add", "dc1", "--entity", "nobody", "--country", "KR", "--lat", "37", "--lon", "127", "--max-km", "5"});
    EXPECT_EQ(bad_site.exit_code, 1);
    EXPECT_NE(bad_site.err.find("no entity \"nobody\""), std::string::npos) << bad_site.err;
    ASSERT_EQ(fleet({"site", "add", "dc1", "--entity", "acme", "--country", "KR", "--lat", "37", "--lon", "127", "--max-km", "5"}).exit_code, 0);
    auto lat = fleet({"site", "add", "dc2", "--entity", "acme", "--country", "KR", "--lat", "97", "--lon", "127", "--max-km", "5"});
    EXPECT_EQ(lat.exit_code, 1);
    EXPECT_NE(lat.err.find("lat"), std::string::npos) << lat.err;
    auto ap = fleet({"approve", "gpu-1", "--site", "dc1"});
    ASSERT_EQ(ap.exit_code, 0) << ap.err;
    unsigned st = 0;
    h_->round(&st);
    ASSERT_EQ(st, 200u);
    auto hosts = fleet({"hosts", "--json"});
    ASSERT_EQ(hosts.exit_code, 0) << hosts.err;
    auto j = parse_json(hosts.out).as_object();
    ASSERT_EQ(j["hosts"].as_array().size(), 1u);
    auto& h = j["hosts"].as_array()[0].as_object();
    EXPECT_EQ(h["state"].as_string(), "approved");
    EXPECT_EQ(h["site"].as_string(), "dc1");
    EXPECT_EQ(h["status"].as_string(), "affirming");
    auto human = fleet({"hosts"});
    EXPECT_NE(human.out.find("gpu-1"), std::string::npos);
    EXPECT_NE(human.out.find("affirming"), std::string::npos);
    h_->extend_pcr(4);
    h_->round(&st);
    auto fs = fleet({"findings", "--host", "gpu-1", "--open", "--json"});
    ASSERT_EQ(fs.exit_code, 0);
    auto fj = parse_json(fs.out).as_object();
    ASSERT_EQ(fj["findings"].as_array().size(), 1u);
    EXPECT_EQ(fj["findings"].as_array()[0].as_object()["rule"].as_string(), "pcr-changed");
    auto one = fleet({"host", "gpu-1", "--json"});
    auto oj = parse_json(one.out).as_object();
    EXPECT_EQ(oj["status"].as_string(), "contraindicated");
    EXPECT_FALSE(oj["golden_pcrs"].is_null());
    // The latest signed result verifies offline and says contraindicated; a flipped byte does not verify.
    const std::string token(oj["latest_appraisal"].as_object()["token"].as_string());
    const std::string pub = (v_->dir() / "keys/result.pub.pem").string();
    auto ok = run_process({CUSTOS_CLI_PATH, "result", "verify", token, "--verifier-pub", pub});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_NE(ok.out.find("status: contraindicated"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("host: gpu-1"), std::string::npos) << ok.out;
    std::string forged = token;
    forged[forged.find('.') + 5] = forged[forged.find('.') + 5] == 'a' ? 'b' : 'a';
    auto bad = run_process({CUSTOS_CLI_PATH, "result", "verify", forged, "--verifier-pub", pub});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_TRUE(bad.out.empty());
    auto dec = fleet({"decommission", "gpu-1"});
    ASSERT_EQ(dec.exit_code, 0) << dec.err;
    unsigned cst = 0;
    h_->challenge(&cst);
    EXPECT_EQ(cst, 403u);  // a decommissioned host's certificate no longer works
}

TEST_F(FleetCli, NeedsTheOperatorCredential) {
    auto r = fleet({"hosts"}, false);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--credential"), std::string::npos) << r.err;
    auto unknown = fleet({"host", "nope"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find("no host \"nope\""), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace custos::test
