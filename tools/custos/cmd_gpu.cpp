// custos gpu list: this machine's GPUs (NVML, or PCI sysfs without it) with each one's chip id and TPP
// from the chip table.
#include <boost/json.hpp>

#include <cstdio>
#include <optional>

#include "agent/gpu_inventory.hpp"
#include "policy/chips.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace {
namespace json = boost::json;

struct gpu_args {
    std::string nvml_lib, chips, pci_root = "/sys/bus/pci/devices";
    bool json_out = false;
};

int gpu_list(const gpu_args& a) {
    const auto chips = chip_table_option(a.chips);
    if (!chips) return fail_usage(chips.err().message);
    const policy::chip_table* table = &*chips;
    auto reader = agent::inventory_reader::open(a.nvml_lib.empty() ? std::nullopt : std::optional<std::string>(a.nvml_lib),
                                                a.pci_root);
    if (!reader) return fail("gpu list", reader.err());
    auto inv = reader->read();
    if (!inv) return fail("gpu list", inv.err());
    const json::object o = agent::inventory_to_json(*inv, *table);
    if (a.json_out) {
        print_json(o);
        return exit_ok;
    }
    std::printf("source: %s%s%s\n", inv->source.c_str(), inv->driver_version.empty() ? "" : ", driver ",
                inv->driver_version.c_str());
    if (!inv->note.empty()) std::printf("note: %s\n", inv->note.c_str());
    std::printf("%-3s  %-12s  %8s  %-16s  %-16s  %s\n", "#", "CHIP", "TPP", "SERIAL", "PCI BUS", "NAME");
    std::size_t i = 0;
    for (const auto& g : o.at("gpus").as_array()) {
        const auto& go = g.as_object();
        const std::string tpp = go.at("tpp").is_null() ? "-" : std::to_string(static_cast<long long>(go.at("tpp").to_number<double>()));
        std::printf("%-3zu  %-12s  %8s  %-16s  %-16s  %s\n", i++, std::string(go.at("chip").as_string()).c_str(), tpp.c_str(),
                    or_dash(std::string(go.at("serial").as_string())).c_str(),
                    std::string(go.at("pci_bus_id").as_string()).c_str(), std::string(go.at("name").as_string()).c_str());
    }
    if (i == 0) std::printf("(no GPUs)\n");
    return exit_ok;
}

}  // namespace

void register_gpu_commands(CLI::App& app, command_list& cmds) {
    auto* gpu = app.add_subcommand("gpu", "This machine's GPUs");
    gpu->require_subcommand(1);
    auto args = std::make_shared<gpu_args>();
    auto* list = gpu->add_subcommand("list", "List the GPUs with their chip id and TPP from the chip table");
    list->add_option("--nvml-lib", args->nvml_lib,
                     "NVML library to load (must load; default: libnvidia-ml.so.1, falling back to PCI sysfs)");
    list->add_option("--chips", args->chips, "Chip table (default: the policy/chips.toml built into custos)");
    list->add_option("--pci-root", args->pci_root, "PCI sysfs directory for the fallback")->group("");
    list->add_flag("--json", args->json_out, "Print JSON");
    cmds.push_back({list, [args] { return gpu_list(*args); }});
}

}  // namespace custos::cli
