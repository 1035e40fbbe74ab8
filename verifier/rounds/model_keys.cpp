#include "verifier/rounds/model_keys.hpp"

#include <algorithm>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "attest/bound_key.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/base64.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_attestation_appraisal.hpp"
#include "verifier/log_events.hpp"
#include "weights/sealed_open.hpp"

namespace custos::verifier {

namespace {

std::string random_id() {
    bytes b(16);
    RAND_bytes(b.data(), static_cast<int>(b.size()));
    return to_hex(b);
}

// One open key-request-denied per host and model (the agent asks again every round); each refusal is
// counted on it and logged.
result<outcome> deny(store_tx& tx, const host_record& h, const std::string& model, const std::string& why, std::int64_t now) {
    outcome out = refused(refusal_kind::forbidden, "key-request-denied", why, true);
    finding_record f = subject_finding("key-request-denied", h.id, "model", model,
                                       "host " + h.id + " asked for the key of model " + model + " and was refused: " + why, now);
    CUSTOS_TRY_VOID(raise_finding(tx, std::move(f), out.raised));
    CUSTOS_TRY_VOID(tx.append_log(key_entry("key.refused", h.id, model, "", why, now)));
    spdlog::warn("key request denied: host {} model {}: {}", h.id, model, why);
    return out;
}

}  // namespace

result<release_facts> gather_release_facts(service_context& ctx, store_tx& tx, const host_record& h,
                                           const std::string& model_id, std::optional<model_record>& model_holder,
                                           std::int64_t now) {
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
    const auto& sites = ctx.cfg.require_attested_sites;
    const auto& models = ctx.cfg.require_attested_models;
    f.attested_gpus_required = (!h.site.empty() && std::find(sites.begin(), sites.end(), h.site) != sites.end()) ||
                               std::find(models.begin(), models.end(), model_id) != models.end();
    if (f.attested_gpus_required) {
        CUSTOS_TRY(why, unattested_gpus(tx, h.id, now, f.max_appraisal_age_s));
        f.unattested = std::move(why);
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

result<outcome> release_model_key(service_context& ctx, store_tx& tx, const host_record& h, const attest::key_request& msg,
                                  std::int64_t now) {
    const std::string& model = msg.model;
    CUSTOS_TRY(known, tx.get_model(model));
    if (!known) return refused(refusal_kind::not_found, "not-found", "no model \"" + model + "\" is registered", false);
    CUSTOS_TRY(ch, tx.take_challenge(msg.nonce));
    if (!ch || ch->host_id != h.id || ch->expires_at < now)
        return deny(tx, h, model, "the creation proof answers a nonce this verifier did not issue to this host, already used or expired", now);
    std::optional<model_record> mh;
    CUSTOS_TRY(facts, gather_release_facts(ctx, tx, h, model, mh, now));
    if (auto why = release_denial(facts)) return deny(tx, h, model, *why, now);
    // The host may hold the key: check that the key it names is a PCR-bound TPM key next to its AK.
    auto policy = expected_bound_key_policy(h);
    if (!policy) return deny(tx, h, model, policy.err().message, now);
    CUSTOS_TRY(ak, attest::unmarshal_public(h.ak_public));
    CUSTOS_TRY(ak_key, attest::public_to_pkey(ak.publicArea));
    auto pub = attest::verify_creation_proof(msg.proof, ak_key.get(), msg.nonce, *policy);
    if (!pub) return deny(tx, h, model, pub.err().message, now);
    if (!ctx.recipient) return refused(refusal_kind::unavailable, "unavailable", ctx.recipient_error, false);
    auto key = weights::open_sealed_key(mh->key_sealed, *ctx.recipient);
    if (!key) return with_context(std::move(key).err(), "model " + model + ": stored key.sealed");
    if (key->model_id != mh->id || to_hex(key->model_root) != mh->root)
        return make_error(errc::mismatch, "model " + model + ": stored key.sealed names another model");
    CUSTOS_TRY(wrapped, attest::wrap_to_bound_key(*pub, key->dek.view()));
    auto kp = attest::unmarshal_public(msg.proof.key_public);
    auto kn = kp ? attest::object_name(kp->publicArea) : result<bytes>(make_error(errc::parse, "key_public"));
    const std::string key_name = kn ? to_hex(*kn) : "";
    lease_record l{random_id(), h.id, model, key_name, now, now + ctx.cfg.lease_ttl_s, 0, ""};
    CUSTOS_TRY_VOID(tx.insert_lease(l));
    CUSTOS_TRY_VOID(tx.append_log(key_entry("key.released", h.id, model, l.id, key_name, now)));
    spdlog::info("model {} key released to host {} (lease {}, {} s, bound key {})", model, h.id, l.id, ctx.cfg.lease_ttl_s,
                 key_name.substr(0, 20));
    outcome out;
    out.answer["lease"] = l.id;
    out.answer["model"] = model;
    out.answer["model_root"] = mh->root;
    out.answer["wrapped_key"] = to_base64(wrapped);
    out.answer["expires_in_s"] = ctx.cfg.lease_ttl_s;
    return out;
}

result<outcome> renew_lease(service_context& ctx, store_tx& tx, const host_record& h, const attest::lease_renewal& msg,
                            std::int64_t now) {
    CUSTOS_TRY(l, tx.get_lease(msg.lease));
    if (!l || l->host_id != h.id)
        return refused(refusal_kind::not_found, "not-found", "this host holds no lease \"" + msg.lease.substr(0, 64) + "\"", false);
    const lease_record& lease = *l;
    if (lease.revoked_at)
        return refused(refusal_kind::forbidden, "lease-revoked", "lease " + lease.id + " was revoked: " + lease.revoke_reason, false);
    if (lease.expires_at <= now)
        return refused(refusal_kind::forbidden, "lease-expired", "lease " + lease.id + " expired; request the key again", false);
    std::optional<model_record> mh;
    CUSTOS_TRY(facts, gather_release_facts(ctx, tx, h, lease.model_id, mh, now));
    if (auto why = release_denial(facts)) {
        CUSTOS_TRY_VOID(tx.revoke_lease(lease.id, now, *why));
        CUSTOS_TRY_VOID(tx.append_log(key_entry("lease.revoked", h.id, lease.model_id, lease.id, *why, now)));
        return deny(tx, h, lease.model_id, "renewal of lease " + lease.id + ": " + *why, now);
    }
    CUSTOS_TRY_VOID(tx.renew_lease(lease.id, now + ctx.cfg.lease_ttl_s));
    CUSTOS_TRY_VOID(tx.append_log(key_entry("lease.renewed", h.id, lease.model_id, lease.id, "", now)));
    outcome out;
    out.answer["lease"] = lease.id;
    out.answer["expires_in_s"] = ctx.cfg.lease_ttl_s;
    return out;
}

}  // namespace custos::verifier
