// Fuzz target: TPM2B_PUBLIC unmarshalling (attest::unmarshal_public) and what custos does with a public
// area: re-marshal, name, OpenSSL key, AK attribute check.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "attest/tpm_public.hpp"

namespace {
const int quiet_tss = (setenv("TSS2_LOG", "all+NONE", 0), 0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    (void)quiet_tss;
    const custos::byte_view in(data, size);
    auto pub = custos::attest::unmarshal_public(in);
    if (!pub.ok()) return 0;
    // The parser is strict, so the one encoding it accepts is the one Tss2_MU writes back.
    const custos::bytes again = custos::attest::marshal_public(*pub);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
    auto name = custos::attest::object_name(pub->publicArea);
    if (name.ok() && name->size() < 2 + 20) std::abort();
    auto key = custos::attest::public_to_pkey(pub->publicArea);
    if (key.ok() && !custos::ossl::public_to_der(key->get()).ok()) std::abort();
    (void)custos::attest::check_ak_attributes(pub->publicArea);
    return 0;
}
