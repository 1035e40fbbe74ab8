// custos fleet: the operator's view of a running verifier over mutual TLS (hosts, findings, sites,
// entities, approval, decommissioning). Exit 0 ok, 1 the verifier refused, 2 usage or unreachable.
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "net/https_client.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"
#include "tools/custos/fleet_support.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

void print_findings(const json::array& fs) {
    if (fs.empty()) {
        std::printf("no findings\n");
        return;
    }
    std::vector<std::vector<std::string>> rows{{"ID", "TIME (UTC)", "SEVERITY", "RULE", "SUBJECT", "OPEN", "DETAIL"}};
    for (const auto& fv : fs) {
        if (!fv.is_object()) continue;
        const auto& f = fv.as_object();
        const auto* open = f.if_contains("open");
        rows.push_back({field(f, "id"), when(time_field(f, "time")), field(f, "severity"), field(f, "rule"),
                        field(f, "subject"), open && open->is_bool() && !open->as_bool() ? "no" : "yes", field(f, "detail")});
    }
    print_table(rows);
}

void print_hosts(const json::array& hs) {
    if (hs.empty()) {
        std::printf("no hosts\n");
        return;
    }
    std::vector<std::vector<std::string>> rows{
        {"HOST", "STATE", "STATUS", "SITE", "CHAIN", "FINDINGS", "LAST SEEN (UTC)"}};
    for (const auto& hv : hs) {
        if (!hv.is_object()) continue;
        const auto& h = hv.as_object();
        rows.push_back({field(h, "id"), field(h, "state"), field(h, "status"), field(h, "site"), field(h, "chain_seq"),
                        field(h, "open_findings"), when(time_field(h, "last_seen"))});
    }
    print_table(rows);
}

void print_host(const json::value& v) {
    const auto& h = v.as_object();
    std::vector<std::vector<std::string>> rows{
        {"host", field(h, "id")},
        {"state", field(h, "state")},
        {"site", field(h, "site")},
        {"status", field(h, "status") + " (since " + when(time_field(h, "status_at")) + ")"},
        {"enrolled", when(time_field(h, "enrolled_at"))},
        {"approved", when(time_field(h, "approved_at"))},
        {"last seen", when(time_field(h, "last_seen"))},
        {"AK name", field(h, "ak_name")},
        {"EK sha256", field(h, "ek_sha256")},
        {"report chain", "seq " + field(h, "chain_seq") + ", " + field(h, "reports") + " reports stored"},
        {"golden PCRs", field(h, "golden_pcrs") == "-" ? "not set (taken from the next valid quote)" : field(h, "golden_pcrs")},
    };
    const auto* c = h.if_contains("clock");
    const auto* have = c && c->is_object() ? c->as_object().if_contains("have_clock") : nullptr;
    if (have && have->is_bool() && have->as_bool()) {
        const auto& co = c->as_object();
        rows.push_back({"TPM clock", field(co, "clock") + " ms, resets " + field(co, "reset_count") + ", restarts " +
                                         field(co, "restart_count")});
    }
    if (const auto* a = h.if_contains("latest_appraisal"); a && a->is_object())
        rows.push_back({"appraised", field(a->as_object(), "status") + " at " + when(time_field(a->as_object(), "time"))});
    if (const auto* l = h.if_contains("location"); l && l->is_object()) {
        const auto& lo = l->as_object();
        std::string line = field(lo, "verdict") + " at " + when(time_field(lo, "time"));
        const auto* lo_min = lo.if_contains("min_km_from_site");
        const auto* lo_max = lo.if_contains("max_km_from_site");
        if (lo_min && lo_max && lo_min->is_number() && lo_max->is_number()) {
            char km[96];
            std::snprintf(km, sizeof km, ": %.0f-%.0f km from the site", lo_min->to_number<double>(), lo_max->to_number<double>());
            line += km;
        }
        rows.push_back({"location", line});
    }
    for (auto& r : rows) r[0] += ":";
    print_table(rows);
    if (const auto* fs = h.if_contains("findings"); fs && fs->is_array()) {
        std::printf("\nopen findings:\n");
        print_findings(fs->as_array());
    }
}

}  // namespace

