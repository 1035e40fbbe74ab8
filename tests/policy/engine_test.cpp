// policy/engine: every rule fires on a fleet just past its threshold and stays quiet on one just short of it
// (real chip counts from the built-in chip table), the LPP allowance arithmetic, prohibited and unknown
// chips, the TPP tables, the order of findings and the JSON form.
#include "policy/engine.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace custos::policy {
namespace {

namespace json = boost::json;

const profile& diffusion() {
    static const profile p = [] {
        auto r = load_profile("ai-diffusion-2025-01");
        if (!r) throw std::runtime_error(r.err().message);
        return std::move(r).value();
    }();
    return p;
}

const profile& guidance() {
    static const profile p = [] {
        auto r = load_profile("bis-guidance-2025-05");
        if (!r) throw std::runtime_error(r.err().message);
        return std::move(r).value();
    }();
    return p;
}

const chip_table& chips() { return chip_table::builtin(); }

// Builds fleets record by record: one host per site, `n` GPUs of a chip at a time.
class fleet_builder {
public:
    fleet_builder& entity(const std::string& id, const std::string& hq, const std::string& status) {
        f_.entities.push_back({id, hq, status});
        return *this;
    }
    // Site `id` of `entity` in `country`, with host "<id>-h" holding n GPUs of `chip`.
    fleet_builder& site(const std::string& id, const std::string& entity, const std::string& country, std::size_t n,
                        const std::string& chip = "H100-SXM") {
        f_.sites.push_back({id, entity, country, 0, 0});
        f_.hosts.push_back({id + "-h", id, {}});
        return gpus(id + "-h", n, chip);
    }
    fleet_builder& gpus(const std::string& host, std::size_t n, const std::string& chip) {
        for (auto& h : f_.hosts)
            if (h.id == host)
                for (std::size_t i = 0; i < n; ++i) h.gpus.push_back({"S" + std::to_string(serial_++), chip});
        return *this;
    }
    fleet_builder& model(const std::string& id, bool closed, double ops, std::vector<std::string> approved,
                         std::vector<std::string> hosts) {
        f_.models.push_back({id, closed, ops, std::move(approved), std::move(hosts)});
        return *this;
    }
    const fleet& get() const { return f_; }

private:
    fleet f_;
    std::size_t serial_ = 1000;
};

std::vector<policy_finding> of_rule(const evaluation& e, std::string_view rule) {
    std::vector<policy_finding> out;
    for (const auto& f : e.findings)
        if (f.rule == rule) out.push_back(f);
    return out;
}

evaluation run(const fleet_builder& b, const profile& p = diffusion()) { return evaluate(p, b.get(), chips()); }

// ---- uveu-tier2-country-share: at most 7 % in one Tier-2 country

TEST(PolicyEngine, Tier2CountryShareExactly7PercentDoesNotFire) {
    fleet_builder b;
    b.entity("acme", "DE", "uveu").site("fra", "acme", "DE", 93).site("bom", "acme", "IN", 7);
    const auto e = run(b);
    EXPECT_TRUE(of_rule(e, "uveu-tier2-country-share").empty());
    EXPECT_TRUE(e.findings.empty()) << e.findings[0].detail;
    EXPECT_EQ(e.tpp_by_entity.at("acme"), 100 * 15832.0);
}

TEST(PolicyEngine, Tier2CountryShare8PercentFires) {
    fleet_builder b;
    b.entity("acme", "DE", "uveu").site("fra", "acme", "DE", 92).site("bom", "acme", "IN", 8);
    const auto e = run(b);
    const auto f = of_rule(e, "uveu-tier2-country-share");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].severity, "violation");
    EXPECT_EQ(f[0].subject_kind, "entity");
    EXPECT_EQ(f[0].subject, "acme");
    EXPECT_EQ(f[0].host, "");
    EXPECT_EQ(f[0].ref, "IN");
    EXPECT_EQ(f[0].detail,
              "entity acme has 8.0 % of its controlled TPP (126,656 of 1,583,200) in Tier-2 country IN (at most 7 %)");
}

