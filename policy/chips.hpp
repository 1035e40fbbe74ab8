// The chip table (policy/chips.toml): TPP, bit length, die area, performance density, the names the
// vendor's management library reports and the PCI ids of the chip, per accelerator. Shared by the agent (compute counts), the CLI
// (`custos gpu list`) and the verifier (gpu-unknown, policy rules).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"

namespace custos::policy {

struct chip {
    std::string id;  // "H100-SXM"; never "unknown", which names a GPU the table does not know
    std::string vendor;
    std::optional<double> tpp;            // absent: no public figure
    std::optional<unsigned> tpp_bits;     // the bit length at which tpp is reached
    std::optional<double> die_mm2;
    std::optional<double> pd;             // performance density, TPP per mm²
    std::vector<std::string> names;       // as NVML reports them, matched exactly
    std::vector<std::string> pci_ids;     // "vvvv:dddd" (lowercase hex): PCI vendor and device ids of the chip
    std::vector<std::string> prohibited_in;  // policy profile names

    // Peak dense operations per second: tpp / tpp_bits × 10^12; absent when either is unknown.
    std::optional<double> peak_ops_per_s() const;
    // ECCN 3A090.a: TPP ≥ 4800, or TPP ≥ 1600 and PD ≥ 5.92. A chip without a TPP is not known to be.
    bool controlled() const;
};

// A PCI display function known not to be an accelerator (a server BMC's VGA, a virtual machine's display
// adapter): listed so that it is neither an unknown accelerator nor a finding.
struct display_device {
    std::string id;
    std::string vendor;
    std::vector<std::string> pci_ids;  // "vvvv:dddd"
};

class chip_table {
public:
    // Strict: unknown keys, missing ids, duplicate ids or names, non-positive figures and a tpp without
    // tpp_bits are errors naming `source` and the line.
    static result<chip_table> parse(std::string_view toml_text, const std::string& source);
    static result<chip_table> load(const std::filesystem::path& file);
    // policy/chips.toml as built into this binary.
    static const chip_table& builtin();

    const chip* by_id(std::string_view id) const;
    const chip* by_name(std::string_view name) const;  // exact match on any of a chip's names
    // The chip a PCI function belongs to, from its vendor and device ids (4 hex digits each, any case,
    // "0x" allowed), whatever vendor library is installed; nullptr when the table does not know the pair.
    const chip* by_pci(std::string_view vendor, std::string_view device) const;
    // The display-only function with these ids, or nullptr (the same spellings as by_pci).
    const display_device* display_only(std::string_view vendor, std::string_view device) const;
    const std::vector<chip>& chips() const { return chips_; }
    const std::vector<display_device>& displays() const { return displays_; }

private:
    std::vector<chip> chips_;
    std::vector<display_device> displays_;
};

}  // namespace custos::policy
