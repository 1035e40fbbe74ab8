// Fuzz target: the request line a local process sends to the agent's weights socket.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/weights_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto r = custos::agent::parse_weights_request(std::string_view(reinterpret_cast<const char*>(data), size));
    if (r && (r->model.empty() || r->file.empty())) __builtin_trap();  // what parses names a model and a file
    return 0;
}
