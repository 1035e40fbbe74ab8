// The policy engine in the service (appraise_policy, sweep_policy) and the operator endpoints around it:
// GET /v1/fleet/snapshot, GET /v1/policy, POST and GET /v1/landmarks.
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>

#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"
#include "policy/countries.hpp"
#include "policy/location_proof.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/policy_appraisal.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;

result<void> appraise_policy(service_context& ctx, store_tx& tx, std::int64_t now, std::vector<finding_record>& raised,
                             const std::string& self, policy_run run) {
    if (ctx.profiles.empty()) return {};
    // Read in this transaction: a write committed after it moves the generation past it, so the next round
    // runs the engine again.
    CUSTOS_TRY(gen, tx.generations());
    if (run == policy_run::if_fleet_changed && gen.policy == gen.fleet) return {};
    policy_outcome out;
    CUSTOS_TRY_VOID(apply_policy(tx, ctx.profiles, *ctx.chips, now, out));
    if (gen.policy != gen.fleet) CUSTOS_TRY_VOID(tx.set_policy_generation(gen.fleet));
    raised.insert(raised.end(), out.raised.begin(), out.raised.end());
    for (const auto& id : out.hosts) {
        if (id == self) continue;
        CUSTOS_TRY(h, tx.get_host(id));
        if (!h) continue;
        host_record other = *h;
        CUSTOS_TRY(open, refresh_status(tx, other, now, raised));
        (void)open;
        CUSTOS_TRY_VOID(tx.put_host(other));
    }
    return {};
}

result<std::vector<finding_record>> sweep_policy(service_context& ctx, std::int64_t now) {
    std::vector<finding_record> raised;
    if (ctx.profiles.empty()) return raised;
    CUSTOS_TRY(tx, ctx.db->begin());
    CUSTOS_TRY_VOID(appraise_policy(ctx, *tx, now, raised, {}, policy_run::always));
    CUSTOS_TRY_VOID(tx->commit());
    ctx.publish(raised);
    return raised;
}

