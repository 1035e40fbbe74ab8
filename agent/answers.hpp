// The agent's reading of the verifier's answers: strict about what it uses and tolerant of what it does not,
// and never throwing. A verifier (or whoever answers in its place) controls these bytes, so a malformed
// answer is an error the daemon logs, not an exception out of it. The parsers are pure; fetch_challenge is
// the one request here, shared by the round, the key binding and the model-key request.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"
#include "net/https_client.hpp"

namespace custos::agent {

// POST /v1/challenge → {"nonce":"b64 32 bytes","pcr_selection":"…",…}.
struct challenge_answer {
    bytes nonce;
    std::string pcr_selection;
};
result<challenge_answer> parse_challenge_answer(std::string_view body);

// Transport trouble, 5xx or 401 (the verifier unwell, or this host's certificate refused): errc::io, so
// callers keep what is spooled and try again later.
error unreachable(const std::string& what, const net::http_reply& r);
// POST /v1/challenge and its answer: unreachable() as above, any other refusal errc::mismatch naming it.
result<challenge_answer> fetch_challenge(net::https_client& c);

// POST /v1/attest → {"status","next_round_s","ima_next","location",…}; every field optional (a 422 carries
// only some), but a field that is present must have its type and range.
struct attest_answer {
    std::string status;                      // empty when absent
    std::optional<unsigned> next_round_s;    // 1 … 86400
    std::optional<std::uint64_t> ima_next;
    std::optional<boost::json::object> location;
};
result<attest_answer> parse_attest_answer(std::string_view body);

// POST /v1/reports → {"results":[{"seq","status","reason"?}…],"next_report_s"?}; exactly `sent` results.
struct report_result {
    std::string status;  // accepted, duplicate, rejected
    std::string reason;
};
struct reports_answer {
    std::vector<report_result> results;
    std::optional<unsigned> next_report_s;  // 1 … 86400
};
result<reports_answer> parse_reports_answer(std::string_view body, std::size_t sent);

// An attest answer's "location": a location round to answer, {"round":"b64 32 bytes","samples":1…64,
// "timeout_ms":1…60000,"landmarks":[{"id","address"}…] (at most 64)}.
struct location_round {
    bytes round;
    unsigned samples = 0;
    unsigned timeout_ms = 0;
    struct landmark {
        std::string id;       // 1 … 64 characters
        std::string address;  // HOST:PORT, 1 … 256 characters
    };
    std::vector<landmark> landmarks;
};
result<location_round> parse_location_round(const boost::json::object& o);
// POST /v1/location → {"verdict",…}.
result<std::string> parse_location_answer(std::string_view body);

// POST /v1/keys → {"lease","model_root":"hex 32 bytes","wrapped_key":"b64","expires_in_s"}; a lease id is
// 1 … 128 characters and a TTL 1 … 86400 s (a larger one would overflow the agent's clock arithmetic).
struct key_answer {
    std::string lease;
    bytes model_root;
    bytes wrapped_key;
    unsigned expires_in_s = 0;
};
result<key_answer> parse_key_answer(std::string_view body);
// POST /v1/leases/renew → {"expires_in_s"}: the new TTL, 1 … 86400 s.
result<unsigned> parse_renew_answer(std::string_view body);

}  // namespace custos::agent
