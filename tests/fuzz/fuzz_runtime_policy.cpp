// Fuzz target: the runtime allow-list parser (attest::parse_runtime_policy) and the boot reference parser.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/boot_appraisal.hpp"
#include "attest/runtime_policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto p = custos::attest::parse_runtime_policy(text); p.ok()) {
        // What parses re-serialises to a policy that parses to the same entries, and appraising its own
        // paths with their first digests finds nothing.
        auto again = custos::attest::parse_runtime_policy(custos::attest::runtime_policy_to_json(*p));
        if (!again.ok() || again->entries.size() != p->entries.size() || again->excludes != p->excludes) std::abort();
        std::vector<custos::attest::ima_entry> es;
        for (const auto& r : p->entries)
            if (r.path.find_first_of("*?[\\") == std::string::npos && !r.path.empty())
                es.push_back(custos::attest::make_ima_entry(10, r.path, r.sha256.front()));
        for (const auto& f : custos::attest::appraise_runtime(*p, es))
            if (f.rule == "agent-modified" && f.detail.empty()) std::abort();
    }
    if (auto r = custos::attest::parse_boot_reference(text); r.ok()) {
        auto again = custos::attest::parse_boot_reference(custos::attest::boot_reference_to_json(*r));
        if (!again.ok() || !custos::attest::diff_boot(*r, *again).empty()) std::abort();
    }
    return 0;
}
