// The operator's GPU and compute API: the fleet GPU registry with each serial's history, approving and
// releasing serials for a host, and compute sums by host, site, entity, country or model.
#include <boost/json.hpp>

#include <set>

#include "crypto/strict_json.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_registry.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::size_t max_serials_per_request = 1024;

json::object gpu_json(const gpu_record& g, bool approved) {
    return json::object{{"serial", g.serial},       {"host", g.host_id},         {"prev_host", g.prev_host},
                        {"name", g.name},           {"chip", g.chip},            {"uuid", g.uuid},
                        {"pci_bus_id", g.pci_bus_id}, {"first_seen", g.first_seen}, {"last_seen", g.last_seen},
                        {"moved_at", g.moved_at},   {"approved", approved}};
}

bool valid_serial(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '&' || c == '?' || c == '/') return false;
    return true;
}

net::http_response list_gpus(service_context& ctx, const std::string& target) {
    auto q = query_params(target, {"host"});
    if (!q) return error_reply(q.err());
    std::optional<std::string> host;
    if (q->count("host")) {
        if (!valid_id((*q)["host"])) return net::json_error(400, "bad-request", "query parameter host is not a host id");
        host = (*q)["host"];
    }
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto gpus = (*tx)->list_gpus(host);
    if (!gpus) return error_reply(gpus.err());
    std::map<std::string, std::set<std::string>> approvals;
    json::array a;
    for (const auto& g : *gpus) {
        auto it = approvals.find(g.host_id);
        if (it == approvals.end()) {
            auto ap = (*tx)->gpu_approvals(g.host_id);
            if (!ap) return error_reply(ap.err());
            it = approvals.emplace(g.host_id, std::set<std::string>(ap->begin(), ap->end())).first;
        }
        a.push_back(gpu_json(g, it->second.count(g.serial) > 0));
    }
    json::object out{{"gpus", std::move(a)}};
    if (host) {
        auto ap = (*tx)->gpu_approvals(*host);
        if (!ap) return error_reply(ap.err());
        json::array approved;
        for (const auto& s : *ap) approved.push_back(json::value(s));
        out["approved"] = std::move(approved);
        auto inv = (*tx)->get_host_inventory(*host);
        if (!inv) return error_reply(inv.err());
        if (inv->has_value())
            out["inventory"] = json::object{{"source", (*inv)->source},
                                            {"driver_version", (*inv)->driver_version},
                                            {"error", (*inv)->error},
                                            {"time", (*inv)->time},
                                            {"baseline_taken", (*inv)->baseline_taken}};
    }
    return json_reply(200, out);
}

net::http_response get_gpu(service_context& ctx, const std::string& target) {
    std::string serial(target.substr(std::string_view("/v1/gpus/").size()));
    if (!valid_serial(serial)) return net::json_error(400, "bad-request", "\"" + serial.substr(0, 64) + "\" is not a GPU serial");
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto g = (*tx)->get_gpu(serial);
    if (!g) return error_reply(g.err());
    if (!g->has_value()) return net::json_error(404, "not-found", "no GPU with serial \"" + serial + "\" was ever reported");
    auto ap = (*tx)->gpu_approvals((*g)->host_id);
    if (!ap) return error_reply(ap.err());
    json::object o = gpu_json(**g, std::find(ap->begin(), ap->end(), serial) != ap->end());
    auto events = (*tx)->list_gpu_events(serial, std::nullopt, 1000);
    if (!events) return error_reply(events.err());
    json::array h;
    for (const auto& e : *events)
        h.push_back(json::object{{"time", e.time}, {"host", e.host_id}, {"event", e.event}, {"detail", e.detail}});
    o["history"] = std::move(h);
    auto att = (*tx)->get_gpu_attestation(serial);
    if (!att) return error_reply(att.err());
    if (att->has_value()) {
        const auto& a = **att;
        o["attestation"] = json::object{{"status", a.status},
                                        {"error", a.error},
                                        {"host", a.host_id},
                                        {"device_id", a.device_id},
                                        {"hw_model", a.hw_model},
                                        {"fwid", a.fwid},
                                        {"driver_version", a.driver_version},
                                        {"vbios_version", a.vbios_version},
                                        {"mode", a.mode},
                                        {"measurements_digest", a.measurements_digest},
                                        {"baseline_digest", a.baseline_digest},
                                        {"time", a.time},
                                        {"last_valid", a.last_valid}};
    } else {
        o["attestation"] = nullptr;  // the agent never sent evidence for it
    }
    return json_reply(200, o);
}