TEST(PolicyEngine, Tier2CountryShareOnePerCountryAndTheExampleSentence) {
    fleet_builder b;
    // 2 of 22 H100 = 9.1 % in IN, 2 of 22 in BR; 18 in DE (81.8 %, Tier-1 share fine).
    b.entity("acme", "DE", "uveu").site("fra", "acme", "DE", 18).site("bom", "acme", "IN", 2).site("sao", "acme", "BR", 2);
    const auto f = of_rule(run(b), "uveu-tier2-country-share");
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].ref, "BR");
    EXPECT_EQ(f[1].ref, "IN");
    EXPECT_EQ(f[1].detail,
              "entity acme has 9.1 % of its controlled TPP (31,664 of 348,304) in Tier-2 country IN (at most 7 %)");
}

TEST(PolicyEngine, Tier2CountryShareIgnoresTier1AndTier3AndNonUveu) {
    fleet_builder b;
    b.entity("acme", "DE", "none").site("fra", "acme", "DE", 50).site("bom", "acme", "IN", 50);
    EXPECT_TRUE(of_rule(run(b), "uveu-tier2-country-share").empty());
    fleet_builder c;
    c.entity("acme", "DE", "uveu").site("fra", "acme", "DE", 80).site("par", "acme", "FR", 20);
    EXPECT_TRUE(run(c).findings.empty());
}

// ---- uveu-tier1-share: at least 75 % in Tier 1

TEST(PolicyEngine, Tier1ShareExactly75PercentDoesNotFire) {
    fleet_builder b;
    b.entity("acme", "DE", "uveu")
        .site("fra", "acme", "DE", 75)
        .site("bom", "acme", "IN", 7)
        .site("sao", "acme", "BR", 6)
        .site("mex", "acme", "MX", 6)
        .site("sin", "acme", "SG", 6);
    const auto e = run(b);
    EXPECT_TRUE(e.findings.empty()) << e.findings[0].detail;
}

TEST(PolicyEngine, Tier1Share74PercentFires) {
    fleet_builder b;
    b.entity("acme", "DE", "uveu")
        .site("fra", "acme", "DE", 74)
        .site("bom", "acme", "IN", 7)
        .site("sao", "acme", "BR", 7)
        .site("mex", "acme", "MX", 6)
        .site("sin", "acme", "SG", 6);
    const auto e = run(b);
    ASSERT_EQ(e.findings.size(), 1u) << e.findings[1].detail;
    EXPECT_EQ(e.findings[0].rule, "uveu-tier1-share");
    EXPECT_EQ(e.findings[0].subject, "acme");
    EXPECT_EQ(e.findings[0].detail,
              "entity acme has 74.0 % of its controlled TPP (1,171,568 of 1,583,200) in Tier-1 countries (at least 75 %)");
}

TEST(PolicyEngine, ShareRulesSkipAnEntityWithoutControlledTpp) {
    fleet_builder b;
    // H20 is not 3A090.a: no controlled TPP anywhere, so no share to check.
    b.entity("acme", "US", "uveu").site("bom", "acme", "IN", 10, "H20");
    const auto e = run(b);
    EXPECT_TRUE(e.findings.empty()) << e.findings[0].detail;
    EXPECT_EQ(e.tpp_by_entity.at("acme"), 0.0);
    EXPECT_EQ(e.tpp_by_country.at("IN"), 0.0);
}

// ---- uveu-us-share: a US-headquartered UVEU keeps at least 50 % in the US

TEST(PolicyEngine, UsShareExactly50PercentDoesNotFire) {
    fleet_builder b;
    b.entity("acme", "US", "uveu").site("iad", "acme", "US", 50).site("fra", "acme", "DE", 50);
    EXPECT_TRUE(run(b).findings.empty());
}

TEST(PolicyEngine, UsShare49PercentFires) {
    fleet_builder b;
    b.entity("acme", "US", "uveu").site("iad", "acme", "US", 49).site("fra", "acme", "DE", 51);
    const auto e = run(b);
    ASSERT_EQ(e.findings.size(), 1u);
    EXPECT_EQ(e.findings[0].rule, "uveu-us-share");
    EXPECT_EQ(e.findings[0].detail, "entity acme, a UVEU headquartered in the US, has 49.0 % of its controlled TPP "
                                    "(775,768 of 1,583,200) in the US (at least 50 %)");
}

