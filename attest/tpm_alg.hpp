// Mapping between TPM algorithm identifiers and custos/OpenSSL hash algorithms.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <optional>
#include <string>

#include "crypto/digest.hpp"

namespace custos::attest {

std::optional<hash_alg> to_hash_alg(TPMI_ALG_HASH alg) noexcept;
TPMI_ALG_HASH to_tpm_alg(hash_alg alg) noexcept;
// "sha256" etc.; "0x000b" style for ids custos does not know.
std::string tpm_alg_name(TPM2_ALG_ID alg);

}  // namespace custos::attest
