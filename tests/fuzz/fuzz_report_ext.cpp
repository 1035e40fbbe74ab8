// Fuzz target: the report ext codec (GPU inventory, PCI view, compute counters, models, events).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "attest/report_ext.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto e = custos::attest::parse_report_ext(std::string_view(reinterpret_cast<const char*>(data), size));
    if (e) {
        // What parses re-encodes to something that parses to the same counts.
        auto again = custos::attest::parse_report_ext(custos::attest::encode_report_ext(*e));
        if (!again || again->gpus.size() != e->gpus.size() || again->models.size() != e->models.size() ||
            again->pci.has_value() != e->pci.has_value() || (e->pci && again->pci->size() != e->pci->size()))
            __builtin_trap();
    }
    return 0;
}