TEST(PolicyEngine, UsShareOnlyForUsHeadquarters) {
    fleet_builder b;
    b.entity("acme", "GB", "uveu").site("iad", "acme", "US", 10).site("fra", "acme", "DE", 90);
    EXPECT_TRUE(run(b).findings.empty());
}

// ---- uveu-hq-not-tier1

TEST(PolicyEngine, UveuHeadquarteredOutsideTier1Fires) {
    fleet_builder b;
    b.entity("acme", "IN", "uveu").entity("beta", "CN", "uveu").entity("gamma", "JP", "uveu").entity("delta", "IN", "none");
    const auto f = of_rule(run(b), "uveu-hq-not-tier1");
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].subject, "acme");
    EXPECT_EQ(f[0].subject_kind, "entity");
    EXPECT_EQ(f[0].detail,
              "entity acme is a universal validated end user (UVEU) headquartered in IN, a Tier-2 country (a UVEU must be "
              "headquartered in Tier 1)");
    EXPECT_EQ(f[1].subject, "beta");
}

// ---- tier2-country-cap: entities without VEU status, less the LPP allowance each

TEST(PolicyEngine, Tier2CapJustUnderWithH100DoesNotFire) {
    // 51,598 × 15,832 = 816,899,536; less 26,900,000 = 789,999,536 ≤ 790,000,000.
    fleet_builder b;
    b.entity("acme", "IN", "none").site("bom", "acme", "IN", 51598);
    EXPECT_TRUE(of_rule(run(b), "tier2-country-cap").empty());
}

TEST(PolicyEngine, Tier2CapJustOverWithH100Fires) {
    // 51,599 × 15,832 = 816,915,368; less 26,900,000 = 790,015,368 > 790,000,000.
    fleet_builder b;
    b.entity("acme", "IN", "none").site("bom", "acme", "IN", 51599);
    const auto f = of_rule(run(b), "tier2-country-cap");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].subject_kind, "country");
    EXPECT_EQ(f[0].subject, "IN");
    EXPECT_EQ(f[0].host, "");
    EXPECT_EQ(f[0].detail,
              "Tier-2 country IN has 790,015,368 TPP counted against its cap of 790,000,000 (controlled TPP of entities "
              "without VEU status, less the LPP allowance of 26,900,000 each: acme 816,915,368 - 26,900,000 = 790,015,368)");
}

// A chip of exactly 100,000 TPP makes the LPP arithmetic land on round figures.
const chip_table& round_chips() {
    static const chip_table t = [] {
        auto r = chip_table::parse("[[chip]]\nid = \"R100K\"\nvendor = \"Test\"\ntpp = 100000\ntpp_bits = 8\nnames = [\"R\"]\n",
                                   "round.toml");
        if (!r) throw std::runtime_error(r.err().message);
        return std::move(r).value();
    }();
    return t;
}

TEST(PolicyEngine, Tier2CapLppAllowanceArithmetic) {
    fleet_builder b;
    // lpp1: exactly the allowance (26.9 M): counts 0. big: 816.9 M, counts 790 M = the cap: no finding,
    // though the country holds 843.8 M TPP in all.
    b.entity("big", "IN", "none").entity("lpp1", "IN", "none").entity("veu", "DE", "uveu");
    b.site("b", "big", "IN", 8169, "R100K").site("l1", "lpp1", "IN", 269, "R100K");
    // A UVEU's compute does not count against the country cap.
    b.site("v", "veu", "IN", 5000, "R100K");
    auto e = evaluate(diffusion(), b.get(), round_chips());
    EXPECT_TRUE(of_rule(e, "tier2-country-cap").empty());
    EXPECT_EQ(e.tpp_by_country.at("IN"), (8169 + 269 + 5000) * 100000.0);

    // One more entity 100,000 over its allowance tips the country over.
    b.entity("lpp2", "IN", "none").site("l2", "lpp2", "IN", 270, "R100K");
    e = evaluate(diffusion(), b.get(), round_chips());
    const auto f = of_rule(e, "tier2-country-cap");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].detail,
              "Tier-2 country IN has 790,100,000 TPP counted against its cap of 790,000,000 (controlled TPP of entities "
              "without VEU status, less the LPP allowance of 26,900,000 each: big 816,900,000 - 26,900,000 = 790,000,000, "
              "lpp2 27,000,000 - 26,900,000 = 100,000)");
}

