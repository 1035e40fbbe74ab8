// Fuzz target: the SPDM GET_MEASUREMENTS ‖ MEASUREMENTS parser of NVIDIA GPU attestation reports.
#include <cstddef>
#include <cstdint>

#include "attest/gpu_attestation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const custos::byte_view in(data, size);
    auto m = custos::attest::parse_spdm_measurements(in);
    if (m) {
        // What parses accounts for every byte: the signed part and the 96-byte signature.
        if (m->signed_size + m->signature.size() != size || m->request_nonce.size() != 32) __builtin_trap();
    }
    auto d = custos::attest::decode_gpu_report(in);
    (void)d;
    return 0;
}
