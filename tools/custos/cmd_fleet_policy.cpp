// custos fleet snapshot | policy | landmark add/list: the fleet as the export-control engine sees it, the
// findings and TPP tables it yields, and the landmarks location proofs are measured against.
#include <boost/json.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"
#include "tools/custos/fleet_support.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

std::string tpp_text(const json::value& v) {
    if (!v.is_number()) return "-";
    char b[40];
    std::snprintf(b, sizeof b, "%.0f", v.to_number<double>());
    return b;
}

void print_tpp_table(const char* title, const json::value* t) {
    std::vector<std::vector<std::string>> rows{{title, "CONTROLLED TPP"}};
    if (t && t->is_object())
        for (const auto& [k, v] : t->as_object()) rows.push_back({std::string(k), tpp_text(v)});
    if (rows.size() == 1) rows.push_back({"(none)", "-"});
    print_table(rows);
}

void print_policy(const json::value& v) {
    const auto& o = v.as_object();
    std::string profiles;
    for (const auto& p : array_at(v, "profiles")) profiles += (profiles.empty() ? "" : ", ") + str(&p);
    std::printf("profiles: %s\n\n", profiles.empty() ? "(none: policy evaluation is off)" : profiles.c_str());
    const auto fs = array_at(v, "open_findings");
    if (fs.empty()) {
        std::printf("no open policy findings\n");
    } else {
        std::vector<std::vector<std::string>> rows{{"ID", "RULE", "SUBJECT", "HOST", "DETAIL"}};
        for (const auto& fv : fs) {
            if (!fv.is_object()) continue;
            const auto& f = fv.as_object();
            rows.push_back({field(f, "id"), field(f, "rule"), field(f, "subject_kind") + " " + field(f, "subject"),
                            field(f, "host"), field(f, "detail")});
        }
        print_table(rows);
    }
    const auto* s = o.if_contains("summary");
    const json::object* so = s && s->is_object() ? &s->as_object() : nullptr;
    std::printf("\n");
    print_tpp_table("COUNTRY", so ? so->if_contains("tpp_by_country") : nullptr);
    std::printf("\n");
    print_tpp_table("ENTITY", so ? so->if_contains("tpp_by_entity") : nullptr);
    if (so) std::printf("\nGPUs of unknown TPP: %s\n", field(*so, "unknown_tpp_gpus").c_str());
}

void print_landmarks(const json::array& ls) {
    if (ls.empty()) {
        std::printf("no landmarks\n");
        return;
    }
    std::vector<std::vector<std::string>> rows{{"LANDMARK", "LAT", "LON", "ADDRESS", "SITES", "PUBLIC KEY"}};
    for (const auto& lv : ls) {
        if (!lv.is_object()) continue;
        const auto& l = lv.as_object();
        std::string sites;
        for (const auto& s : array_at(lv, "sites")) sites += (sites.empty() ? "" : ",") + str(&s);
        rows.push_back({field(l, "id"), field(l, "lat"), field(l, "lon"), field(l, "address"), sites.empty() ? "-" : sites,
                        field(l, "public_key")});
    }
    print_table(rows);
}

}  // namespace

void register_fleet_policy_commands(CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds) {
    auto* snap = fleet.add_subcommand("snapshot", "The fleet as the policy engine sees it, in the format `custos policy evaluate --fleet` reads");
    snap->add_flag("--json", opts->json_out, "Print JSON (the only form; accepted for symmetry)");
    cmds.push_back({snap, [opts] {
                        json::value out;
                        const int rc = call(*opts, "GET", "/v1/fleet/snapshot", "", out);
                        if (rc == exit_ok) print_json(out);
                        return rc;
                    }});

    auto* pol = fleet.add_subcommand("policy", "Open export-control findings and controlled TPP by country and entity");
    pol->add_flag("--json", opts->json_out, "Print the verifier's JSON");
    cmds.push_back({pol, [opts] { return run_and_print(*opts, "GET", "/v1/policy", "", print_policy); }});

    auto* lm = fleet.add_subcommand("landmark", "Landmarks for delay-based location proofs");
    lm->require_subcommand(1);
    struct landmark_args {
        std::string id, key_file, address;
        double lat = 0, lon = 0;
        std::vector<std::string> sites;
    };
    auto la = std::make_shared<landmark_args>();
    auto* add = lm->add_subcommand("add", "Register (or update) a landmark and the sites it serves");
    add->add_option("ID", la->id, "Landmark id (as custos-landmark serve --id)")->required();
    add->add_option("--lat", la->lat, "Latitude (degrees) of the landmark")->required();
    add->add_option("--lon", la->lon, "Longitude (degrees)")->required();
    add->add_option("--public-key", la->key_file, "File with the landmark's public key (custos-landmark keygen --public)")->required();
    add->add_option("--address", la->address, "HOST:PORT where agents reach it")->required();
    add->add_option("--site", la->sites, "A site whose hosts prove their location against it (repeatable)");
    add->add_flag("--json", opts->json_out, "Print the verifier's JSON");
    cmds.push_back({add, [opts, la] {
                        auto key = read_input("--public-key", la->key_file, 4096);
                        if (!key) return fail_usage(key.err().message);
                        std::string text(key->begin(), key->end());
                        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
                        json::array sites;
                        for (const auto& s : la->sites) sites.emplace_back(s);
                        json::object b{{"id", la->id},        {"lat", la->lat},         {"lon", la->lon},
                                       {"public_key", text},  {"address", la->address}, {"sites", std::move(sites)}};
                        return run_and_print(*opts, "POST", "/v1/landmarks", json::serialize(b), [la](const json::value&) {
                            std::printf("landmark %s saved\n", la->id.c_str());
                        });
                    }});
    auto* list = lm->add_subcommand("list", "List landmarks");
    list->add_flag("--json", opts->json_out, "Print the verifier's JSON");
    cmds.push_back({list, [opts] {
                        return run_and_print(*opts, "GET", "/v1/landmarks", "",
                                             [](const json::value& v) { print_landmarks(array_at(v, "landmarks")); });
                    }});
}

}  // namespace custos::cli
