// The agent's requests to the verifier (an attestation round, a report-key binding, signed reports, a
// location proof, a model-key request and a lease renewal) as typed messages, with the one codec both
// sides use: the agent encodes, the verifier parses once (strict: exact fields, types, sizes, counts) and
// its use cases (verifier/rounds/) work on the struct. docs/protocol.md describes the JSON.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/bound_key.hpp"
#include "attest/wire.hpp"
#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

// One GPU's attestation evidence in a round: its report for gpu_round_nonce(round nonce, serial) and its
// certificate chain, or why the agent could not get them (confidential computing off, an old driver).
inline constexpr std::size_t max_round_gpus = 64;
struct round_gpu_evidence {
    std::string serial;
    std::string pci_bus_id;
    bytes report;       // empty with an error
    std::string chain;  // PEM
    std::string error;
};

// POST /v1/attest {"nonce","evidence","quote","logs"?,"gpus"?}.
struct attest_request {
    bytes nonce;
    bytes evidence;  // the evidence bytes exactly as sent: the quote's qualification covers them
    wire_quote quote;
    std::optional<bytes> boot_log;          // logs.boot
    std::optional<std::uint64_t> ima_from;  // logs.ima_from, with logs.ima
    bytes ima;
    std::vector<round_gpu_evidence> gpus;  // at most max_round_gpus
};
std::string encode_attest_request(const attest_request& r);
result<attest_request> parse_attest_request(std::string_view body);

// POST /v1/report-key {"report_key","prev_seq","prev_hash","nonce","quote"}.
struct key_binding_request {
    bytes report_key;  // 32 bytes
    std::uint64_t prev_seq = 0;
    bytes prev_hash = bytes(32, 0);
    bytes nonce;
    wire_quote quote;
};
std::string encode_key_binding_request(const key_binding_request& r);
result<key_binding_request> parse_key_binding_request(std::string_view body);

// One signed report as sent and spooled: {"report":"b64","sig":"b64"} (the report bytes exactly as signed).
struct signed_report {
    bytes body;       // "report"
    bytes signature;  // "sig"
};
boost::json::object signed_report_json(const signed_report& r);
result<signed_report> signed_report_from_json(const boost::json::value& v, const std::string& what);

// POST /v1/reports {"reports":[signed_report, ...]}: at most max_reports_per_request, in chain order.
inline constexpr std::size_t max_reports_per_request = 256;
struct reports_request {
    std::vector<signed_report> reports;
};
std::string encode_reports_request(const reports_request& r);
result<reports_request> parse_reports_request(std::string_view body);

// POST /v1/location {"round","proofs":[{"statement","sig"}],"errors"?:[string]}: a location round's
// landmark statements (policy/location_proof.hpp) and what the agent could not measure.
inline constexpr std::size_t location_round_size = 32;
inline constexpr std::size_t max_location_proofs = 1024;
inline constexpr std::size_t max_location_errors = 64;    // more are dropped, not refused
inline constexpr std::size_t max_location_error_text = 300;  // longer ones are cut
struct location_proof_request {
    bytes round;
    struct proof {
        bytes statement;
        bytes sig;
    };
    std::vector<proof> proofs;
    std::vector<std::string> errors;
};
std::string encode_location_proof_request(const location_proof_request& r);
result<location_proof_request> parse_location_proof_request(std::string_view body);

// POST /v1/keys {"model","nonce","key_public","creation_data","attest","signature"}: a model-key request
// with the creation proof of a PCR-bound key over a challenge nonce.
struct key_request {
    std::string model;  // [A-Za-z0-9][A-Za-z0-9._-]{0,62}
    bytes nonce;
    creation_proof proof;
};
std::string encode_key_request(const key_request& r);
result<key_request> parse_key_request(std::string_view body);

// POST /v1/leases/renew {"lease"}.
struct lease_renewal {
    std::string lease;  // at most 128 characters
};
std::string encode_lease_renewal(const lease_renewal& r);
result<lease_renewal> parse_lease_renewal(std::string_view body);

// Host, site, entity and model ids: [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
bool valid_id(std::string_view id) noexcept;

// The wire form of a quote again (for what the verifier records of a binding).
boost::json::object wire_quote_json(const wire_quote& q);

}  // namespace custos::attest
