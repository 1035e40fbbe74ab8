// The one place custos chooses how to reach the TPM (TCTI configuration string).
#pragma once

#include <optional>
#include <string>

namespace custos::attest {

inline constexpr const char* default_tcti = "device:/dev/tpmrm0";
inline constexpr const char* tcti_env_var = "CUSTOS_TCTI";

// Order: the --tcti flag, the `tcti` config key (daemons), $CUSTOS_TCTI, then device:/dev/tpmrm0 (the
// kernel's resource manager). Empty strings count as unset.
std::string choose_tcti(const std::optional<std::string>& flag, const std::optional<std::string>& config_key);

}  // namespace custos::attest
