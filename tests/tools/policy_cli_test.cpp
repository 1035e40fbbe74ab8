// `custos policy evaluate` and `custos policy show`, run in-process: exactly the engine's JSON on stdout,
// exit 0 whatever was found, exit 2 with one line on stderr naming the bad input.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>

#include "tests/support/cli_runner.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"

namespace custos {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::run_cli;

const std::string good_fleet = R"({"entities":[{"id":"acme","hq_country":"US","status":"uveu"}],
 "sites":[{"id":"fra-1","entity":"acme","country":"DE","lat":50.11,"lon":8.68},{"id":"pek","entity":"acme","country":"CN","lat":39.9,"lon":116.4}],
 "hosts":[{"id":"h1","site":"fra-1","gpus":[{"serial":"1654922006536","chip":"H100-SXM"},{"serial":"u1","chip":"unknown"}]},
          {"id":"h2","site":"pek","gpus":[{"serial":"a1","chip":"Ascend-910B"}]}],
 "models":[{"id":"m1","closed_weights":true,"training_ops":2e26,"approved_sites":["fra-1"],"hosts":["h1","h2"]}]})";

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

class PolicyCli : public ::testing::Test {
protected:
    std::string file(const std::string& name, const std::string& text) {
        const fs::path p = dir_.path() / name;
        test::write_text(p, text);
        return p.string();
    }
    // The fleet with `from` replaced by `to`, written to a file.
    std::string fleet_with(const std::string& from, const std::string& to) {
        std::string s = good_fleet;
        const auto at = s.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) s.replace(at, from.size(), to);
        return file("fleet-" + std::to_string(n_++) + ".json", s);
    }
    test::temp_dir dir_{"custos-policy-cli"};
    int n_ = 0;
};

