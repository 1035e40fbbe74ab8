// Report chains: the keys bound to sign each part of a host's chain, and the signed reports.
// One aggregate of the store's transaction interface (store.hpp: store_tx is every aggregate at once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::verifier {

// A report key and the part of its host's report chain it may sign (schema version 5). A key is bound by
// a quote over a verifier nonce; a newer binding retires it at the sequence number where the new key
// starts, and a round of a later boot retires a key bound in an earlier one.
inline constexpr std::uint64_t report_key_open = static_cast<std::uint64_t>(INT64_MAX);  // attest::key_window_open
struct report_key_record {
    bytes key;                                // Ed25519 public key, 32 bytes
    std::int64_t bound_at = 0;
    std::uint32_t reset_count = 0;            // the TPM resetCount of the quote that bound it
    std::uint64_t from_seq = 1;               // the first report it may sign
    std::uint64_t until_seq = report_key_open;  // the last one (report_key_open while it is current)
    std::int64_t retired_at = 0;              // 0 while current
    std::string retire_reason;
    // What bound it, for an auditor (attest/report_chain.hpp, chain_key::binding): the nonce, the quote and
    // either the binding's chain head or the round's evidence.
    std::string binding;
    bool current() const { return until_seq == report_key_open; }
    bool covers(std::uint64_t seq) const { return seq >= from_seq && seq <= until_seq; }
};

struct report_record {
    std::string host_id;
    std::uint64_t seq = 0;
    bytes hash;       // SHA-256 of body
    bytes body;       // the report bytes as signed
    bytes signature;  // Ed25519, 64 bytes
    bytes key;        // the report key, 32 bytes
    std::int64_t received_at = 0;
};

class report_store {
public:
    // Report keys bound to a host by a quote. A key already bound is left as it is (idempotent).
    virtual result<void> bind_report_key(const std::string& host_id, const report_key_record& k) = 0;
    virtual result<std::optional<report_key_record>> get_report_key(const std::string& host_id, byte_view key) = 0;
    virtual result<std::vector<report_key_record>> list_report_keys(const std::string& host_id) = 0;  // by from_seq
    // Ends the window of every current key of the host other than `keep` at `until_seq`; returns how many.
    virtual result<std::size_t> retire_report_keys(const std::string& host_id, byte_view keep, std::uint64_t until_seq,
                                                   std::int64_t now, const std::string& reason) = 0;
    // The same for one key.
    virtual result<void> retire_report_key(const std::string& host_id, byte_view key, std::uint64_t until_seq,
                                           std::int64_t now, const std::string& reason) = 0;
    // At re-enrollment: keys bound by quotes of the previous AK no longer count.
    virtual result<void> unbind_report_keys(const std::string& host_id) = 0;
    virtual result<std::optional<report_record>> get_report(const std::string& host_id, std::uint64_t seq) = 0;
    virtual result<void> insert_report(const report_record& r) = 0;  // (host_id, seq) unique
    // Up to `limit` of the host's reports from `from_seq` on, in order (the export an auditor re-checks).
    virtual result<std::vector<report_record>> list_reports(const std::string& host_id, std::uint64_t from_seq,
                                                            std::size_t limit) = 0;
    virtual result<std::uint64_t> count_reports(const std::string& host_id) = 0;
    virtual result<void> delete_reports(const std::string& host_id) = 0;  // at re-enrollment

protected:
    ~report_store() = default;
};

}  // namespace custos::verifier
