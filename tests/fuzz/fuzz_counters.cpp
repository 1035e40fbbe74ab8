// Fuzz target: the agent's persisted compute counters (state_dir/counters.json), read at every start.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/compute_counters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto c = custos::agent::compute_counters::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                                                    "/nonexistent/counters.json");
    if (c) {
        for (const auto& [key, k] : c->counters())  // what is accepted is finite and non-negative
            if (!std::isfinite(k.busy_s) || k.busy_s < 0 || !std::isfinite(k.ops) || k.ops < 0) __builtin_trap();
    }
    return 0;
}
