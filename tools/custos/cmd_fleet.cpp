// custos fleet: the operator's view of a running verifier over mutual TLS (hosts, findings, sites,
// entities, approval, decommissioning). Exit 0 ok, 1 the verifier refused, 2 usage or unreachable.
#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "net/https_client.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

struct fleet_options {
    std::string verifier;
    std::string credential;
    bool json_out = false;
};

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string when(std::int64_t t) {
    if (t == 0) return "never";
    char buf[32];
    std::time_t tt = static_cast<std::time_t>(t);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::gmtime(&tt));
    return buf;
}

std::string str(const json::value& v) {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_null()) return "-";
    return json::serialize(v);
}

// One request; prints the server's refusal and maps it to the exit code.
int call(const fleet_options& o, const std::string& method, const std::string& target, const std::string& body,
         json::value& out) {
    if (o.credential.empty())
        return fail_usage("no operator credential: pass --credential DIR (the verifier's DIR/operator) or set CUSTOS_CREDENTIAL");
    net::https_client_options co;
    co.ca_file = o.credential + "/ca.pem";
    co.cert_file = o.credential + "/cert.pem";
    co.key_file = o.credential + "/key.pem";
    auto c = net::https_client::create(o.verifier, co);
    if (!c) return fail_usage(c.err().message);
    auto r = (*c)->request(method, target, body);
    if (!r) return fail_usage("verifier " + o.verifier + ": " + r.err().message);
    boost::system::error_code ec;
    out = json::parse(r->body, ec);
    if (r->status >= 400) {
        std::string detail = r->body;
        if (!ec && out.is_object() && out.as_object().contains("detail")) detail = str(out.as_object().at("detail"));
        std::fprintf(stderr, "custos fleet: the verifier refused (HTTP %u): %s\n", r->status, detail.c_str());
        return exit_failed;
    }
    if (ec) return fail_usage("verifier " + o.verifier + ": the answer is not JSON");
    return exit_ok;
}

void print_findings(const json::array& fs) {
    if (fs.empty()) {
        std::printf("no findings\n");
        return;
    }
    for (const auto& fv : fs) {
        const auto& f = fv.as_object();
        std::printf("#%-5s %s  %-9s %-24s %-12s %s%s\n", str(f.at("id")).c_str(), when(f.at("time").to_number<std::int64_t>()).c_str(),
                    str(f.at("severity")).c_str(), str(f.at("rule")).c_str(), str(f.at("subject")).c_str(),
                    f.at("open").as_bool() ? "" : "[resolved] ", str(f.at("detail")).c_str());
    }
}

void print_hosts(const json::array& hs) {
    if (hs.empty()) {
        std::printf("no hosts\n");
        return;
    }
    std::printf("%-20s %-15s %-16s %-10s %-8s %-8s %s\n", "HOST", "STATE", "STATUS", "SITE", "REPORTS", "FINDINGS", "LAST SEEN (UTC)");
    for (const auto& hv : hs) {
        const auto& h = hv.as_object();
        std::printf("%-20s %-15s %-16s %-10s %-8s %-8s %s\n", str(h.at("id")).c_str(), str(h.at("state")).c_str(),
                    str(h.at("status")).c_str(), str(h.at("site")).c_str(), str(h.at("chain_seq")).c_str(),
                    str(h.at("open_findings")).c_str(), when(h.at("last_seen").to_number<std::int64_t>()).c_str());
    }
}

// Runs a call and prints JSON (--json) or the human form.
template <class Human>
int run_and_print(const fleet_options& o, const std::string& method, const std::string& target, const std::string& body,
                  Human human) {
    json::value out;
    const int rc = call(o, method, target, body, out);
    if (rc != exit_ok) return rc;
    if (o.json_out) print_json(out);
    else human(out);
    return exit_ok;
}

}  // namespace

