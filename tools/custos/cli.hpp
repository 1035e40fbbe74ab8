// The custos command line: each command group registers itself on the CLI11 app; main() only calls run().
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace custos::cli {

// Exit codes shared by every command.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;  // the check ran and failed (invalid quote, chain does not verify)
inline constexpr int exit_usage = 2;   // bad arguments or unreadable input

int run(int argc, char** argv);

// A leaf command and the action to run when it was the one parsed (CLI11 callbacks cannot return codes).
struct command {
    CLI::App* app;
    std::function<int()> action;
};
using command_list = std::vector<command>;

void register_quote_commands(CLI::App& app, command_list& cmds);
void register_tpm_commands(CLI::App& app, command_list& cmds);
void register_weights_commands(CLI::App& app, command_list& cmds);
void register_result_commands(CLI::App& app, command_list& cmds);  // custos result verify
void register_fleet_commands(CLI::App& app, command_list& cmds);   // custos fleet ...
void register_gpu_commands(CLI::App& app, command_list& cmds);     // custos gpu list
void register_policy_commands(CLI::App& app, command_list& cmds);  // custos policy evaluate
void register_location_commands(CLI::App& app, command_list& cmds);  // custos location check
void register_measurement_commands(CLI::App& app, command_list& cmds);  // custos eventlog replay, ima replay
void register_audit_commands(CLI::App& app, command_list& cmds);  // custos audit fetch, search
// Leaf commands under `custos weights` (`weights` is the group's App).
void register_weights_manifest_commands(CLI::App& weights, command_list& cmds);
void register_weights_seal_commands(CLI::App& weights, command_list& cmds);
void register_weights_open_commands(CLI::App& weights, command_list& cmds);  // custos weights open

}  // namespace custos::cli
