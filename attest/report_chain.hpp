// Pure, offline checks of a host's report chain as the verifier exported it: every report parses, names the
// host, follows the one before it (sequence and previous hash) and is signed by a report key whose window
// covers its number; and each key's binding quote (a quote over a nonce, by the host's AK) names that key.
// The verifier's ingestion and `custos report verify` share these, so an auditor re-runs the same check.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/messages.hpp"
#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

inline constexpr std::uint64_t key_window_open = static_cast<std::uint64_t>(INT64_MAX);

// A report key, the part of the chain it may sign, and what bound it: the JSON the verifier recorded,
// {"kind":"report-key","nonce","prev_seq","prev_hash","quote"} or {"kind":"round","nonce","evidence","quote"}.
struct chain_key {
    bytes key;                            // Ed25519 public key
    std::uint64_t from_seq = 1;           // the first report it may sign
    std::uint64_t until_seq = key_window_open;  // the last
    std::string binding;                  // empty: bound before bindings were recorded
};

// Why report `seq` must not be signed by a key with this window (nullopt: it may).
std::optional<std::string> key_window_refusal(std::uint64_t from_seq, std::uint64_t until_seq, std::uint64_t seq,
                                              std::string_view retire_reason = {});

struct chain_summary {
    std::uint64_t first_seq = 0, last_seq = 0;
    bytes head;  // hash of the last report
    std::size_t reports = 0;
};

// Checks `reports` in order as the continuation of (after_seq, after_hash): report i has seq after_seq + 1 + i
// and prev = the hash of the one before; its key is one of `keys` and its window covers the seq; the
// Ed25519 signature verifies. The error names the report and the failed step (parse, host, seq, prev,
// key, window, signature).
result<chain_summary> verify_report_chain(std::string_view host, std::uint64_t after_seq, byte_view after_hash,
                                          const std::vector<signed_report>& reports, const std::vector<chain_key>& keys);

// The binding records verify_key_binding reads, as the verifier stores them with each key: a round's
// (nonce, evidence, quote) and a report-key binding's (nonce, prev_seq, prev_hash, quote).
std::string round_binding(const attest_request& r);
std::string key_binding(const key_binding_request& r);

// Checks `k.binding` with the host's AK: the quote's signature over the binding's qualification, and that the
// binding names k.key (a round's evidence carries it) and, for a report-key binding, starts its window at
// prev_seq + 1. The nonce itself is the verifier's word: an auditor learns it was quoted, not who issued it.
result<void> verify_key_binding(const chain_key& k, EVP_PKEY* ak);

}  // namespace custos::attest
