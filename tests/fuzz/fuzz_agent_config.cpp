// Fuzz target: agent.toml (agent/config.hpp): any bytes give a config or an error naming the key, never a
// crash; what is accepted passes the same checks the daemon applies at start.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    custos::agent::agent_config c;
    auto r = custos::agent::parse_agent_config(std::string_view(reinterpret_cast<const char*>(data), size),
                                               "/fuzz/agent.toml", c);
    if (r) (void)custos::agent::check_agent_config(c);
    if (c.report_interval_s < 1 || c.report_interval_s > 86'400) __builtin_trap();
    return 0;
}
