// Fuzz target: the chip table parser (policy/chips.toml, or an operator's corrected copy).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/chips.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto t = custos::policy::chip_table::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
    if (t) {
        for (const auto& c : t->chips()) {
            // What parses is consistent: every name finds its chip, ids are never "unknown".
            if (c.id == "unknown") __builtin_trap();
            for (const auto& n : c.names)
                if (t->by_name(n) != t->by_id(c.id)) __builtin_trap();
        }
    }
    return 0;
}
