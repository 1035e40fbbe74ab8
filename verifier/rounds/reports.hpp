// Report ingestion (POST /v1/reports) as a use case: signed reports between rounds, each checked (parse,
// signature) before the transaction, then judged against the host's hash chain and its report keys'
// windows, stored, and their GPU inventory and compute counters applied (verifier/gpu_registry.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "attest/messages.hpp"
#include "attest/wire.hpp"
#include "verifier/rounds/outcome.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {

// A report as checked before the transaction (the CPU work, which the server's threads do in parallel).
struct checked_report {
    attest::signed_report sent;
    std::optional<attest::report> parsed;
    bytes hash;           // SHA-256 of the report bytes (its link in the chain), when it parses
    std::string problem;  // why it does not parse, or its signature does not verify
    bool signature_ok = false;
};
std::vector<checked_report> check_reports(attest::reports_request msg);

// What becomes of one report against the host's chain as stored.
enum class report_fate { accepted, duplicate, rejected };
struct report_verdict {
    report_fate fate = report_fate::rejected;
    // rejected: the finding it raises (report-signature-invalid, report-rollback) and why. accepted:
    // report-chain-gap when reports between the stored head and it are missing (it is stored all the same).
    std::string rule;
    std::string reason;
};
// `key`: the host's record of the key that signed it (nullopt: never bound); `stored_hash`: the hash of the
// stored report with its number, when the chain reaches it. Order: the report itself (parse, host), the
// key's window, the signature, then the chain (duplicate, rollback, fork, gap).
report_verdict judge_report(const host_record& h, const checked_report& r, const std::optional<report_key_record>& key,
                            const std::optional<bytes>& stored_hash);

// The reports in order: each judged, stored when accepted, findings raised; then the accepted reports' GPUs
// and counters (approved hosts), a quoted head they settle, whether the host is overdue for a challenged
// quote, and the host record written back. Answers {"results":[{"seq","status","reason"?}],"next_report_s"}.
result<outcome> ingest_reports(service_context& ctx, store_tx& tx, host_record& h,
                               const std::vector<checked_report>& reports, std::int64_t now);

}  // namespace custos::verifier
