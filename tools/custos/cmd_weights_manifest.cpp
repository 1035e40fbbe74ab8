#include "tools/custos/cli.hpp"

namespace custos::cli {
void register_weights_manifest_commands(CLI::App&, command_list&) {}
}  // namespace custos::cli
