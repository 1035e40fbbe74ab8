// custos policy evaluate: an export-control profile over a fleet file (as `custos fleet snapshot --json`
// writes it), offline; custos policy show: a profile as resolved (extends merged), rules, figures, sources.
#include <boost/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>

#include "policy/chips.hpp"
#include "policy/engine.hpp"
#include "policy/profile.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace {
namespace json = boost::json;

struct evaluate_args {
    std::string profile, fleet, chips;
    bool json_out = false;
};

struct show_args {
    std::string profile;
    bool json_out = false;
};

int policy_evaluate(const evaluate_args& a) {
    auto p = policy::load_profile(a.profile);
    // Every input problem (a profile, chip table or fleet that cannot be read or does not parse) is bad
    // input: exit_usage. Findings are not failures: the evaluation ran.
    if (!p) return fail_usage("--profile: " + p.err().message);
    const auto chips = chip_table_option(a.chips);
    if (!chips) return fail_usage(chips.err().message);
    const policy::chip_table* table = &*chips;
    auto data = read_input("--fleet", a.fleet);
    if (!data) return fail_usage(data.err().message);
    auto f = policy::parse_fleet(std::string_view(reinterpret_cast<const char*>(data->data()), data->size()), *table);
    if (!f) return fail_usage("--fleet " + a.fleet + ": " + f.err().message);
    const policy::evaluation e = policy::evaluate(*p, *f, *table);
    if (a.json_out) {
        print_json(policy::evaluation_to_json(e));
        return exit_ok;
    }
    std::printf("profile: %s\n", p->id.c_str());
    if (e.findings.empty()) std::printf("no findings\n");
    else std::printf("%-30s  %-9s  %-7s  %-16s  %-12s  %s\n", "RULE", "SEVERITY", "KIND", "SUBJECT", "HOST", "DETAIL");
    for (const auto& x : e.findings)
        std::printf("%-30s  %-9s  %-7s  %-16s  %-12s  %s\n", x.rule.c_str(), x.severity.c_str(), x.subject_kind.c_str(),
                    x.subject.c_str(), or_dash(x.host).c_str(), x.detail.c_str());
    std::printf("\ncontrolled TPP by country:\n");
    for (const auto& [k, v] : e.tpp_by_country) std::printf("  %-4s %18.0f\n", k.c_str(), v);
    std::printf("controlled TPP by entity:\n");
    for (const auto& [k, v] : e.tpp_by_entity) std::printf("  %-16s %18.0f\n", k.c_str(), v);
    std::printf("GPUs of unknown TPP: %zu; violations: %zu; warnings: %zu\n", e.unknown_tpp_gpus, e.violations, e.warnings);
    return exit_ok;
}

// Whole figures as JSON integers (790000000, not 7.9E8).
json::value num(double v) {
    if (std::floor(v) == v && std::fabs(v) < 9e15) return static_cast<std::int64_t>(v);
    return v;
}
json::value opt(const std::optional<double>& v) { return v ? num(*v) : json::value(nullptr); }

json::object profile_to_json(const policy::profile& p) {
    json::object o;
    o["id"] = p.id;
    o["title"] = p.title;
    o["lineage"] = json::array(p.lineage.begin(), p.lineage.end());
    o["rules"] = json::array(p.rules.begin(), p.rules.end());
    o["tier1"] = json::array(p.tier1.begin(), p.tier1.end());
    o["tier3"] = json::array(p.tier3.begin(), p.tier3.end());
    o["tier2_country_cap_tpp"] = opt(p.tier2_country_cap_tpp);
    o["lpp_allowance_tpp"] = opt(p.lpp_allowance_tpp);
    o["uveu_min_tier1_share"] = opt(p.uveu_min_tier1_share);
    o["uveu_max_tier2_country_share"] = opt(p.uveu_max_tier2_country_share);
    o["uveu_min_us_share"] = opt(p.uveu_min_us_share);
    o["h100e_tpp"] = opt(p.h100e_tpp);
    json::array phases;
    for (const auto& ph : p.nveu_phases) phases.push_back(json::object{{"name", ph.name}, {"cap_h100e", num(ph.cap_h100e)}});
    o["nveu_phases"] = std::move(phases);
    o["nveu_phase_in_force"] = p.nveu_phases.empty() ? json::value(nullptr) : json::value(p.nveu_phases[p.nveu_phase_in_force].name);
    o["nveu_cap_tpp"] = opt(p.nveu_cap_tpp());
    o["closed_weights_threshold_ops"] = opt(p.closed_weights_threshold_ops);
    json::object sources;
    for (const auto& [k, v] : p.sources) sources[k.empty() ? "profile" : k] = v;
    o["sources"] = std::move(sources);
    return o;
}

int policy_show(const show_args& a) {
    auto p = policy::load_profile(a.profile);
    if (!p) return fail_usage(p.err().message);
    const json::object o = profile_to_json(*p);
    if (a.json_out) {
        print_json(o);
        return exit_ok;
    }
    std::printf("%s: %s\n", p->id.c_str(), p->title.c_str());
    if (p->lineage.size() > 1) {
        std::printf("extends:");
        for (std::size_t i = 1; i < p->lineage.size(); ++i) std::printf(" %s", p->lineage[i].c_str());
        std::printf("\n");
    }
    std::printf("rules:");
    for (const auto& r : p->rules) std::printf(" %s", r.c_str());
    std::printf("\n");
    for (const auto& [k, v] : o) {
        if (k == "id" || k == "title" || k == "lineage" || k == "rules" || k == "sources") continue;
        if (v.is_null() || (v.is_array() && v.as_array().empty())) continue;
        std::printf("%s = %s\n", std::string(k).c_str(), json::serialize(v).c_str());
    }
    std::printf("sources:\n");
    for (const auto& [k, v] : p->sources) std::printf("  [%s] %s\n", k.empty() ? "profile" : k.c_str(), v.c_str());
    return exit_ok;
}

}  // namespace

void register_policy_commands(CLI::App& app, command_list& cmds) {
    auto* policy = app.add_subcommand("policy", "Export-control policy profiles, evaluated offline");
    policy->require_subcommand(1);

    auto ea = std::make_shared<evaluate_args>();
    auto* evaluate = policy->add_subcommand("evaluate", "Evaluate a profile over a fleet file; exit 0 whatever it finds");
    evaluate->add_option("--profile", ea->profile, "Built-in profile name (ai-diffusion-2025-01, bis-guidance-2025-05) or a TOML file")
        ->required();
    evaluate->add_option("--fleet", ea->fleet, "Fleet file (JSON, as `custos fleet snapshot --json` writes it)")->required();
    evaluate->add_option("--chips", ea->chips, "Chip table (default: the policy/chips.toml built into custos)");
    evaluate->add_flag("--json", ea->json_out, "Print JSON");
    cmds.push_back({evaluate, [ea] { return policy_evaluate(*ea); }});

    auto sa = std::make_shared<show_args>();
    auto* show = policy->add_subcommand("show", "Print a profile as resolved: rules, figures and their sources");
    show->add_option("PROFILE", sa->profile, "Built-in profile name or a TOML file")->required();
    show->add_flag("--json", sa->json_out, "Print JSON");
    cmds.push_back({show, [sa] { return policy_show(*sa); }});
}

}  // namespace custos::cli
