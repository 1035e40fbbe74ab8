// The vendor library's GPU list (NVML) against the PCI bus (sysfs), both from one report's ext, by bus
// id. NVML never lists a Huawei, AMD or Intel accelerator, and an agent or driver hiding an NVIDIA card
// leaves it on the bus: the PCI view is what makes those visible. Pure: the findings it names are raised
// by verifier/gpu_registry.cpp inside the report's transaction.
//
//   accelerator-unreported  an NVIDIA function on the bus that NVML does not list (a hidden card);
//   accelerator-mismatch    NVML lists a GPU at an address with no accelerator on the bus, lists two
//                           GPUs at one address, or names a chip other than the one its PCI ids name;
//   gpu-unknown             an accelerator whose name and PCI ids are both unknown to the chip table.
// Display-only functions (a BMC's VGA: the chip table's [[display]] entries) are set aside.
#pragma once

#include <string>
#include <vector>

#include "attest/report_ext.hpp"
#include "policy/chips.hpp"

namespace custos::verifier {

struct pci_accelerator {
    attest::pci_function function;
    const policy::chip* chip = nullptr;  // by the function's PCI ids (nullptr: the table does not know them)
};

struct pci_issue {
    std::string rule;
    std::string subject;  // a GPU serial, or "pci:<bus>"
    std::string detail;
};

struct pci_reconciliation {
    bool pci_view = false;  // the report carried a PCI view (else `why` says what was missing)
    std::string why;
    // The chip the verifier reads for each of ext.gpus (same order): by the PCI ids at its bus where the
    // table knows them (a name is a string the agent chooses; ids are what the card answers with), else
    // by the reported name; nullptr when neither is known.
    std::vector<const policy::chip*> gpu_chips;
    // Accelerators on the bus that no GPU of ext.gpus with a serial stands for: with NVML, the non-NVIDIA
    // ones; without it, all of them. They count in the fleet by their PCI chip.
    std::vector<pci_accelerator> pci_only;
    std::vector<pci_issue> issues;
};

pci_reconciliation reconcile_pci(const attest::report_ext& ext, const policy::chip_table& chips);

// "0000:c1:00.0 19e5:d802 Ascend-910B" per PCI-only accelerator, as host_inventory stores them ("unknown"
// for a chip the table does not know), and back (lines that do not parse are skipped).
std::vector<std::string> pci_only_lines(const std::vector<pci_accelerator>& list);
struct stored_pci_accelerator {
    std::string bus, ids, chip;
};
std::vector<stored_pci_accelerator> parse_pci_only_lines(const std::vector<std::string>& lines);

}  // namespace custos::verifier
