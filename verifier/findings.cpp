#include "verifier/findings.hpp"

#include <array>
#include <utility>

namespace custos::verifier {

const char* rule_severity(std::string_view rule) noexcept {
    static constexpr std::array<std::pair<std::string_view, const char*>, 38> table{{
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

result<void> raise_finding(store_tx& tx, finding_record f, std::vector<finding_record>& raised) {
    finding_filter filter;
    filter.host = f.host;  // "" for findings about a model, an entity or a country as a whole
    filter.rule = f.rule;
    filter.open_only = true;
    CUSTOS_TRY(open, tx.list_findings(filter));
    // A host finding is the same when it says the same; one about a GPU or a model when it names the same one.
    for (const auto& o : open) {
        if (f.subject_kind == "host" ? o.detail == f.detail : o.subject_kind == f.subject_kind && o.subject == f.subject)
            return {};
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

result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now) {
    finding_filter filter;
    filter.host = h.id;
    filter.open_only = true;
    CUSTOS_TRY(open, tx.list_findings(filter));
    h.status = status_of(open);
    h.status_at = now;
    return open;
}

result<std::vector<finding_record>> refresh_status(store_tx& tx, host_record& h, std::int64_t now,
                                                   std::vector<finding_record>& raised) {
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
