// Fuzz target: the evidence decoder (attest::parse_evidence).
#include <cstdint>
#include <cstdlib>

#include "attest/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto e = custos::attest::parse_evidence(custos::byte_view(data, size));
    if (e.ok()) {
        auto again = custos::attest::parse_evidence(custos::attest::encode_evidence(*e));
        if (!again.ok() || again->host != e->host || again->head_seq != e->head_seq ||
            again->report_key != e->report_key || again->ext != e->ext)
            std::abort();
    }
    return 0;
}
