// Fuzz target: verifier.toml (verifier/config.hpp). Whatever is accepted renders to a file that loads back
// to the same rendering: the config writer and reader agree on every value, numbers included.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "verifier/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto c = custos::verifier::parse_verifier_config(text, "/fuzz/verifier.toml");
    if (!c) return 0;
    const std::string once = custos::verifier::render_verifier_config(*c);
    auto again = custos::verifier::parse_verifier_config(once, "/fuzz/verifier.toml");
    if (!again || custos::verifier::render_verifier_config(*again) != once) __builtin_trap();
    return 0;
}
