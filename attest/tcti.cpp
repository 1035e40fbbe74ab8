#include "attest/tcti.hpp"

#include <cstdlib>

namespace custos::attest {

std::string choose_tcti(const std::optional<std::string>& flag, const std::optional<std::string>& config_key) {
    if (flag && !flag->empty()) return *flag;
    if (config_key && !config_key->empty()) return *config_key;
    if (const char* env = std::getenv(tcti_env_var); env && *env) return env;
    return default_tcti;
}

}  // namespace custos::attest
