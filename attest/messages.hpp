// The agent's requests of an attestation round and of a report-key binding as typed messages, with the one
// codec both sides use: the agent encodes, the verifier parses once (strict: exact fields, types, sizes)
// and its use cases work on the struct. docs/protocol.md describes the JSON.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "attest/wire.hpp"
#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

// POST /v1/attest {"nonce","evidence","quote","logs"?}.
struct attest_request {
    bytes nonce;
    bytes evidence;  // the evidence bytes exactly as sent: the quote's qualification covers them
    wire_quote quote;
    std::optional<bytes> boot_log;          // logs.boot
    std::optional<std::uint64_t> ima_from;  // logs.ima_from, with logs.ima
    bytes ima;
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

// The wire form of a quote again (for what the verifier records of a binding).
boost::json::object wire_quote_json(const wire_quote& q);

}  // namespace custos::attest
