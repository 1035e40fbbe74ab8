// The rules of policy/engine.hpp over a fleet: TPP tables first (controlled chips only), then each rule the
// profile enables, in its order, then gpu-unknown. Thresholds compare exactly as the rules are written:
// "at least 75 %" fires below 75 %, "at most 7 %" above 7 %, a cap only when exceeded.
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "policy/engine.hpp"

namespace custos::policy {
namespace {

namespace json = boost::json;

// 1234567 → "1,234,567"; fractions keep `decimals` decimals.
std::string fmt_num(double v, int decimals = 2) {
    const bool whole = std::floor(v) == v && std::fabs(v) < 1e18;
    char buf[64];
    if (whole) std::snprintf(buf, sizeof buf, "%.0f", std::fabs(v));
    else std::snprintf(buf, sizeof buf, "%.*f", decimals, std::fabs(v));
    const std::string digits(buf);
    const std::size_t dot = std::min(digits.find('.'), digits.size());
    std::string out = v < 0 ? "-" : "";
    for (std::size_t i = 0; i < dot; ++i) {
        if (i > 0 && (dot - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    out += digits.substr(dot);
    return out;
}

// A share as a percentage, with as many decimals as it takes to tell it from the threshold it is
// compared with ("7.0 %" for 7.04 % against "at most 7 %" would read as a false alarm).
std::string fmt_share(double share, double threshold) {
    char a[64], b[64];
    for (int prec = 1;; ++prec) {
        std::snprintf(a, sizeof a, "%.*f", prec, share * 100);
        std::snprintf(b, sizeof b, "%.*f", prec, threshold * 100);
        if (share == threshold || std::string(a) != b || prec >= 9) break;
    }
    return a;
}

// A threshold as written: 0.07 → "7", 0.755 → "75.5".
std::string fmt_pct(double share) {
    std::ostringstream o;
    o.precision(6);
    o << share * 100;
    return o.str();
}

std::string fmt_ops(double ops) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", ops);
    return buf;
}

// The TPP tables the rules read.
struct tallies {
    std::map<std::string, std::map<std::string, double>> by_entity_country;  // entity → country → TPP
    std::map<std::string, double> site_tpp;
    std::map<std::string, std::size_t> site_controlled;    // controlled GPUs per site
};

class engine {
public:
    engine(const profile& p, const fleet& f, const chip_table& chips) : p_(p), f_(f), chips_(chips) {
        for (const auto& e : f_.entities) entities_[e.id] = &e;
        for (const auto& s : f_.sites) sites_[s.id] = &s;
        for (const auto& h : f_.hosts) hosts_[h.id] = &h;
    }

    evaluation run() {
        tally();
        for (const auto& rule : p_.rules) {
            std::vector<policy_finding> found;
            if (rule == "uveu-hq-not-tier1") uveu_hq(found);
            else if (rule == "uveu-tier1-share") uveu_tier1_share(found);
            else if (rule == "uveu-tier2-country-share") uveu_tier2_country_share(found);
            else if (rule == "uveu-us-share") uveu_us_share(found);
            else if (rule == "tier2-country-cap") tier2_country_cap(found);
            else if (rule == "nveu-cap") nveu_cap(found);
            else if (rule == "tier3-destination") tier3_destination(found);
            else if (rule == "prohibited-chip") prohibited_chip(found);
            else if (rule == "closed-weights-unapproved-site") closed_weights(found);
            append(std::move(found));
        }
        append(std::move(unknown_));
        for (const auto& fd : e_.findings) (fd.severity == "warning" ? e_.warnings : e_.violations)++;
        return std::move(e_);
    }

private:
    void append(std::vector<policy_finding> found) {
        std::stable_sort(found.begin(), found.end(), [](const policy_finding& a, const policy_finding& b) {
            return std::tie(a.subject, a.host, a.ref) < std::tie(b.subject, b.host, b.ref);
        });
        for (auto& x : found) e_.findings.push_back(std::move(x));
    }

    static policy_finding finding(std::string rule, std::string kind, std::string subject, std::string host, std::string detail,
                                  std::string severity = "violation", std::string ref = {}) {
        return {std::move(rule), std::move(severity), std::move(kind), std::move(subject), std::move(host), std::move(detail),
                std::move(ref)};
    }

    void tally() {
        for (const auto& ent : f_.entities) e_.tpp_by_entity[ent.id] = 0;
        for (const auto& s : f_.sites) e_.tpp_by_country[s.country] += 0;
        for (const auto& h : f_.hosts) {
            const auto sit = sites_.find(h.site);
            const fleet_site* site = sit == sites_.end() ? nullptr : sit->second;
            for (const auto& g : h.gpus) {
                const chip* c = g.chip == "unknown" ? nullptr : chips_.by_id(g.chip);
                if (!c) {
                    ++e_.unknown_tpp_gpus;
                    const std::string why = g.chip == "unknown" ? "a chip the chip table does not know"
                                                                : "chip \"" + g.chip + "\", which is not in the chip table";
                    unknown_.push_back(finding("gpu-unknown", "gpu", g.serial, h.id,
                                               "GPU " + g.serial + " on host " + h.id + " is " + why +
                                                   ": its TPP is not counted",
                                               "warning"));
                    continue;
                }
                if (!c->tpp) {
                    ++e_.unknown_tpp_gpus;  // e.g. Ascend-910D: no public TPP, counted as 0
                    continue;
                }
                if (!c->controlled() || !site) continue;
                const double t = *c->tpp;
                e_.tpp_by_country[site->country] += t;
                t_.site_tpp[site->id] += t;
                ++t_.site_controlled[site->id];
                if (entities_.count(site->entity)) {
                    e_.tpp_by_entity[site->entity] += t;
                    t_.by_entity_country[site->entity][site->country] += t;
                }
            }
        }
    }

    std::vector<const fleet_entity*> with_status(std::string_view status) const {
        std::vector<const fleet_entity*> out;
        for (const auto& [id, e] : entities_)
            if (e->status == status) out.push_back(e);
        return out;
    }

    double entity_tpp(const std::string& id) const {
        auto it = e_.tpp_by_entity.find(id);
        return it == e_.tpp_by_entity.end() ? 0 : it->second;
    }

    const std::map<std::string, double>& entity_countries(const std::string& id) const {
        static const std::map<std::string, double> none;
        auto it = t_.by_entity_country.find(id);
        return it == t_.by_entity_country.end() ? none : it->second;
    }

    void uveu_hq(std::vector<policy_finding>& out) const {
        for (const auto* e : with_status("uveu"))
            if (p_.tier_of(e->hq_country) != 1)
                out.push_back(finding("uveu-hq-not-tier1", "entity", e->id, "",
                                      "entity " + e->id + " is a universal validated end user (UVEU) headquartered in " +
                                          e->hq_country + ", a Tier-" + std::to_string(p_.tier_of(e->hq_country)) +
                                          " country (a UVEU must be headquartered in Tier 1)"));
    }

    void uveu_tier1_share(std::vector<policy_finding>& out) const {
        const double min = *p_.uveu_min_tier1_share;
        for (const auto* e : with_status("uveu")) {
            const double total = entity_tpp(e->id);
            if (total <= 0) continue;
            double t1 = 0;
            for (const auto& [country, tpp] : entity_countries(e->id))
                if (p_.tier_of(country) == 1) t1 += tpp;
            const double share = t1 / total;
            if (share < min)
                out.push_back(finding("uveu-tier1-share", "entity", e->id, "",
                                      "entity " + e->id + " has " + fmt_share(share, min) + " % of its controlled TPP (" +
                                          fmt_num(t1) + " of " + fmt_num(total) + ") in Tier-1 countries (at least " +
                                          fmt_pct(min) + " %)"));
        }
    }

    void uveu_tier2_country_share(std::vector<policy_finding>& out) const {
        const double max = *p_.uveu_max_tier2_country_share;
        for (const auto* e : with_status("uveu")) {
            const double total = entity_tpp(e->id);
            if (total <= 0) continue;
            for (const auto& [country, tpp] : entity_countries(e->id)) {
                if (p_.tier_of(country) != 2) continue;
                const double share = tpp / total;
                if (share > max)
                    out.push_back(finding("uveu-tier2-country-share", "entity", e->id, "",
                                          "entity " + e->id + " has " + fmt_share(share, max) + " % of its controlled TPP (" +
                                              fmt_num(tpp) + " of " + fmt_num(total) + ") in Tier-2 country " + country +
                                              " (at most " + fmt_pct(max) + " %)",
                                          "violation", country));
            }
        }
    }

    void uveu_us_share(std::vector<policy_finding>& out) const {
        const double min = *p_.uveu_min_us_share;
        for (const auto* e : with_status("uveu")) {
            if (e->hq_country != "US") continue;
            const double total = entity_tpp(e->id);
            if (total <= 0) continue;
            const auto& by = entity_countries(e->id);
            const auto us = by.find("US");
            const double in_us = us == by.end() ? 0 : us->second;
            const double share = in_us / total;
            if (share < min)
                out.push_back(finding("uveu-us-share", "entity", e->id, "",
                                      "entity " + e->id + ", a UVEU headquartered in the US, has " + fmt_share(share, min) +
                                          " % of its controlled TPP (" + fmt_num(in_us) + " of " + fmt_num(total) +
                                          ") in the US (at least " + fmt_pct(min) + " %)"));
        }
    }

    void tier2_country_cap(std::vector<policy_finding>& out) const {
        const double cap = *p_.tier2_country_cap_tpp, lpp = *p_.lpp_allowance_tpp;
        for (const auto& [country, total] : e_.tpp_by_country) {
            if (p_.tier_of(country) != 2) continue;
            double counted = 0;
            std::string parts;
            for (const auto* e : with_status("none")) {
                const auto& by = entity_countries(e->id);
                const auto it = by.find(country);
                if (it == by.end()) continue;
                const double over = std::max(0.0, it->second - lpp);
                if (over <= 0) continue;
                counted += over;
                parts += (parts.empty() ? "" : ", ") + e->id + " " + fmt_num(it->second) + " - " + fmt_num(lpp) + " = " + fmt_num(over);
            }
            if (counted > cap)
                out.push_back(finding("tier2-country-cap", "country", country, "",
                                      "Tier-2 country " + country + " has " + fmt_num(counted) +
                                          " TPP counted against its cap of " + fmt_num(cap) +
                                          " (controlled TPP of entities without VEU status, less the LPP allowance of " +
                                          fmt_num(lpp) + " each: " + parts + ")"));
        }
    }

    void nveu_cap(std::vector<policy_finding>& out) const {
        const auto cap = p_.nveu_cap_tpp();
        if (!cap) return;
        const nveu_phase& ph = p_.nveu_phases[p_.nveu_phase_in_force];
        for (const auto* e : with_status("nveu")) {
            const double total = entity_tpp(e->id);
            if (total > *cap)
                out.push_back(finding("nveu-cap", "entity", e->id, "",
                                      "entity " + e->id + ", a national validated end user (NVEU), has " + fmt_num(total) +
                                          " controlled TPP (" + fmt_num(total / *p_.h100e_tpp, 1) +
                                          " H100-equivalents), above the cap in force of " + fmt_num(*cap) + " (" + ph.name +
                                          ": " + fmt_num(ph.cap_h100e) + " H100-equivalents of " + fmt_num(*p_.h100e_tpp) + " TPP)"));
        }
    }

    void tier3_destination(std::vector<policy_finding>& out) const {
        for (const auto& [id, s] : sites_) {
            if (p_.tier_of(s->country) != 3) continue;
            const auto n = t_.site_controlled.find(id);
            if (n == t_.site_controlled.end() || n->second == 0) continue;
            out.push_back(finding("tier3-destination", "site", id, "",
                                  "site " + id + " of entity " + s->entity + " is in " + s->country +
                                      ", a Tier-3 (arms-embargoed) country, and holds " + std::to_string(n->second) +
                                      " controlled GPU" + (n->second == 1 ? "" : "s") + " (" + fmt_num(t_.site_tpp.at(id)) +
                                      " TPP)"));
        }
    }

    void prohibited_chip(std::vector<policy_finding>& out) const {
        for (const auto& [id, h] : hosts_) {
            std::string list;
            std::size_t n = 0;
            for (const auto& g : h->gpus) {
                const chip* c = g.chip == "unknown" ? nullptr : chips_.by_id(g.chip);
                if (!c || !p_.prohibits(*c)) continue;
                list += (list.empty() ? "" : ", ") + g.serial + " (" + c->id + ")";
                ++n;
            }
            if (n == 0) continue;
            const auto s = sites_.find(h->site);
            const std::string where = s == sites_.end() ? "site " + h->site : "site " + h->site + ", " + s->second->country;
            out.push_back(finding("prohibited-chip", "host", id, id,
                                  "host " + id + " (" + where + ") holds " + std::to_string(n) + " GPU" + (n == 1 ? "" : "s") +
                                      " prohibited anywhere under " + p_.id + ": " + list));
        }
    }

    void closed_weights(std::vector<policy_finding>& out) const {
        const double threshold = *p_.closed_weights_threshold_ops;
        std::vector<const fleet_model*> models;
        for (const auto& m : f_.models) models.push_back(&m);
        std::stable_sort(models.begin(), models.end(), [](auto* a, auto* b) { return a->id < b->id; });
        for (const auto* m : models) {
            if (!m->closed_weights || !(m->training_ops > threshold)) continue;
            std::set<std::string> on(m->hosts.begin(), m->hosts.end());
            for (const auto& host : on) {
                const auto h = hosts_.find(host);
                const std::string site = h == hosts_.end() ? "" : h->second->site;
                if (std::find(m->approved_sites.begin(), m->approved_sites.end(), site) != m->approved_sites.end()) continue;
                std::string approved;
                for (const auto& a : m->approved_sites) approved += (approved.empty() ? "" : ", ") + a;
                out.push_back(finding("closed-weights-unapproved-site", "model", m->id, host,
                                      "model " + m->id + " (closed weights, trained with " + fmt_ops(m->training_ops) +
                                          " operations, more than " + fmt_ops(threshold) + ") is on host " + host +
                                          (site.empty() ? " of an unknown site" : " at site " + site) +
                                          ", which is not one of its approved sites (" +
                                          (approved.empty() ? "none" : approved) + ")"));
            }
        }
    }

    const profile& p_;
    const fleet& f_;
    const chip_table& chips_;
    std::map<std::string, const fleet_entity*> entities_;
    std::map<std::string, const fleet_site*> sites_;
    std::map<std::string, const fleet_host*> hosts_;
    tallies t_;
    evaluation e_;
    std::vector<policy_finding> unknown_;
};

json::value tpp_value(double v) {
    if (std::floor(v) == v && std::fabs(v) < 9.0e18) return static_cast<std::int64_t>(v);
    return v;
}

}  // namespace

evaluation evaluate(const profile& p, const fleet& f, const chip_table& chips) { return engine(p, f, chips).run(); }

boost::json::object evaluation_to_json(const evaluation& e) {
    json::array findings;
    for (const auto& f : e.findings)
        findings.push_back(json::object{{"rule", f.rule},
                                        {"severity", f.severity},
                                        {"subject_kind", f.subject_kind},
                                        {"subject", f.subject},
                                        {"host", f.host},
                                        {"detail", f.detail}});
    json::object by_country, by_entity;
    for (const auto& [k, v] : e.tpp_by_country) by_country[k] = tpp_value(v);
    for (const auto& [k, v] : e.tpp_by_entity) by_entity[k] = tpp_value(v);
    json::object summary;
    summary["tpp_by_country"] = std::move(by_country);
    summary["tpp_by_entity"] = std::move(by_entity);
    summary["unknown_tpp_gpus"] = e.unknown_tpp_gpus;
    summary["violations"] = e.violations;
    summary["warnings"] = e.warnings;
    json::object o;
    o["findings"] = std::move(findings);
    o["summary"] = std::move(summary);
    return o;
}

}  // namespace custos::policy
