// POST /v1/challenge, /v1/attest and /v1/report-key: the attestation round and the report key binding.
#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "attest/messages.hpp"
#include "attest/quote_verify.hpp"
#include "attest/report_chain.hpp"
#include "attest/tpm_public.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/jwt.hpp"
#include "crypto/strict_json.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/appraisal.hpp"
#include "verifier/chain_integrity.hpp"
#include "verifier/findings.hpp"
#include "verifier/measurement_appraisal.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::size_t nonce_size = 32;

struct verified_quote {
    attest::quote_info info;
    attest::pcr_values pcrs;
};

// Verifies a wire quote with the host's AK; the error is the detail of a quote-invalid finding.
result<verified_quote> check_quote(const service_context& ctx, const host_record& h, const attest::wire_quote& q,
                                   byte_view qualification) {
    CUSTOS_TRY(pcrs, attest::pcrs_from_json(q.pcrs, ctx.selection));
    CUSTOS_TRY(ak, attest::unmarshal_public(h.ak_public));
    CUSTOS_TRY(key, attest::public_to_pkey(ak.publicArea));
    attest::quote_input in;
    in.attest = q.attest;
    in.signature = q.signature;
    in.ak = key.get();
    in.qualification = qualification;
    in.expected_selection = &ctx.selection;
    in.pcrs = &pcrs;
    auto r = attest::verify_quote(in);
    if (!r.ok()) return make_error(errc::mismatch, r.err().message);
    return verified_quote{r.info(), std::move(pcrs)};
}

// Appraises a verified quote over a round's challenge, updates h (clock, golden values, last_seen, the last
// challenged quote) and raises its findings; host-dark and attestation-overdue end here and only here.
result<void> apply_round_quote(store_tx& tx, host_record& h, const verified_quote& vq, std::int64_t now,
                               std::vector<finding_record>& raised, const std::set<unsigned>& by_replay, bool counts) {
    const auto a = appraise_quote(h, vq.info, vq.pcrs, by_replay);
    for (const auto& hit : a.hits) CUSTOS_TRY_VOID(raise_finding(tx, host_finding(hit.rule, h.id, hit.detail, now), raised));
    if (!a.new_golden.empty()) {
        h.golden_pcrs = a.new_golden;
        h.golden_from_operator = false;
        spdlog::info("host {}: golden PCR values taken from its first quote after approval", h.id);
    }
    record_clock(h, vq.info);
    h.last_seen = now;
    CUSTOS_TRY(closed, tx.resolve_findings(h.id, std::string("host-dark"), now));
    if (closed) spdlog::info("host {} is back: host-dark resolved", h.id);
    if (!counts) return {};
    h.last_quote_at = now;
    CUSTOS_TRY(attested, tx.resolve_findings(h.id, std::string("attestation-overdue"), now));
    if (attested) spdlog::info("host {} answered a challenge again: attestation-overdue resolved", h.id);
    return {};
}

// The round's report key: bound for this boot if it is new (it signs from the next report the verifier
// lacks; older keys keep what the quoted head covers), retired at the quoted head if it was bound in an
// earlier boot (an agent never outlives a TPM reset, so only a replayed or stolen key can do that).
result<void> bind_round_key(store_tx& tx, const host_record& h, const attest::evidence& ev, std::uint32_t reset_count,
                            std::int64_t now, const std::string& binding) {
    CUSTOS_TRY(k, tx.get_report_key(h.id, ev.report_key));
    const std::uint64_t covered = std::max(h.chain_seq, ev.head_seq);
    if (k) {
        if (k->current() && k->reset_count != reset_count) {
            const std::string why = "bound in TPM boot " + std::to_string(k->reset_count) + ", named by a round in boot " +
                                    std::to_string(reset_count);
            CUSTOS_TRY_VOID(tx.retire_report_key(h.id, ev.report_key, covered, now, why));
            spdlog::warn("host {}: report key {} retired after report {}: {}", h.id, short_hex(ev.report_key), covered, why);
        }
        return {};
    }
    report_key_record rec;
    rec.key = ev.report_key;
    rec.bound_at = now;
    rec.reset_count = reset_count;
    rec.from_seq = h.chain_seq + 1;
    rec.binding = binding;
    CUSTOS_TRY_VOID(tx.bind_report_key(h.id, rec));
    CUSTOS_TRY(n, tx.retire_report_keys(h.id, ev.report_key, covered, now, "a round bound a newer key"));
    if (n) spdlog::info("host {}: {} older report key(s) retired after report {}", h.id, n, covered);
    return {};
}

