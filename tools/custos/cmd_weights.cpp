// custos weights …: manifests (cmd_weights_manifest.cpp), sealed models (cmd_weights_seal.cpp) and files
// fetched from an agent's weights socket (cmd_weights_open.cpp).
#include "tools/custos/cli.hpp"

namespace custos::cli {

void register_weights_commands(CLI::App& app, command_list& cmds) {
    auto* weights = app.add_subcommand("weights", "Manifest, verify, seal, unseal and open model weights");
    weights->require_subcommand(1);
    register_weights_manifest_commands(*weights, cmds);
    register_weights_seal_commands(*weights, cmds);
    register_weights_open_commands(*weights, cmds);
}

}  // namespace custos::cli
