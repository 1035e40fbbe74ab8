#include "verifier/rounds/location.hpp"

#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "policy/geo.hpp"
#include "policy/location_proof.hpp"
#include "verifier/findings.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

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

}  // namespace

location_judgement judge_location(const location_facts& f, const attest::location_proof_request& msg) {
    const host_record& h = *f.host;
    const site_record& site = *f.site;
    location_judgement j;
    std::map<std::string, landmark_tally> tally;
    for (const auto& l : *f.landmarks) tally[l.id].lm = &l;
    std::vector<std::string> rejected;
    for (std::size_t i = 0; i < msg.proofs.size(); ++i) {
        const auto& p = msg.proofs[i];
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
        auto s = policy::verify_landmark_statement(p.statement, p.sig, t->second.lm->public_key, msg.round, {});
        if (!s) {
            rejected.push_back(s.err().message);
            continue;
        }
        // Only the host's current report key answers: a retired one (an earlier agent start or boot) may be in
        // anyone's hands by now.
        if (!f.current_keys.count(s->statement.agent_key)) {
            rejected.push_back("statement of landmark " + t->first + ": answered by a key that is not host " + h.id +
                               "'s current report key (never bound by its quotes, or retired)");
            continue;
        }
        const double t_send_s = static_cast<double>(s->statement.t_send_us) / 1e6;
        if (std::abs(t_send_s - static_cast<double>(f.now)) > static_cast<double>(f.window_s)) {
            rejected.push_back("statement of landmark " + t->first + ": its time is " +
                               std::to_string(static_cast<std::int64_t>(t_send_s - static_cast<double>(f.now))) +
                               " s from the verifier's clock (at most " + std::to_string(f.window_s) + ")");
            continue;
        }
        j.accepted.push_back(i);
        auto& tl = t->second;
        tl.min_rtt_ms = tl.samples ? std::min(tl.min_rtt_ms, s->rtt_ms) : s->rtt_ms;
        ++tl.samples;
    }

    std::vector<policy::landmark_rtt> in;
    for (const auto& [id, tl] : tally) {
        json::object d{{"id", id}, {"samples", tl.samples}};
        if (tl.samples) {
            in.push_back({tl.lm->lat, tl.lm->lon, tl.min_rtt_ms});
            d["rtt_ms"] = tl.min_rtt_ms;
            d["radius_km"] = std::min(tl.min_rtt_ms / 2 * f.speed_km_per_ms, M_PI * policy::earth_radius_km);
            d["km_from_site"] = policy::great_circle_km(site.lat, site.lon, tl.lm->lat, tl.lm->lon);
        } else {
            d["rtt_ms"] = nullptr;
        }
        j.landmarks.push_back(std::move(d));
    }
    host_location_record& rec = j.record;
    rec.host_id = h.id;
    rec.time = f.now;
    std::string sentence;
    auto b = in.empty() ? result<policy::location_bound>(make_error(errc::invalid_argument, "no samples"))
                        : policy::bound_location(site.lat, site.lon, site.max_km, in, f.speed_km_per_ms);
    if (!b) {
        // No landmark gave a valid sample (or the bound could not be drawn from them).
        rec.verdict = "unproven";
        sentence = f.landmarks->empty() ? "site " + h.site + " has no landmarks"
                   : in.empty()         ? "no landmark of site " + h.site + " gave a valid sample"
                                        : "the samples bound nothing: " + b.err().message;
    } else {
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
                       " (allowed: within " + km(site.max_km) + " km)";
    }
    json::array errs;
    for (const auto& e : msg.errors) errs.emplace_back(e);
    for (const auto& e : rejected) errs.emplace_back(e);
    rec.detail_json = json::serialize(json::object{{"landmarks", j.landmarks}, {"errors", errs}});
    j.rule = rec.verdict == "within" ? "" : "location-" + rec.verdict;
    j.why = sentence;
    if (!rejected.empty()) j.why += "; " + std::to_string(rejected.size()) + " statement(s) refused: " + rejected.front();
    if (!msg.errors.empty()) j.why += "; the agent reported: " + msg.errors.front();
    j.refused = rejected.size();
    return j;
}

