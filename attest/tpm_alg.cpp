#include "attest/tpm_alg.hpp"

#include <cstdio>

namespace custos::attest {

std::optional<hash_alg> to_hash_alg(TPMI_ALG_HASH alg) noexcept {
    switch (alg) {
        case TPM2_ALG_SHA1: return hash_alg::sha1;
        case TPM2_ALG_SHA256: return hash_alg::sha256;
        case TPM2_ALG_SHA384: return hash_alg::sha384;
        case TPM2_ALG_SHA512: return hash_alg::sha512;
        default: return std::nullopt;
    }
}

TPMI_ALG_HASH to_tpm_alg(hash_alg alg) noexcept {
    switch (alg) {
        case hash_alg::sha1: return TPM2_ALG_SHA1;
        case hash_alg::sha256: return TPM2_ALG_SHA256;
        case hash_alg::sha384: return TPM2_ALG_SHA384;
        case hash_alg::sha512: return TPM2_ALG_SHA512;
    }
    return TPM2_ALG_NULL;
}

std::string tpm_alg_name(TPM2_ALG_ID alg) {
    switch (alg) {
        case TPM2_ALG_SHA1: return "sha1";
        case TPM2_ALG_SHA256: return "sha256";
        case TPM2_ALG_SHA384: return "sha384";
        case TPM2_ALG_SHA512: return "sha512";
        case TPM2_ALG_RSA: return "rsa";
        case TPM2_ALG_ECC: return "ecc";
        case TPM2_ALG_ECDSA: return "ecdsa";
        case TPM2_ALG_RSASSA: return "rsassa";
        case TPM2_ALG_RSAPSS: return "rsapss";
        case TPM2_ALG_NULL: return "null";
        default: {
            char buf[16];
            std::snprintf(buf, sizeof buf, "0x%04x", alg);
            return buf;
        }
    }
}

}  // namespace custos::attest
