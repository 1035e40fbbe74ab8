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
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string str(const json::value* v) {
    if (v == nullptr || v->is_null()) return "-";
    if (v->is_string()) return std::string(v->as_string());
    return json::serialize(*v);
}
std::string field(const json::object& o, std::string_view key) { return str(o.if_contains(key)); }
std::int64_t time_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_int64() ? v->as_int64() : 0;
}

// Ids and rule names are sent as typed; anything that is not an unreserved URL character is
// percent-encoded so it cannot change the path or add query parameters (the verifier then refuses it).
std::string url_encode(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        std::printf("%s\n", line.c_str());
    }
}

// One request; prints the verifier's refusal and maps it to the exit code.
int call(const fleet_options& o, const std::string& method, const std::string& target, const std::string& body,
         json::value& out) {
    if (o.credential.empty())
        return fail_usage("fleet: no operator credential: pass --credential DIR (the verifier's DIR/operator) or set "
                          "CUSTOS_CREDENTIAL");
    net::https_client_options co;
    co.ca_file = o.credential + "/ca.pem";
    co.cert_file = o.credential + "/cert.pem";
    co.key_file = o.credential + "/key.pem";
    auto c = net::https_client::create(o.verifier, co);
    if (!c) return fail_usage("fleet: " + c.err().message);
    auto r = (*c)->request(method, target, body);
    if (!r) return fail_usage("fleet: verifier " + o.verifier + " unreachable: " + r.err().message);
    boost::system::error_code ec;
    out = json::parse(r->body, ec);
    if (r->status >= 400) {
        std::string detail = r->body;
        if (!ec && out.is_object()) {
            if (const auto* d = out.as_object().if_contains("detail"); d && d->is_string()) detail = std::string(d->as_string());
        }
        std::fprintf(stderr, "custos: fleet: the verifier refused (HTTP %u): %s\n", r->status, detail.c_str());
        return exit_failed;
    }
    if (ec || !out.is_object()) return fail_usage("fleet: verifier " + o.verifier + ": the answer is not a JSON object");
    return exit_ok;
}

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
    for (auto& r : rows) r[0] += ":";
    print_table(rows);
    if (const auto* fs = h.if_contains("findings"); fs && fs->is_array()) {
        std::printf("\nopen findings:\n");
        print_findings(fs->as_array());
    }
}

// Runs a call and prints the verifier's JSON (--json) or the human form.
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

json::array array_at(const json::value& v, std::string_view key) {
    const auto* a = v.as_object().if_contains(key);
    return a && a->is_array() ? a->as_array() : json::array{};
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
                            auto text = read_input("--golden-pcrs", aa->golden, 1u << 20);
                            if (!text) return fail_usage(text.err().message);
                            boost::system::error_code ec;
                            auto g = json::parse(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), ec);
                            if (ec) return fail_usage("--golden-pcrs: " + aa->golden + " is not JSON: " + ec.message());
                            b["golden_pcrs"] = std::move(g);
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
}

}  // namespace custos::cli
