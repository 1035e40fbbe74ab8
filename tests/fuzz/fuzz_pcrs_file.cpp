// Fuzz target: the tpm2-tools quote.pcrs parser (attest::parse_pcrs_file) and its serialiser.
#include <cstdint>
#include <cstdlib>

#include "attest/pcrs_file.hpp"

namespace {
// tss2-mu is not used here, but keep stderr quiet the same way as the other targets.
const int quiet_tss = (setenv("TSS2_LOG", "all+NONE", 0), 0);

bool same_values(const custos::attest::pcr_values& a, const custos::attest::pcr_values& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].bank != b[i].bank || a[i].index != b[i].index || a[i].digest != b[i].digest) return false;
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    (void)quiet_tss;
    auto p = custos::attest::parse_pcrs_file(custos::byte_view(data, size));
    if (!p.ok()) return 0;
    // What parses is consistent and re-serialises to a file that parses to the same values. (Padding and
    // unused digest slots may differ from the input: tpm2-tools does not read them either.)
    if (!custos::attest::check_pcr_values(p->selection, p->values).ok()) std::abort();
    auto out = custos::attest::serialize_pcrs_file(p->selection, p->values);
    if (!out.ok()) std::abort();
    auto again = custos::attest::parse_pcrs_file(*out);
    if (!again.ok()) std::abort();
    if (!custos::attest::same_selection(again->selection, p->selection)) std::abort();
    if (!same_values(again->values, p->values)) std::abort();
    auto out2 = custos::attest::serialize_pcrs_file(again->selection, again->values);
    if (!out2.ok() || *out2 != *out) std::abort();
    return 0;
}
