// A location round in an evidence bundle, replayed offline (docs/transparency-log.md, "Location rounds").
// The verifier keeps, beside each location round's result, the proof as the agent sent it (every landmark's
// signed statement) and every input its verdict followed: the site, the landmarks' places and keys, the
// signal speed, which statements it counted, and the verdict. The round's log entry holds the SHA-256 of
// all of it. An auditor re-checks that each input is one it trusts — the site as the log registered it,
// each landmark as the auditor's own list (or else the log's registration) gives it, a speed no faster
// than light — that every counted statement verifies (landmark signature, the agent's report key bound by
// an AK quote and current at that point of the chain, the round's nonce), that the verdict follows from
// them, and that the signed result carries the verdict's finding. It then bounds the host again with light
// in vacuum and the trusted landmarks only: what physics and the landmarks' signatures prove.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "attest/report_chain.hpp"
#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::cli {

// A landmark's place and key, as the auditor's --landmarks file or the log's registration gives it.
struct landmark_fact {
    double lat = 0, lon = 0;
    bytes key;  // Ed25519, 32 bytes
};

// A site as the log's latest registration (operator site.put) before the round gives it.
struct site_fact {
    std::string id;
    double lat = 0, lon = 0, max_km = 0;
};

struct location_round_input {
    std::string_view kept;  // the round's kept evidence (JSON), already matched to the logged round_sha256
    std::optional<site_fact> site;  // the host's site at the round, from the log (nullopt: none logged)
    std::map<std::string, landmark_fact> logged;  // each landmark's latest logged registration before the round
    const std::map<std::string, landmark_fact>* trusted = nullptr;  // the auditor's own list, when given
    const std::vector<attest::chain_key>* keys = nullptr;  // the report keys, each bound by a verified quote
    std::uint64_t chain_seq = 0;  // the chain head the round's logged result names
    std::int64_t time = 0;        // the logged result's time
    std::set<std::string> open_rules;  // the rules of the findings the signed result lists
};

struct location_round_check {
    std::string verdict;  // the verifier's, replayed
    std::string physics;  // with light in vacuum, every statement that verifies with a trusted landmark
    std::size_t counted = 0, not_counted = 0;  // statements the verifier counted and refused
    std::size_t untrusted = 0;  // counted statements of landmarks the auditor's list does not hold
};

// The most a counted statement's time (the landmark's clock) may differ from the round's logged result.
inline constexpr std::int64_t location_statement_window_s = 3600;

// errc::parse / structure: the kept evidence is malformed; errc::mismatch: a check failed (the message
// names the landmark, statement or input).
result<location_round_check> check_location_round(const location_round_input& in);

// The auditor's landmark list: a JSON array, or an object with "landmarks" (the format of
// `custos fleet landmark list --json`), of {"id","lat","lon","public_key" (base64)}; other members ignored.
result<std::map<std::string, landmark_fact>> parse_landmark_list(std::string_view json);

}  // namespace custos::cli