TEST(PolicyEngine, Tier2CapNotForTier1OrTier3Countries) {
    fleet_builder b;
    b.entity("acme", "DE", "none").site("fra", "acme", "DE", 8200, "R100K");
    EXPECT_TRUE(evaluate(diffusion(), b.get(), round_chips()).findings.empty());
}

// ---- nveu-cap: 320,000 H100-equivalents of 15,832 TPP in the final phase

TEST(PolicyEngine, NveuCapExactlyAtCapDoesNotFire) {
    fleet_builder b;
    b.entity("natco", "IN", "nveu").site("bom", "natco", "IN", 320000);
    const auto e = run(b);
    EXPECT_EQ(e.tpp_by_entity.at("natco"), 5066240000.0);
    EXPECT_TRUE(e.findings.empty()) << e.findings[0].detail;
}

TEST(PolicyEngine, NveuCapOneOverFires) {
    fleet_builder b;
    b.entity("natco", "IN", "nveu").site("bom", "natco", "IN", 320001);
    const auto f = of_rule(run(b), "nveu-cap");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].subject, "natco");
    EXPECT_EQ(f[0].detail,
              "entity natco, a national validated end user (NVEU), has 5,066,255,832 controlled TPP (320,001 "
              "H100-equivalents), above the cap in force of 5,066,240,000 (phase-3: 320,000 H100-equivalents of 15,832 TPP)");
}

TEST(PolicyEngine, NveuCapFollowsThePhaseInForce) {
    auto p = parse_profile("extends = \"ai-diffusion-2025-01\"\nid = \"phase-one\"\nsource = \"test\"\n"
                           "[nveu]\nin_force = \"phase-1\"\nsource = \"test: phase 1\"\n",
                           "phase-one.toml");
    ASSERT_TRUE(p.ok()) << p.err().message;
    fleet_builder at, over;
    at.entity("natco", "IN", "nveu").site("bom", "natco", "IN", 100000);
    over.entity("natco", "IN", "nveu").site("bom", "natco", "IN", 100001);
    EXPECT_TRUE(of_rule(evaluate(*p, at.get(), chips()), "nveu-cap").empty());
    EXPECT_EQ(of_rule(evaluate(*p, over.get(), chips()), "nveu-cap").size(), 1u);
}

// ---- tier3-destination

TEST(PolicyEngine, Tier3DestinationFiresForControlledChipsOnly) {
    fleet_builder b;
    b.entity("acme", "US", "none")
        .site("pek", "acme", "CN", 1)          // one H100 in China: fires
        .site("mfm", "acme", "MO", 0)          // Macau, no GPUs: quiet
        .site("sha", "acme", "CN", 4, "H20")   // not 3A090.a: quiet
        .site("dxb", "acme", "AE", 4);         // Tier 2: quiet
    for (const profile* p : {&diffusion(), &guidance()}) {
        const auto f = of_rule(run(b, *p), "tier3-destination");
        ASSERT_EQ(f.size(), 1u) << p->id;
        EXPECT_EQ(f[0].subject_kind, "site");
        EXPECT_EQ(f[0].subject, "pek");
        EXPECT_EQ(f[0].host, "");
        EXPECT_EQ(f[0].detail, "site pek of entity acme is in CN, a Tier-3 (arms-embargoed) country, and holds 1 controlled "
                               "GPU (15,832 TPP)");
    }
}

// ---- prohibited-chip (May 2025 guidance: Ascend 910B/C/D anywhere)

TEST(PolicyEngine, ProhibitedChipAnywhereUnderTheGuidance) {
    fleet_builder b;
    b.entity("acme", "US", "none").site("fra", "acme", "DE", 2, "Ascend-910B").site("iad", "acme", "US", 4);
    b.gpus("fra-h", 1, "Ascend-910D").gpus("fra-h", 1, "H100-SXM");
    const auto e = run(b, guidance());
    const auto f = of_rule(e, "prohibited-chip");
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].subject_kind, "host");
    EXPECT_EQ(f[0].subject, "fra-h");
    EXPECT_EQ(f[0].host, "fra-h");
    EXPECT_EQ(f[0].detail, "host fra-h (site fra, DE) holds 3 GPUs prohibited anywhere under bis-guidance-2025-05: "
                           "S1000 (Ascend-910B), S1001 (Ascend-910B), S1006 (Ascend-910D)");
    // Not a rule of the January profile.
    EXPECT_TRUE(of_rule(run(b), "prohibited-chip").empty());
}

