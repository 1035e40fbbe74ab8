// Fuzz target: make_credential over an arbitrary EK public area, AK name and secret.
// Input: TPM2B_PUBLIC (Tss2_MU encoding) || u8 name length || name || secret (the rest).
#include <tss2/tss2_mu.h>

#include <cstdint>
#include <cstdlib>

#include "attest/credential.hpp"
#include "attest/tpm_public.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    std::size_t off = 2 + (static_cast<std::size_t>(data[0]) << 8 | data[1]);
    if (off >= size) return 0;
    auto parsed = custos::attest::unmarshal_public(custos::byte_view(data, off));
    if (!parsed.ok()) return 0;
    const TPM2B_PUBLIC& pub = *parsed;
    const std::size_t name_len = data[off++];
    if (size - off < name_len) return 0;
    const custos::byte_view name(data + off, name_len);
    const custos::byte_view secret(data + off + name_len, size - off - name_len);

    auto blob = custos::attest::make_credential(pub.publicArea, name, secret);
    if (!blob.ok()) return 0;
    // What comes out must be two well-formed TPM2B structures the TPM will unmarshal.
    const auto& id = blob->id_object;
    const auto& es = blob->encrypted_secret;
    if (id.size() < 4 || ((id[0] << 8) | id[1]) + 2u != id.size()) std::abort();
    if (id.size() != 2 + 2 + ((id[2] << 8) | id[3]) + 2 + secret.size()) std::abort();
    if (es.size() < 2 || ((es[0] << 8) | es[1]) + 2u != es.size()) std::abort();
    TPM2B_ID_OBJECT id_obj{};
    TPM2B_ENCRYPTED_SECRET enc{};
    off = 0;  // reused for the output checks
    if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(id.data(), id.size(), &off, &id_obj) != TSS2_RC_SUCCESS) std::abort();
    off = 0;
    if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(es.data(), es.size(), &off, &enc) != TSS2_RC_SUCCESS) std::abort();
    return 0;
}
