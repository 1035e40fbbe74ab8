#include "verifier/agent_auth.hpp"

#include "crypto/bytes.hpp"
#include "verifier/api_common.hpp"

namespace custos::verifier {

std::optional<net::http_response> require_agent_role(const net::request_context& ctx) {
    if (!ctx.client_verified)
        return net::json_error(401, "unauthorized", "this endpoint needs the agent certificate issued at enrollment");
    if (ctx.client_ou != "agent")
        return net::json_error(403, "forbidden", "this endpoint is for agents; the client certificate's role is \"" +
                                                     ctx.client_ou + "\"");
    return std::nullopt;
}

std::variant<host_record, net::http_response> authorize_agent(store_tx& tx, const net::request_context& ctx) {
    if (auto deny = require_agent_role(ctx)) return *deny;
    auto h = tx.get_host(ctx.client_cn);
    if (!h) return error_reply(h.err());
    if (!h.value()) return net::json_error(401, "unauthorized", "host \"" + ctx.client_cn + "\" is not enrolled");
    host_record host = std::move(*h.value());
    if (!equal_ct(as_bytes(host.cert_sha256), as_bytes(ctx.client_sha256)))
        return net::json_error(401, "unauthorized",
                               "this certificate is not the one issued at host \"" + host.id +
                                   "\"'s latest enrollment (it was replaced)");
    if (host.state == "decommissioned")
        return net::json_error(403, "forbidden", "host \"" + host.id + "\" is decommissioned");
    return host;
}

std::variant<agent_session, net::http_response> begin_agent_session(store& db, const net::request_context& ctx) {
    auto tx = db.begin();
    if (!tx) return error_reply(tx.err());
    auto who = authorize_agent(**tx, ctx);
    if (auto* resp = std::get_if<net::http_response>(&who)) return *resp;
    return agent_session{std::move(tx).value(), std::move(std::get<host_record>(who))};
}

}  // namespace custos::verifier
