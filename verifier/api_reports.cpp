// POST /v1/reports: signed reports between rounds, appended to the host's hash chain.
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "attest/report_ext.hpp"
#include "attest/wire.hpp"
#include "crypto/strict_json.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/api_common.hpp"
#include "verifier/chain_integrity.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_registry.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::size_t max_reports_per_request = 256;

struct item {
    bytes body;
    bytes sig;
    std::optional<attest::report> parsed;
    std::string problem;  // why it is rejected before the chain is looked at
    bool signature_ok = false;
};

json::object result_json(std::uint64_t seq, const char* status, const std::string& reason = {}) {
    json::object o;
    o["seq"] = seq;
    o["status"] = status;
    if (!reason.empty()) o["reason"] = reason;
    return o;
}

net::http_response post_reports(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    auto v = sjson::parse(req.body, "reports request", 8);
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "reports request");
    if (!o) return error_reply(o.err());
    if (auto x = o->only({"reports"}); !x) return error_reply(x.err());
    auto arr = o->arr("reports");
    if (!arr) return error_reply(arr.err());
    if ((*arr)->size() > max_reports_per_request)
        return net::json_error(400, "bad-request", "reports request: at most " + std::to_string(max_reports_per_request) +
                                                       " reports per request");
    // Decode and check signatures outside the transaction: this is the CPU work, done in parallel by the
    // server's threads; the transaction then only does the chain bookkeeping.
    std::vector<item> items;
    items.reserve((*arr)->size());
    for (std::size_t i = 0; i < (*arr)->size(); ++i) {
        auto e = sjson::object_reader::of((**arr)[i], "reports[" + std::to_string(i) + "]");
        if (!e) return error_reply(e.err());
        if (auto x = e->only({"report", "sig"}); !x) return error_reply(x.err());
        auto body = e->b64("report");
        if (!body) return error_reply(body.err());
        auto sig = e->b64("sig");
        if (!sig) return error_reply(sig.err());
        item it{std::move(body).value(), std::move(sig).value(), std::nullopt, {}, false};
        if (auto r = attest::parse_report(it.body); !r) {
            it.problem = "report does not parse: " + r.err().message;
        } else {
            it.parsed = std::move(r).value();
            if (auto s = attest::verify_report_signature(it.body, it.sig, it.parsed->key); !s)
                it.problem = s.err().message;
            else
                it.signature_ok = true;
        }
        items.push_back(std::move(it));
    }

    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;
    std::vector<finding_record> raised;
    std::map<bytes, std::optional<report_key_record>> key_cache;
    json::array results;
    std::size_t good = 0;
    std::vector<const char*> counted;
    std::vector<const attest::report*> accepted;

    auto raise = [&](const std::string& rule, const std::string& detail) {
        return raise_finding(*tx, host_finding(rule, h.id, detail, now), raised);
    };
    for (auto& it : items) {
        const std::uint64_t seq = it.parsed ? it.parsed->seq : 0;
        std::string rejected;
        std::string rule = "report-signature-invalid";
        if (!it.parsed) {
            rejected = it.problem;
        } else if (it.parsed->host != h.id) {
            rejected = "report " + std::to_string(seq) + " names host \"" + it.parsed->host + "\"";
        } else {
            auto cached = key_cache.find(it.parsed->key);
            if (cached == key_cache.end()) {
                auto k = tx->get_report_key(h.id, it.parsed->key);
                if (!k) return error_reply(k.err());
                cached = key_cache.emplace(it.parsed->key, std::move(k).value()).first;
            }
            // A key signs only its window of the chain: a retired key (an earlier agent start or boot) cannot
            // extend it, whoever holds it now.
            if (auto why = key_window_refusal(cached->second, seq))
                rejected = *why;
            else if (!it.signature_ok)
                rejected = "report " + std::to_string(seq) + ": " + it.problem;
        }
        if (!rejected.empty()) {
            if (auto x = raise(rule, rejected + ": forged or corrupted evidence"); !x) return error_reply(x.err());
            results.push_back(result_json(seq, "rejected", rejected));
            counted.push_back("rejected");
            continue;
        }
        const attest::report& r = *it.parsed;
        const bytes hash = attest::report_hash(it.body);
        if (r.seq <= h.chain_seq) {
            auto stored = tx->get_report(h.id, r.seq);
            if (!stored) return error_reply(stored.err());
            if (stored.value() && equal_ct(stored.value()->hash, hash)) {
                results.push_back(result_json(seq, "duplicate"));
                counted.push_back("duplicate");
                ++good;
                continue;
            }
            const std::string why = "report " + std::to_string(seq) + " (" + short_hex(hash) +
                                    ") differs from the stored report with that number: the report chain was "
                                    "rolled back or forked";
            if (auto x = raise("report-rollback", why); !x) return error_reply(x.err());
            results.push_back(result_json(seq, "rejected", why));
            counted.push_back("rejected");
            continue;
        }
        if (r.seq == h.chain_seq + 1 && !equal_ct(r.prev, h.chain_hash)) {
            const std::string why = "report " + std::to_string(seq) + " does not extend the stored chain (prev " +
                                    short_hex(r.prev) + ", stored head " + short_hex(h.chain_hash) + ")";
            if (auto x = raise("report-rollback", why); !x) return error_reply(x.err());
            results.push_back(result_json(seq, "rejected", why));
            counted.push_back("rejected");
            continue;
        }
        if (r.seq > h.chain_seq + 1) {
            const std::string why = "reports " + std::to_string(h.chain_seq + 1) + " to " + std::to_string(r.seq - 1) +
                                    " are missing from host \"" + h.id + "\"'s chain: evidence was lost or withheld";
            if (auto x = raise("report-chain-gap", why); !x) return error_reply(x.err());
        }
        report_record rec{h.id, r.seq, hash, it.body, it.sig, r.key, now};
        if (auto x = tx->insert_report(rec); !x) return error_reply(x.err());
        accepted.push_back(&r);
        h.chain_seq = r.seq;
        h.chain_hash = hash;
        results.push_back(result_json(seq, "accepted"));
        counted.push_back("accepted");
        ++good;
    }
    // GPUs and compute counters, in chain order, for approved hosts.
    std::set<std::string> other_hosts;
    std::size_t gpu_resolved = 0;
    if (h.state == "approved" && !accepted.empty()) {
        gpu_context gc{*ctx.chips, now, ctx.duplicate_window_s(), ctx.thresholds()};
        gpu_outcome go;
        for (const attest::report* r : accepted) {
            auto ext = attest::parse_report_ext(r->ext);
            if (!ext) {
                if (auto x = raise("inventory-unverified", "report " + std::to_string(r->seq) + ": " + ext.err().message); !x)
                    return error_reply(x.err());
                continue;
            }
            if (auto x = apply_report_ext(*tx, h, r->seq, *ext, gc, go); !x) return error_reply(x.err());
        }
        if (go.compute_added)
            if (auto x = check_compute_thresholds(*tx, gc.thresholds, now, go.raised); !x) return error_reply(x.err());
        raised.insert(raised.end(), go.raised.begin(), go.raised.end());
        gpu_resolved = go.resolved;
        // GPUs appeared, moved or went missing: the fleet the export-control rules see has changed.
        if (!go.raised.empty() || go.resolved > 0 || go.fleet_changed)
            if (auto x = appraise_policy(ctx, *tx, now, raised, h.id, policy_run::always); !x) return error_reply(x.err());
        other_hosts = std::move(go.other_hosts);
    }
    for (const auto& id : other_hosts) {
        auto o = tx->get_host(id);
        if (!o) return error_reply(o.err());
        if (!o->has_value()) continue;
        host_record other = **o;
        if (auto s = refresh_status(*tx, other, now, raised); !s) return error_reply(s.err());
        if (auto x = tx->put_host(other); !x) return error_reply(x.err());
    }
    bool status_changed = !raised.empty() || gpu_resolved > 0;
    // Reports a round's quote claimed have all arrived: the claim is settled (and its gap, if one was raised).
    if (h.quoted_head_at != 0 && h.chain_seq >= h.quoted_head_seq) {
        auto gap = tx->find_open_finding(h.id, "report-chain-gap", "host", h.id, chain_gap_detail(h.id, h.quoted_head_seq));
        if (!gap) return error_reply(gap.err());
        if (*gap)
            if (auto x = tx->resolve_finding((*gap)->id, now); !x) return error_reply(x.err());
        h.quoted_head_seq = 0;
        h.quoted_head_at = 0;
        status_changed = true;
    }
    // Reports do not vouch for a host that stopped answering challenges (checked here once: the refresh
    // below does not check again). Once the finding is open this is one read per request.
    auto late = check_attestation_overdue(*tx, h, now, ctx.overdue_window_s(), raised);
    if (!late) return error_reply(late.err());
    if (*late) status_changed = true;
    // host-dark makes a host's status at least warning: an affirming host has none open to resolve.
    if (good > 0 && h.status != "affirming" && h.status != "unknown") {
        auto closed = tx->resolve_findings(h.id, std::string("host-dark"), now);
        if (!closed) return error_reply(closed.err());
        if (*closed) status_changed = true;
    }
    if (good > 0) h.last_seen = now;
    if (status_changed) {
        if (auto s = refresh_status(*tx, h, now, raised); !s) return error_reply(s.err());
        if (auto x = tx->put_host(h); !x) return error_reply(x.err());
    } else if (good > 0) {
        if (auto x = tx->update_host_progress(h.id, h.chain_seq, h.chain_hash, h.last_seen); !x) return error_reply(x.err());
    }
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    for (const char* c : counted) ctx.stats.count_report(c);
    ctx.publish(raised);
    json::object out;
    out["results"] = std::move(results);
    out["next_report_s"] = ctx.cfg.report_interval_s;
    return json_reply(200, out);
}

}  // namespace

void register_report_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/reports", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return post_reports(ctx, req, rc); });
}

}  // namespace custos::verifier
