#include "agent/cli.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "agent/config.hpp"
#include "agent/daemon.hpp"
#include "attest/tcti.hpp"

namespace custos::agent {

int run_cli(int argc, char** argv) {
    CLI::App app{"custos-agent: attests this GPU host to a custos verifier with its TPM"};
    app.set_version_flag("--version", "custos-agent 0.1.0");
    std::string config = "/etc/custos/agent.toml";
    std::optional<std::string> host_id, url, ca, tcti, state_dir, token, nvml_lib, chips, model_dir, weights_socket, sysfs_root;
    std::vector<unsigned> allow_uids;
    std::optional<unsigned> interval;
    bool once = false, allow_root = false, verbose = false;
    auto* cfg_opt = app.add_option("--config", config, "agent.toml (default /etc/custos/agent.toml)");
    app.add_option("--host-id", host_id, "This host's id (as the operator enrolled it)");
    app.add_option("--verifier-url", url, "https://HOST:PORT of the verifier");
    app.add_option("--ca-file", ca, "The verifier's CA certificate (PEM)");
    app.add_option("--tcti", tcti, "TPM TCTI (default device:/dev/tpmrm0)");
    app.add_option("--state-dir", state_dir, "State directory (AK, certificate, spool)");
    app.add_option("--enroll-token", token, "One-time enrollment token");
    app.add_option("--report-interval", interval, "Seconds between signed reports");
    app.add_option("--nvml-lib", nvml_lib, "NVML library to load (must load; default libnvidia-ml.so.1 with a PCI sysfs fallback)");
    app.add_option("--chips", chips, "Chip table (default: the one built into the agent)");
    app.add_option("--sysfs-root", sysfs_root, "sysfs mount the PCI view is read from (default /sys; tests use a fake tree)");
    app.add_option("--model-dir", model_dir, "Directory of sealed models to request keys for (one subdirectory per model id)");
    app.add_option("--weights-socket", weights_socket, "UNIX socket serving decrypted weights to local processes");
    app.add_option("--weights-allow-uid", allow_uids, "A uid the weights socket serves (repeatable; replaces weights_allowed_uids)");
    app.add_flag("--once", once, "Enroll if needed, make one report and one attestation round, flush, exit");
    app.add_flag("--allow-root", allow_root, "Run as root (tests only; production runs as a user in group tss)");
    app.add_flag("-v,--verbose", verbose, "Debug logging");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto logger = spdlog::stderr_color_mt("custos-agent");
    spdlog::set_default_logger(logger);
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);

    if (::geteuid() == 0 && !allow_root) {
        std::fputs("custos-agent: refusing to run as root: run it as a dedicated user in group tss (which may open "
                   "/dev/tpmrm0), as systemd/custos-agent.service does; --allow-root overrides this for tests\n",
                   stderr);
        return 2;
    }
    agent_config c;
    const bool explicit_config = cfg_opt->count() > 0;
    if (explicit_config || std::filesystem::exists(config)) {
        if (auto r = load_agent_config(config, c); !r) {
            std::fprintf(stderr, "custos-agent: %s\n", r.err().message.c_str());
            return 2;
        }
    }
    if (host_id) c.host_id = *host_id;
    if (url) c.verifier_url = *url;
    if (ca) c.ca_file = *ca;
    if (state_dir) c.state_dir = *state_dir;
    if (token) c.enroll_token = *token;
    if (interval) c.report_interval_s = *interval;
    if (nvml_lib) c.nvml_library = *nvml_lib;
    if (chips) c.chip_table = *chips;
    if (sysfs_root) c.sysfs_root = *sysfs_root;
    if (model_dir) c.model_dir = *model_dir;
    if (weights_socket) c.weights_socket = *weights_socket;
    if (!allow_uids.empty()) c.weights_allowed_uids = allow_uids;
    c.tcti = attest::choose_tcti(tcti, c.tcti.empty() ? std::nullopt : std::optional<std::string>(c.tcti));
    if (auto r = check_agent_config(c); !r) {
        std::fprintf(stderr, "custos-agent: %s\n", r.err().message.c_str());
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    daemon d(std::move(c));
    return d.run(once, stop);
}

}  // namespace custos::agent
