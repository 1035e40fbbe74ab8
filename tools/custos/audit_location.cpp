#include "tools/custos/audit_location.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

#include "attest/messages.hpp"
#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"
#include "policy/geo.hpp"
#include "policy/location_proof.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

error failed(const std::string& what) { return make_error(errc::mismatch, what); }

std::string km(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

result<landmark_fact> read_landmark(const sjson::object_reader& o, std::string* id) {
    CUSTOS_TRY(i, o.str("id"));
    if (!policy::valid_landmark_id(i)) return make_error(errc::structure, "landmark id \"" + i + "\" is not valid");
    CUSTOS_TRY(lat, o.number("lat"));
    CUSTOS_TRY(lon, o.number("lon"));
    CUSTOS_TRY(key, o.b64("public_key"));
    if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) return make_error(errc::structure, "landmark " + i + ": lat/lon out of range");
    if (key.size() != policy::ed25519_key_size) return make_error(errc::structure, "landmark " + i + ": public_key is not 32 bytes");
    *id = std::move(i);
    return landmark_fact{lat, lon, std::move(key)};
}

bool same_place(double a, double b) { return std::abs(a - b) <= 1e-9; }

// c exactly: the verifier may be configured with it, and the physical bound must not be tighter than it.
constexpr double speed_of_light_km_per_ms = 299.792458;

// One statement as the auditor accepts it: the landmark's signature, the agent's, the round's nonce, an
// answer by a report key the AK bound and current at the result's chain position, made within the window
// of the result. The round trip in ms, or why not.
result<double> check_statement(byte_view statement, byte_view sig, byte_view landmark_key, byte_view round,
                               const location_round_input& in) {
    CUSTOS_TRY(s, policy::verify_landmark_statement(statement, sig, landmark_key, round, {}));
    // The current key at that point is the one bound last before it: the greatest window start at or below
    // the next report. (Windows of a retired key and its successor may overlap while spooled reports drain,
    // so an open window alone does not make a key current.)
    const std::vector<attest::chain_key> none;
    const auto& keys = in.keys ? *in.keys : none;
    std::uint64_t latest = 0;
    for (const auto& k : keys)
        if (k.from_seq <= in.chain_seq + 1) latest = std::max(latest, k.from_seq);
    bool bound = false;
    for (const auto& k : keys)
        if (equal_ct(k.key, s.statement.agent_key) && k.from_seq == latest &&
            !attest::key_window_refusal(k.from_seq, k.until_seq, in.chain_seq + 1))
            bound = true;
    if (!bound)
        return make_error(errc::mismatch, "answered by a key that is not the host's current report key at chain position " +
                                              std::to_string(in.chain_seq) + " (no quote of its AK binds it)");
    const auto t_send_s = static_cast<std::int64_t>(s.statement.t_send_us / 1'000'000);
    if (t_send_s < in.time - location_statement_window_s || t_send_s > in.time + location_statement_window_s)
        return make_error(errc::mismatch, "made " + std::to_string(t_send_s - in.time) + " s from the round's result (at most " +
                                              std::to_string(location_statement_window_s) + ")");
    return s.rtt_ms;
}

// The verdict's bound from one set of samples (per landmark: its place and minimum RTT).
std::string bound_verdict(const site_fact& s, const std::vector<policy::landmark_rtt>& in, double speed,
                          std::optional<double>* max_km = nullptr, std::optional<double>* min_km = nullptr) {
    if (in.empty()) return "unproven";
    auto b = policy::bound_location(s.lat, s.lon, s.max_km, in, speed);
    if (!b) return "unproven";
    if (max_km) *max_km = b->max_km_from_site;
    if (min_km) *min_km = b->min_km_from_site;
    return b->verdict;
}

bool near(const std::optional<double>& a, const json::value& b) {
    if (!a) return b.is_null();
    return b.is_number() && std::abs(*a - b.to_number<double>()) <= 1e-6 * std::max(1.0, std::abs(*a));
}

}  // namespace

