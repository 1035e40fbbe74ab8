// The operator's API: hosts, findings, sites, entities, approval and decommissioning. Every route needs
// the operator's client certificate; every write is committed before the answer.
#pragma once

#include <boost/json/object.hpp>

#include "net/https_server.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

void register_fleet_routes(net::https_server& srv, store& db);

// A host's signed report chain from `from` (at most `limit` reports) with every report key and the quote
// that bound it, as GET /v1/hosts/<id>/reports answers and `custos report verify` checks; next_from_seq
// is null on the last page.
result<boost::json::object> report_chain_json(store_tx& tx, const host_record& h, std::uint64_t from, std::size_t limit);

}  // namespace custos::verifier
