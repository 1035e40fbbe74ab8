#include <cstdio>

#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {

int run(int argc, char** argv) {
    CLI::App app{"custos: TPM-backed attestation for GPU hosts and closed model weights"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "custos 0.1.0");
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Log debug details to stderr");
    command_list cmds;
    register_quote_commands(app, cmds);
    register_tpm_commands(app, cmds);
    register_weights_commands(app, cmds);
    register_result_commands(app, cmds);
    register_fleet_commands(app, cmds);
    register_gpu_commands(app, cmds);
    register_policy_commands(app, cmds);
    register_location_commands(app, cmds);
    register_measurement_commands(app, cmds);
    register_audit_commands(app, cmds);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return exit_usage;
    }
    init_logging(verbose);
    for (auto& c : cmds)
        if (c.app->parsed()) return c.action();
    std::fputs("custos: no command given; see --help\n", stderr);
    return exit_usage;
}

}  // namespace custos::cli