namespace {

json::object landmark_json(const landmark_record& l, const std::vector<std::string>& sites) {
    json::array ss;
    for (const auto& s : sites) ss.emplace_back(s);
    return json::object{{"id", l.id},       {"lat", l.lat},           {"lon", l.lon},
                        {"public_key", to_base64(l.public_key)},     {"address", l.address},
                        {"sites", std::move(ss)},                    {"added_at", l.added_at}};
}

net::http_response add_landmark(service_context& ctx, const actor& who, const std::string& body) {
    auto v = parse_body(body, "landmark", {"id", "lat", "lon", "public_key", "address", "sites"});
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "landmark");
    landmark_record l;
    auto id = o->str("id");
    if (!id) return error_reply(id.err());
    if (!policy::valid_landmark_id(*id)) return error_reply(o->bad("id", "must be 1-64 of [A-Za-z0-9._-]"));
    l.id = *id;
    auto lat = o->number("lat");
    if (!lat) return error_reply(lat.err());
    auto lon = o->number("lon");
    if (!lon) return error_reply(lon.err());
    if (!(*lat >= -90 && *lat <= 90)) return error_reply(o->bad("lat", "must be within -90..90"));
    if (!(*lon >= -180 && *lon <= 180)) return error_reply(o->bad("lon", "must be within -180..180"));
    l.lat = *lat;
    l.lon = *lon;
    auto key = o->b64("public_key");
    if (!key) return error_reply(key.err());
    if (key->size() != policy::ed25519_key_size) return error_reply(o->bad("public_key", "must be a 32-byte Ed25519 key (base64)"));
    l.public_key = std::move(key).value();
    auto addr = o->str("address");
    if (!addr) return error_reply(addr.err());
    if (addr->empty() || addr->size() > 255 || addr->rfind(':') == std::string::npos)
        return error_reply(o->bad("address", "must be HOST:PORT as agents reach the landmark"));
    l.address = *addr;
    auto sites = o->arr("sites");
    if (!sites) return error_reply(sites.err());
    std::vector<std::string> site_ids;
    for (const auto& s : **sites) {
        if (!s.is_string() || !valid_id(s.as_string())) return error_reply(o->bad("sites", "must be an array of site ids"));
        site_ids.emplace_back(s.as_string());
    }
    l.added_at = unix_now();
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    for (const auto& s : site_ids) {
        auto site = (*tx)->get_site(s);
        if (!site) return error_reply(site.err());
        if (!site.value()) return net::json_error(404, "not-found", "no site \"" + s + "\"; add it with custos fleet site add");
    }
    auto existing = (*tx)->get_landmark(l.id);
    if (!existing) return error_reply(existing.err());
    if (existing->has_value()) l.added_at = (*existing)->added_at;
    if (auto x = (*tx)->put_landmark(l); !x) return error_reply(x.err());
    for (const auto& s : site_ids)
        if (auto x = (*tx)->assign_landmark(s, l.id); !x) return error_reply(x.err());
    auto all = (*tx)->landmark_sites(l.id);
    if (!all) return error_reply(all.err());
    if (auto x = (*tx)->append_log(operator_entry(who, "landmark.put", "", l.id, *v, unix_now())); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    spdlog::info("landmark {} at {:.4f},{:.4f} ({}) registered for {} site(s)", l.id, l.lat, l.lon, l.address, all->size());
    return json_reply(existing->has_value() ? 200 : 201, landmark_json(l, *all));
}

net::http_response list_landmarks(service_context& ctx) {
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto ls = (*tx)->list_landmarks();
    if (!ls) return error_reply(ls.err());
    json::array a;
    for (const auto& l : *ls) {
        auto sites = (*tx)->landmark_sites(l.id);
        if (!sites) return error_reply(sites.err());
        a.push_back(landmark_json(l, *sites));
    }
    return json_reply(200, json::object{{"landmarks", std::move(a)}});
}

net::http_response snapshot(service_context& ctx) {
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto f = snapshot_fleet(**tx, unix_now());
    if (!f) return error_reply(f.err());
    return json_reply(200, policy::fleet_to_json(*f));
}

net::http_response policy_view(service_context& ctx) {
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto f = snapshot_fleet(**tx, unix_now());
    if (!f) return error_reply(f.err());
    const policy::evaluation e = evaluate_profiles(ctx.profiles, *f, *ctx.chips);
    json::object out = policy::evaluation_to_json(e);
    // The findings as stored (ids, times), open ones only: what the engine found and the store holds.
    json::array stored;
    for (const auto& rule : policy_rules()) {
        finding_filter ff;
        ff.rule = rule;
        ff.open_only = true;
        auto fs = (*tx)->list_findings(ff);
        if (!fs) return error_reply(fs.err());
        for (const auto& x : *fs) stored.push_back(finding_to_json(x));
    }
    out["open_findings"] = std::move(stored);
    json::array profiles;
    for (const auto& p : ctx.profiles) profiles.emplace_back(p.id);
    out["profiles"] = std::move(profiles);
    return json_reply(200, out);
}

}  // namespace

void register_policy_routes(net::https_server& srv, service_context& ctx) {
    auto op = [](auto fn) {
        return [fn](const net::http_request& req, const net::request_context& rc) {
            if (auto deny = require_operator(rc)) return *deny;
            return fn(req);
        };
    };
    srv.route("GET", "/v1/fleet/snapshot", net::auth::client_cert, op([&ctx](const net::http_request&) { return snapshot(ctx); }));
    srv.route("GET", "/v1/policy", net::auth::client_cert, op([&ctx](const net::http_request&) { return policy_view(ctx); }));
    srv.route("POST", "/v1/landmarks", net::auth::client_cert,
              operator_write([&ctx](const net::http_request& req, const actor& who) { return add_landmark(ctx, who, req.body); }));
    srv.route("GET", "/v1/landmarks", net::auth::client_cert, op([&ctx](const net::http_request&) { return list_landmarks(ctx); }));
}

}  // namespace custos::verifier
