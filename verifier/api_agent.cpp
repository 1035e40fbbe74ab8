// POST /v1/challenge, /v1/attest and /v1/report-key: each request parsed into its typed message
// (attest/messages.hpp), handed to its use case (rounds/attestation.hpp), committed and answered.
#include <boost/json.hpp>

#include "attest/messages.hpp"
#include "crypto/jwt.hpp"
#include "verifier/agent_auth.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/log_events.hpp"
#include "verifier/rounds/attestation.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

net::http_response challenge(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    if (req.body.size() > 2 && req.body.find_first_not_of(" \t\r\n{}") != std::string::npos)
        return net::json_error(400, "bad-request", "challenge request: the body must be {}");
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto out = issue_challenge(ctx, *agent.tx, agent.host, now);
    if (!out) return error_reply(out.err());
    if (auto c = agent.tx->commit(); !c) return error_reply(c.err());
    return json_reply(200, *out);
}

net::http_response attest_round(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    // Parsed once, before touching the store (attest/messages.hpp): a malformed body changes nothing.
    auto msg = attest::parse_attest_request(req.body);
    if (!msg) return error_reply(msg.err());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto out = attestation_round(ctx, *agent.tx, agent.host, *msg, now);
    if (!out) return error_reply(out.err());
    if (out->refused && !out->keep_writes) return finish_refusal(ctx, std::move(agent.tx), *out);
    // A refused round that recorded its finding is answered as an appraisal: the finding and the status after it.
    const unsigned code = out->refused ? http_status(out->refused->kind) : 200;
    // The round as an auditor re-checks it (nonce, evidence, quote), without the logs it replayed.
    attest::attest_request kept{msg->nonce, msg->evidence, msg->quote, std::nullopt, std::nullopt, {}, {}};
    const std::string round = attest::encode_attest_request(kept);
    return finish_appraisal(ctx, std::move(agent.tx), agent.host, out->raised, now, code, std::move(out->answer),
                            as_bytes(round), "attest");
}

// POST /v1/report-key {"report_key","prev_seq","prev_hash","nonce","quote"} (rounds/attestation.hpp).
net::http_response report_key(service_context& ctx, const net::http_request& req, const net::request_context& rc) {
    if (auto deny = require_agent_role(rc)) return *deny;
    auto msg = attest::parse_key_binding_request(req.body);
    if (!msg) return error_reply(msg.err());
    const std::int64_t now = unix_now();
    auto session = begin_agent_session(*ctx.db, rc);
    if (auto* resp = std::get_if<net::http_response>(&session)) return *resp;
    auto& agent = std::get<agent_session>(session);
    auto& h = agent.host;
    auto out = bind_report_key(ctx, *agent.tx, h, *msg, now);
    if (!out) return error_reply(out.err());
    if (out->refused && !out->keep_writes) return finish_refusal(ctx, std::move(agent.tx), *out);
    // Bound or refused, the finding and the host's status are recorded.
    if (!out->refused)
        if (auto x = agent.tx->append_log(report_key_entry(h.id, msg->report_key, msg->prev_seq, now)); !x) return error_reply(x.err());
    if (auto s = refresh_status(*agent.tx, h, now, out->raised, ctx.overdue_window_s()); !s) return error_reply(s.err());
    if (auto x = agent.tx->put_host(h); !x) return error_reply(x.err());
    if (auto c = agent.tx->commit(); !c) return error_reply(c.err());
    ctx.publish(out->raised);
    if (out->refused) return refusal_reply(*out->refused);
    out->answer["host_status"] = h.status;
    json::array fs;
    for (const auto& f : out->raised) fs.push_back(finding_to_json(f));
    out->answer["findings"] = std::move(fs);
    return json_reply(200, out->answer);
}

}  // namespace

// The signed attestation result for the host's current open findings.
result<std::string> sign_result(const service_context& ctx, const host_record& h,
                                const std::vector<finding_record>& open, std::int64_t now) {
    json::object claims;
    claims["iss"] = "custos-verifier";
    claims["sub"] = h.id;
    claims["iat"] = now;
    claims["eat_profile"] = "tag:custos.dev,2026:ear-v1";
    claims["ear.status"] = h.status;
    json::array fs;
    for (const auto& f : open) fs.push_back(finding_to_json(f));
    claims["custos.findings"] = std::move(fs);
    return jwt::sign_es256(ctx.result_key.get(), json::serialize(claims));
}

// Status, signed result, appraisal row, host row, commit; then publish. The answer for the agent.
net::http_response finish_appraisal(service_context& ctx, std::unique_ptr<store_tx> tx, host_record& h,
                                    std::vector<finding_record>& raised, std::int64_t now, unsigned status_code,
                                    json::object extra, byte_view round_evidence, std::string_view round_kind) {
    auto open = refresh_status(*tx, h, now, raised, ctx.overdue_window_s());
    if (!open) return error_reply(open.err());
    auto token = sign_result(ctx, h, *open, now);
    if (!token) return error_reply(token.err());
    if (auto x = tx->insert_appraisal({h.id, now, h.status, *token, bytes(round_evidence.begin(), round_evidence.end())}); !x)
        return error_reply(x.err());
    if (auto x = tx->append_log(result_entry(h, now, *token, round_evidence, round_kind)); !x) return error_reply(x.err());
    if (auto x = tx->put_host(h); !x) return error_reply(x.err());
    if (auto c = tx->commit(); !c) return error_reply(c.err());
    ctx.stats.count_appraisal(h.status);
    ctx.publish(raised);
    extra["status"] = h.status;
    extra["result"] = *token;
    json::array fs;
    for (const auto& f : raised) fs.push_back(finding_to_json(f));
    extra["findings"] = std::move(fs);
    return json_reply(status_code, extra);
}

net::http_response finish_refusal(service_context& ctx, std::unique_ptr<store_tx> tx, const outcome& out) {
    if (out.keep_writes) {
        if (auto c = tx->commit(); !c) return error_reply(c.err());
        ctx.publish(out.raised);
    }
    return refusal_reply(*out.refused);
}

void register_agent_routes(net::https_server& srv, service_context& ctx) {
    srv.route("POST", "/v1/challenge", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return challenge(ctx, req, rc); });
    srv.route("POST", "/v1/attest", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return attest_round(ctx, req, rc); });
    srv.route("POST", "/v1/report-key", net::auth::client_cert,
              [&ctx](const net::http_request& req, const net::request_context& rc) { return report_key(ctx, req, rc); });
}

}  // namespace custos::verifier
