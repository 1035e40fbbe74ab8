// Helpers every verifier API module shares: role checks, JSON answers, id syntax, the clock.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/result.hpp"
#include "net/https_server.hpp"
#include "verifier/log_events.hpp"
#include "verifier/rounds/outcome.hpp"

namespace custos::verifier {

// The operator's client certificate: verified by the server against the private CA, subject OU "operator".
// std::nullopt when allowed; otherwise the 401/403 answer to send.
std::optional<net::http_response> require_operator(const net::request_context& ctx);
// The same for read-only endpoints an auditor may also use (the transparency log, evidence export): the
// role "operator" or "auditor".
std::optional<net::http_response> require_operator_or_auditor(const net::request_context& ctx);

// A route handler for an operator's write: fn(request, actor) runs only for the operator role, and is
// given who made the request for the action's transparency-log entry (log_events.hpp).
template <class Fn>
auto operator_write(Fn fn) {
    return [fn](const net::http_request& req, const net::request_context& rc) {
        if (auto deny = require_operator(rc)) return *deny;
        return fn(req, actor_of(rc));
    };
}

// A JSON value as an HTTP answer (compact serialisation).
net::http_response json_reply(unsigned status, const boost::json::value& v);
// An errc-classified error as an HTTP answer: parse/structure/invalid_argument → 400, the rest → 500.
net::http_response error_reply(const error& e);

// A use case's refusal as an HTTP answer: {"error": code, "detail": ...} with http_status(kind).
net::http_response refusal_reply(const refusal& r);

// A request body: strict JSON, an object holding only `fields` (errors name the message and the field).
result<boost::json::value> parse_body(const std::string& body, const char* what,
                                      std::initializer_list<std::string_view> fields);

// Host, site and entity ids: [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
bool valid_id(std::string_view id) noexcept;

// "a=1&b=2" with only the allowed keys, each at most once (errors name the key).
result<std::map<std::string, std::string>> query_params(std::string_view target,
                                                        std::initializer_list<std::string_view> allowed);

// Seconds since the Unix epoch.
std::int64_t unix_now() noexcept;

}  // namespace custos::verifier
