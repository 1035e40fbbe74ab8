// Per-GPU compute counters: cumulative busy seconds (utilisation-weighted), TPP-seconds, an upper bound of
// operations and energy, persisted in state_dir/counters.json (atomically, at every sample) so they are
// monotonic across agent restarts. Keyed by serial (uuid, then PCI bus id, when a board has none).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/gpu_inventory.hpp"
#include "attest/report_ext.hpp"
#include "crypto/result.hpp"
#include "policy/chips.hpp"

namespace custos::agent {

struct gpu_counter {
    double busy_s = 0;
    double tpp_s = 0;
    double ops = 0;
    std::uint64_t energy_mj = 0;               // sum of the driver counter's increments since first seen
    std::optional<std::uint64_t> energy_raw;   // the driver counter at the last sample
};

// The key a GPU's counters are kept under.
std::string gpu_key(const gpu_info& g);

class compute_counters {
public:
    // A missing file starts every counter at zero; a corrupt one is an error (counters must not silently
    // restart: the verifier would read that as a rollback).
    static result<compute_counters> open(const std::filesystem::path& state_dir);
    // The same check of a counters.json's text (`file` names it in errors and is where sample() writes).
    static result<compute_counters> parse(std::string_view text, const std::filesystem::path& file);

    // Adds `dt_s` seconds at each GPU's sampled utilisation (a GPU without one counts as fully busy: the
    // counts are upper bounds) and the driver's energy increments, then persists. dt_s is clamped to
    // [0, max_dt_s] so a stalled agent does not extrapolate one sample over hours.
    result<void> sample(const gpu_inventory& inv, const policy::chip_table& chips, double dt_s, double max_dt_s);

    // The report ext for `inv` with these counters.
    attest::report_ext to_ext(const gpu_inventory& inv, const policy::chip_table& chips) const;
    const std::map<std::string, gpu_counter>& counters() const { return counters_; }

private:
    std::filesystem::path file_;
    std::map<std::string, gpu_counter> counters_;
};

}  // namespace custos::agent
