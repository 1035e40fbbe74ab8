// POST /v1/enroll and /v1/enroll/activate: token, EK chain, AK attributes, MakeCredential, certificate.
#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "attest/credential.hpp"
#include "attest/ek_cert.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/strict_json.hpp"
#include "crypto/x509.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/log_events.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::int64_t pending_ttl_s = 300;
constexpr std::int64_t agent_cert_days = 365;

bytes random_bytes(std::size_t n) {
    bytes b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) b.clear();
    return b;
}

struct enroll_request {
    std::string host_id;
    std::string token;
    bytes ek_cert;
    bytes ek_public;
    bytes ak_public;
    std::string csr;
};

result<enroll_request> parse_enroll(const std::string& body) {
    CUSTOS_TRY(v, sjson::parse(body, "enroll request"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "enroll request"));
    CUSTOS_TRY_VOID(o.only({"host_id", "token", "ek_cert", "ek_public", "ak_public", "csr"}));
    enroll_request r;
    CUSTOS_TRY(host, o.str("host_id"));
    if (!valid_id(host)) return o.bad("host_id", "is not a valid host id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})");
    r.host_id = std::move(host);
    CUSTOS_TRY(token, o.str("token"));
    r.token = std::move(token);
    CUSTOS_TRY(ek, o.b64("ek_cert"));
    r.ek_cert = std::move(ek);
    CUSTOS_TRY(ekp, o.b64("ek_public"));
    r.ek_public = std::move(ekp);
    CUSTOS_TRY(ak, o.b64("ak_public"));
    r.ak_public = std::move(ak);
    CUSTOS_TRY(csr, o.str("csr"));
    r.csr = std::move(csr);
    return r;
}

// Everything about the request that needs no database: the EK chain, the EK and AK public areas, the CSR.
struct checked_identity {
    bytes ek_spki;
    std::string ek_sha256;
    TPM2B_PUBLIC ek{};
    std::string ak_name;
    bytes ak_name_raw;
};

std::variant<checked_identity, net::http_response> check_identity(service_context& ctx, const enroll_request& r) {
    if (!ctx.ek_cas) return net::json_error(503, "ek-ca-missing", ctx.ek_cas_error);
    auto cert = attest::parse_certificate(r.ek_cert);
    if (!cert) return net::json_error(400, "ek-cert-invalid", "EK certificate: " + cert.err().message);
    if (auto c = attest::verify_certificate_chain(cert->get(), ctx.ek_cas.get()); !c)
        return net::json_error(400, "ek-cert-invalid", "EK certificate chain: " + c.err().message);
    auto ek = attest::unmarshal_public(r.ek_public);
    if (!ek) return net::json_error(400, "ek-invalid", "EK public area: " + ek.err().message);
    if (auto k = attest::check_certificate_key(cert->get(), ek->publicArea); !k)
        return net::json_error(400, "ek-invalid", "EK public area: " + k.err().message);
    auto ak = attest::unmarshal_public(r.ak_public);
    if (!ak) return net::json_error(400, "ak-invalid", "AK public area: " + ak.err().message);
    if (auto a = attest::check_ak_attributes(ak->publicArea); !a)
        return net::json_error(400, "ak-invalid", "AK: " + a.err().message);
    auto name = attest::object_name(ak->publicArea);
    if (!name) return net::json_error(400, "ak-invalid", "AK name: " + name.err().message);
    auto csr = x509::parse_csr_pem(as_bytes(r.csr));
    if (!csr) return net::json_error(400, "csr-invalid", "CSR: " + csr.err().message);
    auto spki = ossl::public_to_der(X509_get0_pubkey(cert->get()));
    if (!spki) return net::json_error(400, "ek-cert-invalid", "EK certificate key: " + spki.err().message);
    checked_identity id;
    id.ek_spki = std::move(spki).value();
    id.ek_sha256 = to_hex(sha256(id.ek_spki));
    id.ek = *ek;
    id.ak_name_raw = std::move(name).value();
    id.ak_name = to_hex(id.ak_name_raw);
    return id;
}

