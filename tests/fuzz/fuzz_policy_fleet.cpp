// Fuzz target: the fleet file parser (`custos policy evaluate --fleet`), and the engine over what parses,
// with both built-in profiles: findings and summary must agree with each other and with the fleet.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <boost/json/serialize.hpp>

#include "policy/engine.hpp"

namespace {

using namespace custos::policy;

void check(const profile& p, const fleet& f, const chip_table& chips) {
    const evaluation e = evaluate(p, f, chips);
    std::size_t violations = 0, warnings = 0, unknown = 0;
    std::set<std::string> rules(p.rules.begin(), p.rules.end());
    for (const auto& x : e.findings) {
        if (x.severity == "violation") ++violations;
        else if (x.severity == "warning") ++warnings;
        else __builtin_trap();
        if (x.rule == "gpu-unknown") {
            if (x.severity != "warning" || x.subject_kind != "gpu" || x.host.empty()) __builtin_trap();
            ++unknown;
        } else if (!rules.count(x.rule) || x.severity != "violation") {
            __builtin_trap();  // a finding of a rule the profile does not enable
        }
        if (x.subject.empty() || x.detail.empty()) __builtin_trap();
    }
    if (violations != e.violations || warnings != e.warnings) __builtin_trap();
    if (unknown > e.unknown_tpp_gpus) __builtin_trap();
    if (e.tpp_by_entity.size() != f.entities.size()) __builtin_trap();
    double by_country = 0, by_entity = 0;
    for (const auto& [k, v] : e.tpp_by_country) {
        if (v < 0) __builtin_trap();
        by_country += v;
    }
    for (const auto& [k, v] : e.tpp_by_entity) by_entity += v;
    // Every site has a known entity in a parsed fleet, so both tables sum the same GPUs.
    if (by_country != by_entity) __builtin_trap();
    for (const auto& s : f.sites)
        if (!e.tpp_by_country.count(s.country)) __builtin_trap();
    // Deterministic.
    if (boost::json::serialize(evaluation_to_json(e)) != boost::json::serialize(evaluation_to_json(evaluate(p, f, chips))))
        __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const chip_table& chips = chip_table::builtin();
    auto f = parse_fleet(std::string_view(reinterpret_cast<const char*>(data), size), chips);
    if (!f) return 0;
    // What parses writes back to what parses the same.
    const std::string out = boost::json::serialize(fleet_to_json(*f));
    auto again = parse_fleet(out, chips);
    if (!again || boost::json::serialize(fleet_to_json(*again)) != out) __builtin_trap();
    static const profile diffusion = std::move(load_profile("ai-diffusion-2025-01")).value();
    static const profile guidance = std::move(load_profile("bis-guidance-2025-05")).value();
    check(diffusion, *f, chips);
    check(guidance, *f, chips);
    return 0;
}
