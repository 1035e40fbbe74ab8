// custos gpu list: this machine's GPUs (NVML, or PCI sysfs without it) with each one's chip id and TPP
// from the chip table, and beside them the PCI view (every accelerator on the bus, whatever vendor library
// is installed) with each one's chip and the profiles that prohibit it. custos gpu verify-report: an NVIDIA
// GPU attestation report checked offline against the pinned NVIDIA device identity root.
#include <boost/json.hpp>

#include <cstdio>
#include <optional>

#include "agent/gpu_inventory.hpp"
#include "attest/gpu_attestation.hpp"
#include "policy/chips.hpp"
#include "policy/profile.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace {
namespace json = boost::json;

struct gpu_args {
    std::string nvml_lib, chips, sysfs_root = agent::default_sysfs_root;
    std::vector<std::string> profiles;  // empty: every built-in profile
    bool json_out = false;
};

// The ids of `profiles` that prohibit `chip_id` anywhere.
json::array prohibited_under(const std::vector<policy::profile>& profiles, const policy::chip_table& chips,
                             std::string_view chip_id) {
    json::array out;
    const policy::chip* c = chips.by_id(chip_id);
    if (!c) return out;
    for (const auto& p : profiles)
        if (p.prohibits(*c)) out.push_back(json::value(p.id));
    return out;
}

std::string joined(const json::array& a) {
    std::string s;
    for (const auto& v : a) s += (s.empty() ? "" : ", ") + std::string(v.as_string());
    return s;
}

int gpu_list(const gpu_args& a) {
    const auto chips = chip_table_option(a.chips);
    if (!chips) return fail_usage(chips.err().message);
    const policy::chip_table* table = &*chips;
    std::vector<policy::profile> profiles;
    for (const auto& name : a.profiles.empty() ? policy::builtin_profile_names() : a.profiles) {
        auto p = policy::load_profile(name);
        if (!p) return fail_usage("--profile: " + p.err().message);
        profiles.push_back(std::move(p).value());
    }
    auto reader = agent::inventory_reader::open(a.nvml_lib.empty() ? std::nullopt : std::optional<std::string>(a.nvml_lib),
                                                a.sysfs_root);
    if (!reader) return fail("gpu list", reader.err());
    auto inv = reader->read();
    if (!inv) return fail("gpu list", inv.err());
    json::object o = agent::inventory_to_json(*inv, *table);
    for (const char* view : {"gpus", "pci"})
        for (auto& x : o.at(view).as_array()) {
            auto& xo = x.as_object();
            xo["prohibited_under"] = prohibited_under(profiles, *table, xo.at("chip").as_string());
        }
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
    std::printf("\nPCI bus (%s/bus/pci/devices): display controllers and accelerators, any vendor\n", a.sysfs_root.c_str());
    if (o.contains("pci_error")) std::printf("error: %s\n", std::string(o.at("pci_error").as_string()).c_str());
    std::printf("%-13s  %-9s  %-9s  %-6s  %-4s  %-18s  %-5s  %s\n", "BUS", "IDS", "SUBSYS", "CLASS", "NUMA", "CHIP", "NVML", "PROHIBITED");
    std::size_t n = 0;
    for (const auto& x : o.at("pci").as_array()) {
        const auto& xo = x.as_object();
        auto str = [&](const char* k) { return std::string(xo.at(k).as_string()); };
        const std::string numa = xo.at("numa_node").is_null() ? "-" : std::to_string(xo.at("numa_node").to_number<int>());
        const std::string listed = xo.at("display_only").as_bool() ? "-" : xo.at("listed_by_nvml").as_bool() ? "yes" : "no";
        const std::string banned = joined(xo.at("prohibited_under").as_array());
        std::printf("%-13s  %-9s  %-9s  %-6s  %-4s  %-18s  %-5s  %s\n", str("bus").c_str(),
                    (str("vendor") + ":" + str("device")).c_str(), (str("subsystem_vendor") + ":" + str("subsystem_device")).c_str(),
                    str("class").c_str(), numa.c_str(), str("chip").c_str(), listed.c_str(), banned.empty() ? "-" : banned.c_str());
        ++n;
    }
    if (n == 0 && !o.contains("pci_error")) std::printf("(none)\n");
    return exit_ok;
}

struct verify_args {
    std::string report, chain, nonce, root;
    bool json_out = false;
};

