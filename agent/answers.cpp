#include "agent/answers.hpp"

#include "crypto/strict_json.hpp"

namespace custos::agent {
namespace json = boost::json;
namespace {

// An interval the verifier may ask for: a whole number of seconds, 1 … 86400.
result<std::optional<unsigned>> interval(const sjson::object_reader& o, std::string_view key) {
    CUSTOS_TRY(v, o.opt_u64(key));
    if (!v) return std::optional<unsigned>{};
    if (*v < 1 || *v > 86'400) return o.bad(key, "must be between 1 and 86400 seconds");
    return std::optional<unsigned>(static_cast<unsigned>(*v));
}

}  // namespace

result<challenge_answer> parse_challenge_answer(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "challenge answer", 4));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "challenge answer"));
    challenge_answer a;
    CUSTOS_TRY(nonce, o.b64("nonce"));
    if (nonce.size() < 16 || nonce.size() > 64) return o.bad("nonce", "must be 16 to 64 bytes");
    a.nonce = std::move(nonce);
    CUSTOS_TRY(sel, o.str("pcr_selection"));
    if (sel.size() > 256) return o.bad("pcr_selection", "is too long");
    a.pcr_selection = std::move(sel);
    return a;
}

error unreachable(const std::string& what, const net::http_reply& r) {
    return make_error(errc::io, what + ": HTTP " + std::to_string(r.status) + ": " + net::reply_detail(r));
}

result<challenge_answer> fetch_challenge(net::https_client& c) {
    CUSTOS_TRY(r, c.request("POST", "/v1/challenge", "{}"));
    if (r.status >= 500 || r.status == 401) return unreachable("challenge", r);
    if (r.status != 200)
        return make_error(errc::mismatch, "challenge refused: HTTP " + std::to_string(r.status) + ": " + net::reply_detail(r));
    return parse_challenge_answer(r.body);
}

result<attest_answer> parse_attest_answer(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "attest answer", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "attest answer"));
    attest_answer a;
    CUSTOS_TRY(status, o.opt_str("status"));
    if (status) a.status = status->substr(0, 64);
    CUSTOS_TRY(next, interval(o, "next_round_s"));
    a.next_round_s = next;
    CUSTOS_TRY(ima, o.opt_u64("ima_next"));
    a.ima_next = ima;
    if (o.has("location")) {
        CUSTOS_TRY(loc, o.value("location"));
        if (!loc->is_object()) return o.bad("location", "must be an object");
        a.location = loc->as_object();
    }
    return a;
}

result<reports_answer> parse_reports_answer(std::string_view body, std::size_t sent) {
    CUSTOS_TRY(v, sjson::parse(body, "reports answer", 6));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "reports answer"));
    reports_answer a;
    CUSTOS_TRY(results, o.arr("results"));
    if (results->size() != sent)
        return make_error(errc::structure, "reports answer: " + std::to_string(results->size()) + " results for " +
                                               std::to_string(sent) + " reports sent");
    for (std::size_t i = 0; i < results->size(); ++i) {
        CUSTOS_TRY(r, sjson::object_reader::of((*results)[i], "reports answer: results[" + std::to_string(i) + "]"));
        CUSTOS_TRY(status, r.str("status"));
        if (status != "accepted" && status != "duplicate" && status != "rejected")
            return r.bad("status", "must be accepted, duplicate or rejected");
        CUSTOS_TRY(reason, r.opt_str("reason"));
        a.results.push_back({std::move(status), reason ? reason->substr(0, 1024) : std::string()});
    }
    CUSTOS_TRY(next, interval(o, "next_report_s"));
    a.next_report_s = next;
    return a;
}

result<location_round> parse_location_round(const boost::json::object& obj) {
    const boost::json::value v(obj);
    CUSTOS_TRY(o, sjson::object_reader::of(v, "location request"));
    location_round r;
    CUSTOS_TRY(round, o.b64("round"));
    if (round.size() != 32) return o.bad("round", "must be 32 bytes");
    r.round = std::move(round);
    CUSTOS_TRY(samples, o.u64("samples"));
    if (samples < 1 || samples > 64) return o.bad("samples", "must be 1 to 64");
    r.samples = static_cast<unsigned>(samples);
    CUSTOS_TRY(timeout, o.u64("timeout_ms"));
    if (timeout < 1 || timeout > 60'000) return o.bad("timeout_ms", "must be 1 to 60000");
    r.timeout_ms = static_cast<unsigned>(timeout);
    CUSTOS_TRY(arr, o.arr("landmarks"));
    if (arr->size() > 64) return o.bad("landmarks", "holds more than 64");
    for (std::size_t i = 0; i < arr->size(); ++i) {
        CUSTOS_TRY(lo, sjson::object_reader::of((*arr)[i], "location request: landmarks[" + std::to_string(i) + "]"));
        CUSTOS_TRY(id, lo.str("id"));
        CUSTOS_TRY(address, lo.str("address"));
        if (id.empty() || id.size() > 64) return lo.bad("id", "must be 1 to 64 characters");
        if (address.empty() || address.size() > 256) return lo.bad("address", "must be 1 to 256 characters");
        r.landmarks.push_back({std::move(id), std::move(address)});
    }
    return r;
}

result<std::string> parse_location_answer(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "location answer", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "location answer"));
    CUSTOS_TRY(verdict, o.str("verdict"));
    return verdict.substr(0, 64);
}

namespace {

result<unsigned> lease_ttl(const sjson::object_reader& o) {
    CUSTOS_TRY(ttl, o.u64("expires_in_s"));
    if (ttl < 1 || ttl > 86'400) return o.bad("expires_in_s", "must be between 1 and 86400 seconds");
    return static_cast<unsigned>(ttl);
}

}  // namespace

result<key_answer> parse_key_answer(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "key answer", 4));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "key answer"));
    key_answer a;
    CUSTOS_TRY(lease, o.str("lease"));
    if (lease.empty() || lease.size() > 128) return o.bad("lease", "must be 1 to 128 characters");
    a.lease = std::move(lease);
    CUSTOS_TRY(root, o.hex("model_root", 32));
    a.model_root = std::move(root);
    CUSTOS_TRY(wrapped, o.b64("wrapped_key"));
    if (wrapped.empty() || wrapped.size() > 4096) return o.bad("wrapped_key", "must be 1 to 4096 bytes");
    a.wrapped_key = std::move(wrapped);
    CUSTOS_TRY(ttl, lease_ttl(o));
    a.expires_in_s = ttl;
    return a;
}

result<unsigned> parse_renew_answer(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "lease renewal answer", 4));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "lease renewal answer"));
    return lease_ttl(o);
}

}  // namespace custos::agent
