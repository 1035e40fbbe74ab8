#include "verifier/findings.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace custos::verifier {

const char* rule_severity(std::string_view rule) noexcept {
    static constexpr std::array<std::pair<std::string_view, const char*>, 45> table{{
        {"location-rounds-missed", "violation"},
        {"attestation-overdue", "violation"},
        {"quote-invalid", "violation"},
        {"nonce-mismatch", "violation"},
        {"pcr-changed", "violation"},
        {"clock-rollback", "violation"},
        {"report-rollback", "violation"},
        {"report-signature-invalid", "violation"},
        {"ek-changed", "violation"},
        {"ek-duplicated", "violation"},
        {"report-chain-gap", "warning"},
        {"host-dark", "warning"},
        {"reboot", "info"},
        {"gpu-missing", "violation"},
        {"gpu-moved", "violation"},
        {"gpu-duplicated", "violation"},
        {"gpu-added", "warning"},
        {"gpu-unknown", "warning"},
        {"accelerator-unreported", "violation"},
        {"accelerator-mismatch", "violation"},
        {"gpu-attestation-invalid", "violation"},
        {"gpu-identity-mismatch", "violation"},
        {"gpu-measurements-changed", "warning"},
        {"inventory-unverified", "warning"},
        {"counter-rollback", "violation"},
        {"compute-threshold", "warning"},
        {"key-request-denied", "info"},
        {"key-held-by-failing-host", "violation"},
        {"weights-handout-unleased", "violation"},
        {"location-outside", "violation"},
        {"location-unproven", "warning"},
        {"location-impossible", "violation"},
        {"tier3-destination", "violation"},
        {"uveu-hq-not-tier1", "violation"},
        {"uveu-tier1-share", "violation"},
        {"uveu-tier2-country-share", "violation"},
        {"uveu-us-share", "violation"},
        {"tier2-country-cap", "violation"},
        {"nveu-cap", "violation"},
        {"closed-weights-unapproved-site", "violation"},
        {"prohibited-chip", "violation"},
        {"event-log-mismatch", "violation"},
        {"boot-changed", "violation"},
        {"agent-modified", "violation"},
        {"ima-unknown-file", "warning"},
    }};
    for (const auto& [r, s] : table)
        if (r == rule) return s;
    return "violation";
}

finding_record host_finding(std::string rule, const std::string& host, std::string detail, std::int64_t now) {
    finding_record f;
    f.severity = rule_severity(rule);
    f.rule = std::move(rule);
    f.subject_kind = "host";
    f.subject = host;
    f.host = host;
    f.time = now;
    f.detail = std::move(detail);
    return f;
}

finding_record subject_finding(std::string rule, const std::string& host, std::string subject_kind, std::string subject,
                               std::string detail, std::int64_t now) {
    finding_record f = host_finding(std::move(rule), host, std::move(detail), now);
    f.subject_kind = std::move(subject_kind);
    f.subject = std::move(subject);
    return f;
}

result<void> raise_finding(store_tx& tx, finding_record f, std::vector<finding_record>& raised, on_repeat repeat) {
    // A host finding is the same when it says the same; one about a GPU or a model when it names the same one.
    const bool about_host = f.subject_kind == "host";
    // Two replicas raising one finding at once: the second waits here and then finds the first's.
    CUSTOS_TRY_VOID(tx.serialize_on("finding\n" + f.host + "\n" + f.rule));
    CUSTOS_TRY(same, tx.find_open_finding(f.host, f.rule, f.subject_kind, f.subject,
                                          about_host ? std::optional<std::string>(f.detail) : std::nullopt));
    if (same) return repeat == on_repeat::count ? tx.repeat_finding(same->id, f.time) : result<void>{};
    // A host cannot make the store grow without bound by varying what it sends (sequence numbers, model
    // ids, …): past the cap, the newest open finding of the rule counts the repeat instead.
    if (!f.host.empty()) {
        CUSTOS_TRY(n, tx.count_open_rule(f.host, f.rule));
        if (n >= max_open_findings_per_rule) {
            CUSTOS_TRY(newest, tx.newest_open_finding(f.host, f.rule));
            if (newest) return tx.repeat_finding(newest->id, f.time);
        }
    }
    CUSTOS_TRY(id, tx.insert_finding(f));
    f.id = id;
    raised.push_back(std::move(f));
    return {};
}

std::string status_of(const std::vector<finding_record>& open_findings) {
    bool warning = false;
    for (const auto& f : open_findings) {
        if (f.severity == "violation") return "contraindicated";
        if (f.severity == "warning") warning = true;
    }
    return warning ? "warning" : "affirming";
}

std::string status_of(const open_finding_counts& c) {
    if (c.violations) return "contraindicated";
    return c.warnings ? "warning" : "affirming";
}

std::int64_t attestation_due(const host_record& h, std::int64_t window_s) {
    return std::max({h.last_quote_at, h.approved_at, h.enrolled_at}) + window_s;
}

result<bool> check_attestation_overdue(store_tx& tx, const host_record& h, std::int64_t now, std::int64_t window_s,
                                       std::vector<finding_record>& raised) {
    if (window_s <= 0 || h.state == "decommissioned" || now <= attestation_due(h, window_s)) return false;
    const std::size_t before = raised.size();
    CUSTOS_TRY_VOID(raise_finding(
        tx,
        host_finding("attestation-overdue", h.id,
                     "no valid quote over a challenge from host \"" + h.id + "\" for more than " +
                         std::to_string(window_s) +
                         " s: reports alone do not vouch for a host; its boot state, agent and location are unknown "
                         "until it answers a challenge again",
                     now),
        raised, on_repeat::ignore));
    return raised.size() != before;
}

result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now) {
    CUSTOS_TRY(counts, tx.count_open_findings(h.id));
    h.status = status_of(counts);
    h.status_at = now;
    // What the signed result lists; the status above is exact whatever this list leaves out.
    finding_filter filter;
    filter.host = h.id;
    filter.open_only = true;
    filter.limit = max_listed_findings;
    return tx.list_findings(filter);
}

result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now,
                                                   std::vector<finding_record>& raised, std::int64_t overdue_window_s) {
    CUSTOS_TRY(overdue, check_attestation_overdue(tx, h, now, overdue_window_s, raised));
    (void)overdue;
    CUSTOS_TRY(open, refresh_status(tx, h, now));
    if (h.status != "contraindicated") return open;
    CUSTOS_TRY(leases, tx.active_leases(h.id, now));
    for (const auto& l : leases) {
        std::string why;
        for (const auto& f : open)
            if (f.severity == "violation") why += (why.empty() ? "" : ", ") + f.rule;
        CUSTOS_TRY_VOID(tx.revoke_lease(l.id, now, "host failed appraisal: " + why));
        finding_record f = subject_finding("key-held-by-failing-host", h.id, "model", l.model_id,
                                           "host " + h.id + " held the key of model " + l.model_id + " (lease " + l.id +
                                               ") and then failed appraisal (" + why + "): the lease is revoked",
                                           now);
        CUSTOS_TRY(id, tx.insert_finding(f));
        f.id = id;
        open.push_back(f);
        raised.push_back(std::move(f));
    }
    return open;
}

}  // namespace custos::verifier
