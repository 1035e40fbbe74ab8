// The location round as a use case: the round an attest answer opens (open_location_round), the proof an
// agent hands in (POST /v1/location: its landmarks' signed statements), and a round left unanswered. Each
// statement is checked (policy/location_proof.hpp: parse, structure, landmark signature, agent signature,
// round nonce), its agent key must be the host's current report key, and the minimum RTT per landmark
// bounds the host (policy/geo.hpp) against its site's max_km.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "attest/messages.hpp"
#include "verifier/rounds/outcome.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {

// What judge_location reads, gathered by the use case.
struct location_facts {
    const host_record* host = nullptr;
    const site_record* site = nullptr;
    const std::vector<landmark_record>* landmarks = nullptr;  // the site's
    std::set<bytes> current_keys;  // the host's current report keys (retired ones may be in anyone's hands)
    std::int64_t now = 0;
    std::int64_t window_s = 0;     // how far a statement's time may be from now (round TTL + clock skew)
    double speed_km_per_ms = 0;    // signal speed bounding distance by RTT
};

struct location_judgement {
    host_location_record record;       // verdict (within, outside, impossible, unproven), bounds, detail_json
    std::string rule;                  // the finding the verdict raises ("" for within)
    std::string why;                   // its detail: the bound, the first refused statement, the agent's error
    std::size_t refused = 0;           // statements refused
    std::vector<std::size_t> accepted;  // indices into the request's proofs of the statements counted
    boost::json::array landmarks;      // per landmark: samples, rtt_ms, radius_km, km_from_site
};
// The proof, statement by statement, then the bound. Pure: no store, no clock but facts.now.
location_judgement judge_location(const location_facts& f, const attest::location_proof_request& msg);

// A location round for an approved host whose site has landmarks (std::nullopt otherwise): the round nonce
// is stored (single use, like a challenge) and the object is what the attest answer carries as "location".
// The host owes an answer until the round expires (h.location_due_at); a round still owed is a miss first.
result<std::optional<boost::json::object>> open_location_round(service_context& ctx, store_tx& tx, host_record& h,
                                                               std::int64_t now, std::vector<finding_record>& raised);
// An owed location round that expired unanswered: location-unproven (warning), and location-rounds-missed
// (violation) once miss_limit rounds in a row went unanswered. Updates h (caller stores it).
result<void> location_round_missed(service_context& ctx, store_tx& tx, host_record& h, std::int64_t now,
                                   std::vector<finding_record>& raised);

// A location proof: the round must be this host's, unused and unexpired (conflict otherwise, nothing
// recorded), the host approved to a site on record. The verdict is stored, its finding raised (one open
// per rule) and the others resolved; the round is answered whatever the verdict. Updates h; the handler
// finishes it as an appraisal.
result<outcome> take_location_proof(service_context& ctx, store_tx& tx, host_record& h,
                                    const attest::location_proof_request& msg, std::int64_t now);

}  // namespace custos::verifier
