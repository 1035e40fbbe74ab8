// Byte strings and JSON shapes the agent signs or quotes and the verifier checks (docs/protocol.md):
// reports, evidence, quotes and PCR values. Pure: no I/O, shared by agent, verifier, CLI and fuzzers.
#pragma once

#include <boost/json/value.hpp>
#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "attest/pcr_selection.hpp"
#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

// Domain-separation tags.
inline constexpr std::string_view report_signature_tag = "custos-report-v1";  // signed with a trailing NUL
inline constexpr std::string_view report_key_binding_tag = "custos-report-key-v2";

inline constexpr std::size_t report_key_size = 32;        // Ed25519 public key
inline constexpr std::size_t report_signature_size = 64;  // Ed25519 signature
inline constexpr std::size_t max_report_size = 64 * 1024;
inline constexpr std::size_t max_evidence_size = 256 * 1024;

struct report {
    std::string host;
    std::uint64_t seq = 0;    // 1, 2, ...
    bytes prev = bytes(32);   // SHA-256 of the previous report's bytes; zeros for seq 1
    std::int64_t time = 0;    // agent wall clock, Unix seconds
    std::uint64_t clock = 0;  // TPM clock (ms) read when the report was made (TPM2_ReadClock)
    bytes key;                // the Ed25519 report key that signs it
    std::string ext = "{}";   // extensible section: a JSON object (GPUs, counters, releases in later issues)
};

// {"v":1,"host":…,"seq":…,"prev":"hex","time":…,"clock":…,"key":"b64","ext":{…}}; ext is embedded verbatim and must
// be a JSON object.
bytes encode_report(const report& r);
// Strict: exact fields, v == 1, hex/b64 lengths, seq ≥ 1, size ≤ max_report_size.
result<report> parse_report(byte_view body);
bytes report_hash(byte_view body);  // SHA-256(body)
// Ed25519 over "custos-report-v1\0" ‖ body.
bytes sign_report(byte_view body, const secret_bytes& secret_key);  // secret_key: libsodium 64-byte form
result<void> verify_report_signature(byte_view body, byte_view signature, byte_view key);

// The qualification of a report-key binding quote: SHA-256("custos-report-key-v2" ‖ nonce ‖ key ‖
// prev_seq as 8 bytes big-endian ‖ prev_hash). The nonce is a challenge the verifier issued, so the quote
// shows the TPM's state now; prev is the chain head the key continues (the key signs prev_seq + 1 on).
bytes report_key_qualification(byte_view nonce, byte_view key, std::uint64_t prev_seq, byte_view prev_hash);
// The qualification of a challenged quote: SHA-256(nonce ‖ SHA-256(evidence)).
bytes evidence_qualification(byte_view nonce, byte_view evidence);

struct evidence {
    std::string host;
    std::int64_t time = 0;
    bytes report_key;             // 32 bytes
    std::uint64_t head_seq = 0;   // last report made so far (0 = none)
    bytes head_hash = bytes(32);  // its hash (zeros when none)
    std::string ext = "{}";
};
bytes encode_evidence(const evidence& e);
result<evidence> parse_evidence(byte_view body);

// PCR values as JSON {"sha256":{"0":"hex",…},…}.
boost::json::object pcrs_to_json(const pcr_values& values);
// Values in `sel` order; the JSON must hold exactly the selected PCRs with the bank's digest size.
result<pcr_values> pcrs_from_json(const boost::json::value& v, const TPML_PCR_SELECTION& sel);

// A quote as sent: {"attest":"b64","signature":"b64","pcrs":{…}}.
struct wire_quote {
    bytes attest;
    bytes signature;
    boost::json::value pcrs;  // decoded against the expected selection with pcrs_from_json
};
boost::json::object quote_to_json(byte_view attest, byte_view signature, const pcr_values& values);
result<wire_quote> quote_from_json(const boost::json::value& v, std::string_view where);

}  // namespace custos::attest