TEST(PolicyEngine, ProhibitedChipUnderAProfileExtendingTheGuidance) {
    auto p = parse_profile("extends = \"bis-guidance-2025-05\"\nid = \"ops-2025-06\"\nsource = \"ops decision\"\n", "ops.toml");
    ASSERT_TRUE(p.ok()) << p.err().message;
    fleet_builder b;
    b.entity("acme", "US", "none").site("fra", "acme", "DE", 1, "Ascend-910C");
    EXPECT_EQ(of_rule(evaluate(*p, b.get(), chips()), "prohibited-chip").size(), 1u);
}

TEST(PolicyEngine, NoProhibitedChipNoFinding) {
    fleet_builder b;
    b.entity("acme", "US", "none").site("fra", "acme", "DE", 4).site("iad", "acme", "US", 4, "MI300X");
    EXPECT_TRUE(run(b, guidance()).findings.empty());
}

// ---- closed-weights-unapproved-site: more than 10^26 operations

TEST(PolicyEngine, ClosedWeightsOnUnapprovedSiteFires) {
    fleet_builder b;
    b.entity("acme", "US", "none").site("fra", "acme", "DE", 1).site("iad", "acme", "US", 1).site("lon", "acme", "GB", 1);
    b.model("m1", true, 2e26, {"fra"}, {"lon-h", "fra-h", "iad-h"});
    for (const profile* p : {&diffusion(), &guidance()}) {
        const auto f = of_rule(run(b, *p), "closed-weights-unapproved-site");
        ASSERT_EQ(f.size(), 2u) << p->id;
        EXPECT_EQ(f[0].subject_kind, "model");
        EXPECT_EQ(f[0].subject, "m1");
        EXPECT_EQ(f[0].host, "iad-h");
        EXPECT_EQ(f[1].host, "lon-h");
        EXPECT_EQ(f[0].detail, "model m1 (closed weights, trained with 2e+26 operations, more than 1e+26) is on host iad-h "
                               "at site iad, which is not one of its approved sites (fra)");
    }
}

TEST(PolicyEngine, ClosedWeightsAtThresholdOrOpenOrApprovedDoesNotFire) {
    fleet_builder b;
    b.entity("acme", "US", "none").site("fra", "acme", "DE", 1).site("iad", "acme", "US", 1);
    b.model("at", true, 1e26, {"fra"}, {"iad-h"});       // exactly 10^26: not more than
    b.model("open", false, 5e26, {}, {"iad-h"});         // open weights
    b.model("ok", true, 5e26, {"fra", "iad"}, {"iad-h", "fra-h"});  // approved everywhere it is
    EXPECT_TRUE(run(b).findings.empty());
}

// ---- gpu-unknown and chips without a TPP

TEST(PolicyEngine, UnknownChipsWarnAndCountWithoutTpp) {
    fleet_builder b;
    b.entity("acme", "US", "none").site("iad", "acme", "US", 2, "unknown");
    b.gpus("iad-h", 1, "Ascend-910D").gpus("iad-h", 1, "H100-SXM");
    const auto e = run(b);
    ASSERT_EQ(e.findings.size(), 2u);
    for (const auto& f : e.findings) {
        EXPECT_EQ(f.rule, "gpu-unknown");
        EXPECT_EQ(f.severity, "warning");
        EXPECT_EQ(f.subject_kind, "gpu");
        EXPECT_EQ(f.host, "iad-h");
    }
    EXPECT_EQ(e.findings[0].subject, "S1000");
    EXPECT_EQ(e.findings[1].subject, "S1001");
    EXPECT_EQ(e.unknown_tpp_gpus, 3u);  // the two unknown and the Ascend-910D
    EXPECT_EQ(e.warnings, 2u);
    EXPECT_EQ(e.violations, 0u);
    EXPECT_EQ(e.tpp_by_country.at("US"), 15832.0);
}

