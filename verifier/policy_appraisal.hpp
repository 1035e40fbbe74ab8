// The export-control engine (policy/engine.hpp) run over the fleet as the verifier sees it: entities and
// sites as registered, approved hosts with the GPUs their attested inventories put there, models where a
// live key lease puts them. Its findings join the store like any other, matched on (rule, subject, host,
// ref) so an open one stays open while the engine keeps finding it, and is resolved when it no longer does.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "policy/chips.hpp"
#include "policy/engine.hpp"
#include "policy/profile.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

// The rules the engine may raise (what the verifier reconciles), gpu-unknown excluded: the GPU registry
// raises that one itself.
const std::vector<std::string>& policy_rules();

// The fleet in the format `custos policy evaluate --fleet` reads (`custos fleet snapshot --json`).
result<policy::fleet> snapshot_fleet(store_tx& tx, std::int64_t now);

struct policy_outcome {
    policy::evaluation eval;             // merged over the profiles, gpu-unknown dropped
    std::vector<finding_record> raised;  // inserted now
    std::size_t resolved = 0;
    std::set<std::string> hosts;  // hosts whose findings changed (their status is to be refreshed)
};

// Every profile over the same snapshot; a finding two profiles both raise counts once.
policy::evaluation evaluate_profiles(const std::vector<policy::profile>& profiles, const policy::fleet& f,
                                     const policy::chip_table& chips);

// Evaluates and reconciles inside `tx`; the caller refreshes the status of out.hosts and commits.
result<void> apply_policy(store_tx& tx, const std::vector<policy::profile>& profiles, const policy::chip_table& chips,
                          std::int64_t now, policy_outcome& out);

}  // namespace custos::verifier
