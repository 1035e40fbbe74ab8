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

// How many open findings of one rule one host can have: past it, a new one counts as a repeat of the newest
// (its repeats and last_at grow). With the rule table's 40 rules this bounds what one host can store to
// 40 × 16 = 640 open findings, however many requests it sends (docs/trust-model.md).
inline constexpr std::uint64_t max_open_findings_per_rule = 16;
// How many open findings a signed result lists (the status is computed from exact counts, not this list).
inline constexpr std::size_t max_listed_findings = 200;

// What raising a finding that is already open does. An event (a refused request, a forged report) counts a
// repeat on it; a standing condition the watcher re-checks every few seconds (host-dark, attestation-overdue,
// a chain gap) leaves it as it is, so a sweep over a fleet writes nothing for hosts whose state is unchanged.
enum class on_repeat { count, ignore };

// Inserts `f` unless an open finding of the same host and rule exists that says the same (host findings: same detail;
// others: same subject), which then counts a repeat (on_repeat::count); returns the stored record (with its id)
// in `raised` when it was inserted.
result<void> raise_finding(store_tx& tx, finding_record f, std::vector<finding_record>& raised,
                           on_repeat repeat = on_repeat::count);

// affirming (no open finding above info), warning (open warnings only), contraindicated (an open violation).
std::string status_of(const std::vector<finding_record>& open_findings);
std::string status_of(const open_finding_counts& c);

// When the host must have answered a challenge again: its last valid challenged quote (or, before the
// first, its enrollment or approval) plus the window (attest_overdue_intervals × attest_interval_s).
std::int64_t attestation_due(const host_record& h, std::int64_t window_s);
// Raises attestation-overdue (violation) when `now` is past attestation_due; true when it was raised now.
// A window of 0 checks nothing.
result<bool> check_attestation_overdue(store_tx& tx, const host_record& h, std::int64_t now, std::int64_t window_s,
                                       std::vector<finding_record>& raised);

// Recomputes the host's status from exact counts of its open findings and stores it in `h` (caller writes h
// back); returns the open findings a signed result lists (at most max_listed_findings, newest first).
result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now);
// The same, and a host that turned contraindicated while it holds model key leases loses them: each is
// revoked and raises key-held-by-failing-host (appended to `raised`). With a window, a host overdue for a
// challenged quote first gets attestation-overdue (check_attestation_overdue).
result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now,
                                                   std::vector<finding_record>& raised, std::int64_t overdue_window_s = 0);

}  // namespace custos::verifier
