// Gives a hand-made report ext the PCI view a real agent sends beside NVML: each GPU at its own bus
// address (0000:18:00.0, 0000:19:00.0, …), each address on the bus with the PCI ids of the chip its name
// names (an id the chip table does not know for a name it does not know).
#pragma once

#include <cstdio>
#include <string>

#include "attest/report_ext.hpp"
#include "policy/chips.hpp"

namespace custos::test {

inline attest::report_ext with_pci_view(attest::report_ext e,
                                        const policy::chip_table& chips = policy::chip_table::builtin()) {
    std::vector<attest::pci_function> pci;
    for (std::size_t i = 0; i < e.gpus.size(); ++i) {
        char nvml_bus[32], bus[32];
        std::snprintf(nvml_bus, sizeof nvml_bus, "00000000:%02X:00.0", static_cast<unsigned>(0x18 + i));
        std::snprintf(bus, sizeof bus, "0000:%02x:00.0", static_cast<unsigned>(0x18 + i));
        e.gpus[i].pci_bus_id = nvml_bus;
        const policy::chip* c = chips.by_name(e.gpus[i].name);
        const std::string ids = c && !c->pci_ids.empty() ? c->pci_ids.front() : "10de:fff0";
        pci.push_back({bus, ids.substr(0, 4), ids.substr(5), ids.substr(0, 4), "16c1", "030200", 0});
    }
    e.pci = std::move(pci);
    return e;
}

}  // namespace custos::test