json::object attestation_json(const attest::gpu_attestation& a) {
    json::array m;
    for (const auto& [index, value] : a.measurements) m.push_back(json::object{{"index", index}, {"value", value}});
    return {{"device_id", a.device_id},
            {"device_serial", a.device_serial},
            {"hw_model", a.hw_model},
            {"ueid", a.ueid},
            {"fwid", a.fwid},
            {"fwid_in_report", a.fwid_in_report},
            {"driver_version", a.driver_version},
            {"vbios_version", a.vbios_version},
            {"project", a.project},
            {"project_sku", a.project_sku},
            {"chip_sku", a.chip_sku},
            {"mode", a.mode},
            {"measurements_digest", a.measurements_digest},
            {"measurements", std::move(m)}};
}

int verify_report(const verify_args& a) {
    auto raw = read_input("--report", a.report, attest::max_gpu_report_size * 3);
    if (!raw) return fail("gpu verify-report", raw.err());
    auto report = attest::decode_gpu_report(*raw);
    if (!report) return fail_usage("gpu verify-report: --report " + a.report + ": " + report.err().message);
    auto chain = read_input("--chain", a.chain, attest::max_gpu_chain_size * 2);
    if (!chain) return fail("gpu verify-report", chain.err());
    auto nonce = from_hex(a.nonce);
    if (!nonce || nonce->size() != attest::gpu_nonce_size)
        return fail_usage("gpu verify-report: --nonce must be 32 bytes as 64 hex digits");
    std::string root(attest::nvidia_device_root_pem());
    if (!a.root.empty()) {
        auto r = read_input("--root", a.root, 1u << 20);
        if (!r) return fail("gpu verify-report", r.err());
        root.assign(r->begin(), r->end());
    }
    auto v = attest::verify_gpu_attestation(*report, std::string(chain->begin(), chain->end()), *nonce, root);
    if (!v) {
        std::fprintf(stderr, "custos: gpu verify-report: %s\n", v.err().message.c_str());
        return exit_failed;
    }
    if (a.json_out) {
        json::object o = attestation_json(*v);
        o["valid"] = true;
        print_json(o);
        return exit_ok;
    }
    std::printf("report: valid (nonce, chain to %s, signature, FWID)\n",
                a.root.empty() ? "the pinned NVIDIA Device Identity CA" : a.root.c_str());
    std::printf("device: %s (%s), DeviceID certificate serial %s\n", v->device_id.c_str(), v->hw_model.c_str(),
                v->device_serial.c_str());
    std::printf("ueid: %s\nfwid: %s%s\n", v->ueid.c_str(), v->fwid.c_str(),
                v->fwid_in_report ? "" : " (from the certificate: this firmware's reports carry none)");
    std::printf("driver: %s\nvbios: %s\nproject: %s-%s, chip SKU %s\nmode: %s\n", or_dash(v->driver_version).c_str(),
                or_dash(v->vbios_version).c_str(), or_dash(v->project).c_str(), or_dash(v->project_sku).c_str(),
                or_dash(v->chip_sku).c_str(), or_dash(v->mode).c_str());
    std::size_t zero = 0;
    for (const auto& [index, value] : v->measurements) zero += value.find_first_not_of('0') == std::string::npos;
    std::printf("measurements: %zu blocks (%zu all-zero), digest %s\n", v->measurements.size(), zero,
                v->measurements_digest.c_str());
    for (const auto& [index, value] : v->measurements)
        if (value.find_first_not_of('0') != std::string::npos) std::printf("  %3u  %s\n", index, value.c_str());
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
    list->add_option("--sysfs-root", args->sysfs_root, "sysfs mount to read the PCI bus from (default /sys)");
    list->add_option("--profile", args->profiles,
                     "Policy profile (built-in name or TOML file) whose prohibitions to show; repeatable (default: every built-in one)");
    list->add_flag("--json", args->json_out, "Print JSON");
    cmds.push_back({list, [args] { return gpu_list(*args); }});

    auto va = std::make_shared<verify_args>();
    auto* verify = gpu->add_subcommand(
        "verify-report", "Check an NVIDIA GPU attestation report offline (exit 0 valid, 1 invalid, 2 bad input)");
    verify->add_option("--report", va->report, "The report: hex text (as NVIDIA's tools write it) or raw bytes")->required();
    verify->add_option("--chain", va->chain, "The GPU's certificate chain (PEM, leaf first)")->required();
    verify->add_option("--nonce", va->nonce, "The 32-byte nonce it was requested with (64 hex digits)")->required();
    verify->add_option("--root", va->root, "Root to verify to (PEM; default: NVIDIA's device identity CA, pinned in custos)");
    verify->add_flag("--json", va->json_out, "Print the GPU's identity and measurements as JSON");
    cmds.push_back({verify, [va] { return verify_report(*va); }});
}

}  // namespace custos::cli
