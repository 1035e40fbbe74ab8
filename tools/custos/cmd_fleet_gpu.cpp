// custos fleet gpu list|show|approve|release and custos fleet compute: the verifier's GPU registry and the
// compute it has counted.
#include <boost/json.hpp>

#include <cstdio>

#include "tools/custos/fleet_support.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

std::string number(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_number()) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v->to_number<double>());
    return buf;
}

void print_gpus(const json::value& v) {
    const auto gpus = array_at(v, "gpus");
    if (gpus.empty()) {
        std::printf("no GPUs\n");
    } else {
        std::vector<std::vector<std::string>> rows{{"SERIAL", "HOST", "CHIP", "APPROVED", "LAST SEEN (UTC)", "PREV HOST", "NAME"}};
        for (const auto& gv : gpus) {
            const auto& g = gv.as_object();
            const auto* ap = g.if_contains("approved");
            rows.push_back({field(g, "serial"), field(g, "host"), field(g, "chip"), ap && ap->is_bool() && ap->as_bool() ? "yes" : "no",
                            when(time_field(g, "last_seen")), field(g, "prev_host").empty() ? "-" : field(g, "prev_host"),
                            field(g, "name")});
        }
        print_table(rows);
    }
    if (const auto* inv = v.as_object().if_contains("inventory"); inv && inv->is_object()) {
        const auto& i = inv->as_object();
        std::printf("\nlatest inventory: %s at %s%s%s\n", field(i, "source").c_str(), when(time_field(i, "time")).c_str(),
                    field(i, "error").empty() ? "" : ", error: ", field(i, "error").c_str());
    }
}

void print_gpu(const json::value& v) {
    const auto& g = v.as_object();
    std::vector<std::vector<std::string>> rows{
        {"serial:", field(g, "serial")},     {"host:", field(g, "host")},
        {"chip:", field(g, "chip")},         {"name:", field(g, "name")},
        {"uuid:", field(g, "uuid")},         {"PCI bus:", field(g, "pci_bus_id")},
        {"approved:", field(g, "approved")}, {"first seen:", when(time_field(g, "first_seen"))},
        {"last seen:", when(time_field(g, "last_seen"))},
    };
    if (const auto* a = g.if_contains("attestation"); a && a->is_object()) {
        const auto& ao = a->as_object();
        std::string line = field(ao, "status");
        if (line == "valid")
            line += ": GPU device " + field(ao, "device_id").substr(0, 16) + " (" + field(ao, "hw_model") + "), driver " +
                    field(ao, "driver_version") + ", VBIOS " + field(ao, "vbios_version") + ", FWID " + field(ao, "fwid").substr(0, 16);
        else if (!field(ao, "error").empty())
            line += ": " + field(ao, "error");
        rows.push_back({"attestation:", line});
        if (time_field(ao, "last_valid")) rows.push_back({"last attested:", when(time_field(ao, "last_valid"))});
    } else {
        rows.push_back({"attestation:", "none (the agent sends no report for it)"});
    }
    print_table(rows);
    std::printf("\nhistory:\n");
    std::vector<std::vector<std::string>> h{{"TIME (UTC)", "HOST", "EVENT", "DETAIL"}};
    for (const auto& ev : array_at(v, "history")) {
        const auto& e = ev.as_object();
        h.push_back({when(time_field(e, "time")), field(e, "host"), field(e, "event"), field(e, "detail")});
    }
    print_table(h);
}

