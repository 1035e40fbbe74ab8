// Fuzz target: the sealed-model index parser (weights::parse_sealed_index) and its serialiser.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "weights/sealed.hpp"
#include "weights/sealed_crypto.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::weights;
    auto idx = parse_sealed_index(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!idx.ok()) return 0;
    // What parses is consistent: every path is a valid model path, counts match sizes, data names match
    // positions, paths are strictly sorted; and it re-serialises to text that parses to the same index.
    for (std::size_t i = 0; i < idx->files.size(); ++i) {
        const auto& f = idx->files[i];
        if (!check_model_path(f.path).ok()) std::abort();
        if (f.chunks != chunk_count(f.size, idx->chunk_size)) std::abort();
        if (f.data != sealed_data_name(i)) std::abort();
        if (i > 0 && !(idx->files[i - 1].path < f.path)) std::abort();
    }
    const std::string text = sealed_index_to_json(*idx);
    auto again = parse_sealed_index(text);
    if (!again.ok()) std::abort();
    if (sealed_index_to_json(*again) != text) std::abort();
    if (detail::index_mac_input(*again) != detail::index_mac_input(*idx)) std::abort();
    return 0;
}