TEST_F(PolicyCli, EvaluateJson) {
    const std::string fleet = file("fleet.json", good_fleet);
    auto r = run_cli({"policy", "evaluate", "--profile", "bis-guidance-2025-05", "--fleet", fleet, "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(lines(r.out), 1u);
    boost::system::error_code ec;
    const json::value v = json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out;
    const json::object& o = v.as_object();
    ASSERT_EQ(o.size(), 2u);
    std::vector<std::string> rules;
    for (const auto& f : o.at("findings").as_array()) {
        EXPECT_EQ(f.as_object().size(), 6u);
        rules.push_back(std::string(f.at("rule").as_string()));
    }
    const std::vector<std::string> want = {"prohibited-chip", "tier3-destination", "closed-weights-unapproved-site",
                                           "gpu-unknown"};
    EXPECT_EQ(rules, want);
    const json::object& s = o.at("summary").as_object();
    EXPECT_EQ(s.size(), 5u);
    EXPECT_EQ(s.at("tpp_by_country").as_object().at("DE").as_int64(), 15832);
    EXPECT_EQ(s.at("tpp_by_country").as_object().at("CN").as_int64(), 5100);
    EXPECT_EQ(s.at("tpp_by_entity").as_object().at("acme").as_int64(), 15832 + 5100);
    EXPECT_EQ(s.at("unknown_tpp_gpus").to_number<int>(), 1);
    EXPECT_EQ(s.at("violations").to_number<int>(), 3);
    EXPECT_EQ(s.at("warnings").to_number<int>(), 1);
}

TEST_F(PolicyCli, EvaluateDiffusionAndText) {
    const std::string fleet = file("fleet.json", good_fleet);
    auto r = run_cli({"policy", "evaluate", "--profile", "ai-diffusion-2025-01", "--fleet", fleet});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("profile: ai-diffusion-2025-01"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tier3-destination"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("uveu-us-share"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("violations: "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("prohibited-chip"), std::string::npos) << r.out;
}

TEST_F(PolicyCli, EvaluateCleanFleetSaysSo) {
    const std::string fleet = file("clean.json", R"({"entities":[],"sites":[],"hosts":[],"models":[]})");
    auto r = run_cli({"policy", "evaluate", "--profile", "ai-diffusion-2025-01", "--fleet", fleet});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("no findings"), std::string::npos) << r.out;
}

TEST_F(PolicyCli, EvaluateWithProfileFileAndChips) {
    const std::string prof = file("ops.toml", "extends = \"ai-diffusion-2025-01\"\nid = \"ops\"\nsource = \"ops\"\n"
                                              "[rules]\nenabled = [\"tier3-destination\"]\nsource = \"ops\"\n");
    const std::string chips = file("chips.toml", "[[chip]]\nid = \"H100-SXM\"\nvendor = \"NVIDIA\"\ntpp = 20000\ntpp_bits = 8\n"
                                                 "names = [\"x\"]\n[[chip]]\nid = \"Ascend-910B\"\nvendor = \"Huawei\"\nnames = [\"y\"]\n");
    const std::string fleet = file("fleet.json", good_fleet);
    auto r = run_cli({"policy", "evaluate", "--profile", prof, "--fleet", fleet, "--chips", chips, "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const json::value v = json::parse(r.out);
    // Only gpu-unknown: the CN site holds an Ascend of unknown TPP here, so nothing controlled.
    ASSERT_EQ(v.at("findings").as_array().size(), 1u) << r.out;
    EXPECT_EQ(v.at("findings").as_array()[0].at("rule"), "gpu-unknown");
    EXPECT_EQ(v.at("summary").at("tpp_by_country").at("DE").as_int64(), 20000);
    EXPECT_EQ(v.at("summary").at("unknown_tpp_gpus").to_number<int>(), 2);
}

TEST_F(PolicyCli, BadInputExits2WithTheReason) {
    const std::string fleet = file("fleet.json", good_fleet);
    struct bad_case {
        std::vector<std::string> args;
        std::string want;
    };
    const std::string bad_profile = file("bad.toml", "id = \"x\"\nsource = \"x\"\n[rules]\nenabled = [\"nope\"]\nsource = \"x\"\n");
    const std::string no_source = file("nosrc.toml", "extends = \"ai-diffusion-2025-01\"\nsource = \"x\"\n[tier2]\ncountry_cap_tpp = 1\n");
    const std::string bad_chips = file("badchips.toml", "[[chip]]\nid = \"unknown\"\n");
    const std::vector<bad_case> cases = {
        {{"--profile", "nope", "--fleet", fleet}, "--profile: \"nope\" is neither a built-in profile"},
        {{"--profile", bad_profile, "--fleet", fleet}, "bad.toml:4: \"nope\" is not a rule"},
        {{"--profile", no_source, "--fleet", fleet}, "nosrc.toml:3: [tier2] has no source"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", (dir_.path() / "missing.json").string()}, "--fleet"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet, "--chips", bad_chips}, "--chips: "},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", file("notjson.json", "{\"entities\":")}, "is not valid JSON"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"chip\":\"H100-SXM\"", "\"chip\":\"H999\"")},
         "field \"chip\" is \"H999\", which is not in the chip table"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"country\":\"DE\"", "\"country\":\"XX\"")},
         "site \"fra-1\": field \"country\" is \"XX\", not an ISO 3166-1 alpha-2 country code"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"site\":\"pek\"", "\"site\":\"sha\"")},
         "host \"h2\": field \"site\" names site \"sha\", which the fleet does not have"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"hosts\":[\"h1\",\"h2\"]", "\"hosts\":[\"h1\",\"h3\"]")},
         "model \"m1\": field \"hosts\" names host \"h3\", which the fleet does not have"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"status\":\"uveu\"", "\"status\":\"gold\"")},
         "field \"status\" is \"gold\", not one of uveu, nveu, none"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"id\":\"h2\"", "\"id\":\"h1\"")},
         "the host id \"h1\" appears twice"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"lat\":39.9", "\"lat\":99.9")},
         "site \"pek\": field \"lat\" must be a latitude between -90 and 90"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"lon\":116.4", "\"lon\":-200")},
         "field \"lon\" must be a longitude between -180 and 180"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with(",\"training_ops\":2e26", "")},
         "model \"m1\": field \"training_ops\" is missing"},
        {{"--profile", "ai-diffusion-2025-01", "--fleet", fleet_with("\"hq_country\":\"US\",", "")},
         "entity \"acme\": field \"hq_country\" is missing"},
        {{"--fleet", fleet}, "--profile is required"},
        {{"--profile", "ai-diffusion-2025-01"}, "--fleet is required"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args = {"policy", "evaluate"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        args.push_back("--json");
        auto r = run_cli(args);
        EXPECT_EQ(r.rc, 2) << c.want << "\n" << r.err;
        EXPECT_EQ(r.out, "") << c.want;
        EXPECT_NE(r.err.find(c.want), std::string::npos) << "want: " << c.want << "\ngot:  " << r.err;
    }
}

TEST_F(PolicyCli, Show) {
    auto r = run_cli({"policy", "show", "ai-diffusion-2025-01"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("rules: tier3-destination uveu-hq-not-tier1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tier2_country_cap_tpp = 790000000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nveu_cap_tpp = 5066240000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[tiers] 90 FR 4544"), std::string::npos) << r.out;

    auto j = run_cli({"policy", "show", "bis-guidance-2025-05", "--json"});
    ASSERT_EQ(j.rc, 0) << j.err;
    const json::value v = json::parse(j.out);
    EXPECT_EQ(v.at("id"), "bis-guidance-2025-05");
    EXPECT_EQ(v.at("rules").as_array().size(), 3u);
    EXPECT_TRUE(v.at("tier2_country_cap_tpp").is_null());
    EXPECT_FALSE(v.at("sources").as_object().empty());

    auto bad = run_cli({"policy", "show", "no-such-profile"});
    EXPECT_EQ(bad.rc, 2);
    EXPECT_NE(bad.err.find("no-such-profile"), std::string::npos);
}

}  // namespace
}  // namespace custos
