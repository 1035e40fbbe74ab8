// Findings: the rule table (rule → severity), raising one inside a transaction without duplicating an open
// one, and the attestation status a host's open findings add up to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "verifier/store.hpp"

namespace custos::verifier {

// Severity of a rule this issue defines ("violation", "warning", "info"); "violation" for unknown rules.
const char* rule_severity(std::string_view rule) noexcept;

// A host finding with the rule's severity.
finding_record host_finding(std::string rule, const std::string& host, std::string detail, std::int64_t now);

// A finding about one thing on a host: a GPU (subject_kind "gpu", its serial), a model, an entity.
finding_record subject_finding(std::string rule, const std::string& host, std::string subject_kind, std::string subject,
                               std::string detail, std::int64_t now);

// Inserts `f` unless an open finding of the same host and rule exists that says the same (host findings: same detail;
// others: same subject); returns the stored record
// (with its id) in `raised` when it was inserted.
result<void> raise_finding(store_tx& tx, finding_record f, std::vector<finding_record>& raised);

// affirming (no open finding above info), warning (open warnings only), contraindicated (an open violation).
std::string status_of(const std::vector<finding_record>& open_findings);

// Recomputes the host's status from its open findings and stores it in `h` (caller writes h back).
result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now);
// The same, and a host that turned contraindicated while it holds model key leases loses them: each is
// revoked and raises key-held-by-failing-host (appended to `raised`).
result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now,
                                                   std::vector<finding_record>& raised);

}  // namespace custos::verifier