void register_fleet_commands(CLI::App& app, command_list& cmds) {
    auto opts = std::make_shared<fleet_options>();
    auto* fleet = app.add_subcommand("fleet", "Query and manage a running custos-verifier (operator credential)");
    fleet->require_subcommand(1);
    opts->verifier = env_or("CUSTOS_VERIFIER", "https://127.0.0.1:8443");
    opts->credential = env_or("CUSTOS_CREDENTIAL", "");
    fleet->add_option("--verifier", opts->verifier, "https://HOST:PORT (default $CUSTOS_VERIFIER or https://127.0.0.1:8443)");
    fleet->add_option("--credential", opts->credential,
                      "Directory with cert.pem, key.pem, ca.pem: the verifier's DIR/operator (default $CUSTOS_CREDENTIAL)");
    auto json_flag = [opts](CLI::App* sub) { sub->add_flag("--json", opts->json_out, "Print the verifier's JSON"); };

    auto* hosts = fleet->add_subcommand("hosts", "List hosts with their state and latest status");
    json_flag(hosts);
    cmds.push_back({hosts, [opts] {
                        return run_and_print(*opts, "GET", "/v1/hosts", "",
                                             [](const json::value& v) { print_hosts(array_at(v, "hosts")); });
                    }});

    auto host_id = std::make_shared<std::string>();
    auto* host = fleet->add_subcommand("host", "One host: identity, clock, golden values, open findings");
    host->add_option("ID", *host_id, "Host id")->required();
    json_flag(host);
    cmds.push_back({host, [opts, host_id] {
                        return run_and_print(*opts, "GET", "/v1/hosts/" + url_encode(*host_id), "", print_host);
                    }});

    struct finding_args {
        std::string host, rule;
        bool open = false;
    };
    auto fa = std::make_shared<finding_args>();
    auto* findings = fleet->add_subcommand("findings", "Findings, newest first");
    findings->add_option("--host", fa->host, "Only this host's");
    findings->add_option("--rule", fa->rule, "Only this rule's (pcr-changed, host-dark, ...)");
    findings->add_flag("--open", fa->open, "Only open ones");
    json_flag(findings);
    cmds.push_back({findings, [opts, fa] {
                        std::string q;
                        if (!fa->host.empty()) q += "&host=" + url_encode(fa->host);
                        if (!fa->rule.empty()) q += "&rule=" + url_encode(fa->rule);
                        if (fa->open) q += "&open=1";
                        const std::string target = "/v1/findings" + (q.empty() ? "" : "?" + q.substr(1));
                        return run_and_print(*opts, "GET", target, "",
                                             [](const json::value& v) { print_findings(array_at(v, "findings")); });
                    }});

    struct site_args {
        std::string id, entity, country;
        double lat = 0, lon = 0, km = 0;
    };
    auto sa = std::make_shared<site_args>();
    auto* site = fleet->add_subcommand("site", "Sites");
    site->require_subcommand(1);
    auto* site_add = site->add_subcommand("add", "Add or replace a site");
    site_add->add_option("ID", sa->id, "Site id")->required();
    site_add->add_option("--entity", sa->entity, "Owning entity")->required();
    site_add->add_option("--country", sa->country, "ISO 3166-1 alpha-2 code")->required();
    site_add->add_option("--lat", sa->lat, "Latitude")->required();
    site_add->add_option("--lon", sa->lon, "Longitude")->required();
    site_add->add_option("--max-km", sa->km, "How far from these coordinates its hosts may be")->required();
    json_flag(site_add);
    cmds.push_back({site_add, [opts, sa] {
                        json::object b{{"id", sa->id}, {"entity", sa->entity}, {"country", sa->country},
                                       {"lat", sa->lat}, {"lon", sa->lon},       {"max_km", sa->km}};
                        return run_and_print(*opts, "POST", "/v1/sites", json::serialize(b), [sa](const json::value&) {
                            std::printf("site %s saved\n", sa->id.c_str());
                        });
                    }});

    struct entity_args {
        std::string id, hq, status;
    };
    auto ea = std::make_shared<entity_args>();
    auto* entity = fleet->add_subcommand("entity", "Entities");
    entity->require_subcommand(1);
    auto* entity_add = entity->add_subcommand("add", "Add or replace an entity");
    entity_add->add_option("ID", ea->id, "Entity id")->required();
    entity_add->add_option("--hq", ea->hq, "Headquarters country (ISO 3166-1 alpha-2)")->required();
    entity_add->add_option("--status", ea->status, "Export status")->required()->check(CLI::IsMember({"uveu", "nveu", "none"}));
    json_flag(entity_add);
    cmds.push_back({entity_add, [opts, ea] {
                        json::object b{{"id", ea->id}, {"hq", ea->hq}, {"status", ea->status}};
                        return run_and_print(*opts, "POST", "/v1/entities", json::serialize(b), [ea](const json::value&) {
                            std::printf("entity %s saved\n", ea->id.c_str());
                        });
                    }});

    struct approve_args {
        std::string host, site, golden, boot_reference;
    };
    auto aa = std::make_shared<approve_args>();
    auto* approve = fleet->add_subcommand("approve", "Approve a host to a site (golden values from its next quote, or --golden-pcrs)");
    approve->add_option("HOST", aa->host, "Host id")->required();
    approve->add_option("--site", aa->site, "Site id")->required();
    approve->add_option("--golden-pcrs", aa->golden, "JSON file {\"sha256\":{\"0\":\"hex\",...}}");
    approve->add_option("--boot-reference", aa->boot_reference,
                        "JSON file of the approved boot components (custos eventlog reference); default: the next consistent boot log");
    json_flag(approve);
    cmds.push_back({approve, [opts, aa] {
                        json::object b{{"site", aa->site}};
                        if (!aa->golden.empty()) {
                            auto text = read_input("--golden-pcrs", aa->golden, 1u << 20);
                            if (!text) return fail_usage(text.err().message);
                            boost::system::error_code ec;
                            auto g = json::parse(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), ec);
                            if (ec) return fail_usage("--golden-pcrs: " + aa->golden + " is not JSON: " + ec.message());
                            b["golden_pcrs"] = std::move(g);
                        }
                        if (!aa->boot_reference.empty()) {
                            auto text = read_input("--boot-reference", aa->boot_reference, 16u << 20);
                            if (!text) return fail_usage(text.err().message);
                            boost::system::error_code ec;
                            auto r = json::parse(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), ec);
                            if (ec) return fail_usage("--boot-reference: " + aa->boot_reference + " is not JSON: " + ec.message());
                            b["boot_reference"] = std::move(r);
                        }
                        return run_and_print(*opts, "POST", "/v1/hosts/" + url_encode(aa->host) + "/approve",
                                             json::serialize(b), [aa](const json::value&) {
                                                 std::printf("host %s approved at site %s\n", aa->host.c_str(), aa->site.c_str());
                                             });
                    }});

    auto dh = std::make_shared<std::string>();
    auto* decom = fleet->add_subcommand("decommission", "Take a host out of service (its agent certificate stops working)");
    decom->add_option("HOST", *dh, "Host id")->required();
    json_flag(decom);
    cmds.push_back({decom, [opts, dh] {
                        return run_and_print(*opts, "POST", "/v1/hosts/" + url_encode(*dh) + "/decommission", "{}",
                                             [dh](const json::value&) { std::printf("host %s decommissioned\n", dh->c_str()); });
                    }});

    register_fleet_gpu_commands(*fleet, opts, cmds);
    register_fleet_model_commands(*fleet, opts, cmds);
    register_fleet_policy_commands(*fleet, opts, cmds);
    register_report_commands(app, *fleet, opts, cmds);
}

}  // namespace custos::cli
