// POST /v1/reports: signed reports between rounds (rounds/reports.hpp), appended to the host's hash chain.
#include <boost/json.hpp>

#include "attest/messages.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/api_common.hpp"
#include "verifier/rounds/reports.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

net::http_response post_reports(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    auto msg = attest::parse_reports_request(req.body);
    if (!msg) return error_reply(msg.err());
    // Parse and signature checks outside the transaction: this is the CPU work, done in parallel by the
    // server's threads; the transaction then only does the chain bookkeeping.
    const auto checked = check_reports(std::move(msg).value());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto out = ingest_reports(ctx, *agent.tx, agent.host, checked, now);
    if (!out) return error_reply(out.err());
    if (auto c = agent.tx->commit(); !c) return error_reply(c.err());
    for (const auto& r : out->answer.at("results").as_array()) ctx.stats.count_report(r.at("status").as_string().c_str());
    ctx.publish(out->raised);
    return json_reply(200, out->answer);
}

}  // namespace

void register_report_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/reports", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return post_reports(ctx, req, rc); });
}

}  // namespace custos::verifier
