// What verifier processes share through the store rather than in memory (schema version 6): the webhook
// outbox (every finding's deliveries are rows written in the transaction that raises it, so none is lost
// when the verifier stops before sending; verifier/alerts.hpp works through them) and the fleet generation
// (which write the policy engine last saw) and which process leads the background work (a lease row).
// Internal to verifier/ (sqlite_store.cpp forwards to it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "verifier/sql_stmt.hpp"
#include "verifier/store.hpp"

namespace custos::verifier::sql {

extern const char* const shared_migration_v6;

// How long a delivery taken from the outbox stays out of other hands before it is due again (a verifier
// that dies while sending leaves it to be sent once more after this).
inline constexpr std::int64_t outbox_claim_ms = 60'000;

class shared_tx {
public:
    explicit shared_tx(statements& s) : s_(s) {}

    result<void> enqueue(const std::vector<std::string>& urls, const finding_record& f);
    result<std::vector<outbox_entry>> due(std::int64_t now_ms, std::size_t limit);
    result<std::optional<std::int64_t>> next_due_ms();
    result<void> remove(std::int64_t id);
    result<void> retry(std::int64_t id, unsigned attempts, std::int64_t due_ms);
    result<std::size_t> drop_except(const std::vector<std::string>& urls);
    result<std::size_t> count();

    result<fleet_generations> generations();
    result<void> bump_fleet_generation();
    result<void> set_policy_generation(std::uint64_t g);

    result<bool> take_lead(const std::string& replica, std::int64_t now_ms, std::int64_t ttl_ms);
    result<void> give_up_lead(const std::string& replica);

private:
    statements& s_;
};

}  // namespace custos::verifier::sql
