// Fuzz target: POST /v1/location as the verifier decodes it (attest::parse_location_proof_request). What
// parses re-encodes to something that parses to the same; the agent's error texts stay capped.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "attest/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::attest;
    auto r = parse_location_proof_request(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!r) return 0;
    if (r->round.size() != location_round_size || r->proofs.size() > max_location_proofs ||
        r->errors.size() > max_location_errors)
        __builtin_trap();
    for (const auto& e : r->errors)
        if (e.size() > max_location_error_text) __builtin_trap();
    auto again = parse_location_proof_request(encode_location_proof_request(*r));
    if (!again || again->round != r->round || again->proofs.size() != r->proofs.size() || again->errors != r->errors)
        __builtin_trap();
    for (std::size_t i = 0; i < r->proofs.size(); ++i)
        if (again->proofs[i].statement != r->proofs[i].statement || again->proofs[i].sig != r->proofs[i].sig) __builtin_trap();
    return 0;
}
