#include "verifier/rounds/reports.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "attest/report_ext.hpp"
#include "verifier/chain_integrity.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_registry.hpp"

namespace custos::verifier {
namespace json = boost::json;

std::vector<checked_report> check_reports(attest::reports_request msg) {
    std::vector<checked_report> out;
    out.reserve(msg.reports.size());
    for (auto& sent : msg.reports) {
        checked_report c;
        c.sent = std::move(sent);
        if (auto r = attest::parse_report(c.sent.body); !r) {
            c.problem = "report does not parse: " + r.err().message;
        } else {
            c.parsed = std::move(r).value();
            c.hash = attest::report_hash(c.sent.body);
            if (auto s = attest::verify_report_signature(c.sent.body, c.sent.signature, c.parsed->key); !s)
                c.problem = s.err().message;
            else
                c.signature_ok = true;
        }
        out.push_back(std::move(c));
    }
    return out;
}

report_verdict judge_report(const host_record& h, const checked_report& r, const std::optional<report_key_record>& key,
                            const std::optional<bytes>& stored_hash) {
    auto reject = [](std::string rule, std::string why) { return report_verdict{report_fate::rejected, std::move(rule), std::move(why)}; };
    if (!r.parsed) return reject("report-signature-invalid", r.problem);
    const std::uint64_t seq = r.parsed->seq;
    if (r.parsed->host != h.id)
        return reject("report-signature-invalid", "report " + std::to_string(seq) + " names host \"" + r.parsed->host + "\"");
    // A key signs only its window of the chain: a retired key (an earlier agent start or boot) cannot
    // extend it, whoever holds it now.
    if (auto why = key_window_refusal(key, seq)) return reject("report-signature-invalid", *why);
    if (!r.signature_ok) return reject("report-signature-invalid", "report " + std::to_string(seq) + ": " + r.problem);
    const bytes& hash = r.hash;
    if (seq <= h.chain_seq) {
        if (stored_hash && equal_ct(*stored_hash, hash)) return {report_fate::duplicate, {}, {}};
        return reject("report-rollback", "report " + std::to_string(seq) + " (" + short_hex(hash) +
                                             ") differs from the stored report with that number: the report chain was "
                                             "rolled back or forked");
    }
    if (seq == h.chain_seq + 1 && !equal_ct(r.parsed->prev, h.chain_hash))
        return reject("report-rollback", "report " + std::to_string(seq) + " does not extend the stored chain (prev " +
                                             short_hex(r.parsed->prev) + ", stored head " + short_hex(h.chain_hash) + ")");
    if (seq > h.chain_seq + 1)
        return {report_fate::accepted, "report-chain-gap",
                "reports " + std::to_string(h.chain_seq + 1) + " to " + std::to_string(seq - 1) + " are missing from host \"" +
                    h.id + "\"'s chain: evidence was lost or withheld"};
    return {report_fate::accepted, {}, {}};
}

namespace {

json::object result_json(std::uint64_t seq, const char* status, const std::string& reason = {}) {
    json::object o;
    o["seq"] = seq;
    o["status"] = status;
    if (!reason.empty()) o["reason"] = reason;
    return o;
}

// The accepted reports' GPU inventories and compute counters, in chain order (approved hosts only), and
// the status of every other host whose GPUs they touched.
result<bool> apply_gpu_reports(service_context& ctx, store_tx& tx, host_record& h,
                               const std::vector<const attest::report*>& accepted, std::int64_t now,
                               std::vector<finding_record>& raised) {
    if (h.state != "approved" || accepted.empty()) return false;
    gpu_context gc{*ctx.chips, now, ctx.duplicate_window_s(), ctx.thresholds()};
    gpu_outcome go;
    for (const attest::report* r : accepted) {
        auto ext = attest::parse_report_ext(r->ext);
        if (!ext) {
            CUSTOS_TRY_VOID(raise_finding(tx, host_finding("inventory-unverified", h.id,
                                                           "report " + std::to_string(r->seq) + ": " + ext.err().message, now),
                                          raised));
            continue;
        }
        CUSTOS_TRY_VOID(apply_report_ext(tx, h, r->seq, *ext, gc, go));
    }
    if (go.compute_added) CUSTOS_TRY_VOID(check_compute_thresholds(tx, gc.thresholds, now, go.raised));
    raised.insert(raised.end(), go.raised.begin(), go.raised.end());
    // GPUs appeared, moved or went missing: the fleet the export-control rules see has changed.
    if (!go.raised.empty() || go.resolved > 0 || go.fleet_changed)
        CUSTOS_TRY_VOID(appraise_policy(ctx, tx, now, raised, h.id, policy_run::always));
    for (const auto& id : go.other_hosts) {
        CUSTOS_TRY(o, tx.get_host(id));
        if (!o) continue;
        host_record other = *o;
        CUSTOS_TRY_VOID(refresh_status(tx, other, now, raised));
        CUSTOS_TRY_VOID(tx.put_host(other));
    }
    return !go.raised.empty() || go.resolved > 0;
}

}  // namespace

result<outcome> ingest_reports(service_context& ctx, store_tx& tx, host_record& h,
                               const std::vector<checked_report>& reports, std::int64_t now) {
    outcome out;
    auto& raised = out.raised;
    std::map<bytes, std::optional<report_key_record>> key_cache;
    json::array results;
    std::size_t good = 0;
    std::vector<const attest::report*> accepted;
    for (const auto& it : reports) {
        const std::uint64_t seq = it.parsed ? it.parsed->seq : 0;
        std::optional<report_key_record> none;
        const std::optional<report_key_record>* key = &none;
        std::optional<bytes> stored_hash;
        if (it.parsed && it.parsed->host == h.id) {
            auto cached = key_cache.find(it.parsed->key);
            if (cached == key_cache.end()) {
                CUSTOS_TRY(k, tx.get_report_key(h.id, it.parsed->key));
                cached = key_cache.emplace(it.parsed->key, std::move(k)).first;
            }
            key = &cached->second;
            if (seq <= h.chain_seq) {
                CUSTOS_TRY(stored, tx.get_report(h.id, seq));
                if (stored) stored_hash = stored->hash;
            }
        }
        const report_verdict v = judge_report(h, it, *key, stored_hash);
        if (v.fate == report_fate::rejected) {
            const std::string detail = v.rule == "report-signature-invalid" ? v.reason + ": forged or corrupted evidence" : v.reason;
            CUSTOS_TRY_VOID(raise_finding(tx, host_finding(v.rule, h.id, detail, now), raised));
            results.push_back(result_json(seq, "rejected", v.reason));
            continue;
        }
        ++good;
        if (v.fate == report_fate::duplicate) {
            results.push_back(result_json(seq, "duplicate"));
            continue;
        }
        if (!v.rule.empty()) CUSTOS_TRY_VOID(raise_finding(tx, host_finding(v.rule, h.id, v.reason, now), raised));
        const bytes& hash = it.hash;
        report_record rec{h.id, seq, hash, it.sent.body, it.sent.signature, it.parsed->key, now};
        CUSTOS_TRY_VOID(tx.insert_report(rec));
        accepted.push_back(&*it.parsed);
        h.chain_seq = seq;
        h.chain_hash = hash;
        results.push_back(result_json(seq, "accepted"));
    }
    CUSTOS_TRY(gpu_changed, apply_gpu_reports(ctx, tx, h, accepted, now, raised));
    bool status_changed = !raised.empty() || gpu_changed;
    // Reports a round's quote claimed have all arrived: the claim is settled (and its gap, if one was raised).
    if (h.quoted_head_at != 0 && h.chain_seq >= h.quoted_head_seq) {
        CUSTOS_TRY(gap, tx.find_open_finding(h.id, "report-chain-gap", "host", h.id, chain_gap_detail(h.id, h.quoted_head_seq)));
        if (gap) CUSTOS_TRY_VOID(tx.resolve_finding(gap->id, now));
        h.quoted_head_seq = 0;
        h.quoted_head_at = 0;
        status_changed = true;
    }
    // Reports do not vouch for a host that stopped answering challenges (checked here once: the refresh
    // below does not check again). Once the finding is open this is one read per request.
    CUSTOS_TRY(late, check_attestation_overdue(tx, h, now, ctx.overdue_window_s(), raised));
    if (late) status_changed = true;
    // host-dark makes a host's status at least warning: an affirming host has none open to resolve.
    if (good > 0 && h.status != "affirming" && h.status != "unknown") {
        CUSTOS_TRY(closed, tx.resolve_findings(h.id, std::string("host-dark"), now));
        if (closed) status_changed = true;
    }
    if (good > 0) h.last_seen = now;
    if (status_changed) {
        CUSTOS_TRY_VOID(refresh_status(tx, h, now, raised));
        CUSTOS_TRY_VOID(tx.put_host(h));
    } else if (good > 0) {
        CUSTOS_TRY_VOID(tx.update_host_progress(h.id, h.chain_seq, h.chain_hash, h.last_seen));
    }
    out.answer["results"] = std::move(results);
    out.answer["next_report_s"] = ctx.cfg.report_interval_s;
    return out;
}

}  // namespace custos::verifier
