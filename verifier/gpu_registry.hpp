// The fleet GPU registry and compute sums: what one report's inventory and counters change, and the
// findings that follow (gpu-missing, gpu-moved, gpu-duplicated, gpu-added, gpu-unknown,
// inventory-unverified, counter-rollback, compute-threshold, weights-handout-unleased). Runs inside the
// report's transaction.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "attest/report_ext.hpp"
#include "policy/chips.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

struct compute_thresholds {
    double model_ops = 1e26;  // a model's training ops plus the ops attributed to it; 0 = off
    double host_ops = 0;
    double entity_ops = 0;
    double country_ops = 0;
};

struct gpu_context {
    const policy::chip_table& chips;
    std::int64_t now = 0;
    std::int64_t duplicate_window_s = 20;  // "reported by two hosts within one interval"
    compute_thresholds thresholds;
};

struct gpu_outcome {
    std::vector<finding_record> raised;
    std::set<std::string> other_hosts;  // hosts other than the reporting one that got findings (status to refresh)
    std::size_t resolved = 0;  // findings of the reporting host closed (its status may improve)
    bool compute_added = false;
    bool fleet_changed = false;  // a serial's host or chip in the registry changed (the policy engine's input)
};

// The key a GPU's counters are kept under, as the agent keys them: serial, else "uuid:…", else "pci:…".
std::string gpu_counter_key(const attest::gpu_report& g);

// One report's ext from approved host `h`: weight hand-outs against the host's leases, the inventory
// (registry, approvals, findings) and the counters (deltas against the last stored values, added to the
// host's total and to each model the report names).
result<void> apply_report_ext(store_tx& tx, const host_record& h, std::uint64_t seq, const attest::report_ext& ext,
                              const gpu_context& ctx, gpu_outcome& out);

// Operator actions: a serial approved for a host closes its gpu-added/gpu-moved findings there; released
// from a host, its gpu-missing finding there. Both are recorded in the GPU's history.
result<void> approve_host_gpu(store_tx& tx, const std::string& host, const std::string& serial, std::int64_t now);
result<bool> release_host_gpu(store_tx& tx, const std::string& host, const std::string& serial, std::int64_t now);

// Sums of the compute table.
struct compute_total {
    std::string key;
    counter_record total;
    double training_ops = 0;  // by model only: what the model's registration declared
    std::size_t hosts = 0;
};
// by: host, site, entity, country, model. Hosts without a site count under "" for site/entity/country.
result<std::vector<compute_total>> compute_totals(store_tx& tx, const std::string& by);

// compute-threshold findings for every total at or over its configured threshold.
result<void> check_compute_thresholds(store_tx& tx, const compute_thresholds& t, std::int64_t now,
                                      std::vector<finding_record>& raised);

}  // namespace custos::verifier
