// Fuzz target: tpm2-tools PCR selection syntax (attest::parse_pcr_selection) and canonical formatting.
// The input is the text; when it is at least as large as a TPML_PCR_SELECTION, its first bytes are also
// taken as a raw (untrusted) selection, as verify_quote meets them after unmarshalling.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "attest/pcr_selection.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::attest;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto sel = parse_pcr_selection(text);
    if (sel.ok()) {
        // Canonical form parses back to the same selection and is a fixed point.
        const std::string canon = format_pcr_selection(*sel);
        auto back = parse_pcr_selection(canon);
        if (!back.ok() || !same_selection(*back, *sel)) std::abort();
        if (format_pcr_selection(*back) != canon) std::abort();
        if (selection_count(*sel) == 0 || selection_count(*sel) > 4 * 24) std::abort();
    }
    if (size >= sizeof(TPML_PCR_SELECTION)) {
        TPML_PCR_SELECTION raw;
        std::memcpy(&raw, data, sizeof raw);
        (void)format_pcr_selection(raw);
        (void)selection_count(raw);
        if (raw.count <= TPM2_NUM_PCR_BANKS && !same_selection(raw, raw)) std::abort();
        pcr_values none;
        (void)pcr_composite_digest(TPM2_ALG_SHA256, raw, none);
    }
    return 0;
}
