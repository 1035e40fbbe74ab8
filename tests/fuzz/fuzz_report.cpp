// Fuzz target: the signed report decoder (attest::parse_report) and signature check on arbitrary bytes.
#include <cstdint>
#include <cstdlib>

#include "attest/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const custos::byte_view in(data, size);
    auto r = custos::attest::parse_report(in);
    if (r.ok()) {
        // A parsed report re-encodes to bytes that parse to the same fields.
        auto again = custos::attest::parse_report(custos::attest::encode_report(*r));
        if (!again.ok() || again->seq != r->seq || again->host != r->host || again->prev != r->prev ||
            again->key != r->key || again->ext != r->ext)
            std::abort();
        if (custos::attest::verify_report_signature(in, custos::bytes(64, 0), r->key).ok()) std::abort();
    }
    return 0;
}
