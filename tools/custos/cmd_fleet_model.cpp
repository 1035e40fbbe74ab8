// custos fleet model add|approve|list and custos fleet leases: registering sealed models with the verifier,
// approving them for sites, and the key leases hosts hold.
#include <boost/json.hpp>

#include <cstdio>

#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "tools/custos/fleet_support.hpp"
#include "weights/sealed.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

void print_models(const json::value& v) {
    const auto models = array_at(v, "models");
    if (models.empty()) {
        std::printf("no models\n");
        return;
    }
    std::vector<std::vector<std::string>> rows{{"MODEL", "CLOSED", "TRAINING OPS", "SITES", "ROOT"}};
    for (const auto& mv : models) {
        const auto& m = mv.as_object();
        std::string sites;
        for (const auto& s : array_at(mv, "sites")) sites += (sites.empty() ? "" : ",") + std::string(s.as_string());
        char ops[32];
        std::snprintf(ops, sizeof ops, "%.4g", m.at("training_ops").to_number<double>());
        rows.push_back({field(m, "id"), field(m, "closed_weights") == "true" ? "yes" : "no", ops, sites.empty() ? "-" : sites,
                        field(m, "root").substr(0, 16) + "…"});
    }
    print_table(rows);
}

void print_leases(const json::value& v) {
    const auto leases = array_at(v, "leases");
    if (leases.empty()) {
        std::printf("no active leases\n");
        return;
    }
    std::vector<std::vector<std::string>> rows{{"LEASE", "HOST", "MODEL", "ISSUED (UTC)", "EXPIRES (UTC)"}};
    for (const auto& lv : leases) {
        const auto& l = lv.as_object();
        rows.push_back({field(l, "id"), field(l, "host"), field(l, "model"), when(time_field(l, "issued_at")),
                        when(time_field(l, "expires_at"))});
    }
    print_table(rows);
}

}  // namespace

void register_fleet_model_commands(CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds) {
    auto json_flag = [opts](CLI::App* sub) { sub->add_flag("--json", opts->json_out, "Print the verifier's JSON"); };
    auto* model = fleet.add_subcommand("model", "Sealed models whose keys the verifier holds");
    model->require_subcommand(1);

    struct add_args {
        std::string dir, id;
        bool closed = false;
        double training_ops = 0;
    };
    auto a = std::make_shared<add_args>();
    auto* add = model->add_subcommand("add", "Register a sealed model: uploads its index.json and key.sealed (sealed to this verifier)");
    add->add_option("SEALED_DIR", a->dir, "Directory written by custos weights seal")->required();
    add->add_option("--model-id", a->id, "Model id (must be the one it was sealed with)")->required();
    add->add_flag("--closed-weights", a->closed, "Closed weights: export-controlled when trained with more than the threshold");
    add->add_option("--training-ops", a->training_ops, "Operations spent training it (counts towards compute-threshold)")
        ->check(CLI::NonNegativeNumber);
    json_flag(add);
    cmds.push_back({add, [opts, a] {
                        const std::filesystem::path dir(a->dir);
                        auto index = read_file(dir / weights::sealed_index_name, 512u << 10);
                        if (!index) return fail_usage("fleet model add: " + index.err().message);
                        auto box = read_file(dir / weights::sealed_key_name, 4096);
                        if (!box) return fail_usage("fleet model add: " + box.err().message);
                        json::object body{{"id", a->id},
                                          {"closed_weights", a->closed},
                                          {"training_ops", a->training_ops},
                                          {"index", std::string(index->begin(), index->end())},
                                          {"key_sealed", to_base64(*box)}};
                        return run_and_print(*opts, "POST", "/v1/models", json::serialize(body), [](const json::value& v) {
                            std::printf("model %s registered (root %s)\n", field(v.as_object(), "id").c_str(),
                                        field(v.as_object(), "root").c_str());
                        });
                    }});

    struct approve_args {
        std::string id, site;
    };
    auto ap = std::make_shared<approve_args>();
    auto* approve = model->add_subcommand("approve", "Approve a model for a site: hosts there may receive its key");
    approve->add_option("ID", ap->id, "Model id")->required();
    approve->add_option("--site", ap->site, "Site id")->required();
    json_flag(approve);
    cmds.push_back({approve, [opts, ap] {
                        const json::object body{{"site", ap->site}};
                        return run_and_print(*opts, "POST", "/v1/models/" + url_encode(ap->id) + "/approve", json::serialize(body),
                                             [ap](const json::value&) {
                                                 std::printf("model %s approved for site %s\n", ap->id.c_str(), ap->site.c_str());
                                             });
                    }});

    auto* list = model->add_subcommand("list", "Registered models with the sites they are approved for");
    json_flag(list);
    cmds.push_back({list, [opts] { return run_and_print(*opts, "GET", "/v1/models", "", print_models); }});

    auto* leases = fleet.add_subcommand("leases", "Model key leases hosts hold now");
    json_flag(leases);
    cmds.push_back({leases, [opts] { return run_and_print(*opts, "GET", "/v1/leases", "", print_leases); }});

    auto lease_id = std::make_shared<std::string>();
    auto* revoke = fleet.add_subcommand("revoke-lease", "End a lease now: the host drops the key at its next renewal");
    revoke->add_option("LEASE", *lease_id, "Lease id")->required();
    json_flag(revoke);
    cmds.push_back({revoke, [opts, lease_id] {
                        return run_and_print(*opts, "POST", "/v1/leases/" + url_encode(*lease_id) + "/revoke", "{}",
                                             [lease_id](const json::value&) { std::printf("lease %s revoked\n", lease_id->c_str()); });
                    }});
}

}  // namespace custos::cli
