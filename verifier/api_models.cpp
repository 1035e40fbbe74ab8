// Models and their keys: the operator registers a sealed model (its index and key.sealed) and approves it
// for sites; an attested agent asks for a model's data key with a creation proof of a PCR-bound TPM key
// and gets it wrapped to that key as a lease it must renew (docs/protocol.md, "Model keys").
#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "attest/bound_key.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/key_release.hpp"
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

std::string random_id() {
    bytes b(16);
    RAND_bytes(b.data(), static_cast<int>(b.size()));
    return to_hex(b);
}

// POST /v1/models: {"id","closed_weights","training_ops","index":"index.json text","key_sealed":"b64"}.
net::http_response add_model(service_context& ctx, const std::string& body) {
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
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    spdlog::info("model {} registered (root {}, closed weights: {})", *id, root, closed);
    return json_reply(existing->has_value() ? 200 : 201, model_json(m, *sites));
}

net::http_response list_models(service_context& ctx) {
    auto tx = ctx.db->begin();
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
net::http_response approve_model(service_context& ctx, const std::string& target, const std::string& body) {
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
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    return json_reply(200, model_json(**m, *sites));
}

net::http_response list_leases(service_context& ctx) {
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto ls = (*tx)->active_leases(std::nullopt, unix_now());
    if (!ls) return error_reply(ls.err());
    json::array a;
    for (const auto& l : *ls) a.push_back(lease_json(l));
    return json_reply(200, json::object{{"leases", std::move(a)}});
}

// Everything release_denial needs, read in the request's transaction.
result<release_facts> gather(service_context& ctx, store_tx& tx, const host_record& h, const std::string& model_id,
                             std::optional<model_record>& model_holder, std::int64_t now) {
    release_facts f;
    f.host = &h;
    f.now = now;
    f.max_appraisal_age_s = 2 * static_cast<std::int64_t>(ctx.cfg.attest_interval_s) + ctx.cfg.challenge_ttl_s;
    CUSTOS_TRY(latest, tx.latest_appraisal(h.id));
    f.latest = std::move(latest);
    CUSTOS_TRY(m, tx.get_model(model_id));
    model_holder = std::move(m);
    f.model = model_holder ? &*model_holder : nullptr;
    if (f.model) {
        CUSTOS_TRY(sites, tx.model_sites(model_id));
        f.model_sites = std::move(sites);
    }
    if (!h.site.empty()) {
        CUSTOS_TRY(lms, tx.site_landmarks(h.site));
        f.location_required = !lms.empty();
        f.max_location_age_s = ctx.location_max_age_s();
        if (f.location_required) {
            CUSTOS_TRY(loc, tx.get_host_location(h.id));
            f.location = std::move(loc);
        }
        CUSTOS_TRY(site, tx.get_site(h.site));
        f.site = std::move(site);
        if (f.site) {
            CUSTOS_TRY(entity, tx.get_entity(f.site->entity));
            f.entity = std::move(entity);
        }
    }
    // One exact question, whatever the number of open findings in the fleet.
    violation_scope scope;
    scope.host = h.id;
    if (f.site) {
        scope.site = f.site->id;
        scope.country = f.site->country;
    }
    if (f.entity) scope.entity = f.entity->id;
    if (f.model) scope.model = f.model->id;
    CUSTOS_TRY(standing, tx.first_open_violation(scope));
    if (standing) f.open_findings.push_back(std::move(*standing));
    return f;
}

// Raises key-request-denied, commits, answers 403.
net::http_response deny(service_context& ctx, std::unique_ptr<store_tx> tx, const host_record& h, const std::string& model,
                        const std::string& why, std::int64_t now) {
    std::vector<finding_record> raised;
    finding_record f = subject_finding("key-request-denied", h.id, "model", model,
                                       "host " + h.id + " asked for the key of model " + model + " and was refused: " + why, now);
    // One open finding per host and model (the agent asks again every round); each refusal is logged.
    if (auto x = raise_finding(*tx, std::move(f), raised); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    ctx.publish(raised);
    spdlog::warn("key request denied: host {} model {}: {}", h.id, model, why);
    return net::json_error(403, "key-request-denied", why);
}

// POST /v1/keys: {"model","nonce","key_public","creation_data","attest","signature"} (bytes as base64).
net::http_response key_request(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto d = require_agent_role(rc)) return *d;
    auto v = parse_body(req.body, "key request", {"model", "nonce", "key_public", "creation_data", "attest", "signature"});
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "key request");
    auto model = o->str("model");
    if (!model) return error_reply(model.err());
    if (!valid_id(*model)) return error_reply(o->bad("model", "is not a model id"));
    auto nonce = o->b64("nonce");
    if (!nonce) return error_reply(nonce.err());
    attest::creation_proof proof;
    for (auto [key, out] : {std::pair<const char*, bytes*>{"key_public", &proof.key_public}, {"creation_data", &proof.creation_data},
                            {"attest", &proof.attest}, {"signature", &proof.signature}}) {
        auto b = o->b64(key);
        if (!b) return error_reply(b.err());
        *out = std::move(b).value();
    }
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;
    // A model nobody registered is a plain 404 and leaves nothing behind: made-up ids must not be a way
    // to fill the store with findings.
    auto known = tx->get_model(*model);
    if (!known) return error_reply(known.err());
    if (!known->has_value()) return net::json_error(404, "not-found", "no model \"" + *model + "\" is registered");

    auto ch = tx->take_challenge(*nonce);
    if (!ch) return error_reply(ch.err());
    if (!ch->has_value() || (*ch)->host_id != h.id || (*ch)->expires_at < now)
        return deny(ctx, std::move(tx), h, *model, "the creation proof answers a nonce this verifier did not issue to this host, already used or expired", now);
    std::optional<model_record> mh;
    auto facts = gather(ctx, *tx, h, *model, mh, now);
    if (!facts) return error_reply(facts.err());
    if (auto why = release_denial(*facts)) return deny(ctx, std::move(tx), h, *model, *why, now);
    // The host may hold the key: check that the key it names is a PCR-bound TPM key next to its AK.
    auto policy = expected_bound_key_policy(h);
    if (!policy) return deny(ctx, std::move(tx), h, *model, policy.err().message, now);
    auto ak = attest::unmarshal_public(h.ak_public);
    if (!ak) return error_reply(ak.err());
    auto ak_key = attest::public_to_pkey(ak->publicArea);
    if (!ak_key) return error_reply(ak_key.err());
    auto pub = attest::verify_creation_proof(proof, ak_key->get(), *nonce, *policy);
    if (!pub) return deny(ctx, std::move(tx), h, *model, pub.err().message, now);
    if (!ctx.recipient) return net::json_error(503, "unavailable", ctx.recipient_error);
    auto key = weights::open_sealed_key(mh->key_sealed, *ctx.recipient);
    if (!key) return error_reply(with_context(std::move(key).err(), "model " + *model + ": stored key.sealed"));
    if (key->model_id != mh->id || to_hex(key->model_root) != mh->root)
        return error_reply(make_error(errc::mismatch, "model " + *model + ": stored key.sealed names another model"));
    auto wrapped = attest::wrap_to_bound_key(*pub, key->dek.view());
    if (!wrapped) return error_reply(wrapped.err());
    auto kp = attest::unmarshal_public(proof.key_public);
    auto kn = kp ? attest::object_name(kp->publicArea) : result<bytes>(make_error(errc::parse, "key_public"));
    const std::string key_name = kn ? to_hex(*kn) : "";
    lease_record l{random_id(), h.id, *model, key_name, now, now + ctx.cfg.lease_ttl_s, 0, ""};
    if (auto x = tx->insert_lease(l); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    spdlog::info("model {} key released to host {} (lease {}, {} s, bound key {})", *model, h.id, l.id, ctx.cfg.lease_ttl_s,
                 key_name.substr(0, 20));
    return json_reply(200, json::object{{"lease", l.id},
                                        {"model", *model},
                                        {"model_root", mh->root},
                                        {"wrapped_key", to_base64(*wrapped)},
                                        {"expires_in_s", ctx.cfg.lease_ttl_s}});
}

// POST /v1/leases/renew {"lease":"id"}: the same conditions as a release, without a new proof.
net::http_response renew(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto d = require_agent_role(rc)) return *d;
    auto v = parse_body(req.body, "lease renewal", {"lease"});
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "lease renewal");
    auto id = o->str("lease");
    if (!id) return error_reply(id.err());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;
    auto l = tx->get_lease(*id);
    if (!l) return error_reply(l.err());
    if (!l->has_value() || (*l)->host_id != h.id) return net::json_error(404, "not-found", "this host holds no lease \"" + id->substr(0, 64) + "\"");
    const lease_record& lease = **l;
    if (lease.revoked_at) return net::json_error(403, "lease-revoked", "lease " + lease.id + " was revoked: " + lease.revoke_reason);
    if (lease.expires_at <= now) return net::json_error(403, "lease-expired", "lease " + lease.id + " expired; request the key again");
    std::optional<model_record> mh;
    auto facts = gather(ctx, *tx, h, lease.model_id, mh, now);
    if (!facts) return error_reply(facts.err());
    if (auto why = release_denial(*facts)) {
        if (auto x = tx->revoke_lease(lease.id, now, *why); !x) return error_reply(x.err());
        return deny(ctx, std::move(tx), h, lease.model_id, "renewal of lease " + lease.id + ": " + *why, now);
    }
    if (auto x = tx->renew_lease(lease.id, now + ctx.cfg.lease_ttl_s); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    return json_reply(200, json::object{{"lease", lease.id}, {"expires_in_s", ctx.cfg.lease_ttl_s}});
}

