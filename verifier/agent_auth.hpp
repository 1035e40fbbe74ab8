// Who is calling an agent endpoint: the client certificate the verifier issued at the host's latest
// enrollment (role agent, fingerprint on record, host not decommissioned).
#pragma once

#include <memory>
#include <optional>
#include <variant>

#include "net/https_server.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

// The cheap check done before a body is even parsed: a verified certificate with the agent role.
std::optional<net::http_response> require_agent_role(const net::request_context& ctx);

// The host record, or the 401/403 answer to send.
std::variant<host_record, net::http_response> authorize_agent(store_tx& tx, const net::request_context& ctx);

// A write transaction opened for an authorized agent, with its host record.
struct agent_session {
    std::unique_ptr<store_tx> tx;
    host_record host;
};
std::variant<agent_session, net::http_response> begin_agent_session(store& db, const net::request_context& ctx);

}  // namespace custos::verifier
