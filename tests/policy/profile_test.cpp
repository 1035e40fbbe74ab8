// policy/profile and policy/countries: the built-in profiles carry the figures of
// shared/reference/export-controls.md, every table cites a source, `extends` overrides, and the strict
// parser's refusals name the file and line.
#include "policy/profile.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "policy/chips.hpp"
#include "policy/countries.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"

namespace custos::policy {
namespace {

namespace fs = std::filesystem;

profile must_load(const std::string& name) {
    auto r = load_profile(name);
    if (!r) throw std::runtime_error(r.err().message);
    return std::move(r).value();
}

std::string builtin_text(const std::string& name) { return std::string(*builtin_profile_text(name)); }

// parse_profile's error message, or "" when it parsed.
std::string refusal(const std::string& text, const std::string& name = "p.toml") {
    auto r = parse_profile(text, name);
    return r ? std::string() : r.err().message;
}

// A minimal valid profile to break one piece at a time.
const std::string minimal = R"(id = "mini"
source = "test"
[rules]
enabled = ["tier3-destination"]
source = "test"
[tiers]
tier3 = ["CN"]
source = "test"
)";

TEST(PolicyCountries, ExactlyTheAssignedCodes) {
    EXPECT_EQ(iso3166_alpha2_codes().size(), 249u);
    std::set<std::string_view> unique(iso3166_alpha2_codes().begin(), iso3166_alpha2_codes().end());
    EXPECT_EQ(unique.size(), 249u);
    for (auto c : {"US", "DE", "CN", "MO", "TW", "SS", "AX", "BQ", "ZW", "AQ"}) EXPECT_TRUE(is_iso3166_alpha2(c)) << c;
    for (auto c : {"de", "Us", "UK", "EU", "XK", "ZZ", "USA", "", "D"}) EXPECT_FALSE(is_iso3166_alpha2(c)) << c;
}

TEST(PolicyProfile, BuiltinNames) {
    const std::vector<std::string> want = {"ai-diffusion-2025-01", "bis-guidance-2025-05"};
    EXPECT_EQ(builtin_profile_names(), want);
    for (const auto& n : builtin_profile_names()) {
        const profile p = must_load(n);
        EXPECT_EQ(p.id, n);
        EXPECT_FALSE(p.title.empty());
        // The built-in copy is the checked-in file.
        EXPECT_EQ(test::read_text(std::string(CUSTOS_SOURCE_DIR) + "/policy/profiles/" + n + ".toml"), builtin_text(n));
        // Every table that carries a figure cites its source.
        for (const auto& [table, src] : p.sources) EXPECT_FALSE(src.empty()) << n << " [" << table << "]";
    }
    EXPECT_EQ(builtin_profile_text("nope"), nullptr);
}

TEST(PolicyProfile, AiDiffusionCarriesTheReferenceFigures) {
    const profile p = must_load("ai-diffusion-2025-01");
    const std::vector<std::string> rules = {"tier3-destination",        "uveu-hq-not-tier1", "uveu-tier1-share",
                                            "uveu-tier2-country-share", "uveu-us-share",     "tier2-country-cap",
                                            "nveu-cap",                 "closed-weights-unapproved-site"};
    EXPECT_EQ(p.rules, rules);
    EXPECT_FALSE(p.enabled("prohibited-chip"));
    const std::set<std::string> tier1 = {"US", "AU", "BE", "CA", "DK", "FI", "FR", "DE", "IE", "IT",
                                         "JP", "NL", "NZ", "NO", "KR", "ES", "SE", "TW", "GB"};
    const std::set<std::string> tier3 = {"AF", "BY", "MM", "KH", "CF", "CN", "CD", "CU", "ER", "HT", "IR", "IQ",
                                         "KP", "LB", "LY", "NI", "RU", "SO", "SS", "SD", "SY", "VE", "ZW", "MO"};
    EXPECT_EQ(p.tier1, tier1);
    EXPECT_EQ(p.tier3, tier3);
    EXPECT_EQ(p.tier_of("US"), 1);
    EXPECT_EQ(p.tier_of("TW"), 1);
    EXPECT_EQ(p.tier_of("MO"), 3);
    EXPECT_EQ(p.tier_of("CN"), 3);
    EXPECT_EQ(p.tier_of("IN"), 2);
    EXPECT_EQ(p.tier_of("AE"), 2);
    EXPECT_EQ(p.tier2_country_cap_tpp, 790000000.0);
    EXPECT_EQ(p.lpp_allowance_tpp, 26900000.0);
    EXPECT_EQ(p.uveu_min_tier1_share, 0.75);
    EXPECT_EQ(p.uveu_max_tier2_country_share, 0.07);
    EXPECT_EQ(p.uveu_min_us_share, 0.50);
    EXPECT_EQ(p.h100e_tpp, 15832.0);
    ASSERT_EQ(p.nveu_phases.size(), 3u);
    EXPECT_EQ(p.nveu_phases[0].cap_h100e, 100000.0);
    EXPECT_EQ(p.nveu_phases[1].cap_h100e, 270000.0);
    EXPECT_EQ(p.nveu_phases[2].cap_h100e, 320000.0);
    for (const auto& ph : p.nveu_phases) EXPECT_FALSE(ph.source.empty());
    EXPECT_EQ(p.nveu_phase_in_force, 2u);
    EXPECT_EQ(p.nveu_cap_tpp(), 5066240000.0);
    EXPECT_EQ(p.closed_weights_threshold_ops, 1e26);
    const std::set<std::string> tables = {"",     "rules", "tiers", "tier2",          "lpp",           "uveu",
                                          "nveu", "nveu.phase[0]", "nveu.phase[1]", "nveu.phase[2]", "closed_weights"};
    std::set<std::string> got;
    for (const auto& [k, v] : p.sources) got.insert(k);
    EXPECT_EQ(got, tables);
    EXPECT_NE(p.sources.at("tiers").find("90 FR 4544"), std::string::npos);
    EXPECT_EQ(p.lineage, std::vector<std::string>{"ai-diffusion-2025-01"});
}

TEST(PolicyProfile, GuidanceRescindsTheDiffusionRules) {
    const profile p = must_load("bis-guidance-2025-05");
    const std::vector<std::string> rules = {"prohibited-chip", "tier3-destination", "closed-weights-unapproved-site"};
    EXPECT_EQ(p.rules, rules);
    for (auto r : {"uveu-hq-not-tier1", "uveu-tier1-share", "uveu-tier2-country-share", "uveu-us-share", "tier2-country-cap",
                   "nveu-cap"})
        EXPECT_FALSE(p.enabled(r)) << r;
    EXPECT_EQ(p.tier3, must_load("ai-diffusion-2025-01").tier3);
    EXPECT_TRUE(p.tier1.empty());
    EXPECT_FALSE(p.tier2_country_cap_tpp.has_value());
    EXPECT_FALSE(p.nveu_cap_tpp().has_value());
    EXPECT_EQ(p.closed_weights_threshold_ops, 1e26);
    const chip_table& chips = chip_table::builtin();
    for (auto id : {"Ascend-910B", "Ascend-910C", "Ascend-910D"}) EXPECT_TRUE(p.prohibits(*chips.by_id(id))) << id;
    for (auto id : {"H100-SXM", "H20", "A100", "MI300X"}) EXPECT_FALSE(p.prohibits(*chips.by_id(id))) << id;
    EXPECT_FALSE(must_load("ai-diffusion-2025-01").prohibits(*chips.by_id("Ascend-910B")));
}

TEST(PolicyProfile, MinimalParses) {
    auto p = parse_profile(minimal, "mini.toml");
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(p->id, "mini");
    EXPECT_EQ(p->tier_of("CN"), 3);
}

// ---- extends

TEST(PolicyProfile, ExtendsOverridesOnlyWhatItSays) {
    test::temp_dir dir("custos-profile");
    const fs::path file = dir.path() / "ops.toml";
    test::write_text(file, R"(extends = "ai-diffusion-2025-01"
id = "ops-2025-06"
title = "Operator profile: doubled Tier-2 cap, government-to-government deal"
source = "ops decision 2025-06-01"

[tier2]
country_cap_tpp = 1_580_000_000
source = "shared/reference/export-controls.md: cap doubled under a government-to-government deal"

[nveu]
in_force = "phase-1"
source = "ops: phase 1 in force"
)");
    const profile p = must_load(file.string());
    EXPECT_EQ(p.id, "ops-2025-06");
    EXPECT_EQ(p.lineage, (std::vector<std::string>{"ops-2025-06", "ai-diffusion-2025-01"}));
    EXPECT_EQ(p.tier2_country_cap_tpp, 1580000000.0);
    EXPECT_EQ(p.sources.at("tier2"), "shared/reference/export-controls.md: cap doubled under a government-to-government deal");
    EXPECT_EQ(p.nveu_cap_tpp(), 100000.0 * 15832);
    // Everything else inherited.
    const profile base = must_load("ai-diffusion-2025-01");
    EXPECT_EQ(p.rules, base.rules);
    EXPECT_EQ(p.tier1, base.tier1);
    EXPECT_EQ(p.lpp_allowance_tpp, 26900000.0);
    EXPECT_EQ(p.uveu_max_tier2_country_share, 0.07);
    EXPECT_EQ(p.sources.at("uveu"), base.sources.at("uveu"));
}

TEST(PolicyProfile, ExtendsReplacesArrays) {
    auto p = parse_profile(R"(extends = "bis-guidance-2025-05"
id = "strict"
source = "ops"
[rules]
enabled = ["prohibited-chip"]
source = "ops: only the chip rule"
[tiers]
tier3 = ["CN", "RU"]
source = "ops"
)",
                           "strict.toml");
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(p->rules, std::vector<std::string>{"prohibited-chip"});
    EXPECT_EQ(p->tier3, (std::set<std::string>{"CN", "RU"}));
    EXPECT_EQ(p->closed_weights_threshold_ops, 1e26);
}

