// Key templates: the TCG EK Credential Profile templates custos recreates EKs from, and the AK template.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <optional>
#include <string>
#include <string_view>

namespace custos::attest {

// The EKs custos knows, each with its TCG template and the NV index of its certificate.
enum class ek_kind {
    rsa2048,   // template L-1, certificate at 0x01c00002
    ecc_p256,  // template L-2, certificate at 0x01c0000a
    ecc_p384,  // template H-3, certificate at 0x01c00016 (swtpm writes this one)
};
inline constexpr ek_kind all_ek_kinds[] = {ek_kind::rsa2048, ek_kind::ecc_p256, ek_kind::ecc_p384};

const char* ek_kind_name(ek_kind k) noexcept;  // "rsa2048", "ecc-p256", "ecc-p384"
std::optional<ek_kind> parse_ek_kind(std::string_view s);
TPM2_HANDLE ek_cert_nv_index(ek_kind k) noexcept;
TPM2B_PUBLIC ek_template(ek_kind k);
// Low-range templates clear userWithAuth: using the EK needs PolicySecret(TPM_RH_ENDORSEMENT).
bool ek_needs_policy_session(ek_kind k) noexcept;

enum class ak_alg { ecc_p256, rsa2048 };
std::optional<ak_alg> parse_ak_alg(std::string_view s);  // "ecc" or "rsa"
// Restricted signing key, fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth, sha256 name;
// ECDSA-SHA256 on P-256 or RSASSA-SHA256 on RSA-2048.
TPM2B_PUBLIC ak_template(ak_alg alg);

}  // namespace custos::attest
