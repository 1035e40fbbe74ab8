// Gives a hand-made report ext the PCI view a real agent sends beside NVML: each GPU at its own bus
// address (0000:18:00.0, 0000:19:00.0, …), each address on the bus with the PCI ids of the chip its name
// names (an id the chip table does not know for a name it does not know). A GPU whose name is another
// vendor's chip (an Ascend, an AMD card) is on the bus only, as a processing accelerator: NVML never
// lists one.
#pragma once

#include <cstdio>
#include <string>

#include "attest/report_ext.hpp"
#include "policy/chips.hpp"

namespace custos::test {

inline attest::report_ext with_pci_view(attest::report_ext e,
                                        const policy::chip_table& chips = policy::chip_table::builtin()) {
    std::vector<attest::pci_function> pci;
    std::vector<attest::gpu_report> nvml;
    for (std::size_t i = 0; i < e.gpus.size(); ++i) {
        char nvml_bus[32], bus[32];
        std::snprintf(nvml_bus, sizeof nvml_bus, "00000000:%02X:00.0", static_cast<unsigned>(0x18 + i));
        std::snprintf(bus, sizeof bus, "0000:%02x:00.0", static_cast<unsigned>(0x18 + i));
        e.gpus[i].pci_bus_id = nvml_bus;
        const policy::chip* c = chips.by_name(e.gpus[i].name);
        const std::string ids = c && !c->pci_ids.empty() ? c->pci_ids.front() : "10de:fff0";
        const bool nvidia = ids.starts_with("10de:");
        pci.push_back({bus, ids.substr(0, 4), ids.substr(5), ids.substr(0, 4), "16c1", nvidia ? "030200" : "120000", 0});
        if (nvidia) nvml.push_back(e.gpus[i]);
    }
    e.gpus = std::move(nvml);
    e.pci = std::move(pci);
    return e;
}

}  // namespace custos::test
