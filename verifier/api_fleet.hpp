// The operator's API: hosts, findings, sites, entities, approval and decommissioning. Every route needs
// the operator's client certificate; every write is committed before the answer.
#pragma once

#include "net/https_server.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

void register_fleet_routes(net::https_server& srv, store& db);

}  // namespace custos::verifier