void print_compute(const json::value& v) {
    const auto totals = array_at(v, "totals");
    const std::string by = field(v.as_object(), "by");
    if (totals.empty()) {
        std::printf("no compute counted yet\n");
        return;
    }
    std::vector<std::string> head{by == "-" ? "KEY" : by, "HOSTS", "BUSY S", "TPP-S", "OPS (UPPER BOUND)", "ENERGY MJ"};
    for (auto& c : head) std::transform(c.begin(), c.end(), c.begin(), [](unsigned char x) { return std::toupper(x); });
    if (by == "model") head.push_back("TRAINING OPS");
    std::vector<std::vector<std::string>> rows{head};
    for (const auto& tv : totals) {
        const auto& t = tv.as_object();
        const std::string key = field(t, "key");
        std::vector<std::string> r{key.empty() ? "(no " + by + ")" : key, field(t, "hosts"), number(t, "busy_s"), number(t, "tpp_s"),
                                   number(t, "ops"), field(t, "energy_mj")};
        if (by == "model") r.push_back(number(t, "training_ops"));
        rows.push_back(std::move(r));
    }
    print_table(rows);
}

}  // namespace

void register_fleet_gpu_commands(CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds) {
    auto json_flag = [opts](CLI::App* sub) { sub->add_flag("--json", opts->json_out, "Print the verifier's JSON"); };
    auto* gpu = fleet.add_subcommand("gpu", "The fleet's GPU registry: serial → host, with history");
    gpu->require_subcommand(1);

    auto list_host = std::make_shared<std::string>();
    auto* list = gpu->add_subcommand("list", "Every GPU serial the fleet has seen, with its host and approval");
    list->add_option("--host", *list_host, "Only this host's (and show its approved set and latest inventory)");
    json_flag(list);
    cmds.push_back({list, [opts, list_host] {
                        const std::string target = list_host->empty() ? "/v1/gpus" : "/v1/gpus?host=" + url_encode(*list_host);
                        return run_and_print(*opts, "GET", target, "", print_gpus);
                    }});

    auto serial = std::make_shared<std::string>();
    auto* show = gpu->add_subcommand("show", "One GPU: where it is and every host it was seen on");
    show->add_option("SERIAL", *serial, "GPU serial")->required();
    json_flag(show);
    cmds.push_back({show, [opts, serial] { return run_and_print(*opts, "GET", "/v1/gpus/" + url_encode(*serial), "", print_gpu); }});

    struct change_args {
        std::string host;
        std::vector<std::string> serials;
    };
    for (const bool approve : {true, false}) {
        auto a = std::make_shared<change_args>();
        auto* sub = gpu->add_subcommand(approve ? "approve" : "release",
                                        approve ? "Approve GPU serials for a host (closes their gpu-added / gpu-moved findings there)"
                                                : "Release GPU serials from a host, e.g. before moving them (closes gpu-missing there)");
        sub->add_option("HOST", a->host, "Host id")->required();
        sub->add_option("SERIAL", a->serials, "GPU serials")->required();
        json_flag(sub);
        cmds.push_back({sub, [opts, a, approve] {
                            json::array s;
                            for (const auto& x : a->serials) s.push_back(json::value(x));
                            const json::object body{{"host", a->host}, {"serials", std::move(s)}};
                            return run_and_print(*opts, "POST", approve ? "/v1/gpu-approvals" : "/v1/gpu-releases", json::serialize(body),
                                                 [](const json::value& v) {
                                                     for (const auto& r : array_at(v, "results"))
                                                         std::printf("%s: %s\n", field(r.as_object(), "serial").c_str(),
                                                                     field(r.as_object(), "status").c_str());
                                                     std::printf("host %s is %s\n", field(v.as_object(), "host").c_str(),
                                                                 field(v.as_object(), "status").c_str());
                                                 });
                        }});
    }

    auto by = std::make_shared<std::string>("host");
    auto* compute = fleet.add_subcommand("compute", "Compute counted from signed reports, summed by host, site, entity, country or model");
    compute->add_option("--by", *by, "host (default), site, entity, country or model")
        ->check(CLI::IsMember({"host", "site", "entity", "country", "model"}));
    json_flag(compute);
    cmds.push_back({compute, [opts, by] { return run_and_print(*opts, "GET", "/v1/compute?by=" + *by, "", print_compute); }});
}

}  // namespace custos::cli
