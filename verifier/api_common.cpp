#include "verifier/api_common.hpp"

#include "attest/messages.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>

#include "crypto/strict_json.hpp"

namespace custos::verifier {

std::optional<net::http_response> require_operator(const net::request_context& ctx) {
    if (!ctx.client_verified)
        return net::json_error(401, "unauthorized", "this endpoint needs the operator's client certificate");
    if (ctx.client_ou != "operator")
        return net::json_error(403, "forbidden", "this endpoint is for operators; the client certificate's role is \"" +
                                                     ctx.client_ou + "\"");
    return std::nullopt;
}

std::optional<net::http_response> require_operator_or_auditor(const net::request_context& ctx) {
    if (!ctx.client_verified)
        return net::json_error(401, "unauthorized", "this endpoint needs an operator's or auditor's client certificate");
    if (ctx.client_ou != "operator" && ctx.client_ou != "auditor")
        return net::json_error(403, "forbidden", "this endpoint is for operators and auditors; the client certificate's role is \"" +
                                                     ctx.client_ou + "\"");
    return std::nullopt;
}

net::http_response json_reply(unsigned status, const boost::json::value& v) {
    return net::http_response{status, "application/json", boost::json::serialize(v)};
}

net::http_response error_reply(const error& e) {
    switch (e.code) {
    case errc::parse:
    case errc::structure:
    case errc::invalid_argument:
        return net::json_error(400, "bad-request", e.message);
    default:
        return net::json_error(500, "internal", e.message);
    }
}

result<boost::json::value> parse_body(const std::string& body, const char* what,
                                      std::initializer_list<std::string_view> fields) {
    CUSTOS_TRY(v, sjson::parse(body, what));
    CUSTOS_TRY(o, sjson::object_reader::of(v, what));
    CUSTOS_TRY_VOID(o.only(fields));
    return v;
}

bool valid_id(std::string_view id) noexcept { return attest::valid_id(id); }

std::int64_t unix_now() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "a=1&b=2" with only the allowed keys, each at most once. Values are taken as sent: every value this API
// accepts (ids, rule names, numbers) is made of characters that need no percent-encoding, so a '%' or '+'
// is refused by the value checks rather than decoded.
result<std::map<std::string, std::string>> query_params(std::string_view target,
                                                        std::initializer_list<std::string_view> allowed) {
    std::map<std::string, std::string> out;
    const auto q = target.find('?');
    if (q == std::string_view::npos) return out;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view kv = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (kv.empty()) continue;
        const auto eq = kv.find('=');
        const std::string k(kv.substr(0, eq).substr(0, 64)), v(eq == std::string_view::npos ? "" : kv.substr(eq + 1));
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
            return make_error(errc::invalid_argument, "unknown query parameter \"" + k + "\"");
        if (!out.emplace(k, v).second)
            return make_error(errc::invalid_argument, "query parameter \"" + k + "\" is given twice");
    }
    return out;
}

unsigned http_status(refusal_kind k) noexcept {
    switch (k) {
    case refusal_kind::not_found: return 404;
    case refusal_kind::forbidden: return 403;
    case refusal_kind::conflict: return 409;
    case refusal_kind::unprocessable: return 422;
    case refusal_kind::unavailable: return 503;
    }
    return 500;
}

net::http_response refusal_reply(const refusal& r) { return net::json_error(http_status(r.kind), r.code, r.detail); }

}  // namespace custos::verifier