result<outcome> take_location_proof(service_context& ctx, store_tx& tx, host_record& h,
                                    const attest::location_proof_request& msg, std::int64_t now) {
    CUSTOS_TRY(round, tx.take_challenge(round_key(msg.round)));
    if (!round || round->host_id != h.id)
        return refused(refusal_kind::conflict, "unknown-round",
                       "location proof: the round nonce was not issued to this host or was already used", false);
    if (round->expires_at < now)
        return refused(refusal_kind::conflict, "expired-round", "location proof: the round expired before the proof arrived", false);
    if (h.state != "approved" || h.site.empty())
        return refused(refusal_kind::conflict, "not-approved", "location proof: host " + h.id + " is not approved to a site", false);
    CUSTOS_TRY(site, tx.get_site(h.site));
    if (!site) return refused(refusal_kind::conflict, "no-site", "location proof: site " + h.site + " is not on record", false);
    CUSTOS_TRY(lms, tx.site_landmarks(h.site));
    CUSTOS_TRY(keys, tx.list_report_keys(h.id));
    location_facts f;
    f.host = &h;
    f.site = &*site;
    f.landmarks = &lms;
    for (const auto& k : keys)
        if (k.current()) f.current_keys.insert(k.key);
    f.now = now;
    f.window_s = round_ttl_s(ctx, lms.size()) + ctx.cfg.landmark_clock_skew_s;
    f.speed_km_per_ms = ctx.cfg.speed_km_per_ms;
    location_judgement j = judge_location(f, msg);
    CUSTOS_TRY_VOID(tx.put_host_location(j.record));
    // The round is answered (whatever the verdict): nothing is owed, and the run of misses ends.
    h.location_due_at = 0;
    h.location_misses = 0;
    outcome out;
    for (const char* r : location_rules) {
        if (r == j.rule) continue;
        CUSTOS_TRY_VOID(tx.resolve_findings(h.id, std::string(r), now));
    }
    // One open finding per rule and host: the numbers change every round, the fact does not.
    if (!j.rule.empty()) {
        CUSTOS_TRY_VOID(tx.serialize_on("finding\n" + h.id + "\n" + j.rule));
        CUSTOS_TRY(open, tx.count_open_rule(h.id, j.rule));
        if (open == 0) {
            finding_record fr = host_finding(j.rule, h.id, j.why, now);
            CUSTOS_TRY(id, tx.insert_finding(fr));
            fr.id = id;
            out.raised.push_back(std::move(fr));
        }
    }
    spdlog::info("host {}: location {} ({})", h.id, j.record.verdict, j.why);
    // What an auditor replays (docs/transparency-log.md, "Location rounds"): the proof as the agent sent it
    // and every input the verdict followed, hashed into the round's log entry.
    json::array used;
    for (const auto& l : lms)
        used.push_back(json::object{{"id", l.id}, {"lat", l.lat}, {"lon", l.lon}, {"public_key", to_base64(l.public_key)}});
    json::array accepted;
    for (auto i : j.accepted) accepted.push_back(i);
    auto opt_km = [](const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); };
    out.round_kind = "location";
    out.round_evidence = json::serialize(json::object{
        {"request", json::parse(attest::encode_location_proof_request(msg))},
        {"site", json::object{{"id", site->id}, {"lat", site->lat}, {"lon", site->lon}, {"max_km", site->max_km}}},
        {"landmarks", std::move(used)},
        {"speed_km_per_ms", f.speed_km_per_ms},
        {"accepted", std::move(accepted)},
        {"verdict", j.record.verdict},
        {"max_km_from_site", opt_km(j.record.max_km)},
        {"min_km_from_site", opt_km(j.record.min_km)}});
    out.answer["verdict"] = j.record.verdict;
    out.answer["max_km_from_site"] = j.record.max_km ? json::value(*j.record.max_km) : json::value(nullptr);
    out.answer["min_km_from_site"] = j.record.min_km ? json::value(*j.record.min_km) : json::value(nullptr);
    out.answer["landmarks"] = std::move(j.landmarks);
    out.answer["refused"] = j.refused;
    return out;
}

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

}  // namespace custos::verifier
