#include "tools/custos/cli.hpp"

namespace custos::cli {

void register_result_commands(CLI::App&, command_list&) {}

}  // namespace custos::cli
