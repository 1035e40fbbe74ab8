// TPM2_MakeCredential computed in software (no TPM on the verifier side), plus the TPM KDFs it uses.
//
// Follows TPM 2.0 Part 1 §24 (credential protection) and Part 1 §11.4.10 (KDFa/KDFe): a seed is
// encrypted to the EK (RSA-OAEP with label "IDENTITY\0", or ECDH + KDFe), then KDFa derives the
// symmetric key ("STORAGE", over the AK name) and the HMAC key ("INTEGRITY").
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include "crypto/bytes.hpp"
#include "crypto/digest.hpp"

namespace custos::attest {

struct credential_blob {
    bytes id_object;         // marshalled TPM2B_ID_OBJECT (tpm2_makecredential's credentialBlob part)
    bytes encrypted_secret;  // marshalled TPM2B_ENCRYPTED_SECRET
};

// `ek` must be a restricted decryption key shaped like a TCG EK: RSA-2048/3072 or ECC P-256/P-384, nameAlg
// sha256 or sha384, null scheme, AES-128/256-CFB symmetric definition (anything else: errc::structure or
// errc::unsupported). `ak_name` is the name (hash alg || digest) of the key being certified, `secret` 1 to
// digest-size-of-the-EK-nameAlg bytes (errc::invalid_argument otherwise). A fresh seed every call.
result<credential_blob> make_credential(const TPMT_PUBLIC& ek, byte_view ak_name, byte_view secret);

// KDFa(hash, key, label, contextU, contextV, bits) — label without its terminating zero; the KDF adds it.
// bits 1..65536; when not a multiple of 8, the unused leading bits of the first byte are zero.
result<secret_bytes> kdfa(hash_alg h, byte_view key, std::string_view label, byte_view context_u,
                          byte_view context_v, std::size_t bits);
// KDFe(hash, Z, label, partyUInfo, partyVInfo, bits), same label and bits conventions.
result<secret_bytes> kdfe(hash_alg h, byte_view z, std::string_view label, byte_view party_u,
                          byte_view party_v, std::size_t bits);

}  // namespace custos::attest