TEST(PolicyProfile, ExtendsFileChainAndErrorsNameTheOverridingFile) {
    test::temp_dir dir("custos-profile");
    test::write_text(dir.path() / "a.toml", "extends = \"ai-diffusion-2025-01\"\nid = \"a\"\nsource = \"a\"\n");
    test::write_text(dir.path() / "b.toml", "extends = \"a.toml\"\nid = \"b\"\nsource = \"b\"\n[uveu]\nmin_tier1_share = 0.8\nsource = \"b\"\n");
    const profile b = must_load((dir.path() / "b.toml").string());
    EXPECT_EQ(b.lineage, (std::vector<std::string>{"b", "a", "ai-diffusion-2025-01"}));
    EXPECT_EQ(b.uveu_min_tier1_share, 0.8);
    EXPECT_EQ(b.uveu_max_tier2_country_share, 0.07);

    // A bad value in the override is reported at the override's line, after merging.
    test::write_text(dir.path() / "c.toml", "extends = \"ai-diffusion-2025-01\"\nid = \"c\"\nsource = \"c\"\n[uveu]\nsource = \"c\"\nmin_tier1_share = 1.5\n");
    auto c = load_profile((dir.path() / "c.toml").string());
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.err().message.find("c.toml:6:"), std::string::npos) << c.err().message;
    EXPECT_NE(c.err().message.find("between 0 and 1"), std::string::npos) << c.err().message;

    // A cycle.
    test::write_text(dir.path() / "x.toml", "extends = \"y.toml\"\nid = \"x\"\nsource = \"x\"\n");
    test::write_text(dir.path() / "y.toml", "extends = \"x.toml\"\nid = \"y\"\nsource = \"y\"\n");
    auto x = load_profile((dir.path() / "x.toml").string());
    ASSERT_FALSE(x.ok());
    EXPECT_NE(x.err().message.find("a cycle?"), std::string::npos) << x.err().message;

    // A missing base.
    test::write_text(dir.path() / "m.toml", "extends = \"missing.toml\"\nid = \"m\"\nsource = \"m\"\n");
    auto m = load_profile((dir.path() / "m.toml").string());
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("m.toml:1: extends \"missing.toml\""), std::string::npos) << m.err().message;
}