net::http_response enroll(service_context& ctx, const net::http_request& req) {
    auto parsed = parse_enroll(req.body);
    if (!parsed) return error_reply(parsed.err());
    const enroll_request& r = *parsed;
    const std::int64_t now = unix_now();
    const bytes token_hash = sha256(as_bytes(r.token));

    // The token is consumed first, in its own transaction, whatever happens next.
    {
        auto tx = ctx.db->begin();
        if (!tx) return error_reply(tx.err());
        auto t = (*tx)->get_token(token_hash);
        if (!t) return error_reply(t.err());
        if (!t.value()) return net::json_error(401, "token-invalid", "the enrollment token is not known");
        const auto& tok = *t.value();
        if (tok.used_at != 0) return net::json_error(401, "token-invalid", "the enrollment token was already used");
        if (auto m = (*tx)->mark_token_used(token_hash, now); !m) return error_reply(m.err());
        if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
        if (tok.expires_at <= now) return net::json_error(401, "token-invalid", "the enrollment token has expired");
        if (!equal_ct(as_bytes(tok.host_id), as_bytes(r.host_id)))
            return net::json_error(401, "token-invalid", "the enrollment token was made for another host id");
    }

    auto checked = check_identity(ctx, r);
    if (auto* resp = std::get_if<net::http_response>(&checked)) return *resp;
    auto& id = std::get<checked_identity>(checked);

    const bytes secret = random_bytes(32);
    const bytes enrollment_id = random_bytes(16);
    if (secret.empty() || enrollment_id.empty()) return net::json_error(500, "internal", "no randomness");
    auto blob = attest::make_credential(id.ek.publicArea, id.ak_name_raw, secret);
    if (!blob) return net::json_error(400, "ek-invalid", "MakeCredential: " + blob.err().message);

    std::vector<finding_record> raised;
    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto by_ek = (*tx)->get_host_by_ek(id.ek_sha256);
    if (!by_ek) return error_reply(by_ek.err());
    std::optional<net::http_response> refusal;
    if (by_ek.value() && (*by_ek.value()).id != r.host_id && (*by_ek.value()).state != "decommissioned") {
        const std::string other = (*by_ek.value()).id;
        auto f = host_finding("ek-duplicated", r.host_id,
                              "the TPM (EK " + id.ek_sha256.substr(0, 16) + "…) enrolling as \"" + r.host_id +
                                  "\" is already enrolled as \"" + other +
                                  "\": one TPM cannot be two hosts; check for a cloned or moved machine",
                              now);
        if (auto x = raise_finding(**tx, f, raised); !x) return error_reply(x.err());
        refusal = net::json_error(409, "ek-duplicated", "this TPM is already enrolled as host \"" + other + "\"");
    } else {
        auto existing = (*tx)->get_host(r.host_id);
        if (!existing) return error_reply(existing.err());
        if (existing.value() && (*existing.value()).ek_sha256 != id.ek_sha256 &&
            (*existing.value()).state != "decommissioned") {
            auto f = host_finding("ek-changed", r.host_id,
                                  "host \"" + r.host_id + "\" tried to enroll with a different TPM (EK " +
                                      id.ek_sha256.substr(0, 16) + "…, enrolled EK " +
                                      (*existing.value()).ek_sha256.substr(0, 16) +
                                      "…): the machine behind this name changed; decommission it first if the "
                                      "replacement is legitimate",
                                  now);
            if (auto x = raise_finding(**tx, f, raised); !x) return error_reply(x.err());
            refusal = net::json_error(409, "ek-changed", "host \"" + r.host_id + "\" is enrolled with another TPM");
        }
    }
    if (!refusal) {
        pending_enrollment_record p;
        p.id = to_hex(enrollment_id);
        p.host_id = r.host_id;
        p.ek_cert = r.ek_cert;
        p.ek_spki = id.ek_spki;
        p.ek_sha256 = id.ek_sha256;
        p.ak_public = r.ak_public;
        p.ak_name = id.ak_name;
        p.csr_pem = r.csr;
        p.secret_hash = sha256(secret);
        p.expires_at = now + pending_ttl_s;
        if (auto x = (*tx)->insert_pending(p); !x) return error_reply(x.err());
    }
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    ctx.publish(raised);
    if (refusal) return *refusal;

    json::object out;
    out["enrollment_id"] = to_hex(enrollment_id);
    out["id_object"] = to_base64(blob->id_object);
    out["encrypted_secret"] = to_base64(blob->encrypted_secret);
    spdlog::info("enrollment of host {} started (EK {}, AK name {})", r.host_id, id.ek_sha256.substr(0, 16), id.ak_name);
    return json_reply(200, out);
}