result<location_round_check> check_location_round(const location_round_input& in) {
    CUSTOS_TRY(v, sjson::parse(in.kept, "the location round", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "the location round"));
    CUSTOS_TRY(req_v, o.value("request"));
    CUSTOS_TRY(msg, attest::parse_location_proof_request(json::serialize(*req_v)));
    CUSTOS_TRY(so, o.obj("site"));
    site_fact site;
    {
        CUSTOS_TRY(id, so.str("id"));
        CUSTOS_TRY(lat, so.number("lat"));
        CUSTOS_TRY(lon, so.number("lon"));
        CUSTOS_TRY(mk, so.number("max_km"));
        site = site_fact{std::move(id), lat, lon, mk};
    }
    CUSTOS_TRY(lms, o.arr("landmarks"));
    CUSTOS_TRY(speed, o.number("speed_km_per_ms"));
    CUSTOS_TRY(acc, o.arr("accepted"));
    CUSTOS_TRY(verdict, o.str("verdict"));
    CUSTOS_TRY(max_v, o.value("max_km_from_site"));
    CUSTOS_TRY(min_v, o.value("min_km_from_site"));

    // 1. The inputs: the site as logged, each landmark as trusted, a speed no faster than light.
    if (!in.site) return failed("no logged approval and site registration of the host's site precede the round");
    if (site.id != in.site->id) return failed("the round was judged against site " + site.id + ", but the log has the host at site " + in.site->id);
    if (!same_place(site.lat, in.site->lat) || !same_place(site.lon, in.site->lon) || !same_place(site.max_km, in.site->max_km))
        return failed("site " + site.id + ": the round used a place or max_km other than the log's registration");
    if (!(speed > 0 && speed <= speed_of_light_km_per_ms))
        return failed("the round bounded distance with a signal speed of " + std::to_string(speed) +
                      " km/ms, faster than light in vacuum (" + std::to_string(speed_of_light_km_per_ms) + ")");
    std::map<std::string, landmark_fact> used;
    for (std::size_t i = 0; i < lms->size(); ++i) {
        CUSTOS_TRY(lo, sjson::object_reader::of((*lms)[i], "landmarks[" + std::to_string(i) + "]"));
        std::string id;
        CUSTOS_TRY(l, read_landmark(lo, &id));
        const auto lg = in.logged.find(id);
        if (lg == in.logged.end()) return failed("landmark " + id + ": the round used it, but no logged registration precedes the round");
        if (!equal_ct(lg->second.key, l.key) || !same_place(lg->second.lat, l.lat) || !same_place(lg->second.lon, l.lon))
            return failed("landmark " + id + ": the round used a key or place other than the log's registration");
        if (in.trusted) {
            const auto t = in.trusted->find(id);
            if (t != in.trusted->end() && (!equal_ct(t->second.key, l.key) || !same_place(t->second.lat, l.lat) ||
                                           !same_place(t->second.lon, l.lon)))
                return failed("landmark " + id + ": the verifier's key or place for it is not the one in your landmark list");
        }
        used.emplace(std::move(id), std::move(l));
    }

    // 2. Every statement it counted verifies, answered by the host's current bound report key.
    std::set<std::size_t> counted;
    for (const auto& a : *acc) {
        if (!a.is_uint64() && !(a.is_int64() && a.as_int64() >= 0)) return make_error(errc::structure, "accepted: not an index");
        const auto i = static_cast<std::size_t>(a.to_number<std::uint64_t>());
        if (i >= msg.proofs.size() || !counted.insert(i).second)
            return make_error(errc::structure, "accepted: index " + std::to_string(i) + " is out of range or repeated");
    }
    std::map<std::string, std::pair<double, unsigned>> min_rtt;  // landmark → (ms, samples)
    const auto take = [](std::map<std::string, std::pair<double, unsigned>>& m, const std::string& id, double ms) {
        auto& e = m[id];
        e.first = e.second ? std::min(e.first, ms) : ms;
        ++e.second;
    };
    for (auto i : counted) {
        const auto& p = msg.proofs[i];
        const std::string at = "statement " + std::to_string(i);
        auto st = policy::parse_landmark_statement(p.statement);
        if (!st) return failed(at + ": counted, but it does not parse: " + st.err().message);
        const auto l = used.find(st->landmark_id);
        if (l == used.end()) return failed(at + ": counted, but landmark " + st->landmark_id + " is not one the round used");
        auto s = check_statement(p.statement, p.sig, l->second.key, msg.round, in);
        if (!s) return failed(at + " (landmark " + st->landmark_id + "): counted, but " + s.err().message);
        take(min_rtt, st->landmark_id, *s);
    }

    // 3. The verdict follows from them, and the signed result carries its finding.
    std::vector<policy::landmark_rtt> all;
    location_round_check out;
    for (const auto& [id, m] : min_rtt) {
        const auto& l = used.at(id);
        all.push_back({l.lat, l.lon, m.first});
        if (in.trusted && !in.trusted->count(id)) out.untrusted += m.second;
    }
    std::optional<double> max_km, min_km;
    const std::string replay = bound_verdict(site, all, speed, &max_km, &min_km);
    if (replay != verdict)
        return failed("the round's verdict is \"" + verdict + "\", but the statements it counted give \"" + replay + "\"");
    if (verdict != "unproven" && (!near(max_km, *max_v) || !near(min_km, *min_v)))
        return failed("the round's distances from site " + site.id + " are not what the statements it counted give (" +
                      (min_km ? km(*min_km) : "-") + "-" + (max_km ? km(*max_km) : "-") + " km)");
    for (const char* r : {"location-outside", "location-unproven", "location-impossible"}) {
        const bool should = verdict != "within" && r == "location-" + verdict;
        if (in.open_rules.count(r) != should)
            return failed(std::string("the round's verdict is \"") + verdict + "\", but its signed result " +
                          (should ? "does not list" : "lists") + " an open " + r + " finding");
    }
    out.verdict = verdict;
    out.counted = counted.size();
    out.not_counted = msg.proofs.size() - counted.size();
    // 4. Physics: every statement in the proof that verifies with a landmark the auditor trusts (its list,
    // else the log's registrations), counted by the verifier or not — a genuine statement it left out
    // still bounds the host — with light in vacuum.
    const auto& trust = in.trusted ? *in.trusted : in.logged;
    std::map<std::string, std::pair<double, unsigned>> all_rtt;
    for (const auto& p : msg.proofs) {
        auto st = policy::parse_landmark_statement(p.statement);
        if (!st) continue;
        const auto l = trust.find(st->landmark_id);
        if (l == trust.end()) continue;
        if (auto ms = check_statement(p.statement, p.sig, l->second.key, msg.round, in)) take(all_rtt, st->landmark_id, *ms);
    }
    std::vector<policy::landmark_rtt> physical;
    for (const auto& [id, m] : all_rtt) physical.push_back({trust.at(id).lat, trust.at(id).lon, m.first});
    out.physics = bound_verdict(site, physical, speed_of_light_km_per_ms);
    return out;
}

result<std::map<std::string, landmark_fact>> parse_landmark_list(std::string_view text) {
    CUSTOS_TRY(v, sjson::parse(text, "the landmark list", 8));
    const json::value* arr = &v;
    if (v.is_object()) {
        CUSTOS_TRY(o, sjson::object_reader::of(v, "the landmark list"));
        CUSTOS_TRY(a, o.value("landmarks"));
        arr = a;
    }
    if (!arr->is_array()) return make_error(errc::structure, "the landmark list is neither an array nor {\"landmarks\": [...]}");
    std::map<std::string, landmark_fact> out;
    for (std::size_t i = 0; i < arr->as_array().size(); ++i) {
        CUSTOS_TRY(o, sjson::object_reader::of(arr->as_array()[i], "landmarks[" + std::to_string(i) + "]"));
        std::string id;
        CUSTOS_TRY(l, read_landmark(o, &id));
        if (!out.emplace(id, std::move(l)).second) return make_error(errc::structure, "the landmark list names " + id + " twice");
    }
    return out;
}

}  // namespace custos::cli
