// Location proofs: the round the attest answer opens (open_location_round) and POST /v1/location, where an
// agent hands in its landmarks' signed statements. Each statement is checked (policy/location_proof.hpp:
// parse, structure, landmark signature, agent signature, round nonce) and its key must be one a quote bound
// to the host; the minimum RTT per landmark bounds the host (policy/geo.hpp) against its site's max_km.
#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/strict_json.hpp"
#include "policy/geo.hpp"
#include "policy/location_proof.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::size_t max_proofs = 1024;
constexpr const char* location_rules[] = {"location-outside", "location-unproven", "location-impossible",
                                          "location-rounds-missed"};

// Round nonces live in the challenge table under a domain-separated hash, so a location round can never
// be spent as an attestation challenge (or the other way round).
bytes round_key(byte_view nonce) {
    bytes in;
    const std::string tag = "custos-location-round-v1";
    in.assign(tag.begin(), tag.end());
    in.push_back(0);
    append(in, nonce);
    return digest(hash_alg::sha256, in);
}

std::int64_t round_ttl_s(const service_context& ctx, std::size_t landmarks) {
    // Every landmark's samples one after another, each step within the timeout, plus the posting.
    const double steps = static_cast<double>(landmarks) * (ctx.cfg.location_samples * 2.0 + 1.0);
    return ctx.cfg.challenge_ttl_s + static_cast<std::int64_t>(std::ceil(steps * ctx.cfg.location_timeout_ms / 1000.0));
}

std::string km(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.0f", v);
    return b;
}

struct landmark_tally {
    const landmark_record* lm = nullptr;
    double min_rtt_ms = 0;
    unsigned samples = 0;
};