TEST(PolicyProfile, ParseProfileResolvesBuiltinNamesOnly) {
    EXPECT_NE(refusal("extends = \"other.toml\"\nid = \"o\"\nsource = \"o\"\n").find("no built-in profile \"other.toml\""),
              std::string::npos);
    EXPECT_NE(refusal("extends = 3\nid = \"o\"\nsource = \"o\"\n").find("p.toml:1: extends must be"), std::string::npos);
}

TEST(PolicyProfile, OverrideWithoutSourceIsRefused) {
    const std::string e = refusal(R"(extends = "ai-diffusion-2025-01"
id = "ops"
source = "ops"
[tier2]
country_cap_tpp = 1
)");
    EXPECT_NE(e.find("p.toml:4: [tier2] has no source"), std::string::npos) << e;
    // The top level needs one too when it sets anything.
    EXPECT_NE(refusal("extends = \"ai-diffusion-2025-01\"\nid = \"ops\"\n").find("the top level has no source"), std::string::npos);
}

TEST(PolicyProfile, BuiltinWithASourceRemovedIsRefused) {
    std::string text = builtin_text("ai-diffusion-2025-01");
    const std::string line = "source = \"90 FR 4544 (2025-01-15), Tier-2 country allocation";
    const auto at = text.find(line);
    ASSERT_NE(at, std::string::npos);
    text.erase(at, text.find('\n', at) - at);
    const std::string e = refusal(text, "no-source.toml");
    EXPECT_NE(e.find("no-source.toml:"), std::string::npos) << e;
    EXPECT_NE(e.find("[tier2] has no source"), std::string::npos) << e;
    // An empty source is no source.
    std::string empty = minimal;
    empty.replace(empty.find("source = \"test\"\n[tiers]"), 15, "source = \"\"");
    EXPECT_NE(refusal(empty).find("[rules] has no source"), std::string::npos) << refusal(empty);
}

