#include "attest/templates.hpp"

#include <cstring>

namespace custos::attest {

namespace {

// TCG EK Credential Profile 2.0 §B.3.3: PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256.
constexpr std::uint8_t policy_a_sha256[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
                                              0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
                                              0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};
// §B.4.3 PolicyB with SHA-384 (PolicyOR of PolicyA and PolicyC), used by the high-range templates.
constexpr std::uint8_t policy_b_sha384[48] = {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12};

constexpr TPMA_OBJECT ek_low_attrs = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                                     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;

}  // namespace

const char* ek_kind_name(ek_kind k) noexcept {
    switch (k) {
        case ek_kind::rsa2048: return "rsa2048";
        case ek_kind::ecc_p256: return "ecc-p256";
        case ek_kind::ecc_p384: return "ecc-p384";
    }
    return "unknown";
}

std::optional<ek_kind> parse_ek_kind(std::string_view s) {
    for (auto k : all_ek_kinds)
        if (s == ek_kind_name(k)) return k;
    if (s == "rsa") return ek_kind::rsa2048;
    return std::nullopt;
}

TPM2_HANDLE ek_cert_nv_index(ek_kind k) noexcept {
    switch (k) {
        case ek_kind::rsa2048: return 0x01c00002;
        case ek_kind::ecc_p256: return 0x01c0000a;
        case ek_kind::ecc_p384: return 0x01c00016;
    }
    return 0;
}

bool ek_needs_policy_session(ek_kind k) noexcept { return k != ek_kind::ecc_p384; }

TPM2B_PUBLIC ek_template(ek_kind k) {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    switch (k) {
        case ek_kind::rsa2048:
            p.type = TPM2_ALG_RSA;
            p.nameAlg = TPM2_ALG_SHA256;
            p.objectAttributes = ek_low_attrs;
            p.authPolicy.size = sizeof policy_a_sha256;
            std::memcpy(p.authPolicy.buffer, policy_a_sha256, sizeof policy_a_sha256);
            p.parameters.rsaDetail.symmetric = {TPM2_ALG_AES, {.aes = 128}, {.aes = TPM2_ALG_CFB}};
            p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
            p.parameters.rsaDetail.keyBits = 2048;
            p.parameters.rsaDetail.exponent = 0;
            p.unique.rsa.size = 256;  // 256 zero bytes
            break;
        case ek_kind::ecc_p256:
            p.type = TPM2_ALG_ECC;
            p.nameAlg = TPM2_ALG_SHA256;
            p.objectAttributes = ek_low_attrs;
            p.authPolicy.size = sizeof policy_a_sha256;
            std::memcpy(p.authPolicy.buffer, policy_a_sha256, sizeof policy_a_sha256);
            p.parameters.eccDetail.symmetric = {TPM2_ALG_AES, {.aes = 128}, {.aes = TPM2_ALG_CFB}};
            p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
            p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
            p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
            p.unique.ecc.x.size = 32;
            p.unique.ecc.y.size = 32;
            break;
        case ek_kind::ecc_p384:
            p.type = TPM2_ALG_ECC;
            p.nameAlg = TPM2_ALG_SHA384;
            p.objectAttributes = ek_low_attrs | TPMA_OBJECT_USERWITHAUTH;
            p.authPolicy.size = sizeof policy_b_sha384;
            std::memcpy(p.authPolicy.buffer, policy_b_sha384, sizeof policy_b_sha384);
            p.parameters.eccDetail.symmetric = {TPM2_ALG_AES, {.aes = 256}, {.aes = TPM2_ALG_CFB}};
            p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
            p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
            p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
            // High-range templates have an empty unique field.
            break;
    }
    return t;
}

std::optional<ak_alg> parse_ak_alg(std::string_view s) {
    if (s == "ecc" || s == "ecc-p256") return ak_alg::ecc_p256;
    if (s == "rsa" || s == "rsa2048") return ak_alg::rsa2048;
    return std::nullopt;
}

TPM2B_PUBLIC ak_template(ak_alg alg) {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                         TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    if (alg == ak_alg::ecc_p256) {
        p.type = TPM2_ALG_ECC;
        p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    } else {
        p.type = TPM2_ALG_RSA;
        p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
        p.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
        p.parameters.rsaDetail.keyBits = 2048;
        p.parameters.rsaDetail.exponent = 0;
    }
    return t;
}

}  // namespace custos::attest