net::http_response post_location(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    auto v = sjson::parse(req.body, "location proof", 8);
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "location proof");
    if (!o) return error_reply(o.err());
    if (auto x = o->only({"round", "proofs", "errors"}); !x) return error_reply(x.err());
    auto nonce = o->b64("round");
    if (!nonce) return error_reply(nonce.err());
    if (nonce->size() != policy::location_nonce_size) return error_reply(o->bad("round", "must be 32 bytes"));
    auto proofs = o->arr("proofs");
    if (!proofs) return error_reply(proofs.err());
    if ((*proofs)->size() > max_proofs)
        return net::json_error(400, "bad-request", "location proof: at most " + std::to_string(max_proofs) + " proofs");
    struct proof {
        bytes statement, sig;
    };
    std::vector<proof> ps;
    for (std::size_t i = 0; i < (*proofs)->size(); ++i) {
        auto e = sjson::object_reader::of((**proofs)[i], "proofs[" + std::to_string(i) + "]");
        if (!e) return error_reply(e.err());
        if (auto x = e->only({"statement", "sig"}); !x) return error_reply(x.err());
        auto st = e->b64("statement");
        if (!st) return error_reply(st.err());
        auto sig = e->b64("sig");
        if (!sig) return error_reply(sig.err());
        ps.push_back({std::move(st).value(), std::move(sig).value()});
    }
    std::vector<std::string> agent_errors;
    if (o->has("errors")) {
        auto errs = o->arr("errors");
        if (!errs) return error_reply(errs.err());
        for (const auto& e : **errs) {
            if (!e.is_string()) return error_reply(o->bad("errors", "must be an array of strings"));
            if (agent_errors.size() < 64) agent_errors.emplace_back(std::string(e.as_string()).substr(0, 300));
        }
    }
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& tx = agent.tx;  // references, not structured bindings: lambdas capture them (clang 14)
    auto& h = agent.host;

    auto round = tx->take_challenge(round_key(*nonce));
    if (!round) return error_reply(round.err());
    if (!round.value() || round.value()->host_id != h.id)
        return net::json_error(409, "unknown-round", "location proof: the round nonce was not issued to this host or was already used");
    if (round.value()->expires_at < now)
        return net::json_error(409, "expired-round", "location proof: the round expired before the proof arrived");
    if (h.state != "approved" || h.site.empty())
        return net::json_error(409, "not-approved", "location proof: host " + h.id + " is not approved to a site");
    auto site = tx->get_site(h.site);
    if (!site) return error_reply(site.err());
    if (!site.value()) return net::json_error(409, "no-site", "location proof: site " + h.site + " is not on record");
    auto lms = tx->site_landmarks(h.site);
    if (!lms) return error_reply(lms.err());

    std::map<std::string, landmark_tally> tally;
    for (const auto& l : *lms) tally[l.id].lm = &l;
    std::vector<std::string> rejected;
    std::map<bytes, bool> bound;
    const std::int64_t window = round_ttl_s(ctx, lms->size()) + ctx.cfg.landmark_clock_skew_s;
    for (const auto& p : ps) {
        auto parsed = policy::parse_landmark_statement(p.statement);
        if (!parsed) {
            rejected.push_back(parsed.err().message);
            continue;
        }
        auto t = tally.find(parsed->landmark_id);
        if (t == tally.end()) {
            rejected.push_back("landmark " + parsed->landmark_id + " is not registered for site " + h.site);
            continue;
        }
        auto s = policy::verify_landmark_statement(p.statement, p.sig, t->second.lm->public_key, *nonce, {});
        if (!s) {
            rejected.push_back(s.err().message);
            continue;
        }
        auto b = bound.find(s->statement.agent_key);
        if (b == bound.end()) {
            // Only the host's current report key answers: a retired one (an earlier agent start or boot)
            // may be in anyone's hands by now.
            auto k = tx->get_report_key(h.id, s->statement.agent_key);
            if (!k) return error_reply(k.err());
            b = bound.emplace(s->statement.agent_key, k->has_value() && (*k)->current()).first;
        }
        if (!b->second) {
            rejected.push_back("statement of landmark " + t->first + ": answered by a key that is not host " + h.id +
                               "'s current report key (never bound by its quotes, or retired)");
            continue;
        }
        const double t_send_s = static_cast<double>(s->statement.t_send_us) / 1e6;
        if (std::abs(t_send_s - static_cast<double>(now)) > static_cast<double>(window)) {
            rejected.push_back("statement of landmark " + t->first + ": its time is " +
                               std::to_string(static_cast<std::int64_t>(t_send_s - static_cast<double>(now))) +
                               " s from the verifier's clock (at most " + std::to_string(window) + ")");
            continue;
        }
        auto& tl = t->second;
        tl.min_rtt_ms = tl.samples ? std::min(tl.min_rtt_ms, s->rtt_ms) : s->rtt_ms;
        ++tl.samples;
    }

    std::vector<policy::landmark_rtt> in;
    json::array detail_lms;
    for (const auto& [id, tl] : tally) {
        json::object d{{"id", id}, {"samples", tl.samples}};
        if (tl.samples) {
            in.push_back({tl.lm->lat, tl.lm->lon, tl.min_rtt_ms});
            d["rtt_ms"] = tl.min_rtt_ms;
            d["radius_km"] = std::min(tl.min_rtt_ms / 2 * ctx.cfg.speed_km_per_ms, M_PI * policy::earth_radius_km);
            d["km_from_site"] = policy::great_circle_km(site.value()->lat, site.value()->lon, tl.lm->lat, tl.lm->lon);
        } else {
            d["rtt_ms"] = nullptr;
        }
        detail_lms.push_back(std::move(d));
    }
    host_location_record rec;
    rec.host_id = h.id;
    rec.time = now;
    std::string sentence;
    if (in.empty()) {
        rec.verdict = "unproven";
        sentence = lms->empty() ? "site " + h.site + " has no landmarks"
                                : "no landmark of site " + h.site + " gave a valid sample";
    } else {
        auto b = policy::bound_location(site.value()->lat, site.value()->lon, site.value()->max_km, in, ctx.cfg.speed_km_per_ms);
        if (!b) return error_reply(b.err());
        rec.verdict = b->verdict;
        rec.max_km = b->max_km_from_site;
        rec.min_km = b->min_km_from_site;
        if (b->verdict == "impossible")
            sentence = "the round trips to " + std::to_string(in.size()) +
                       " landmarks cannot all hold at once (no point on Earth is that close to all of them): a "
                       "landmark's key, clock or registered place is wrong, or the statements were tampered with";
        else
            sentence = "the round trips to " + std::to_string(in.size()) + " landmark(s) put host " + h.id + " " +
                       km(*b->min_km_from_site) + "-" + km(*b->max_km_from_site) + " km from site " + h.site +
                       " (allowed: within " + km(site.value()->max_km) + " km)";
    }
    json::array errs;
    for (const auto& e : agent_errors) errs.emplace_back(e);
    for (const auto& e : rejected) errs.emplace_back(e);
    rec.detail_json = json::serialize(json::object{{"landmarks", detail_lms}, {"errors", errs}});
    if (auto x = tx->put_host_location(rec); !x) return error_reply(x.err());
    // The round is answered (whatever the verdict): nothing is owed, and the run of misses ends.
    h.location_due_at = 0;
    h.location_misses = 0;

    std::vector<finding_record> raised;
    const std::string rule = rec.verdict == "within" ? "" : "location-" + rec.verdict;
    for (const char* r : location_rules) {
        if (r == rule) continue;
        auto closed = tx->resolve_findings(h.id, std::string(r), now);
        if (!closed) return error_reply(closed.err());
    }
    if (!rule.empty()) {
        // One open finding per rule and host: the numbers change every round, the fact does not.
        finding_filter ff;
        ff.host = h.id;
        ff.rule = rule;
        ff.open_only = true;
        auto open = tx->list_findings(ff);
        if (!open) return error_reply(open.err());
        if (open->empty()) {
            std::string why = sentence;
            if (!rejected.empty()) why += "; " + std::to_string(rejected.size()) + " statement(s) refused: " + rejected.front();
            if (!agent_errors.empty()) why += "; the agent reported: " + agent_errors.front();
            finding_record f = host_finding(rule, h.id, why, now);
            auto id = tx->insert_finding(f);
            if (!id) return error_reply(id.err());
            f.id = *id;
            raised.push_back(std::move(f));
        }
    }
    spdlog::info("host {}: location {} ({})", h.id, rec.verdict, sentence);
    json::object extra;
    extra["verdict"] = rec.verdict;
    extra["max_km_from_site"] = rec.max_km ? json::value(*rec.max_km) : json::value(nullptr);
    extra["min_km_from_site"] = rec.min_km ? json::value(*rec.min_km) : json::value(nullptr);
    extra["landmarks"] = std::move(detail_lms);
    extra["refused"] = rejected.size();
    return finish_appraisal(ctx, std::move(tx), h, raised, now, 200, std::move(extra));
}

}  // namespace

