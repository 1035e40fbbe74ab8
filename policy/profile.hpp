// Export-control policy profiles (policy/profiles/*.toml): which rules run, the country tiers, and the
// thresholds and caps those rules compare against, every value with the source it comes from.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"

namespace custos::policy {

struct chip;

// Every rule a profile may enable, in the order `custos policy show` lists them.
const std::vector<std::string_view>& known_rules();

// One phase of the NVEU cap schedule ([[nveu.phase]]).
struct nveu_phase {
    std::string name;
    double cap_h100e = 0;  // H100-equivalents
    std::string source;
};

struct profile {
    std::string id;     // "ai-diffusion-2025-01"
    std::string title;  // one line
    // This profile's id, then the ids of the profiles it extends (nearest first), without repeats. A chip
    // whose prohibited_in names any of them is prohibited under this profile.
    std::vector<std::string> lineage;

    std::vector<std::string> rules;  // enabled, in evaluation (and finding) order

    std::set<std::string> tier1, tier3;  // ISO 3166-1 alpha-2; Tier 2 is every other country

    // Absent when the profile does not carry the figure; an enabled rule's figures are always present.
    std::optional<double> tier2_country_cap_tpp;        // [tier2] country_cap_tpp
    std::optional<double> lpp_allowance_tpp;            // [lpp] allowance_tpp_per_entity
    std::optional<double> uveu_min_tier1_share;         // [uveu] min_tier1_share, in [0,1]
    std::optional<double> uveu_max_tier2_country_share; // [uveu] max_tier2_country_share, in [0,1]
    std::optional<double> uveu_min_us_share;            // [uveu] min_us_share_if_us_hq, in [0,1]
    std::optional<double> h100e_tpp;                    // [nveu] h100e_tpp: TPP of one H100-equivalent
    std::vector<nveu_phase> nveu_phases;                // [[nveu.phase]], in schedule order
    std::size_t nveu_phase_in_force = 0;                // index into nveu_phases ([nveu] in_force, default the last)
    std::optional<double> closed_weights_threshold_ops; // [closed_weights] threshold_ops

    // Where each table's values come from: "" (the top level), "rules", "tiers", "tier2", "lpp", "uveu",
    // "nveu", "nveu.phase[0]", …, "closed_weights" → its `source`.
    std::map<std::string, std::string> sources;

    bool enabled(std::string_view rule) const;
    // 1 for a Tier-1 country, 3 for Tier 3, otherwise 2.
    int tier_of(std::string_view country) const;
    // The NVEU cap in force in TPP (cap_h100e × h100e_tpp); absent without phases or h100e_tpp.
    std::optional<double> nveu_cap_tpp() const;
    // The chip's prohibited_in names this profile or one it extends.
    bool prohibits(const chip& c) const;
};

// Strict: unknown keys, tables and rule ids, wrong types, negative or non-finite numbers, shares outside
// [0,1], country codes that are not ISO 3166-1 alpha-2 (or in two tiers), a table without a `source`
// string, and an enabled rule whose figures are missing are errors naming the file and line.
// `extends = "NAME"` deep-merges this text over the built-in profile NAME first (tables merge key by key;
// values and arrays, arrays of tables included, replace). Pure: only built-in names resolve here.
result<profile> parse_profile(std::string_view toml_text, const std::string& source_name);

// A built-in profile name ("ai-diffusion-2025-01"), or a path to a TOML profile. A file's `extends` may
// name a built-in profile or another file (relative to the extending file's directory).
result<profile> load_profile(const std::string& name_or_path);

// The profiles built into this binary (policy/profiles/*.toml at build time), sorted.
std::vector<std::string> builtin_profile_names();
// Its TOML text, or nullptr for a name that is not built in.
const std::string_view* builtin_profile_text(std::string_view name);

}  // namespace custos::policy