net::http_response revoke(service_context& ctx, const std::string& target) {
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
    if (!(*l)->revoked_at)
        if (auto x = (*tx)->revoke_lease(id, unix_now(), "revoked by the operator"); !x) return error_reply(x.err());
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
    srv.route("POST", "/v1/models", net::auth::client_cert, op([&ctx](const net::http_request& r) { return add_model(ctx, r.body); }));
    srv.route("GET", "/v1/models", net::auth::client_cert, op([&ctx](const net::http_request&) { return list_models(ctx); }));
    srv.route_prefix("POST", "/v1/models/", net::auth::client_cert,
                     op([&ctx](const net::http_request& r) { return approve_model(ctx, r.target, r.body); }));
    srv.route("GET", "/v1/leases", net::auth::client_cert, op([&ctx](const net::http_request&) { return list_leases(ctx); }));
    srv.route_prefix("POST", "/v1/leases/", net::auth::client_cert,
                     [&ctx](const net::http_request& r, const net::request_context& rc) {
                         if (r.target == "/v1/leases/renew") return renew(ctx, r, rc);
                         if (auto d = require_operator(rc)) return *d;
                         return revoke(ctx, r.target);
                     });
    srv.route("POST", "/v1/keys", net::auth::client_cert,
              [&ctx](const net::http_request& r, const net::request_context& rc) { return key_request(ctx, r, rc); });
}

}  // namespace custos::verifier
