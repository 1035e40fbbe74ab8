// Fuzz target: a quote as JSON (attest::quote_from_json) and its PCR values against a fixed selection,
// then quote verification with the decoded bytes (must fail cleanly: there is no key).
#include <boost/json.hpp>

#include <cstdint>
#include <cstdlib>

#include "attest/wire.hpp"
#include "crypto/strict_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto v = custos::sjson::parse(text, "quote");
    if (!v.ok()) return 0;
    auto q = custos::attest::quote_from_json(*v, "quote");
    if (!q.ok()) return 0;
    static const auto sel = custos::attest::parse_pcr_selection("sha256:0,1,2,3,4,5,6,7+sha1:0");
    auto pcrs = custos::attest::pcrs_from_json(q->pcrs, *sel);
    if (pcrs.ok()) {
        if (pcrs->size() != 9) std::abort();
        // Values re-encode to JSON that decodes to the same values.
        auto again = custos::attest::pcrs_from_json(custos::attest::pcrs_to_json(*pcrs), *sel);
        if (!again.ok() || again->size() != pcrs->size()) std::abort();
        for (std::size_t i = 0; i < pcrs->size(); ++i)
            if ((*again)[i].digest != (*pcrs)[i].digest || (*again)[i].index != (*pcrs)[i].index) std::abort();
    }
    return 0;
}