// The round's quoted report-chain head against the stored chain (chain_integrity.hpp).
result<void> judge_quoted_head(store_tx& tx, host_record& h, const attest::evidence& ev, std::int64_t now,
                               std::vector<finding_record>& raised) {
    std::optional<bytes> stored;
    if (ev.head_seq == 0) {
        stored = bytes(32, 0);
    } else if (ev.head_seq <= h.chain_seq) {
        CUSTOS_TRY(r, tx.get_report(h.id, ev.head_seq));
        if (r) stored = r->hash;
    }
    const head_check c = check_quoted_head(h, ev.head_seq, ev.head_hash, stored, now);
    h.quoted_head_seq = c.quoted_head_seq;
    h.quoted_head_at = c.quoted_head_at;
    if (c.hit) CUSTOS_TRY_VOID(raise_finding(tx, host_finding(c.hit->rule, h.id, c.hit->detail, now), raised));
    return {};
}

// The optional "logs" of an attest request: {"boot":"b64"?, "ima_from":N?, "ima":"b64"?} (ima with ima_from).
struct sent_logs {
    std::optional<bytes> boot;
    std::optional<std::uint64_t> ima_from;
    bytes ima;
};

// Appraises the logs against the verified quote (measurement_appraisal.hpp) from the host's stored
// measurement state, raises what it finds and stores the new state.
result<measurement_outcome> appraise_logs(service_context& ctx, store_tx& tx, const host_record& h, const verified_quote& vq,
                                          const std::optional<host_measurement_record>& stored, const sent_logs& logs,
                                          std::int64_t now, std::vector<finding_record>& raised) {
    measurement_state state;
    if (stored) {
        state.ima_count = stored->ima_count;
        state.boot_reference = stored->boot_reference;
        if (!stored->ima_pcrs.empty()) {
            CUSTOS_TRY(p, attest::pcr_banks_from_json(stored->ima_pcrs));
            state.ima_pcrs = std::move(p);
        }
    }
    measurement_input in;
    in.quoted = &vq.pcrs;
    in.boot_log = logs.boot;
    in.ima_from = logs.ima_from;
    in.ima_entries = logs.ima;
    // The IMA state knows the boot it was built in; the host record's clock may have been moved by a
    // report-key binding after the reboot, before this round.
    in.rebooted = stored && stored->have_reset ? vq.info.reset_count != stored->reset_count
                                               : h.have_clock && vq.info.reset_count != h.reset_count;
    in.approved = h.state == "approved";
    in.runtime = ctx.runtime ? &*ctx.runtime : nullptr;
    measurement_outcome out = appraise_measurements(state, in);
    for (const auto& hit : out.hits) CUSTOS_TRY_VOID(raise_finding(tx, host_finding(hit.rule, h.id, hit.detail, now), raised));
    if (logs.boot || logs.ima_from) {
        host_measurement_record r;
        r.host_id = h.id;
        r.ima_count = out.next.ima_count;
        r.ima_pcrs = out.next.ima_pcrs.empty() ? "" : attest::pcr_banks_to_json(out.next.ima_pcrs);
        r.boot_reference = out.next.boot_reference;
        r.updated_at = now;
        r.have_reset = true;
        r.reset_count = vq.info.reset_count;
        CUSTOS_TRY_VOID(tx.put_host_measurements(r));
        if (out.ima_accepted) spdlog::debug("host {}: {} IMA entries accepted ({} in all)", h.id, out.ima_accepted, r.ima_count);
    }
    return out;
}

