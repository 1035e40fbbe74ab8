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

}  // namespace custos::agent
