// Models and their keys: the operator registers a sealed model (its index and key.sealed) and approves it
// for sites; an attested agent asks for a model's data key with a creation proof of a PCR-bound TPM key
// and gets it wrapped to that key as a lease it must renew (docs/protocol.md, "Model keys").
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>

#include "attest/messages.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/strict_json.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/rounds/model_keys.hpp"
#include "verifier/service.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_open.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::size_t max_index_text = 512u << 10;

json::object model_json(const model_record& m, const std::vector<std::string>& sites) {
    json::array s;
    for (const auto& x : sites) s.push_back(json::value(x));
    return json::object{{"id", m.id},
                        {"root", m.root},
                        {"closed_weights", m.closed_weights},
                        {"training_ops", m.training_ops},
                        {"added_at", m.added_at},
                        {"sites", std::move(s)}};
}

json::object lease_json(const lease_record& l) {
    return json::object{{"id", l.id},           {"host", l.host_id},       {"model", l.model_id},
                        {"key_name", l.key_name}, {"issued_at", l.issued_at}, {"expires_at", l.expires_at},
                        {"revoked_at", l.revoked_at}, {"revoke_reason", l.revoke_reason}};
}

// POST /v1/models: {"id","closed_weights","training_ops","index":"index.json text","key_sealed":"b64"}.
net::http_response add_model(service_context& ctx, const actor& who, const std::string& body) {
    auto v = parse_body(body, "model", {"id", "closed_weights", "training_ops", "index", "key_sealed"});
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "model");
    auto id = o->str("id");
    if (!id) return error_reply(id.err());
    if (!valid_id(*id)) return error_reply(o->bad("id", "is not a valid model id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})"));
    bool closed = false;
    if (o->has("closed_weights")) {
        auto c = o->boolean("closed_weights");
        if (!c) return error_reply(c.err());
        closed = *c;
    }
    double training = 0;
    if (o->has("training_ops")) {
        auto t = o->value("training_ops");
        if (!(*t)->is_number() || !std::isfinite((*t)->to_number<double>()) || (*t)->to_number<double>() < 0)
            return error_reply(o->bad("training_ops", "must be a number of operations ≥ 0"));
        training = (*t)->to_number<double>();
    }
    auto index_text = o->str("index");
    if (!index_text) return error_reply(index_text.err());
    if (index_text->size() > max_index_text) return error_reply(o->bad("index", "is larger than 512 KiB"));
    auto box = o->b64("key_sealed");
    if (!box) return error_reply(box.err());
    if (!ctx.recipient) return net::json_error(503, "unavailable", ctx.recipient_error);
    // Structure first, then the key: the index must parse and name this model; key.sealed must open with
    // the verifier's recipient key and name the same model and root.
    auto idx = weights::parse_sealed_index(*index_text);
    if (!idx) return net::json_error(400, "bad-request", "model " + *id + ": index: " + idx.err().message);
    if (idx->model_id != *id)
        return net::json_error(400, "bad-request", "model " + *id + ": the sealed index is for model \"" + idx->model_id + "\"");
    auto key = weights::open_sealed_key(*box, *ctx.recipient);
    if (!key)
        return net::json_error(400, "bad-request", "model " + *id + ": key.sealed does not open with this verifier's recipient key: " +
                                                       key.err().message);
    if (key->model_id != *id)
        return net::json_error(400, "bad-request", "model " + *id + ": key.sealed holds the key of model \"" + key->model_id +
                                                       "\": a key cannot be registered under another model");
    if (key->model_root != idx->model_root)
        return net::json_error(400, "bad-request", "model " + *id + ": key.sealed is for model root " + to_hex(key->model_root).substr(0, 16) +
                                                       "…, the index for " + to_hex(idx->model_root).substr(0, 16) + "…");
    const std::int64_t now = unix_now();
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto existing = (*tx)->get_model(*id);
    if (!existing) return error_reply(existing.err());
    const std::string root = to_hex(idx->model_root);
    if (existing->has_value() && (*existing)->root != root)
        return net::json_error(409, "conflict", "model " + *id + " is registered with another root (" + (*existing)->root.substr(0, 16) +
                                                    "…); register the new weights under a new id");
    model_record m{*id, root, closed, training, *index_text, *box, existing->has_value() ? (*existing)->added_at : now};
    if (auto x = (*tx)->put_model(m); !x) return error_reply(x.err());
    auto sites = (*tx)->model_sites(*id);
    if (!sites) return error_reply(sites.err());
    // The index and key.sealed are logged by their digests: the index can be half a megabyte.
    const json::object logged{{"id", *id},
                              {"closed_weights", closed},
                              {"training_ops", training},
                              {"model_root", root},
                              {"index_sha256", to_hex(sha256(as_bytes(*index_text)))},
                              {"key_sealed_sha256", to_hex(sha256(*box))}};
    if (auto x = (*tx)->append_log(operator_entry(who, "model.register", "", *id, logged, now)); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    spdlog::info("model {} registered (root {}, closed weights: {})", *id, root, closed);
    return json_reply(existing->has_value() ? 200 : 201, model_json(m, *sites));
}