// ---- tables, order, JSON

TEST(PolicyEngine, TablesCoverEveryEntityAndSiteCountry) {
    fleet_builder b;
    b.entity("acme", "US", "none").entity("idle", "FR", "none").site("iad", "acme", "US", 3).site("cdg", "acme", "FR", 0);
    b.site("a100", "acme", "US", 2, "A100");
    const auto e = run(b);
    EXPECT_EQ(e.tpp_by_country.size(), 2u);
    EXPECT_EQ(e.tpp_by_country.at("US"), 3 * 15832.0 + 2 * 4992.0);
    EXPECT_EQ(e.tpp_by_country.at("FR"), 0.0);
    EXPECT_EQ(e.tpp_by_entity.at("acme"), 3 * 15832.0 + 2 * 4992.0);
    EXPECT_EQ(e.tpp_by_entity.at("idle"), 0.0);
}

TEST(PolicyEngine, FindingsInProfileRuleOrderThenSubject) {
    fleet_builder b;
    b.entity("zeta", "IN", "uveu").entity("alpha", "CN", "uveu");
    b.site("z-pek", "zeta", "CN", 1).site("a-pek", "alpha", "CN", 1).site("gpu", "alpha", "CN", 1, "unknown");
    const auto e = run(b);
    std::vector<std::string> got;
    for (const auto& f : e.findings) got.push_back(f.rule + " " + f.subject);
    const std::vector<std::string> want = {
        "tier3-destination a-pek",   "tier3-destination z-pek",    "uveu-hq-not-tier1 alpha", "uveu-hq-not-tier1 zeta",
        "uveu-tier1-share alpha",    "uveu-tier1-share zeta",      "gpu-unknown S1002"};
    EXPECT_EQ(got, want);
    EXPECT_EQ(e.violations, 6u);
    EXPECT_EQ(e.warnings, 1u);
    // The same input gives the same output.
    EXPECT_EQ(json::serialize(evaluation_to_json(e)), json::serialize(evaluation_to_json(run(b))));
}

TEST(PolicyEngine, JsonShape) {
    fleet_builder b;
    b.entity("acme", "US", "none").site("pek", "acme", "CN", 1).site("x", "acme", "US", 1, "unknown");
    const json::object o = evaluation_to_json(run(b));
    ASSERT_EQ(o.size(), 2u);
    const json::array& fs = o.at("findings").as_array();
    ASSERT_EQ(fs.size(), 2u);
    const json::object& f = fs[0].as_object();
    EXPECT_EQ(f.size(), 6u);
    EXPECT_EQ(f.at("rule"), "tier3-destination");
    EXPECT_EQ(f.at("severity"), "violation");
    EXPECT_EQ(f.at("subject_kind"), "site");
    EXPECT_EQ(f.at("subject"), "pek");
    EXPECT_EQ(f.at("host"), "");
    EXPECT_TRUE(f.at("detail").is_string());
    const json::object& s = o.at("summary").as_object();
    EXPECT_EQ(s.size(), 5u);
    EXPECT_TRUE(s.at("tpp_by_country").as_object().at("CN").is_int64());
    EXPECT_EQ(s.at("tpp_by_country").as_object().at("CN").as_int64(), 15832);
    EXPECT_EQ(s.at("tpp_by_country").as_object().at("US").as_int64(), 0);
    EXPECT_EQ(s.at("tpp_by_entity").as_object().at("acme").as_int64(), 15832);
    EXPECT_EQ(s.at("unknown_tpp_gpus").to_number<int>(), 1);
    EXPECT_EQ(s.at("violations").to_number<int>(), 1);
    EXPECT_EQ(s.at("warnings").to_number<int>(), 1);
}

TEST(PolicyEngine, EmptyFleet) {
    const auto e = evaluate(diffusion(), fleet{}, chips());
    EXPECT_TRUE(e.findings.empty());
    EXPECT_EQ(json::serialize(evaluation_to_json(e)),
              R"({"findings":[],"summary":{"tpp_by_country":{},"tpp_by_entity":{},"unknown_tpp_gpus":0,"violations":0,"warnings":0}})");
}

}  // namespace
}  // namespace custos::policy
