#include "verifier/policy_appraisal.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "verifier/findings.hpp"
#include "verifier/pci_reconcile.hpp"

namespace custos::verifier {
namespace {

using finding_key = std::tuple<std::string, std::string, std::string, std::string, std::string>;

finding_key key_of(const std::string& rule, const std::string& kind, const std::string& subject, const std::string& host,
                   const std::string& ref) {
    return {rule, kind, subject, host, ref};
}

}  // namespace

const std::vector<std::string>& policy_rules() {
    static const std::vector<std::string> rules = [] {
        std::vector<std::string> r;
        for (auto x : policy::known_rules()) r.emplace_back(x);
        return r;
    }();
    return rules;
}

result<policy::fleet> snapshot_fleet(store_tx& tx, std::int64_t now) {
    policy::fleet f;
    CUSTOS_TRY(entities, tx.list_entities());
    for (const auto& e : entities) f.entities.push_back({e.id, e.hq, e.status});
    CUSTOS_TRY(sites, tx.list_sites());
    for (const auto& s : sites) f.sites.push_back({s.id, s.entity, s.country, s.lat, s.lon});
    CUSTOS_TRY(hosts, tx.list_hosts());
    std::set<std::string> in_fleet;
    for (const auto& h : hosts) {
        if (h.state != "approved" || h.site.empty()) continue;
        policy::fleet_host fh{h.id, h.site, {}};
        CUSTOS_TRY(gpus, tx.list_gpus(h.id));
        for (const auto& g : gpus) fh.gpus.push_back({g.serial, g.chip.empty() ? "unknown" : g.chip});
        // Accelerators only the PCI bus shows (an Ascend, an AMD card, a card NVML hides) count by the chip
        // their ids name; "pci:<host>/<bus>" stands for the serial they do not have.
        CUSTOS_TRY(inv, tx.get_host_inventory(h.id));
        if (inv)
            for (const auto& a : parse_pci_only_lines(inv->pci_only)) fh.gpus.push_back({"pci:" + h.id + "/" + a.bus, a.chip});
        in_fleet.insert(h.id);
        f.hosts.push_back(std::move(fh));
    }
    CUSTOS_TRY(models, tx.list_models());
    CUSTOS_TRY(leases, tx.active_leases(std::nullopt, now));
    for (const auto& m : models) {
        policy::fleet_model fm;
        fm.id = m.id;
        fm.closed_weights = m.closed_weights;
        fm.training_ops = m.training_ops;
        CUSTOS_TRY(ms, tx.model_sites(m.id));
        fm.approved_sites = std::move(ms);
        std::set<std::string> where;
        for (const auto& l : leases)
            if (l.model_id == m.id && in_fleet.count(l.host_id)) where.insert(l.host_id);
        fm.hosts.assign(where.begin(), where.end());
        f.models.push_back(std::move(fm));
    }
    return f;
}

policy::evaluation evaluate_profiles(const std::vector<policy::profile>& profiles, const policy::fleet& f,
                                     const policy::chip_table& chips) {
    policy::evaluation merged;
    std::set<finding_key> seen;
    bool first = true;
    for (const auto& p : profiles) {
        policy::evaluation e = policy::evaluate(p, f, chips);
        if (first) {
            merged.tpp_by_country = e.tpp_by_country;
            merged.tpp_by_entity = e.tpp_by_entity;
            merged.unknown_tpp_gpus = e.unknown_tpp_gpus;
            first = false;
        }
        for (auto& x : e.findings) {
            if (x.rule == "gpu-unknown") continue;
            if (!seen.insert(key_of(x.rule, x.subject_kind, x.subject, x.host, x.ref)).second) continue;
            if (x.severity == "violation") ++merged.violations;
            if (x.severity == "warning") ++merged.warnings;
            merged.findings.push_back(std::move(x));
        }
    }
    return merged;
}

result<void> apply_policy(store_tx& tx, const std::vector<policy::profile>& profiles, const policy::chip_table& chips,
                          std::int64_t now, policy_outcome& out) {
    // One policy run at a time fleet-wide: two replicas would each raise what the other just raised.
    CUSTOS_TRY_VOID(tx.serialize_on("policy"));
    CUSTOS_TRY(fleet, snapshot_fleet(tx, now));
    out.eval = evaluate_profiles(profiles, fleet, chips);
    std::map<finding_key, finding_record> open;
    for (const auto& rule : policy_rules()) {
        finding_filter ff;
        ff.rule = rule;
        ff.open_only = true;
        ff.limit = 100'000;
        CUSTOS_TRY(fs, tx.list_findings(ff));
        for (auto& x : fs) open.emplace(key_of(x.rule, x.subject_kind, x.subject, x.host, x.ref), std::move(x));
    }
    std::set<finding_key> current;
    for (const auto& x : out.eval.findings) {
        const auto k = key_of(x.rule, x.subject_kind, x.subject, x.host, x.ref);
        current.insert(k);
        if (open.count(k)) continue;
        finding_record f;
        f.rule = x.rule;
        f.severity = x.severity;
        f.subject_kind = x.subject_kind;
        f.subject = x.subject;
        f.host = x.host;
        f.time = now;
        f.detail = x.detail;
        f.ref = x.ref;
        CUSTOS_TRY(id, tx.insert_finding(f));
        f.id = id;
        if (!f.host.empty()) out.hosts.insert(f.host);
        out.raised.push_back(std::move(f));
    }
    for (const auto& [k, f] : open) {
        if (current.count(k)) continue;
        CUSTOS_TRY_VOID(tx.resolve_finding(f.id, now));
        ++out.resolved;
        if (!f.host.empty()) out.hosts.insert(f.host);
        spdlog::info("policy: {} about {} {} no longer holds: finding {} resolved", f.rule, f.subject_kind, f.subject, f.id);
    }
    return {};
}

}  // namespace custos::verifier
