// Pure verification of a TPM2_Quote: TPMS_ATTEST + TPMT_SIGNATURE + AK public key + expected values.
//
// Checks in this order and names the step that failed: parse, magic, type, qualification, selection,
// pcr-digest, signature. No I/O, no TPM: the CLI, the verifier and the fuzzers share it.
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "attest/pcr_selection.hpp"
#include "crypto/bytes.hpp"

namespace custos::attest {

enum class quote_step { parse, magic, type, qualification, selection, pcr_digest, signature };
const char* quote_step_name(quote_step s) noexcept;

struct quote_input {
    byte_view attest;         // marshalled TPMS_ATTEST (tpm2_quote -m)
    byte_view signature;      // marshalled TPMT_SIGNATURE (tpm2_quote -s)
    EVP_PKEY* ak = nullptr;   // the AK's public key
    byte_view qualification;  // expected extraData
    const TPML_PCR_SELECTION* expected_selection = nullptr;  // when set, the quoted selection must equal it
    const pcr_values* pcrs = nullptr;  // when set, the PCR digest is recomputed from these values
};

struct quote_info {
    std::uint64_t clock = 0;
    std::uint32_t reset_count = 0;
    std::uint32_t restart_count = 0;
    bool safe = false;
    std::uint64_t firmware_version = 0;
    bytes pcr_digest;
    TPML_PCR_SELECTION selection{};
    bytes qualified_signer;  // TPM2B_NAME of the signing key as the TPM reports it
    TPMI_ALG_SIG_SCHEME sig_alg = TPM2_ALG_NULL;
    TPMI_ALG_HASH sig_hash = TPM2_ALG_NULL;
    bool pcrs_checked = false;
};

// The error of a failed check: the step, and the message (which starts with the step's name).
struct quote_error {
    quote_step step;
    std::string message;
};

class [[nodiscard]] quote_result {
public:
    quote_result(quote_info i) : info_(std::move(i)) {}  // NOLINT
    quote_result(quote_error e) : err_(std::move(e)) {}   // NOLINT
    bool ok() const noexcept { return info_.has_value(); }
    const quote_info& info() const { return *info_; }
    const quote_error& err() const { return *err_; }

private:
    std::optional<quote_info> info_;
    std::optional<quote_error> err_;
};

quote_result verify_quote(const quote_input& in);

// The signature step on its own, shared with every other TPMS_ATTEST custos verifies (TPM2_CertifyCreation):
// `sig` (ECDSA, RSASSA or RSAPSS over sha1/sha256/sha384/sha512) must verify over exactly the `attest` bytes
// with `ak`. The error (errc::signature, unsupported, invalid_argument or crypto) carries no step prefix.
result<void> verify_attest_signature(const TPMT_SIGNATURE& sig, byte_view attest, EVP_PKEY* ak);

}  // namespace custos::attest
