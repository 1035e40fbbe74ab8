// Fuzz target: the policy profile parser (policy/profiles/*.toml, or an operator's override), including
// `extends` of the built-in profiles: what parses is consistent.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/countries.hpp"
#include "policy/profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::policy;
    auto p = parse_profile(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
    if (!p) return 0;
    if (p->id.empty() || p->lineage.empty() || p->lineage.front() != p->id) __builtin_trap();
    if (!p->sources.count("") || !p->sources.count("rules")) __builtin_trap();
    for (const auto& [table, src] : p->sources)
        if (src.empty()) __builtin_trap();
    for (const auto& r : p->rules)
        if (!p->enabled(r)) __builtin_trap();
    for (const auto& c : p->tier1)
        if (!is_iso3166_alpha2(c) || p->tier_of(c) != 1) __builtin_trap();
    for (const auto& c : p->tier3)
        if (!is_iso3166_alpha2(c) || p->tier_of(c) != 3) __builtin_trap();
    for (const auto* share : {&p->uveu_min_tier1_share, &p->uveu_max_tier2_country_share, &p->uveu_min_us_share})
        if (*share && !(**share >= 0 && **share <= 1)) __builtin_trap();
    if (p->enabled("nveu-cap") && !p->nveu_cap_tpp()) __builtin_trap();
    if (p->enabled("tier2-country-cap") && (!p->tier2_country_cap_tpp || !p->lpp_allowance_tpp)) __builtin_trap();
    if (p->enabled("closed-weights-unapproved-site") && !p->closed_weights_threshold_ops) __builtin_trap();
    if (!p->nveu_phases.empty() && p->nveu_phase_in_force >= p->nveu_phases.size()) __builtin_trap();
    return 0;
}
