// Keys bound to a host's boot state: the PolicyPCR digest, the key template, the creation proof a verifier checks
// before it wraps a model key to it, the wrapping itself and the agent's on-disk form. Pure: no TPM, no I/O.
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/pcr_selection.hpp"
#include "attest/templates.hpp"
#include "crypto/bytes.hpp"

namespace custos::attest {

// The RSA-OAEP label of a model key wrapped to a bound key. sizeof includes the terminating zero byte, and the
// label is used with it on both sides (20 bytes): TPM2_RSA_Decrypt refuses a label whose last byte is not zero.
inline constexpr char bound_key_oaep_label[] = "custos-model-key-v1";
inline byte_view bound_key_label() noexcept {
    return {reinterpret_cast<const std::uint8_t*>(bound_key_oaep_label), sizeof bound_key_oaep_label};
}

// SHA-256 policy digest of one TPM2_PolicyPCR over `sel` with `values`, from an all-zero digest:
// H(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION as marshalled || H(values in selection order)).
// `values` must hold exactly the selected PCRs in selection order (check_pcr_values); the selection must
// select at least one PCR.
result<bytes> policy_pcr_digest(const TPML_PCR_SELECTION& sel, const pcr_values& values);

// RSA-2048 decryption key, nameAlg sha256, fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|decrypt
// (no userWithAuth: only the policy authorises it; not sign, not restricted), scheme and symmetric null so
// TPM2_RSA_Decrypt may pick OAEP, authPolicy = policy_digest (at most 64 bytes are copied).
TPM2B_PUBLIC bound_key_template(byte_view policy_digest);

// Every requirement of bound_key_template, plus authPolicy == expected_policy. The error names each that
// failed, "bound key: userWithAuth is set: …"; errc::mismatch when only the policy differs.
result<void> check_bound_key_public(const TPMT_PUBLIC& pub, byte_view expected_policy);

// What the agent sends to prove a bound key lives in its TPM, next to its AK.
struct creation_proof {
    bytes key_public;     // marshalled TPM2B_PUBLIC of the bound key
    bytes creation_data;  // marshalled TPM2B_CREATION_DATA returned by TPM2_Create
    bytes attest;         // marshalled TPMS_ATTEST returned by TPM2_CertifyCreation
    bytes signature;      // marshalled TPMT_SIGNATURE over `attest` by the AK
};

// Parse (each blob exactly, nothing trailing), then structure (check_bound_key_public; TPM-generated
// creation attestation; extraData == nonce; objectName == the key's name; creationHash ==
// SHA-256(TPMS_CREATION_DATA bytes)), then the AK's signature over `attest`. Messages start with
// "creation proof: parse: ", "creation proof: structure: " or "creation proof: signature: ".
// Returns the bound key's public area, ready for wrap_to_bound_key.
result<TPMT_PUBLIC> verify_creation_proof(const creation_proof& p, EVP_PKEY* ak, byte_view nonce,
                                          byte_view expected_policy);

// RSA-OAEP (SHA-256, MGF1-SHA-256, label bound_key_label()) of `secret` (1 to 190 bytes) to an RSA decryption
// key; a fresh encryption every call. Only the TPM holding the key, in the PCR state of its policy, decrypts it.
result<bytes> wrap_to_bound_key(const TPMT_PUBLIC& pub, byte_view secret);

// The agent's bound key, as kept in its state dir: loadable again under the same EK, certifiable again
// (creation data, hash and ticket), usable in a policy session over `selection`.
struct bound_key {
    ek_kind parent = ek_kind::rsa2048;
    TPM2B_PUBLIC pub{};
    TPM2B_PRIVATE priv{};
    TPM2B_CREATION_DATA creation_data{};
    TPM2B_DIGEST creation_hash{};
    TPMT_TK_CREATION ticket{};
    TPML_PCR_SELECTION selection{};
};

// "CBK1" || u8 parent || TPM2B_PUBLIC || TPM2B_PRIVATE || TPM2B_CREATION_DATA || TPM2B_DIGEST ||
// TPMT_TK_CREATION || TPML_PCR_SELECTION (Tss2_MU encodings; the TPM2B sizes written from the contents).
bytes serialize_bound_key(const bound_key& key);
// Strict: every structure on its exact slice, no trailing bytes; serialize_bound_key(parse(x)) == x.
result<bound_key> parse_bound_key(byte_view data);

// Marshalled TPM2B_CREATION_DATA (size written from the marshalled TPMS_CREATION_DATA); empty if it cannot be.
bytes marshal_creation_data(const TPM2B_CREATION_DATA& cd);

}  // namespace custos::attest
