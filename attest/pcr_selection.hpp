// PCR selections in tpm2-tools syntax ("sha256:0,1,2+sha1:0") and the PCR composite digest a quote signs.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.hpp"

namespace custos::attest {

// Parses tpm2-tools selection syntax: banks separated by '+', each "alg:i,j,k" with PCR indices 0..23,
// or "alg:all". Banks: sha1, sha256, sha384, sha512 (names or 0x-ids). Duplicates and empty lists are errors.
result<TPML_PCR_SELECTION> parse_pcr_selection(std::string_view text);
// Canonical text form, banks in selection order, indices ascending: "sha256:0,1,2".
std::string format_pcr_selection(const TPML_PCR_SELECTION& sel);
// Same banks in the same order with the same PCR bits (sizeofSelect padding ignored).
bool same_selection(const TPML_PCR_SELECTION& a, const TPML_PCR_SELECTION& b) noexcept;
// Number of PCRs selected over all banks.
std::size_t selection_count(const TPML_PCR_SELECTION& sel) noexcept;

struct pcr_value {
    TPMI_ALG_HASH bank;
    unsigned index;
    bytes digest;
};
// PCR values in selection order: banks in order, indices ascending within a bank.
using pcr_values = std::vector<pcr_value>;

// Checks that `values` holds exactly the selected PCRs, in selection order, each with its bank's digest
// size (banks must be sha1/sha256/sha384/sha512).
result<void> check_pcr_values(const TPML_PCR_SELECTION& sel, const pcr_values& values);

// H(value_1 || ... || value_n) over the values in selection order, as TPM2_Quote computes pcrDigest.
// Errors if `values` does not hold exactly the selected PCRs, in order, with the bank's digest size.
result<bytes> pcr_composite_digest(TPMI_ALG_HASH hash, const TPML_PCR_SELECTION& sel, const pcr_values& values);

}  // namespace custos::attest