net::http_response activate(service_context& ctx, const net::http_request& req) {
    auto v = sjson::parse(req.body, "activate request");
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "activate request");
    if (!o) return error_reply(o.err());
    if (auto x = o->only({"enrollment_id", "secret"}); !x) return error_reply(x.err());
    auto eid = o->str("enrollment_id");
    if (!eid) return error_reply(eid.err());
    auto secret = o->b64("secret");
    if (!secret) return error_reply(secret.err());
    const std::int64_t now = unix_now();

    auto tx = ctx.db->begin();
    if (!tx) return error_reply(tx.err());
    auto p = (*tx)->get_pending(*eid);
    if (!p) return error_reply(p.err());
    if (!p.value()) return net::json_error(401, "activation-failed", "no pending enrollment with this id");
    const pending_enrollment_record pend = *p.value();
    // One attempt per enrollment: a wrong answer burns it.
    if (auto d = (*tx)->delete_pending(pend.id); !d) return error_reply(d.err());
    if (pend.expires_at <= now || !equal_ct(sha256(*secret), pend.secret_hash)) {
        if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
        return net::json_error(401, "activation-failed",
                               pend.expires_at <= now ? "the enrollment expired; ask the operator for a new token"
                                                      : "the activated secret is wrong: the AK and the EK are not in "
                                                        "the same TPM");
    }
    auto csr = x509::parse_csr_pem(as_bytes(pend.csr_pem));
    if (!csr) return error_reply(csr.err());
    x509::cert_request cr;
    cr.subject = {pend.host_id, "agent", "custos"};
    cr.kind = x509::cert_kind::client;
    cr.uris = {"urn:custos:host:" + pend.host_id, "urn:custos:ak:" + pend.ak_name};
    cr.valid_days = agent_cert_days;
    auto cert = x509::issue(ctx.ca_cert.get(), ctx.ca_key.get(), csr->key.get(), cr);
    if (!cert) return error_reply(cert.err());
    auto pem = x509::to_pem(cert->get());
    if (!pem) return error_reply(pem.err());
    const auto ident = x509::describe(cert->get());

    auto existing = (*tx)->get_host(pend.host_id);
    if (!existing) return error_reply(existing.err());
    // The checks of /v1/enroll again, inside this transaction: two enrollments pending at once (one TPM as
    // two hosts, or two TPMs as one host) must not both activate.
    auto by_ek = (*tx)->get_host_by_ek(pend.ek_sha256);
    if (!by_ek) return error_reply(by_ek.err());
    std::optional<finding_record> clash;
    if (by_ek.value() && by_ek.value()->id != pend.host_id && by_ek.value()->state != "decommissioned") {
        clash = host_finding("ek-duplicated", pend.host_id,
                             "the TPM (EK " + pend.ek_sha256.substr(0, 16) + "…) activating as \"" + pend.host_id +
                                 "\" was activated as \"" + by_ek.value()->id +
                                 "\" first: one TPM cannot be two hosts; check for a cloned or moved machine",
                             now);
    } else if (existing.value() && existing.value()->state != "decommissioned" &&
               existing.value()->ek_sha256 != pend.ek_sha256) {
        clash = host_finding("ek-changed", pend.host_id,
                             "host \"" + pend.host_id + "\" was activated with another TPM (EK " +
                                 existing.value()->ek_sha256.substr(0, 16) + "…) while this enrollment (EK " +
                                 pend.ek_sha256.substr(0, 16) + "…) was pending: the machine behind this name changed",
                             now);
    }
    if (clash) {
        std::vector<finding_record> raised;
        const std::string rule = clash->rule;
        if (auto x = raise_finding(**tx, std::move(*clash), raised); !x) return error_reply(x.err());
        if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
        ctx.publish(raised);
        return net::json_error(409, rule, rule == "ek-duplicated" ? "this TPM is already enrolled as another host"
                                                                  : "host \"" + pend.host_id + "\" is enrolled with another TPM");
    }
    host_record h;
    if (existing.value()) {
        h = *existing.value();
    } else {
        h.id = pend.host_id;
        h.state = "enrolled";
        h.enrolled_at = now;
    }
    if (h.state == "decommissioned" || h.ek_sha256 != pend.ek_sha256) {
        // Another machine, or one coming back into service: approval and golden values start over.
        h.state = "enrolled";
        h.site.clear();
        h.golden_pcrs.clear();
        h.golden_from_operator = false;
    }
    h.ek_cert = pend.ek_cert;
    h.ek_spki = pend.ek_spki;
    h.ek_sha256 = pend.ek_sha256;
    h.ak_public = pend.ak_public;
    h.ak_name = pend.ak_name;
    h.cert_sha256 = ident.sha256;
    h.enrolled_at = now;
    h.have_clock = false;  // a new AK: the next quote starts the clock history
    h.quoted_head_seq = 0;
    h.quoted_head_at = 0;
    if (auto x = (*tx)->put_host(h); !x) return error_reply(x.err());
    // Report keys bound by the previous AK's quotes must not sign for the new enrollment.
    if (auto x = (*tx)->unbind_report_keys(h.id); !x) return error_reply(x.err());
    if (auto x = (*tx)->append_log(enrollment_entry(h, now)); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());

    json::object out;
    out["certificate"] = *pem;
    out["ca"] = ctx.ca_pem;
    out["attest_interval_s"] = ctx.cfg.attest_interval_s;
    out["report_interval_s"] = ctx.cfg.report_interval_s;
    json::object head;
    head["seq"] = h.chain_seq;
    head["hash"] = to_hex(h.chain_hash);
    out["report_head"] = std::move(head);
    spdlog::info("host {} enrolled (certificate {})", h.id, ident.sha256.substr(0, 16));
    return json_reply(200, out);
}

}  // namespace

void register_enroll_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/enroll", net::auth::none,
              [&ctx](const net::http_request& req, const net::request_context&) { return enroll(ctx, req); });
    srv.route("POST", "/v1/enroll/activate", net::auth::none,
              [&ctx](const net::http_request& req, const net::request_context&) { return activate(ctx, req); });
}

}  // namespace custos::verifier