result<void> location_round_missed(service_context& ctx, store_tx& tx, host_record& h, std::int64_t now,
                                   std::vector<finding_record>& raised) {
    h.location_due_at = 0;
    ++h.location_misses;
    spdlog::warn("host {}: location round unanswered ({} in a row)", h.id, h.location_misses);
    CUSTOS_TRY_VOID(raise_finding(tx,
                                  host_finding("location-unproven", h.id,
                                               "host " + h.id + " did not answer its location round in time: its place "
                                               "is unproven until it does",
                                               now),
                                  raised));
    if (h.location_misses < ctx.cfg.location_miss_limit) return {};
    return raise_finding(tx,
                         host_finding("location-rounds-missed", h.id,
                                      "host " + h.id + " left " + std::to_string(ctx.cfg.location_miss_limit) +
                                          " or more location rounds in a row unanswered: a host that will not prove "
                                          "where it is is treated as not where it should be",
                                          now),
                         raised);
}

result<std::optional<json::object>> open_location_round(service_context& ctx, store_tx& tx, host_record& h,
                                                        std::int64_t now, std::vector<finding_record>& raised) {
    if (h.state != "approved" || h.site.empty()) return std::optional<json::object>{};
    CUSTOS_TRY(lms, tx.site_landmarks(h.site));
    if (lms.empty()) return std::optional<json::object>{};
    if (h.location_due_at != 0 && h.location_due_at < now) CUSTOS_TRY_VOID(location_round_missed(ctx, tx, h, now, raised));
    bytes nonce(policy::location_nonce_size);
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return make_error(errc::crypto, "no randomness");
    const std::int64_t ttl = round_ttl_s(ctx, lms.size());
    CUSTOS_TRY_VOID(tx.insert_challenge(round_key(nonce), h.id, now + ttl));
    // A round already owed and not yet expired keeps its own deadline: a new round does not extend it.
    if (h.location_due_at == 0) h.location_due_at = now + ttl;
    json::array targets;
    for (const auto& l : lms) targets.push_back(json::object{{"id", l.id}, {"address", l.address}});
    return std::optional<json::object>(json::object{{"round", to_base64(nonce)},
                                                    {"samples", ctx.cfg.location_samples},
                                                    {"timeout_ms", ctx.cfg.location_timeout_ms},
                                                    {"expires_in_s", ttl},
                                                    {"landmarks", std::move(targets)}});
}

void register_location_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/location", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return post_location(ctx, req, rc); });
}

}  // namespace custos::verifier
