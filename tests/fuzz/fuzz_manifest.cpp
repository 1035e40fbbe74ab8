// Fuzz target: the manifest parser (weights::parse_manifest) and its serialiser.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "weights/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::weights;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto m = parse_manifest(text);
    if (!m.ok()) {
        if (m.err().message.empty()) std::abort();
        return 0;
    }
    // What parses is consistent: sorted valid paths, chunk counts and roots that recompute.
    if (m->files.empty() || !check_model_id(m->model_id).ok() || !check_chunk_size(m->chunk_size).ok()) std::abort();
    for (std::size_t i = 0; i < m->files.size(); ++i) {
        const auto& f = m->files[i];
        if (!check_model_path(f.path).ok()) std::abort();
        if (i && !(m->files[i - 1].path < f.path)) std::abort();
        if (f.chunks.size() != chunk_count(f.size, m->chunk_size)) std::abort();
        if (file_root(f.chunks) != f.root) std::abort();
    }
    if (model_root(m->files) != m->model_root) std::abort();
    // It re-serialises to the canonical text, which parses to the same manifest and text.
    const std::string out = manifest_to_json(*m);
    auto again = parse_manifest(out);
    if (!again.ok() || again->model_root != m->model_root || again->model_id != m->model_id) std::abort();
    if (manifest_to_json(*again) != out) std::abort();
    return 0;
}