net::http_response list_models(service_context& ctx) {
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto ms = (*tx)->list_models();
    if (!ms) return error_reply(ms.err());
    json::array a;
    for (const auto& m : *ms) {
        auto sites = (*tx)->model_sites(m.id);
        if (!sites) return error_reply(sites.err());
        a.push_back(model_json(m, *sites));
    }
    return json_reply(200, json::object{{"models", std::move(a)}});
}

// POST /v1/models/<id>/approve {"site":"…"}
net::http_response approve_model(service_context& ctx, const actor& who, const std::string& target, const std::string& body) {
    std::string_view path = std::string_view(target).substr(0, target.find('?'));
    path.remove_prefix(std::string_view("/v1/models/").size());
    const auto slash = path.find('/');
    const std::string id(path.substr(0, slash));
    if (!valid_id(id) || slash == std::string_view::npos || path.substr(slash + 1) != "approve")
        return net::json_error(404, "not-found", "expected POST /v1/models/<model id>/approve");
    auto v = parse_body(body, "model approval", {"site"});
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "model approval");
    auto site = o->str("site");
    if (!site) return error_reply(site.err());
    if (!valid_id(*site)) return error_reply(o->bad("site", "is not a site id"));
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto m = (*tx)->get_model(id);
    if (!m) return error_reply(m.err());
    if (!m->has_value()) return net::json_error(404, "not-found", "no model \"" + id + "\"; register it with custos fleet model add");
    auto s = (*tx)->get_site(*site);
    if (!s) return error_reply(s.err());
    if (!s->has_value()) return net::json_error(404, "not-found", "no site \"" + *site + "\"");
    if (auto x = (*tx)->approve_model_site(id, *site, unix_now()); !x) return error_reply(x.err());
    auto sites = (*tx)->model_sites(id);
    if (!sites) return error_reply(sites.err());
    if (auto x = (*tx)->append_log(operator_entry(who, "model.approve_site", "", id, *v, unix_now())); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    return json_reply(200, model_json(**m, *sites));
}

net::http_response list_leases(service_context& ctx) {
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto ls = (*tx)->active_leases(std::nullopt, unix_now());
    if (!ls) return error_reply(ls.err());
    json::array a;
    for (const auto& l : *ls) a.push_back(lease_json(l));
    return json_reply(200, json::object{{"leases", std::move(a)}});
}

// An agent's use case answered: refusals by rounds/outcome.hpp's kind (their writes committed when they
// keep them), the answer otherwise.
net::http_response finish_agent_case(service_context& ctx, std::unique_ptr<store_tx> tx, result<outcome> out) {
    if (!out) return error_reply(out.err());
    if (out->refused) return finish_refusal(ctx, std::move(tx), *out);
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    ctx.publish(out->raised);
    return json_reply(200, out->answer);
}

