// Findings: raised (with their webhook deliveries, coordination.hpp), asked about exactly, resolved and
// pruned.
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

struct finding_record {
    std::int64_t id = 0;  // assigned by the store on insert
    std::string rule;
    std::string severity;      // violation, warning, info
    std::string subject_kind;  // host, site, entity, country, model, gpu
    std::string subject;
    std::string host;  // empty when the finding does not concern one host
    std::int64_t time = 0;
    std::string detail;
    bool open = true;
    std::int64_t resolved_at = 0;
    // Tells apart open findings of one rule about one subject (policy rules: e.g. the country of a
    // uveu-tier2-country-share finding); empty for most.
    std::string ref;
    // A finding raised again while open is not stored again: its count and time of the last raise grow
    // (schema version 5), so repeated refusals or forgeries cost one row.
    std::uint64_t repeats = 0;
    std::int64_t last_at = 0;
};

// Exact counts of a host's open findings by severity: what its status is computed from.
struct open_finding_counts {
    std::uint64_t violations = 0, warnings = 0, infos = 0;
};

// What an open violation must be about to stand in the way of a host (key release, renewal).
struct violation_scope {
    std::string host, site, entity, country, model;  // empty: not asked about
};

struct finding_filter {
    std::optional<std::string> host;
    std::optional<std::string> rule;
    bool open_only = false;
    std::int64_t since = 0;  // time >= since
    std::size_t limit = 1000;  // newest first
};

class finding_store {
public:
    // Returns the id. With webhooks set (store::set_webhooks) it also queues the finding for each of them,
    // in this transaction: a finding is never stored without its deliveries, nor delivered unless stored.
    virtual result<std::int64_t> insert_finding(const finding_record& f) = 0;
    // Exact questions (never a scan of the newest N): the counts a host's status comes from, the open
    // finding a new one would repeat, how many of one rule a host has open, and the violation standing in
    // a host's way (its own first, then the oldest about its site, entity, country or the model).
    virtual result<open_finding_counts> count_open_findings(const std::string& host_id) = 0;
    virtual result<std::optional<finding_record>> find_open_finding(const std::string& host, const std::string& rule,
                                                                    const std::string& subject_kind,
                                                                    const std::string& subject,
                                                                    const std::optional<std::string>& detail) = 0;
    virtual result<std::uint64_t> count_open_rule(const std::string& host, const std::string& rule) = 0;
    virtual result<std::optional<finding_record>> newest_open_finding(const std::string& host, const std::string& rule) = 0;
    virtual result<void> repeat_finding(std::int64_t id, std::int64_t now) = 0;
    virtual result<std::optional<finding_record>> first_open_violation(const violation_scope& scope) = 0;
    virtual result<std::vector<finding_record>> list_findings(const finding_filter& f) = 0;
    // Closes the host's open findings (of `rule` when given); returns how many were closed.
    virtual result<std::size_t> resolve_findings(const std::string& host_id, const std::optional<std::string>& rule,
                                                 std::int64_t now) = 0;
    // Closes the host's open findings of `rule` about `subject` (a GPU serial, a model id).
    virtual result<std::size_t> resolve_subject_findings(const std::string& host_id, const std::string& rule,
                                                         const std::string& subject, std::int64_t now) = 0;
    // Closes one finding by id (policy findings are matched by the engine, not by host and rule).
    virtual result<void> resolve_finding(std::int64_t id, std::int64_t now) = 0;
    // Retention: deletes up to `limit` findings resolved before `before` (open ones are never pruned);
    // returns how many.
    virtual result<std::size_t> prune_resolved_findings(std::int64_t before, std::size_t limit) = 0;

protected:
    ~finding_store() = default;
};

}  // namespace custos::verifier
