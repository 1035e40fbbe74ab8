// Fuzz target: the on-disk AK key blob parser (attest::parse_ak_key) and its re-serialisation.
#include <cstdint>
#include <cstdlib>

#include "attest/tpm_device.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto ak = custos::attest::parse_ak_key(custos::byte_view(data, size));
    if (ak.ok()) {
        // A parsed blob re-serialises to the same bytes: the parser accepts exactly one encoding.
        auto again = custos::attest::serialize_ak_key(*ak);
        if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
    }
    return 0;
}
