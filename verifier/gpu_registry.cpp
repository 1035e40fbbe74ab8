#include "verifier/gpu_registry.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "verifier/findings.hpp"
#include "verifier/gpu_attestation_appraisal.hpp"
#include "verifier/pci_reconcile.hpp"

namespace custos::verifier {
namespace {

std::string sci(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string gpu_label(const attest::gpu_report& g) {
    return g.serial + (g.name.empty() ? "" : " (" + g.name + ")");
}

struct step {
    store_tx& tx;
    const host_record& h;
    const gpu_context& ctx;
    gpu_outcome& out;

    result<void> raise_gpu(const std::string& rule, const std::string& host, const std::string& serial, const std::string& detail) {
        if (host != h.id) out.other_hosts.insert(host);
        return raise_finding(tx, subject_finding(rule, host, "gpu", serial, detail, ctx.now), out.raised);
    }
    result<void> resolve(const std::string& rule, const std::string& serial) {
        CUSTOS_TRY(n, tx.resolve_subject_findings(h.id, rule, serial, ctx.now));
        out.resolved += n;
        return {};
    }
    result<void> event(const std::string& serial, const std::string& host, const char* what, const std::string& detail) {
        return tx.insert_gpu_event({serial, host, what, ctx.now, detail});
    }
};

result<void> apply_inventory(step& st, std::uint64_t seq, const attest::report_ext& ext) {
    store_tx& tx = st.tx;
    const host_record& h = st.h;
    const std::int64_t now = st.ctx.now;
    CUSTOS_TRY(prev, tx.get_host_inventory(h.id));
    host_inventory_record inv = prev ? *prev : host_inventory_record{h.id, "", "", "", {}, 0, false, {}};
    inv.time = now;
    inv.source = ext.inventory_source;
    inv.driver_version = ext.driver_version;
    inv.error = ext.inventory_error;
    auto raise_host = [&](const std::string& rule, const std::string& detail) {
        return raise_finding(tx, host_finding(rule, h.id, detail, now), st.out.raised);
    };
    if (!ext.inventory_error.empty()) {
        // Nothing can be said about missing GPUs from an inventory the agent could not read.
        CUSTOS_TRY_VOID(raise_host("inventory-unverified", "the agent could not read its GPUs: " + ext.inventory_error));
        return tx.put_host_inventory(inv);
    }
    // The PCI view against NVML's list: hidden cards, phantom or doubled GPUs, chips named by their ids.
    const pci_reconciliation pci = reconcile_pci(ext, st.ctx.chips);
    std::set<std::string> pci_subjects;
    for (const auto& issue : pci.issues) {
        CUSTOS_TRY_VOID(st.raise_gpu(issue.rule, h.id, issue.subject, issue.detail));
        if (issue.rule != "gpu-unknown") pci_subjects.insert(issue.rule + "\n" + issue.subject);
    }
    // Without a PCI view nothing can be said of what NVML leaves out: what the last view showed stands
    // (its PCI-only cards stay counted, its findings open), and a host that runs NVML yet shows no bus is
    // itself suspect (sysfs is readable by any user on a real host).
    if (!pci.pci_view && ext.inventory_source == "nvml")
        CUSTOS_TRY_VOID(st.raise_gpu("accelerator-unreported", h.id, "pci",
                                     "host " + h.id + " reports its NVML GPUs without the PCI view beside them (" + pci.why +
                                         "): accelerators NVML does not list cannot be seen"));
    // What the bus no longer shows closes: a hidden card listed again, a doubled GPU listed once.
    for (const char* rule : {"accelerator-unreported", "accelerator-mismatch"}) {
        if (!pci.pci_view) break;
        finding_filter f;
        f.host = h.id;
        f.rule = rule;
        f.open_only = true;
        CUSTOS_TRY(open, tx.list_findings(f));
        for (const auto& x : open)
            if (!pci_subjects.count(std::string(rule) + "\n" + x.subject)) {
                CUSTOS_TRY(n, tx.resolve_subject_findings(h.id, rule, x.subject, now));
                st.out.resolved += n;
            }
    }
    std::size_t without_serial = 0;
    std::map<std::string, std::size_t> by_serial;  // serial → index in ext.gpus
    for (std::size_t i = 0; i < ext.gpus.size(); ++i) {
        const auto& g = ext.gpus[i];
        if (g.serial.empty()) {
            ++without_serial;
            continue;
        }
        if (!by_serial.emplace(g.serial, i).second)
            CUSTOS_TRY_VOID(st.raise_gpu("gpu-duplicated", h.id, g.serial,
                                         "GPU serial " + g.serial + " appears twice in one inventory of host " + h.id +
                                             " (report " + std::to_string(seq) + "): a cloned or forged serial"));
    }
    // `verified`: NVML gave a serial for every GPU, so the approved set can be taken from it and checked.
    const bool verified = ext.inventory_source == "nvml" && without_serial == 0;
    std::vector<std::string> unverified;
    if (ext.inventory_source != "nvml")
        unverified.push_back("GPU inventory from " + ext.inventory_source + " (no NVML): no serials, so its GPUs cannot be tied to this host");
    else if (without_serial > 0)
        unverified.push_back(std::to_string(without_serial) + " of " + std::to_string(ext.gpus.size()) +
                             " GPUs report no serial: they cannot be tied to this host");
    if (!pci.pci_view) unverified.push_back(pci.why + ": accelerators no vendor library lists cannot be seen");
    else if (ext.inventory_source == "nvml" && !pci.pci_only.empty()) {
        std::string list;
        for (const auto& a : pci.pci_only)
            list += (list.empty() ? "" : ", ") + a.function.bus + " " + (a.chip ? a.chip->id : "unknown");
        unverified.push_back(std::to_string(pci.pci_only.size()) + " accelerator" + (pci.pci_only.size() == 1 ? "" : "s") +
                             " listed only from PCI (" + list + "): no serial ties " +
                             (pci.pci_only.size() == 1 ? "it" : "them") + " to this host");
    }
    if (!unverified.empty()) {
        std::string why;
        for (const auto& u : unverified) why += (why.empty() ? "" : "; ") + u;
        CUSTOS_TRY_VOID(raise_host("inventory-unverified", why));
    } else {
        CUSTOS_TRY(n, tx.resolve_findings(h.id, std::string("inventory-unverified"), now));
        st.out.resolved += n;
    }
    if (pci.pci_view) {
        const std::vector<std::string> pci_lines = pci_only_lines(pci.pci_only);
        if (pci_lines != inv.pci_only) st.out.fleet_changed = true;  // the policy engine counts these
        inv.pci_only = pci_lines;
    }

    CUSTOS_TRY(approved_list, tx.gpu_approvals(h.id));
    std::set<std::string> approved(approved_list.begin(), approved_list.end());
    const bool baseline = !inv.baseline_taken && verified;
    for (const auto& [serial, index] : by_serial) {
        const attest::gpu_report* g = &ext.gpus[index];
        // The chip is the verifier's own reading of the card's PCI ids (else of the reported name), never the
        // agent's label for it: a host cannot pass an Ascend off as an H100 by naming it one, nor put an id
        // the table lacks in the fleet.
        const policy::chip* known = pci.gpu_chips[index];
        const std::string chip = known ? known->id : "";
        CUSTOS_TRY(row, tx.get_gpu(serial));
        gpu_record r = row ? *row : gpu_record{serial, h.id, "", g->name, chip, g->uuid, g->pci_bus_id, now, now, 0};
        const bool registered_elsewhere = row && row->host_id != h.id;
        if (baseline && !registered_elsewhere && !approved.count(serial)) {
            CUSTOS_TRY_VOID(tx.approve_gpu(h.id, serial, now));
            CUSTOS_TRY_VOID(st.event(serial, h.id, "baseline", "approved with the host's first inventory after approval"));
            approved.insert(serial);
        }
        if (!row) {
            CUSTOS_TRY_VOID(st.event(serial, h.id, "seen", "first seen in the fleet (report " + std::to_string(seq) + ")"));
            if (!approved.count(serial))
                CUSTOS_TRY_VOID(st.raise_gpu("gpu-added", h.id, serial,
                                             "GPU " + gpu_label(*g) + " appeared on host " + h.id +
                                                 ": never seen in the fleet and not approved for this host"));
        } else if (!registered_elsewhere) {
            CUSTOS_TRY_VOID(st.resolve("gpu-missing", serial));
        } else {
            const std::string other = row->host_id;
            // A finding against a host comes only from its own evidence. While the host the serial is
            // registered on still lists it in its own recent inventory, this host's claim is the odd one
            // out: a clone or a lie, and its finding alone (the other keeps its GPU, status and leases).
            CUSTOS_TRY(other_inv, tx.get_host_inventory(other));
            const bool other_holds = other_inv &&
                                     std::binary_search(other_inv->serials.begin(), other_inv->serials.end(), serial) &&
                                     now - other_inv->time <= st.ctx.duplicate_window_s;
            if (other_holds) {
                const std::string d = "GPU serial " + serial + " is reported by host " + h.id + " while host " + other +
                                      ", where it is registered, still reports it (within " +
                                      std::to_string(st.ctx.duplicate_window_s) + " s): the claim of host " + h.id +
                                      " is a clone or a lie";
                CUSTOS_TRY_VOID(st.raise_gpu("gpu-duplicated", h.id, serial, d));
                continue;  // the registry keeps it where it is
            }
            // The registered host no longer lists it (its own report says so) or has gone quiet: it moved. What
            // the other host lost is its own reports' to say (gpu-missing), or its silence's (host-dark).
            r.prev_host = other;
            r.host_id = h.id;
            r.moved_at = now;
            CUSTOS_TRY_VOID(st.event(serial, other, "moved-out", "now reports from host " + h.id));
            CUSTOS_TRY_VOID(st.event(serial, h.id, "moved-in", "last seen on host " + other));
            if (!approved.count(serial))
                CUSTOS_TRY_VOID(st.raise_gpu("gpu-moved", h.id, serial,
                                             "GPU " + gpu_label(*g) + " last seen on host " + other + " now reports from host " +
                                                 h.id + " without being approved here"));
            CUSTOS_TRY_VOID(st.resolve("gpu-added", serial));
            CUSTOS_TRY_VOID(st.resolve("gpu-missing", serial));  // it came back
        }
        if (!row || row->host_id != r.host_id || row->chip != chip) st.out.fleet_changed = true;
        r.name = g->name;
        r.chip = chip;
        r.uuid = g->uuid;
        r.pci_bus_id = g->pci_bus_id;
        r.last_seen = now;
        CUSTOS_TRY_VOID(tx.put_gpu(r));
    }
    if (verified) {
        for (const auto& serial : approved) {
            if (by_serial.count(serial)) continue;
            CUSTOS_TRY_VOID(st.raise_gpu("gpu-missing", h.id, serial,
                                         "approved GPU " + serial + " is missing from host " + h.id +
                                             "'s inventory (report " + std::to_string(seq) + ") and no release is recorded"));
        }
    }
    if (baseline) inv.baseline_taken = true;
    inv.serials.clear();
    for (const auto& [serial, index] : by_serial) inv.serials.push_back(serial);
    return tx.put_host_inventory(inv);
}

result<void> apply_counters(step& st, std::uint64_t seq, const attest::report_ext& ext) {
    if (ext.gpus.empty()) return {};
    CUSTOS_TRY(stored, st.tx.gpu_counters(st.h.id));
    std::map<std::string, counter_record> prev(stored.begin(), stored.end());
    counter_record delta;
    for (const auto& g : ext.gpus) {
        const std::string key = gpu_counter_key(g);
        const counter_record cur{g.busy_s, g.tpp_s, g.ops, g.energy_mj};
        auto it = prev.find(key);
        if (it == prev.end()) {
            // First sight: everything the agent counted for this GPU so far (an upper bound, as all counts are).
            delta.busy_s += cur.busy_s;
            delta.tpp_s += cur.tpp_s;
            delta.ops += cur.ops;
            delta.energy_mj += cur.energy_mj;
        } else {
            const counter_record& p = it->second;
            if (cur.busy_s < p.busy_s || cur.tpp_s < p.tpp_s || cur.ops < p.ops || cur.energy_mj < p.energy_mj) {
                CUSTOS_TRY_VOID(st.raise_gpu("counter-rollback", st.h.id, key,
                                             "compute counters of GPU " + key + " on host " + st.h.id + " went backwards in report " +
                                                 std::to_string(seq) + " (ops " + sci(p.ops) + " → " + sci(cur.ops) + ", busy " +
                                                 sci(p.busy_s) + " s → " + sci(cur.busy_s) +
                                                 " s): the agent's counter file was reset or replaced"));
            } else {
                delta.busy_s += cur.busy_s - p.busy_s;
                delta.tpp_s += cur.tpp_s - p.tpp_s;
                delta.ops += cur.ops - p.ops;
                delta.energy_mj += cur.energy_mj - p.energy_mj;
            }
        }
        CUSTOS_TRY_VOID(st.tx.put_gpu_counter(st.h.id, key, cur));
    }
    if (delta.busy_s <= 0 && delta.ops <= 0 && delta.energy_mj == 0) return {};
    CUSTOS_TRY_VOID(st.tx.add_compute(st.h.id, "", delta, st.ctx.now));
    std::set<std::string> models(ext.models.begin(), ext.models.end());
    for (const auto& m : models) CUSTOS_TRY_VOID(st.tx.add_compute(st.h.id, m, delta, st.ctx.now));
    st.out.compute_added = true;
    return {};
}

// A hand-out the agent recorded must fall inside a lease of that model on this host (with `slack` seconds
// for the agent's clock): weights served without a key the verifier released came from elsewhere.
result<void> check_hand_outs(step& st, std::uint64_t seq, const attest::report_ext& ext) {
    constexpr std::int64_t slack = 60;
    for (const auto& ev : ext.events) {
        if (ev.kind != "weights-handout") continue;
        CUSTOS_TRY(leases, st.tx.host_model_leases(st.h.id, ev.model));
        const bool covered = std::any_of(leases.begin(), leases.end(), [&](const lease_record& l) {
            const std::int64_t end = l.revoked_at ? std::min(l.revoked_at, l.expires_at) : l.expires_at;
            return ev.time >= l.issued_at - slack && ev.time <= end + slack;
        });
        if (covered) continue;
        CUSTOS_TRY_VOID(raise_finding(st.tx,
                                      subject_finding("weights-handout-unleased", st.h.id, "model", ev.model,
                                                      "report " + std::to_string(seq) + " of host " + st.h.id +
                                                          " records a hand-out of model " + ev.model + " weights (" + ev.detail +
                                                          ") outside any key lease the verifier issued to it",
                                                      st.ctx.now),
                                      st.out.raised));
    }
    return {};
}

}  // namespace

std::string gpu_counter_key(const attest::gpu_report& g) {
    if (!g.serial.empty()) return g.serial;
    if (!g.uuid.empty()) return "uuid:" + g.uuid;
    return "pci:" + g.pci_bus_id;
}

result<void> apply_report_ext(store_tx& tx, const host_record& h, std::uint64_t seq, const attest::report_ext& ext,
                              const gpu_context& ctx, gpu_outcome& out) {
    step st{tx, h, ctx, out};
    CUSTOS_TRY_VOID(check_hand_outs(st, seq, ext));
    if (ext.inventory_source.empty() && ext.inventory_error.empty()) return {};
    CUSTOS_TRY_VOID(apply_inventory(st, seq, ext));
    return apply_counters(st, seq, ext);
}

result<void> approve_host_gpu(store_tx& tx, const std::string& host, const std::string& serial, std::int64_t now) {
    CUSTOS_TRY_VOID(tx.approve_gpu(host, serial, now));
    CUSTOS_TRY_VOID(tx.insert_gpu_event({serial, host, "approved", now, "approved for this host by the operator"}));
    for (const char* rule : {"gpu-added", "gpu-moved"}) CUSTOS_TRY_VOID(tx.resolve_subject_findings(host, rule, serial, now));
    return rebaseline_gpu_attestation(tx, host, serial, now);
}

result<bool> release_host_gpu(store_tx& tx, const std::string& host, const std::string& serial, std::int64_t now) {
    CUSTOS_TRY(was, tx.release_gpu(host, serial));
    CUSTOS_TRY_VOID(tx.insert_gpu_event({serial, host, "released", now, "released from this host by the operator"}));
    CUSTOS_TRY_VOID(tx.resolve_subject_findings(host, "gpu-missing", serial, now));
    return was;
}

result<std::vector<compute_total>> compute_totals(store_tx& tx, const std::string& by) {
    CUSTOS_TRY(rows, tx.list_compute());
    std::map<std::string, compute_total> totals;
    std::map<std::string, std::set<std::string>> hosts;
    if (by == "model") {
        CUSTOS_TRY(models, tx.list_models());
        for (const auto& m : models) {
            totals[m.id].key = m.id;
            totals[m.id].training_ops = m.training_ops;
        }
    }
    std::map<std::string, std::string> host_site;
    std::map<std::string, site_record> sites;
    std::map<std::string, std::string> site_entity;
    if (by == "site" || by == "entity" || by == "country") {
        CUSTOS_TRY(hs, tx.list_hosts());
        for (const auto& h : hs) host_site[h.id] = h.site;
        CUSTOS_TRY(ss, tx.list_sites());
        for (const auto& s : ss) sites[s.id] = s;
    }
    for (const auto& r : rows) {
        if ((by == "model") != !r.model.empty()) continue;  // host totals live under model ""
        std::string key;
        if (by == "host") key = r.host_id;
        else if (by == "model") key = r.model;
        else {
            const std::string& site = host_site[r.host_id];
            auto s = sites.find(site);
            key = by == "site" ? site : s == sites.end() ? "" : by == "entity" ? s->second.entity : s->second.country;
        }
        compute_total& t = totals[key];
        t.key = key;
        t.total.busy_s += r.total.busy_s;
        t.total.tpp_s += r.total.tpp_s;
        t.total.ops += r.total.ops;
        t.total.energy_mj += r.total.energy_mj;
        hosts[key].insert(r.host_id);
    }
    std::vector<compute_total> out;
    for (auto& [k, t] : totals) {
        t.hosts = hosts[k].size();
        out.push_back(std::move(t));
    }
    return out;
}

result<void> check_compute_thresholds(store_tx& tx, const compute_thresholds& t, std::int64_t now,
                                      std::vector<finding_record>& raised) {
    const std::pair<const char*, double> dims[] = {
        {"model", t.model_ops}, {"host", t.host_ops}, {"entity", t.entity_ops}, {"country", t.country_ops}};
    for (const auto& [by, limit] : dims) {
        if (limit <= 0) continue;
        CUSTOS_TRY(totals, compute_totals(tx, by));
        for (const auto& c : totals) {
            const double ops = c.total.ops + c.training_ops;
            if (c.key.empty() || ops < limit) continue;
            std::string detail = std::string(by) + " " + c.key + ": " + sci(ops) + " operations";
            if (c.training_ops > 0) detail += " (" + sci(c.training_ops) + " in training, " + sci(c.total.ops) + " attributed on hosts)";
            detail += " reached the threshold of " + sci(limit) + " (an upper bound from utilisation × peak dense ops/s)";
            finding_record f = subject_finding("compute-threshold", std::string(by) == "host" ? c.key : "", by, c.key, detail, now);
            CUSTOS_TRY_VOID(raise_finding(tx, std::move(f), raised));
        }
    }
    return {};
}

}  // namespace custos::verifier
