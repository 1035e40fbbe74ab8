// POST /v1/location: an agent hands in its landmarks' signed statements for the location round its last
// attest answer opened (rounds/location.hpp decides; this parses, commits and answers).
#include <boost/json.hpp>

#include "attest/messages.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/api_common.hpp"
#include "verifier/rounds/location.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace {

net::http_response post_location(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    auto msg = attest::parse_location_proof_request(req.body);
    if (!msg) return error_reply(msg.err());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto out = take_location_proof(ctx, *agent.tx, agent.host, *msg, now);
    if (!out) return error_reply(out.err());
    if (out->refused) return finish_refusal(ctx, std::move(agent.tx), *out);
    return finish_appraisal(ctx, std::move(agent.tx), agent.host, out->raised, now, 200, std::move(out->answer),
                            as_bytes(out->round_evidence), out->round_kind);
}

}  // namespace

void register_location_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/location", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return post_location(ctx, req, rc); });
}

}  // namespace custos::verifier
