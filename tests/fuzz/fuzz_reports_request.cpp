// Fuzz target: POST /v1/reports as the verifier decodes it (attest::parse_reports_request), then the
// checks ingestion runs on each report before its transaction (parse, signature). What parses re-encodes
// to something that parses to the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "attest/messages.hpp"
#include "verifier/rounds/reports.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos;
    auto r = attest::parse_reports_request(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r) return 0;
    auto again = attest::parse_reports_request(attest::encode_reports_request(*r));
    if (!again || again->reports.size() != r->reports.size()) __builtin_trap();
    for (std::size_t i = 0; i < r->reports.size(); ++i)
        if (again->reports[i].body != r->reports[i].body || again->reports[i].signature != r->reports[i].signature)
            __builtin_trap();
    const auto checked = verifier::check_reports(std::move(r).value());
    for (const auto& c : checked)
        if (c.signature_ok != (c.parsed && c.problem.empty())) __builtin_trap();
    return 0;
}
