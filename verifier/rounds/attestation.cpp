#include "verifier/rounds/attestation.hpp"

#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "attest/quote_verify.hpp"
#include "attest/report_chain.hpp"
#include "attest/tpm_public.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "verifier/appraisal.hpp"
#include "verifier/chain_integrity.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_attestation_appraisal.hpp"
#include "verifier/log_events.hpp"
#include "verifier/measurement_appraisal.hpp"
#include "verifier/rounds/location.hpp"

namespace custos::verifier {
namespace json = boost::json;

std::optional<std::string> nonce_refusal(const std::optional<store_tx::challenge>& ch, const std::string& host,
                                         std::int64_t now, std::int64_t ttl_s) {
    if (!ch) return "a nonce this verifier did not issue or that was already used: a replayed or forged request";
    if (ch->host_id != host) return "a nonce issued to host \"" + ch->host_id + "\"";
    if (ch->expires_at < now) return "an expired nonce (older than " + std::to_string(ttl_s) + " s)";
    return std::nullopt;
}

std::string missing_logs(const std::optional<host_measurement_record>& stored, bool sent_boot, bool sent_ima) {
    std::string missing;
    if (stored && !stored->boot_reference.empty() && !sent_boot) missing = "boot event log";
    if (stored && stored->ima_count > 0 && !sent_ima) missing += missing.empty() ? "IMA list" : " and IMA list";
    return missing;
}

bool rebooted_since(const std::optional<host_measurement_record>& stored, const host_record& h, std::uint32_t reset_count) {
    if (stored && stored->have_reset) return reset_count != stored->reset_count;
    return h.have_clock && reset_count != h.reset_count;
}

round_key_step round_key_action(const std::optional<report_key_record>& k, std::uint32_t reset_count) {
    if (!k) return round_key_step::bind;
    if (k->current() && k->reset_count != reset_count) return round_key_step::retire;
    return round_key_step::keep;
}

std::optional<std::string> binding_chain_refusal(const host_record& h, std::uint64_t prev_seq, byte_view prev_hash,
                                                 const std::optional<bytes>& stored_at_prev) {
    if (prev_seq > h.chain_seq) return std::nullopt;  // beyond the stored chain: reports to come
    if (!stored_at_prev)
        return "the binding continues report " + std::to_string(prev_seq) + ", which the verifier does not hold";
    if (!equal_ct(*stored_at_prev, prev_hash))
        return "the binding continues report " + std::to_string(prev_seq) + " as " + short_hex(prev_hash) +
               ", but the stored report with that number is " + short_hex(*stored_at_prev) +
               ": the chain was forked or rewritten";
    return std::nullopt;
}

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
        CUSTOS_TRY_VOID(tx.append_log(golden_entry(h, now)));
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
    switch (round_key_action(k, reset_count)) {
    case round_key_step::keep:
        return {};
    case round_key_step::retire: {
        const std::string why = "bound in TPM boot " + std::to_string(k->reset_count) + ", named by a round in boot " +
                                std::to_string(reset_count);
        CUSTOS_TRY_VOID(tx.retire_report_key(h.id, ev.report_key, covered, now, why));
        spdlog::warn("host {}: report key {} retired after report {}: {}", h.id, short_hex(ev.report_key), covered, why);
        return {};
    }
    case round_key_step::bind:
        break;
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

// Appraises the logs against the verified quote (measurement_appraisal.hpp) from the host's stored
// measurement state, raises what it finds and stores the new state.
result<measurement_outcome> appraise_logs(service_context& ctx, store_tx& tx, const host_record& h, const verified_quote& vq,
                                          const std::optional<host_measurement_record>& stored, const attest::attest_request& msg,
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
    in.boot_log = msg.boot_log;
    in.ima_from = msg.ima_from;
    in.ima_entries = msg.ima;
    in.rebooted = rebooted_since(stored, h, vq.info.reset_count);
    in.approved = h.state == "approved";
    in.runtime = ctx.runtime ? &*ctx.runtime : nullptr;
    measurement_outcome out = appraise_measurements(state, in);
    for (const auto& hit : out.hits) CUSTOS_TRY_VOID(raise_finding(tx, host_finding(hit.rule, h.id, hit.detail, now), raised));
    if (msg.boot_log || msg.ima_from) {
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

}  // namespace

result<json::object> issue_challenge(service_context& ctx, store_tx& tx, const host_record& h, std::int64_t now) {
    bytes nonce(nonce_size);
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return make_error(errc::crypto, "no randomness");
    CUSTOS_TRY_VOID(tx.purge_challenges(now));
    CUSTOS_TRY_VOID(tx.insert_challenge(nonce, h.id, now + ctx.cfg.challenge_ttl_s));
    json::object out;
    out["nonce"] = to_base64(nonce);
    out["expires_in_s"] = ctx.cfg.challenge_ttl_s;
    out["pcr_selection"] = attest::format_pcr_selection(ctx.selection);
    return out;
}

result<outcome> attestation_round(service_context& ctx, store_tx& tx, host_record& h, const attest::attest_request& msg,
                                  std::int64_t now) {
    outcome out;
    auto& raised = out.raised;
    // A refused round keeps its finding; the handler answers it as an appraisal (422, the status after it).
    auto reject = [&](const std::string& rule, const std::string& detail) -> result<outcome> {
        CUSTOS_TRY_VOID(raise_finding(tx, host_finding(rule, h.id, detail, now), raised));
        out.refused = refusal{refusal_kind::unprocessable, rule, detail};
        out.answer["error"] = rule;
        out.answer["detail"] = detail;
        out.answer["next_round_s"] = ctx.cfg.attest_interval_s;
        return std::move(out);
    };
    CUSTOS_TRY(ch, tx.take_challenge(msg.nonce));
    if (auto why = nonce_refusal(ch, h.id, now, ctx.cfg.challenge_ttl_s))
        return reject("nonce-mismatch", "the evidence answers " + *why);
    auto ev = attest::parse_evidence(msg.evidence);
    if (!ev) return reject("quote-invalid", "evidence: " + ev.err().message);
    if (ev->host != h.id) return reject("quote-invalid", "the evidence names host \"" + ev->host + "\", not \"" + h.id + "\"");
    auto vq = check_quote(ctx, h, msg.quote, attest::evidence_qualification(msg.nonce, msg.evidence));
    if (!vq) return reject("quote-invalid", "quote: " + vq.err().message);
    CUSTOS_TRY(stored, tx.get_host_measurements(h.id));
    const std::string missing = missing_logs(stored, msg.boot_log.has_value(), msg.ima_from.has_value());
    // The logs, replayed against this quote; what they cover is appraised by replay rather than golden values.
    CUSTOS_TRY(measured, appraise_logs(ctx, tx, h, *vq, stored, msg, now, raised));
    CUSTOS_TRY_VOID(apply_round_quote(tx, h, *vq, now, raised, measured.replayed_pcrs, missing.empty()));
    if (!missing.empty()) spdlog::warn("host {}: round without its {}: not counted as a challenged quote", h.id, missing);
    CUSTOS_TRY_VOID(bind_round_key(tx, h, *ev, vq->info.reset_count, now, attest::round_binding(msg)));
    CUSTOS_TRY_VOID(judge_quoted_head(tx, h, *ev, now, raised));
    // Each GPU's signed attestation report, under the quote's round nonce.
    CUSTOS_TRY_VOID(appraise_gpu_attestations(ctx, tx, h, msg, now, raised));
    // The export-control engine over the fleet as it now stands, unless nothing it reads changed since it ran.
    CUSTOS_TRY_VOID(appraise_policy(ctx, tx, now, raised, h.id, policy_run::if_fleet_changed));
    out.answer["next_round_s"] = ctx.cfg.attest_interval_s;
    out.answer["counted"] = missing.empty();
    if (!missing.empty()) out.answer["not_counted"] = "the round left out the host's " + missing + ", which it sent before";
    if (msg.ima_from) out.answer["ima_next"] = measured.ima_next;
    CUSTOS_TRY(loc, open_location_round(ctx, tx, h, now, raised));
    if (loc) out.answer["location"] = std::move(*loc);
    return out;
}

result<outcome> bind_report_key(service_context& ctx, store_tx& tx, host_record& h,
                                const attest::key_binding_request& msg, std::int64_t now) {
    outcome out;
    auto& raised = out.raised;
    auto refuse = [&](refusal_kind kind, const std::string& rule, const std::string& detail) -> result<outcome> {
        CUSTOS_TRY_VOID(raise_finding(tx, host_finding(rule, h.id, detail, now), raised));
        out.refused = refusal{kind, rule, "report key binding refused: " + detail};
        return std::move(out);
    };
    CUSTOS_TRY(ch, tx.take_challenge(msg.nonce));
    if (auto why = nonce_refusal(ch, h.id, now, ctx.cfg.challenge_ttl_s))
        return refuse(refusal_kind::conflict, "nonce-mismatch", "the binding quote answers " + *why);
    auto vq = check_quote(ctx, h, msg.quote,
                          attest::report_key_qualification(msg.nonce, msg.report_key, msg.prev_seq, msg.prev_hash));
    if (!vq) return refuse(refusal_kind::unprocessable, "quote-invalid", "report key binding quote: " + vq.err().message);
    // The chain the key continues must be this host's chain as stored, where the verifier holds it.
    std::optional<bytes> stored;
    if (msg.prev_seq == 0) {
        stored = bytes(32, 0);
    } else if (msg.prev_seq <= h.chain_seq) {
        CUSTOS_TRY(r, tx.get_report(h.id, msg.prev_seq));
        if (r) stored = r->hash;
    }
    if (auto why = binding_chain_refusal(h, msg.prev_seq, msg.prev_hash, stored))
        return refuse(refusal_kind::conflict, "report-rollback", *why);
    // The quote is evidence of the TPM's state now: its clock and PCRs are judged (never taken as golden).
    const auto a = appraise_quote(h, vq->info, vq->pcrs, {10});
    for (const auto& hit : a.hits) CUSTOS_TRY_VOID(raise_finding(tx, host_finding(hit.rule, h.id, hit.detail, now), raised));
    record_clock(h, vq->info);
    CUSTOS_TRY(existing, tx.get_report_key(h.id, msg.report_key));
    if (existing) {
        out.answer["status"] = "already-bound";
        out.answer["from_seq"] = existing->from_seq;
        return out;
    }
    report_key_record rec;
    rec.key = msg.report_key;
    rec.bound_at = now;
    rec.reset_count = vq->info.reset_count;
    rec.from_seq = msg.prev_seq + 1;
    rec.binding = attest::key_binding(msg);
    CUSTOS_TRY_VOID(tx.bind_report_key(h.id, rec));
    CUSTOS_TRY(n, tx.retire_report_keys(h.id, msg.report_key, msg.prev_seq, now, "a newer agent start bound its own key"));
    spdlog::info("host {}: report key {} bound from report {} ({} older key(s) retired)", h.id, short_hex(msg.report_key),
                 rec.from_seq, n);
    out.answer["status"] = "bound";
    out.answer["from_seq"] = rec.from_seq;
    return out;
}

}  // namespace custos::verifier
