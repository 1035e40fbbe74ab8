// TPM operations custos needs, each opening the TPM, doing its work and flushing every transient object
// before it returns: swtpm has no resource manager, 3 transient slots and one connection at a time.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <optional>
#include <string>

#include "attest/bound_key.hpp"
#include "attest/credential.hpp"
#include "attest/pcr_selection.hpp"
#include "attest/templates.hpp"
#include "crypto/bytes.hpp"

namespace custos::attest {

struct tpm_vendor {
    std::string manufacturer;   // TPM2_PT_MANUFACTURER as four characters ("IFX", "NTC", "IBM")
    std::string vendor_string;  // TPM2_PT_VENDOR_STRING_1..4 concatenated, trailing blanks trimmed
    std::uint64_t firmware_version = 0;
    bool software = false;  // swtpm/libtpms or the Microsoft simulator: no hardware protection of keys
};

// An AK's key blobs: loadable again under the same EK (they are wrapped by it), so no TPM slot is held.
struct ak_key {
    ek_kind parent = ek_kind::rsa2048;
    TPM2B_PUBLIC pub{};
    TPM2B_PRIVATE priv{};
};

struct quote_output {
    bytes attest;     // marshalled TPMS_ATTEST, what tpm2_quote -m writes
    bytes signature;  // marshalled TPMT_SIGNATURE, what tpm2_quote -s writes
    TPML_PCR_SELECTION selection{};
    pcr_values pcrs;  // values read in the same operation, consistent with the quote's PCR digest
};

class tpm_device {
public:
    explicit tpm_device(std::string tcti) : tcti_(std::move(tcti)) {}
    const std::string& tcti() const noexcept { return tcti_; }

    result<tpm_vendor> vendor() const;
    // std::nullopt when the TPM has no certificate at that NV index.
    result<std::optional<bytes>> read_ek_certificate(ek_kind kind) const;
    // Recreates the EK from its TCG template (deterministic from the endorsement seed).
    result<TPM2B_PUBLIC> ek_public(ek_kind kind) const;
    result<ak_key> create_ak(ek_kind parent, ak_alg alg) const;
    result<pcr_values> pcr_read(const TPML_PCR_SELECTION& sel) const;
    // TPM2_PCR_Extend of one PCR with one digest per bank (what firmware and IMA do; tests use it to make a
    // software TPM's PCRs match the logs they write). At most 8 banks, each digest its bank's size.
    result<void> pcr_extend(unsigned index, const std::vector<std::pair<hash_alg, bytes>>& digests) const;
    // TPM2_ReadClock: the TPM's clock in milliseconds (monotonic while the TPM is powered, saved across resets).
    result<std::uint64_t> read_clock() const;
    // Quotes and reads the PCRs in one operation; retries (3x) if a PCR was extended in between.
    result<quote_output> quote(const ak_key& ak, byte_view qualification, const TPML_PCR_SELECTION& sel) const;
    // Proves the AK and the EK live in this TPM: returns the secret MakeCredential sealed to them.
    result<secret_bytes> activate_credential(const ak_key& ak, const credential_blob& blob) const;

    // A decryption key (bound_key_template) under the EK whose policy is PolicyPCR over `sel` with the PCRs'
    // current values, read in the same operation; its creation data records `sel`. Retried (3x) if a PCR moves
    // between the read and the creation, so the policy always matches the state the key was made in.
    result<bound_key> create_bound_key(ek_kind parent, const TPML_PCR_SELECTION& sel) const;
    // TPM2_CertifyCreation of `key` by the AK over `nonce` (at most 64 bytes): what verify_creation_proof checks.
    result<creation_proof> certify_creation(const ak_key& ak, const bound_key& key, byte_view nonce) const;
    // TPM2_RSA_Decrypt (OAEP-SHA256, bound_key_label()) of what wrap_to_bound_key made, authorised by PolicyPCR
    // over key.selection with the current values, in a session salted with the EK that encrypts the response.
    // errc::mismatch when the TPM refuses the policy: the host's boot state differs from the key's.
    result<secret_bytes> unwrap_with_bound_key(const bound_key& key, byte_view wrapped) const;

private:
    std::string tcti_;
};

// On-disk form of ak_key: "CAK1" || u8 parent kind || TPM2B_PUBLIC || TPM2B_PRIVATE (Tss2_MU encodings).
bytes serialize_ak_key(const ak_key& ak);
result<ak_key> parse_ak_key(byte_view data);

}  // namespace custos::attest
