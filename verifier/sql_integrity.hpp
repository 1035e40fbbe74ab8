// The SQLite side of what keeps a host from staying trusted while lying (schema version 5): report keys
// with their validity windows, exact questions about open findings, challenged-quote and quoted-head
// columns on hosts, the boot of the IMA state, and one live host per EK. Internal to verifier/
// (sqlite_store.cpp forwards to it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "verifier/sql_stmt.hpp"
#include "verifier/store.hpp"

namespace custos::verifier::sql {

extern const char* const integrity_migration_v5;

class integrity_tx {
public:
    explicit integrity_tx(statements& s) : s_(s) {}

    result<void> bind_report_key(const std::string& host_id, const report_key_record& k);
    result<std::optional<report_key_record>> get_report_key(const std::string& host_id, byte_view key);
    result<std::vector<report_key_record>> list_report_keys(const std::string& host_id);
    result<std::size_t> retire_report_keys(const std::string& host_id, byte_view keep, std::uint64_t until_seq,
                                           std::int64_t now, const std::string& reason);
    result<void> retire_report_key(const std::string& host_id, byte_view key, std::uint64_t until_seq, std::int64_t now,
                                   const std::string& reason);

    result<open_finding_counts> count_open_findings(const std::string& host_id);
    result<std::optional<finding_record>> find_open_finding(const std::string& host, const std::string& rule,
                                                            const std::string& subject_kind, const std::string& subject,
                                                            const std::optional<std::string>& detail);
    result<std::uint64_t> count_open_rule(const std::string& host, const std::string& rule);
    result<std::optional<finding_record>> newest_open_finding(const std::string& host, const std::string& rule);
    result<void> repeat_finding(std::int64_t id, std::int64_t now);
    result<std::optional<finding_record>> first_open_violation(const violation_scope& scope);
    result<std::vector<report_record>> list_reports(const std::string& host_id, std::uint64_t from_seq, std::size_t limit);
    result<std::size_t> prune_resolved_findings(std::int64_t before, std::size_t limit);
    result<std::size_t> prune_appraisals(std::int64_t before, std::size_t limit);

private:
    statements& s_;
};

// The finding columns every SELECT of findings reads, and the record they make (sqlite_store.cpp too).
extern const char* const finding_columns;
finding_record read_finding(const stmt& s);

}  // namespace custos::verifier::sql