TEST(PolicyProfile, StrictRefusalsNameFileAndLine) {
    struct bad_case {
        std::string text, want;
    };
    const std::vector<bad_case> cases = {
        {minimal + "colour = \"red\"\n", "p.toml:9: \"colour\" is not a [tiers] field"},
        {minimal + "[extra]\nsource = \"x\"\n", "p.toml:9: \"extra\" is not a top-level key"},
        {minimal + "tier1 = [\"US\", \"de\"]\n", "p.toml:9: tier1: \"de\" is not an ISO 3166-1 alpha-2 country code"},
        {minimal + "tier1 = [\"UK\"]\n", "\"UK\" is not an ISO 3166-1"},
        {minimal + "tier1 = [\"CN\"]\n", "CN is in both tier1 and tier3"},
        {minimal + "tier1 = [\"US\", \"US\"]\n", "US appears twice"},
        {minimal + "tier1 = \"US\"\n", "tier1 must be an array"},
        {minimal + "[tier2]\ncountry_cap_tpp = -1\nsource = \"x\"\n", "p.toml:10: country_cap_tpp must not be negative"},
        {minimal + "[tier2]\ncountry_cap_tpp = \"790000000\"\nsource = \"x\"\n", "p.toml:10: country_cap_tpp must be a number"},
        {minimal + "[tier2]\ncountry_cap_tpp = nan\nsource = \"x\"\n", "must be a finite number"},
        {minimal + "[uveu]\nmin_tier1_share = 75\nsource = \"x\"\n", "p.toml:10: min_tier1_share is a share"},
        {minimal + "[uveu]\nmax_tier2_country_share = -0.1\nsource = \"x\"\n", "must not be negative"},
        {minimal + "[lpp]\nallowance_tpp_per_entity = true\nsource = \"x\"\n", "must be a number"},
        {minimal + "[closed_weights]\nthreshold = 1e26\nsource = \"x\"\n", "\"threshold\" is not a [closed_weights] field"},
        {minimal + "[nveu]\nh100e_tpp = 0\nsource = \"x\"\n", "h100e_tpp must be positive"},
        {minimal + "[nveu]\nh100e_tpp = 1\nin_force = \"p9\"\nsource = \"x\"\n[[nveu.phase]]\nname = \"p1\"\ncap_h100e = 1\nsource = \"x\"\n",
         "in_force \"p9\" is not one of"},
        {minimal + "[nveu]\nh100e_tpp = 1\nsource = \"x\"\n[[nveu.phase]]\nname = \"p1\"\ncap_h100e = 1\n", "[nveu.phase[0]] has no source"},
        {minimal + "[nveu]\nh100e_tpp = 1\nsource = \"x\"\n[[nveu.phase]]\nname = \"p1\"\nsource = \"x\"\n", "has no cap_h100e"},
        {minimal + "[nveu]\nh100e_tpp = 1\nsource = \"x\"\n[[nveu.phase]]\nname = \"p1\"\ncap_h100e = 1\nsource = \"x\"\n"
                   "[[nveu.phase]]\nname = \"p1\"\ncap_h100e = 2\nsource = \"x\"\n",
         "NVEU phase \"p1\" appears twice"},
        {"id = \"x\"\nsource = \"x\"\n[rules]\nenabled = [\"tier3-destination\", \"export-everything\"]\nsource = \"x\"\n",
         "p.toml:4: \"export-everything\" is not a rule"},
        {"id = \"x\"\nsource = \"x\"\n[rules]\nenabled = [\"prohibited-chip\", \"prohibited-chip\"]\nsource = \"x\"\n",
         "rule \"prohibited-chip\" is enabled twice"},
        {"id = \"x\"\nsource = \"x\"\n[rules]\nenabled = [\"nveu-cap\"]\nsource = \"x\"\n",
         "p.toml:4: rule \"nveu-cap\" is enabled but the profile has no [nveu] h100e_tpp"},
        {"id = \"x\"\nsource = \"x\"\n[rules]\nenabled = [\"uveu-tier1-share\"]\nsource = \"x\"\n[tiers]\ntier1 = [\"US\"]\nsource = \"x\"\n",
         "no [uveu] min_tier1_share"},
        {"id = \"x\"\nsource = \"x\"\n[rules]\nenabled = [\"tier2-country-cap\"]\nsource = \"x\"\n[tiers]\ntier1 = [\"US\"]\nsource = \"x\"\n",
         "no [tiers] tier1 and tier3"},
        {"id = \"x\"\nsource = \"x\"\n[rules]\nsource = \"x\"\n", "p.toml:3: [rules] has no enabled"},
        {"id = \"x\"\nsource = \"x\"\n", "the profile has no [rules] table"},
        {"source = \"x\"\n[rules]\nenabled = []\nsource = \"x\"\n", "the profile has no id"},
        {"id = 7\nsource = \"x\"\n[rules]\nenabled = []\nsource = \"x\"\n", "p.toml:1: id must be a non-empty string"},
        {"id = \"x\"\nsource = \"x\"\nrules = 3\n", "p.toml:3: rules must be a table"},
        {"id = \"x\"\nsource = \"x\"\n[rules\n", "p.toml:3: "},
        {"id = \"x\"\nid = \"y\"\n", "p.toml:2: "},
    };
    for (const auto& c : cases) {
        const std::string e = refusal(c.text);
        EXPECT_NE(e.find(c.want), std::string::npos) << "want: " << c.want << "\ngot:  " << e << "\nfor:\n" << c.text;
    }
}

TEST(PolicyProfile, InForceSelectsAPhase) {
    auto p = parse_profile("extends = \"ai-diffusion-2025-01\"\nsource = \"t\"\n[nveu]\nin_force = \"phase-2\"\nsource = \"t\"\n",
                           "p2.toml");
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(p->id, "ai-diffusion-2025-01");  // inherited when the override does not rename it
    EXPECT_EQ(p->nveu_cap_tpp(), 270000.0 * 15832);
}

TEST(PolicyProfile, LoadProfileErrors) {
    auto r = load_profile("ai-diffusion");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("neither a built-in profile (ai-diffusion-2025-01, bis-guidance-2025-05)"), std::string::npos)
        << r.err().message;
    auto f = load_profile("/nonexistent/p.toml");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.err().code, errc::io);
    EXPECT_NE(f.err().message.find("/nonexistent/p.toml"), std::string::npos);
}

TEST(PolicyProfile, KnownRules) {
    EXPECT_EQ(known_rules().size(), 9u);
    const profile a = must_load("ai-diffusion-2025-01"), b = must_load("bis-guidance-2025-05");
    for (auto r : known_rules()) EXPECT_TRUE(a.enabled(r) || b.enabled(r)) << r;
}

}  // namespace
}  // namespace custos::policy