void register_fleet_commands(CLI::App& app, command_list& cmds) {
    auto opts = std::make_shared<fleet_options>();
    auto* fleet = app.add_subcommand("fleet", "Query and manage a running custos-verifier (operator credential)");
    fleet->require_subcommand(1);
    opts->verifier = env_or("CUSTOS_VERIFIER", "https://127.0.0.1:8443");
    opts->credential = env_or("CUSTOS_CREDENTIAL", "");
    fleet->add_option("--verifier", opts->verifier, "https://HOST:PORT (default $CUSTOS_VERIFIER or https://127.0.0.1:8443)");
    fleet->add_option("--credential", opts->credential, "Directory with cert.pem, key.pem, ca.pem (default $CUSTOS_CREDENTIAL)");
    auto json_flag = [opts](CLI::App* sub) { sub->add_flag("--json", opts->json_out, "Print the verifier's JSON"); };

    auto* hosts = fleet->add_subcommand("hosts", "List hosts with their state and latest status");
    json_flag(hosts);
    cmds.push_back({hosts, [opts] {
                        return run_and_print(*opts, "GET", "/v1/hosts", "",
                                             [](const json::value& v) { print_hosts(v.at("hosts").as_array()); });
                    }});

    auto host_id = std::make_shared<std::string>();
    auto* host = fleet->add_subcommand("host", "One host: identity, clock, golden values, open findings");
    host->add_option("ID", *host_id, "Host id")->required();
    json_flag(host);
    cmds.push_back({host, [opts, host_id] {
                        return run_and_print(*opts, "GET", "/v1/hosts/" + *host_id, "", [](const json::value& v) {
                            const auto& h = v.as_object();
                            print_hosts(json::array{v});
                            std::printf("AK name %s\nEK sha256 %s\nreports stored %s\n", str(h.at("ak_name")).c_str(),
                                        str(h.at("ek_sha256")).c_str(), str(h.at("reports")).c_str());
                            print_findings(h.at("findings").as_array());
                        });
                    }});

    struct finding_args {
        std::string host, rule;
        bool open = false;
    };
    auto fa = std::make_shared<finding_args>();
    auto* findings = fleet->add_subcommand("findings", "Findings, newest first");
    findings->add_option("--host", fa->host, "Only this host's");
    findings->add_option("--rule", fa->rule, "Only this rule's");
    findings->add_flag("--open", fa->open, "Only open ones");
    json_flag(findings);
    cmds.push_back({findings, [opts, fa] {
                        std::string q;
                        if (!fa->host.empty()) q += "&host=" + fa->host;
                        if (!fa->rule.empty()) q += "&rule=" + fa->rule;
                        if (fa->open) q += "&open=1";
                        const std::string target = "/v1/findings" + (q.empty() ? "" : "?" + q.substr(1));
                        return run_and_print(*opts, "GET", target, "",
                                             [](const json::value& v) { print_findings(v.at("findings").as_array()); });
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
        std::string host, site, golden;
    };
    auto aa = std::make_shared<approve_args>();
    auto* approve = fleet->add_subcommand("approve", "Approve a host to a site (golden values from its next quote, or --golden-pcrs)");
    approve->add_option("HOST", aa->host, "Host id")->required();
    approve->add_option("--site", aa->site, "Site id")->required();
    approve->add_option("--golden-pcrs", aa->golden, "JSON file {\"sha256\":{\"0\":\"hex\",...}}");
    json_flag(approve);
    cmds.push_back({approve, [opts, aa] {
                        json::object b{{"site", aa->site}};
                        if (!aa->golden.empty()) {
                            std::ifstream in(aa->golden);
                            if (!in) return fail_usage("cannot read " + aa->golden);
                            std::stringstream ss;
                            ss << in.rdbuf();
                            boost::system::error_code ec;
                            auto g = json::parse(ss.str(), ec);
                            if (ec) return fail_usage(aa->golden + " is not JSON: " + ec.message());
                            b["golden_pcrs"] = g;
                        }
                        return run_and_print(*opts, "POST", "/v1/hosts/" + aa->host + "/approve", json::serialize(b),
                                             [aa](const json::value&) {
                                                 std::printf("host %s approved at site %s\n", aa->host.c_str(), aa->site.c_str());
                                             });
                    }});

    auto dh = std::make_shared<std::string>();
    auto* decom = fleet->add_subcommand("decommission", "Take a host out of service (its agent certificate stops working)");
    decom->add_option("HOST", *dh, "Host id")->required();
    json_flag(decom);
    cmds.push_back({decom, [opts, dh] {
                        return run_and_print(*opts, "POST", "/v1/hosts/" + *dh + "/decommission", "{}",
                                             [dh](const json::value&) { std::printf("host %s decommissioned\n", dh->c_str()); });
                    }});
}

}  // namespace custos::cli