net::http_response challenge(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    if (req.body.size() > 2 && req.body.find_first_not_of(" \t\r\n{}") != std::string::npos)
        return net::json_error(400, "bad-request", "challenge request: the body must be {}");
    bytes nonce(nonce_size);
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
        return net::json_error(500, "internal", "no randomness");
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;
    if (auto x = tx->purge_challenges(now); !x) return error_reply(x.err());
    if (auto x = tx->insert_challenge(nonce, h.id, now + ctx.cfg.challenge_ttl_s); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    json::object out;
    out["nonce"] = to_base64(nonce);
    out["expires_in_s"] = ctx.cfg.challenge_ttl_s;
    out["pcr_selection"] = attest::format_pcr_selection(ctx.selection);
    return json_reply(200, out);
}

net::http_response attest_round(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    // Parsed once, before touching the store (attest/messages.hpp): a malformed body changes nothing.
    auto msg = attest::parse_attest_request(req.body);
    if (!msg) return error_reply(msg.err());
    const bytes& nonce = msg->nonce;
    const bytes& evidence_bytes = msg->evidence;
    const sent_logs logs{msg->boot_log, msg->ima_from, msg->ima};
    const std::int64_t now = unix_now();

    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;
    std::vector<finding_record> raised;

    auto reject = [&](const std::string& rule, const std::string& detail) -> net::http_response {
        if (auto x = raise_finding(*tx, host_finding(rule, h.id, detail, now), raised); !x) return error_reply(x.err());
        json::object extra;
        extra["error"] = rule;
        extra["detail"] = detail;
        extra["next_round_s"] = ctx.cfg.attest_interval_s;
        return finish_appraisal(ctx, std::move(tx), h, raised, now, 422, std::move(extra));
    };

    auto ch = tx->take_challenge(nonce);
    if (!ch) return error_reply(ch.err());
    if (!ch.value()) return reject("nonce-mismatch", "the evidence answers a nonce this verifier did not issue or that was already used: a replayed or forged round");
    if (ch.value()->host_id != h.id)
        return reject("nonce-mismatch", "the evidence answers a nonce issued to host \"" + ch.value()->host_id + "\"");
    if (ch.value()->expires_at < now) return reject("nonce-mismatch", "the evidence answers an expired nonce (older than " + std::to_string(ctx.cfg.challenge_ttl_s) + " s)");

    auto ev = attest::parse_evidence(evidence_bytes);
    if (!ev) return reject("quote-invalid", "evidence: " + ev.err().message);
    if (ev->host != h.id) return reject("quote-invalid", "the evidence names host \"" + ev->host + "\", not \"" + h.id + "\"");
    auto vq = check_quote(ctx, h, msg->quote, attest::evidence_qualification(nonce, evidence_bytes));
    if (!vq) return reject("quote-invalid", "quote: " + vq.err().message);
    // A round counts as the host's challenged quote only with every log the host has shown it keeps: one that
    // sent a boot log or IMA entries before and leaves them out now is not appraised by replay, so it does
    // not vouch for the host (the round is answered; attestation-overdue follows if it goes on).
    auto stored = tx->get_host_measurements(h.id);
    if (!stored) return error_reply(stored.err());
    std::string missing;
    if (stored->has_value() && !(*stored)->boot_reference.empty() && !logs.boot) missing = "boot event log";
    if (stored->has_value() && (*stored)->ima_count > 0 && !logs.ima_from) missing += missing.empty() ? "IMA list" : " and IMA list";
    // The logs, replayed against this quote; what they cover is appraised by replay rather than golden values.
    auto measured = appraise_logs(ctx, *tx, h, *vq, *stored, logs, now, raised);
    if (!measured) return error_reply(measured.err());
    if (auto x = apply_round_quote(*tx, h, *vq, now, raised, measured->replayed_pcrs, missing.empty()); !x)
        return error_reply(x.err());
    if (!missing.empty())
        spdlog::warn("host {}: round without its {}: not counted as a challenged quote", h.id, missing);
    if (auto x = bind_round_key(*tx, h, *ev, vq->info.reset_count, now, attest::round_binding(*msg)); !x)
        return error_reply(x.err());
    if (auto x = judge_quoted_head(*tx, h, *ev, now, raised); !x) return error_reply(x.err());
    // The export-control engine over the fleet as it now stands, unless nothing it reads changed since it ran.
    if (auto x = appraise_policy(ctx, *tx, now, raised, h.id, policy_run::if_fleet_changed); !x) return error_reply(x.err());
    json::object extra;
    extra["next_round_s"] = ctx.cfg.attest_interval_s;
    extra["counted"] = missing.empty();
    if (!missing.empty()) extra["not_counted"] = "the round left out the host's " + missing + ", which it sent before";
    if (logs.ima_from) extra["ima_next"] = measured->ima_next;
    auto loc = open_location_round(ctx, *tx, h, now, raised);
    if (!loc) return error_reply(loc.err());
    if (*loc) extra["location"] = std::move(**loc);
    return finish_appraisal(ctx, std::move(tx), h, raised, now, 200, std::move(extra));
}

// POST /v1/report-key {"report_key","prev_seq","prev_hash","nonce","quote"}: binds a new agent start's report
// key by a quote over a challenge. It proves the key lives next to this TPM now and says where in the chain
// it starts; it is not an appraisal (no appraisal row, no golden values, no end to host-dark or
// attestation-overdue: only a round's quote with its logs counts for those and for key release).
net::http_response report_key(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    auto msg = attest::parse_key_binding_request(req.body);
    if (!msg) return error_reply(msg.err());
    const bytes& key = msg->report_key;
    const std::uint64_t prev_seq = msg->prev_seq;
    const bytes& prev = msg->prev_hash;
    const bytes& nonce = msg->nonce;
    const std::int64_t now = unix_now();

    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;
    std::vector<finding_record> raised;
    // A refusal records its finding and the host's status, and answers 409 (nonce, chain) or 422 (quote).
    auto refuse = [&](unsigned code, const std::string& rule, const std::string& detail) -> net::http_response {
        if (auto x = raise_finding(*tx, host_finding(rule, h.id, detail, now), raised); !x) return error_reply(x.err());
        if (auto s = refresh_status(*tx, h, now, raised, ctx.overdue_window_s()); !s) return error_reply(s.err());
        if (auto x = tx->put_host(h); !x) return error_reply(x.err());
        if (auto c = tx->commit(); !c) return error_reply(c.err());
        ctx.publish(raised);
        return net::json_error(code, rule, "report key binding refused: " + detail);
    };
    auto ch = tx->take_challenge(nonce);
    if (!ch) return error_reply(ch.err());
    if (!ch.value() || ch.value()->host_id != h.id || ch.value()->expires_at < now)
        return refuse(409, "nonce-mismatch", "the binding quote answers a nonce this verifier did not issue to this host, "
                                             "already used or expired: a replayed or forged binding");
    auto vq = check_quote(ctx, h, msg->quote, attest::report_key_qualification(nonce, key, prev_seq, prev));
    if (!vq) return refuse(422, "quote-invalid", "report key binding quote: " + vq.err().message);
    // The chain the key continues must be this host's chain as stored, where the verifier holds it.
    if (prev_seq <= h.chain_seq) {
        bytes stored(32, 0);
        if (prev_seq > 0) {
            auto r = tx->get_report(h.id, prev_seq);
            if (!r) return error_reply(r.err());
            if (!r.value())
                return refuse(409, "report-rollback", "the binding continues report " + std::to_string(prev_seq) +
                                                          ", which the verifier does not hold");
            stored = r.value()->hash;
        }
        if (!equal_ct(stored, prev))
            return refuse(409, "report-rollback", "the binding continues report " + std::to_string(prev_seq) + " as " +
                                                      short_hex(prev) + ", but the stored report with that number is " +
                                                      short_hex(stored) + ": the chain was forked or rewritten");
    }
    // The quote is evidence of the TPM's state now: its clock and PCRs are judged (never taken as golden).
    const auto a = appraise_quote(h, vq->info, vq->pcrs, {10});
    for (const auto& hit : a.hits)
        if (auto x = raise_finding(*tx, host_finding(hit.rule, h.id, hit.detail, now), raised); !x) return error_reply(x.err());
    record_clock(h, vq->info);
    auto existing = tx->get_report_key(h.id, key);
    if (!existing) return error_reply(existing.err());
    json::object out;
    if (existing->has_value()) {
        out["status"] = "already-bound";
        out["from_seq"] = (*existing)->from_seq;
    } else {
        report_key_record rec;
        rec.key = key;
        rec.bound_at = now;
        rec.reset_count = vq->info.reset_count;
        rec.from_seq = prev_seq + 1;
        rec.binding = attest::key_binding(*msg);
        if (auto x = tx->bind_report_key(h.id, rec); !x) return error_reply(x.err());
        auto n = tx->retire_report_keys(h.id, key, prev_seq, now, "a newer agent start bound its own key");
        if (!n) return error_reply(n.err());
        spdlog::info("host {}: report key {} bound from report {} ({} older key(s) retired)", h.id, short_hex(key),
                     rec.from_seq, *n);
        out["status"] = "bound";
        out["from_seq"] = rec.from_seq;
    }
    if (auto s = refresh_status(*tx, h, now, raised, ctx.overdue_window_s()); !s) return error_reply(s.err());
    if (auto x = tx->put_host(h); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    ctx.publish(raised);
    out["host_status"] = h.status;
    json::array fs;
    for (const auto& f : raised) fs.push_back(finding_to_json(f));
    out["findings"] = std::move(fs);
    return json_reply(200, out);
}

}  // namespace

// The signed attestation result for the host's current open findings.
result<std::string> sign_result(const service_context& ctx, const host_record& h,
                                const std::vector<finding_record>& open, std::int64_t now) {
    json::object claims;
    claims["iss"] = "custos-verifier";
    claims["sub"] = h.id;
    claims["iat"] = now;
    claims["eat_profile"] = "tag:custos.dev,2026:ear-v1";
    claims["ear.status"] = h.status;
    json::array fs;
    for (const auto& f : open) fs.push_back(finding_to_json(f));
    claims["custos.findings"] = std::move(fs);
    return jwt::sign_es256(ctx.result_key.get(), json::serialize(claims));
}

// Status, signed result, appraisal row, host row, commit; then publish. The answer for the agent.
net::http_response finish_appraisal(service_context& ctx, std::unique_ptr<store_tx> tx, host_record& h,
                                    std::vector<finding_record>& raised, std::int64_t now, unsigned status_code,
                                    json::object extra) {
    auto open = refresh_status(*tx, h, now, raised, ctx.overdue_window_s());
    if (!open) return error_reply(open.err());
    auto token = sign_result(ctx, h, *open, now);
    if (!token) return error_reply(token.err());
    if (auto x = tx->insert_appraisal({h.id, now, h.status, *token}); !x) return error_reply(x.err());
    if (auto x = tx->put_host(h); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    ctx.stats.count_appraisal(h.status);
    ctx.publish(raised);
    extra["status"] = h.status;
    extra["result"] = *token;
    json::array fs;
    for (const auto& f : raised) fs.push_back(finding_to_json(f));
    extra["findings"] = std::move(fs);
    return json_reply(status_code, extra);
}

void register_agent_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/challenge", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return challenge(ctx, req, rc); });
    srv.route("POST", "/v1/attest", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return attest_round(ctx, req, rc); });
    srv.route("POST", "/v1/report-key", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return report_key(ctx, req, rc); });
}

}  // namespace custos::verifier