// POST /v1/gpu-approvals and /v1/gpu-releases: {"host":"…","serials":["…"]}.
net::http_response change_gpus(service_context& ctx, const actor& who, const std::string& body, bool approve) {
    const char* what = approve ? "gpu approval" : "gpu release";
    auto v = parse_body(body, what, {"host", "serials"});
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, what);
    auto host = o->str("host");
    if (!host) return error_reply(host.err());
    if (!valid_id(*host)) return error_reply(o->bad("host", "is not a host id"));
    auto arr = o->arr("serials");
    if (!arr) return error_reply(arr.err());
    if ((*arr)->empty() || (*arr)->size() > max_serials_per_request)
        return error_reply(o->bad("serials", "must list 1.." + std::to_string(max_serials_per_request) + " serials"));
    std::vector<std::string> serials;
    for (const auto& s : **arr) {
        if (!s.is_string() || !valid_serial(std::string(s.as_string())))
            return error_reply(o->bad("serials", "must hold GPU serials (printable, no spaces, at most 64 characters)"));
        serials.emplace_back(s.as_string());
    }
    const std::int64_t now = unix_now();
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto h = (*tx)->get_host(*host);
    if (!h) return error_reply(h.err());
    if (!h->has_value()) return net::json_error(404, "not-found", "no host \"" + *host + "\"");
    json::array results;
    for (const auto& s : serials) {
        if (approve) {
            if (auto x = approve_host_gpu(**tx, *host, s, now); !x) return error_reply(x.err());
            results.push_back(json::object{{"serial", s}, {"status", "approved"}});
        } else {
            auto was = release_host_gpu(**tx, *host, s, now);
            if (!was) return error_reply(was.err());
            results.push_back(json::object{{"serial", s}, {"status", *was ? "released" : "not-approved"}});
        }
    }
    host_record rec = **h;
    std::vector<finding_record> raised;
    auto open = refresh_status(**tx, rec, now, raised);
    if (!open) return error_reply(open.err());
    if (auto x = (*tx)->put_host(rec); !x) return error_reply(x.err());
    auto ap = (*tx)->gpu_approvals(*host);
    if (!ap) return error_reply(ap.err());
    if (auto x = (*tx)->append_log(operator_entry(who, approve ? "gpu.approve" : "gpu.release", *host, "", *v, now)); !x)
        return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    ctx.publish(raised);
    json::array approved;
    for (const auto& s : *ap) approved.push_back(json::value(s));
    return json_reply(200, json::object{{"host", *host}, {"results", std::move(results)}, {"approved", std::move(approved)},
                                        {"status", rec.status}});
}

json::object compute_total_json(const compute_total& t) {
    json::object o{{"key", t.key},
                   {"busy_s", t.total.busy_s},
                   {"tpp_s", t.total.tpp_s},
                   {"ops", t.total.ops},
                   {"energy_mj", t.total.energy_mj},
                   {"hosts", t.hosts}};
    if (t.training_ops > 0 || !t.key.empty()) o["training_ops"] = t.training_ops;
    return o;
}

net::http_response get_compute(service_context& ctx, const std::string& target) {
    auto q = query_params(target, {"by"});
    if (!q) return error_reply(q.err());
    const std::string by = q->count("by") ? (*q)["by"] : "host";
    if (by != "host" && by != "site" && by != "entity" && by != "country" && by != "model")
        return net::json_error(400, "bad-request", "query parameter by must be host, site, entity, country or model");
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto totals = compute_totals(**tx, by);
    if (!totals) return error_reply(totals.err());
    json::array a;
    for (const auto& t : *totals) {
        json::object o = compute_total_json(t);
        if (by != "model") o.erase("training_ops");
        a.push_back(std::move(o));
    }
    return json_reply(200, json::object{{"by", by},
                                        {"unit", "ops: upper bound of operations (busy seconds x peak dense ops/s)"},
                                        {"totals", std::move(a)}});
}

}  // namespace

void register_gpu_routes(net::https_server& srv, service_context& ctx) {
    auto op = [](auto fn) {
        return [fn](const net::http_request& req, const net::request_context& rc) {
            if (auto deny = require_operator(rc)) return *deny;
            return fn(req);
        };
    };
    srv.route("GET", "/v1/gpus", net::auth::client_cert, op([&ctx](const net::http_request& req) { return list_gpus(ctx, req.target); }));
    srv.route_prefix("GET", "/v1/gpus/", net::auth::client_cert,
                     op([&ctx](const net::http_request& req) { return get_gpu(ctx, req.target.substr(0, req.target.find('?'))); }));
    srv.route("POST", "/v1/gpu-approvals", net::auth::client_cert,
              operator_write([&ctx](const net::http_request& req, const actor& who) { return change_gpus(ctx, who, req.body, true); }));
    srv.route("POST", "/v1/gpu-releases", net::auth::client_cert,
              operator_write([&ctx](const net::http_request& req, const actor& who) { return change_gpus(ctx, who, req.body, false); }));
    srv.route("GET", "/v1/compute", net::auth::client_cert, op([&ctx](const net::http_request& req) { return get_compute(ctx, req.target); }));
}

}  // namespace custos::verifier
