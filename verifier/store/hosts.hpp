// Hosts (identity, lifecycle, golden values, chain head, status) and their appraisals.
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

// Host lifecycle: enrolled → approved → decommissioned (approve again: still approved, new golden values).
struct host_record {
    std::string id;
    std::string state;  // "enrolled", "approved", "decommissioned"
    std::string site;   // empty until approved
    bytes ek_cert;
    bytes ek_spki;
    std::string ek_sha256;
    bytes ak_public;
    std::string ak_name;
    std::string cert_sha256;  // fingerprint of the agent certificate issued at the latest enrollment
    std::int64_t enrolled_at = 0;
    std::int64_t approved_at = 0;
    std::int64_t last_seen = 0;  // last valid evidence (accepted quote or report); 0 = never
    // Golden PCR values as JSON {"sha256":{"0":"hex",...}}; empty = not set yet.
    std::string golden_pcrs;
    bool golden_from_operator = false;
    // The last accepted quote's clockInfo; have_clock false until the first.
    bool have_clock = false;
    std::uint64_t clock = 0;
    std::uint32_t reset_count = 0;
    std::uint32_t restart_count = 0;
    // Report chain head: seq 0 and 32 zero bytes before the first report.
    std::uint64_t chain_seq = 0;
    bytes chain_hash = bytes(32, 0);
    std::string status = "unknown";  // latest appraisal: affirming, warning, contraindicated, unknown
    std::int64_t status_at = 0;
    // The last valid quote over a nonce this verifier issued for an attestation round (schema version 5):
    // reports and key bindings never move it, so a host that only reports is seen to stop attesting.
    std::int64_t last_quote_at = 0;
    // The highest report-chain head a round's quoted evidence claimed beyond the stored chain, and when it
    // was first claimed (0: none pending): reports the host holds back past a grace period are a gap.
    std::uint64_t quoted_head_seq = 0;
    std::int64_t quoted_head_at = 0;
    // The location round the host owes an answer to (when it expires; 0: none) and how many rounds in a
    // row it left unanswered.
    std::int64_t location_due_at = 0;
    std::uint32_t location_misses = 0;
};
struct appraisal_record {
    std::string host_id;
    std::int64_t time = 0;
    std::string status;
    std::string token;  // the signed JWT
    // The round the appraisal answers, as kept for auditors (schema version 7): the attest request's nonce,
    // evidence and quote, encoded as the agent sent them but without its logs; empty for appraisals that
    // are not attestation rounds (a location round). Its SHA-256 is in the appraisal's log entry.
    bytes round_evidence;
};

class host_store {
public:
    virtual result<std::optional<host_record>> get_host(const std::string& id) = 0;
    // The live host with this EK (at most one: the schema makes it unique), else a decommissioned one.
    virtual result<std::optional<host_record>> get_host_by_ek(const std::string& ek_sha256) = 0;
    virtual result<void> put_host(const host_record& h) = 0;  // insert or replace every field
    virtual result<std::vector<host_record>> list_hosts() = 0;  // ordered by id
    // The hot path of report ingestion: only the chain head and last_seen change.
    virtual result<void> update_host_progress(const std::string& id, std::uint64_t chain_seq, byte_view chain_hash,
                                              std::int64_t last_seen) = 0;
    virtual result<void> insert_appraisal(const appraisal_record& a) = 0;
    virtual result<std::optional<appraisal_record>> latest_appraisal(const std::string& host_id) = 0;
    // A host's appraisals with since <= time <= until, oldest first, at most `limit`.
    virtual result<std::vector<appraisal_record>> list_appraisals(const std::string& host_id, std::int64_t since,
                                                                  std::int64_t until, std::size_t limit) = 0;
    // Retention: deletes up to `limit` appraisals older than `before` that are not their host's latest;
    // returns how many.
    virtual result<std::size_t> prune_appraisals(std::int64_t before, std::size_t limit) = 0;

protected:
    ~host_store() = default;
};

}  // namespace custos::verifier
