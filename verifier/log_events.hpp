// What the verifier writes into its transparency log, one function per entry type: every entry the
// verifier appends is made here, so docs/transparency-log.md and the tests have one place to follow.
// Findings raised and resolved and GPU placement events are appended by the store itself (sql_tx.cpp), in
// the statement's transaction; the use cases append the rest in theirs.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.hpp"
#include "net/https_server.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

// Who made an operator request: its client certificate's CN, role (OU) and SHA-256.
struct actor {
    std::string name, role, cert_sha256;
};
actor actor_of(const net::request_context& rc);

log_entry finding_raised_entry(const finding_record& f);
log_entry finding_resolved_entry(const finding_record& f);  // f as closed (resolved_at set)
// A GPU seen, approved, released, moved or missing on a host (the GPU registry's placement history).
log_entry gpu_event_entry(const gpu_event_record& e);
// A signed attestation result: the token's SHA-256, the host's status and chain head, and the SHA-256 of
// the round's evidence (nonce, evidence, quote as kept beside the appraisal) when a round produced it.
// Reports get no entries of their own: the chain head each result names fixes every report before it
// through the chain's own hashes, at one entry per round rather than one per report.
// `round_kind` names what the evidence is ("attest" or "location").
log_entry result_entry(const host_record& h, std::int64_t now, std::string_view token, byte_view round_evidence,
                       std::string_view round_kind);
// A host enrolled (its identity as the TPM proved it) or its report key bound.
log_entry enrollment_entry(const host_record& h, std::int64_t now);
log_entry report_key_entry(const std::string& host, byte_view key, std::uint64_t prev_seq, std::int64_t now);
// Golden PCR values taken from a host's first valid quote (approval without values).
log_entry golden_entry(const host_record& h, std::int64_t now);
// A model key released ("key.released", detail: the TPM name of the key it was wrapped to), refused
// ("key.refused", detail: why), or its lease renewed ("lease.renewed") or revoked ("lease.revoked", detail:
// why).
log_entry key_entry(std::string_view type, const std::string& host, const std::string& model, const std::string& lease,
                    std::string_view detail, std::int64_t now);
// An operator's write as it was asked: the action, what it is about, the parsed request body.
log_entry operator_entry(const actor& who, std::string_view action, const std::string& host, const std::string& subject,
                         const boost::json::value& request, std::int64_t now);
// A verifier process started: its replica id and the SHA-256 of every input its decisions follow (policy
// profiles, runtime policy, chip table, the result-signing public key).
struct started_inputs {
    std::string replica;
    std::vector<std::pair<std::string, std::string>> digests;  // name, hex SHA-256
};
log_entry started_entry(const started_inputs& in, std::int64_t now);

}  // namespace custos::verifier
