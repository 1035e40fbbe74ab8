// Fuzz target: POST /v1/keys and POST /v1/leases/renew as the verifier decodes them
// (attest::parse_key_request, parse_lease_renewal; the first byte picks). What parses re-encodes to
// something that parses to the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "attest/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::attest;
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 1) {
        auto r = parse_lease_renewal(body);
        if (!r) return 0;
        auto again = parse_lease_renewal(encode_lease_renewal(*r));
        if (!again || again->lease != r->lease) __builtin_trap();
        return 0;
    }
    auto r = parse_key_request(body);
    if (!r) return 0;
    auto again = parse_key_request(encode_key_request(*r));
    if (!again || again->model != r->model || again->nonce != r->nonce || again->proof.key_public != r->proof.key_public ||
        again->proof.creation_data != r->proof.creation_data || again->proof.attest != r->proof.attest ||
        again->proof.signature != r->proof.signature)
        __builtin_trap();
    return 0;
}