// POST /v1/keys (attest::key_request; rounds/model_keys.hpp).
net::http_response key_request(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto d = require_agent_role(rc)) return *d;
    auto msg = attest::parse_key_request(req.body);
    if (!msg) return error_reply(msg.err());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto out = release_model_key(ctx, *agent.tx, agent.host, *msg, now);
    return finish_agent_case(ctx, std::move(agent.tx), std::move(out));
}

// POST /v1/leases/renew (attest::lease_renewal): the same conditions as a release, without a new proof.
net::http_response renew(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto d = require_agent_role(rc)) return *d;
    auto msg = attest::parse_lease_renewal(req.body);
    if (!msg) return error_reply(msg.err());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto out = renew_lease(ctx, *agent.tx, agent.host, *msg, now);
    return finish_agent_case(ctx, std::move(agent.tx), std::move(out));
}

net::http_response revoke(service_context& ctx, const actor& who, const std::string& target) {
    std::string_view path = std::string_view(target).substr(0, target.find('?'));
    path.remove_prefix(std::string_view("/v1/leases/").size());
    const auto slash = path.find('/');
    const std::string id(path.substr(0, slash));
    if (slash == std::string_view::npos || path.substr(slash + 1) != "revoke")
        return net::json_error(404, "not-found", "expected POST /v1/leases/<lease id>/revoke");
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto l = (*tx)->get_lease(id);
    if (!l) return error_reply(l.err());
    if (!l->has_value()) return net::json_error(404, "not-found", "no lease \"" + id.substr(0, 64) + "\"");
    if (!(*l)->revoked_at) {
        const std::int64_t now = unix_now();
        if (auto x = (*tx)->revoke_lease(id, now, "revoked by the operator"); !x) return error_reply(x.err());
        if (auto x = (*tx)->append_log(operator_entry(who, "lease.revoke", (*l)->host_id, (*l)->model_id,
                                                      json::object{{"lease", id}}, now));
            !x)
            return error_reply(x.err());
        if (auto x = (*tx)->append_log(key_entry("lease.revoked", (*l)->host_id, (*l)->model_id, id, "revoked by the operator", now)); !x)
            return error_reply(x.err());
    }
    auto after = (*tx)->get_lease(id);
    if (!after) return error_reply(after.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    return json_reply(200, lease_json(**after));
}

}  // namespace

void register_model_routes(net::https_server& srv, service_context& ctx) {
    auto op = [](auto fn) {
        return [fn](const net::http_request& req, const net::request_context& rc) {
            if (auto deny = require_operator(rc)) return *deny;
            return fn(req);
        };
    };
    srv.route("POST", "/v1/models", net::auth::client_cert,
              operator_write([&ctx](const net::http_request& r, const actor& who) { return add_model(ctx, who, r.body); }));
    srv.route("GET", "/v1/models", net::auth::client_cert, op([&ctx](const net::http_request&) { return list_models(ctx); }));
    srv.route_prefix("POST", "/v1/models/", net::auth::client_cert,
                     operator_write([&ctx](const net::http_request& r, const actor& who) { return approve_model(ctx, who, r.target, r.body); }));
    srv.route("GET", "/v1/leases", net::auth::client_cert, op([&ctx](const net::http_request&) { return list_leases(ctx); }));
    srv.route_prefix("POST", "/v1/leases/", net::auth::client_cert,
                     [&ctx](const net::http_request& r, const net::request_context& rc) {
                         if (r.target == "/v1/leases/renew") return renew(ctx, r, rc);
                         if (auto d = require_operator(rc)) return *d;
                         return revoke(ctx, actor_of(rc), r.target);
                     });
    srv.route("POST", "/v1/keys", net::auth::client_cert,
              [&ctx](const net::http_request& r, const net::request_context& rc) { return key_request(ctx, r, rc); });
}

}  // namespace custos::verifier
