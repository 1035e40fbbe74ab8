#include "verifier/findings.hpp"

#include <array>
#include <utility>

namespace custos::verifier {

const char* rule_severity(std::string_view rule) noexcept {
    static constexpr std::array<std::pair<std::string_view, const char*>, 11> table{{
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

result<void> raise_finding(store_tx& tx, finding_record f, std::vector<finding_record>& raised) {
    if (!f.host.empty()) {
        finding_filter filter;
        filter.host = f.host;
        filter.rule = f.rule;
        filter.open_only = true;
        CUSTOS_TRY(open, tx.list_findings(filter));
        for (const auto& o : open)
            if (o.detail == f.detail) return {};
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

}  // namespace custos::verifier
