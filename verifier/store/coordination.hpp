// What verifier processes sharing one store coordinate through: the webhook outbox, the fleet
// generations the policy engine keys on, the lead of the background work, and serialisation points.
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

// A webhook delivery waiting in the outbox (schema version 6): one per finding and webhook URL.
struct outbox_entry {
    std::int64_t id = 0;
    std::int64_t finding_id = 0;
    std::string url;
    std::string body;  // the finding's JSON as raised
    unsigned attempts = 0;
    std::int64_t due_ms = 0;  // Unix time in ms when it is next tried
};

// Which write to what the policy engine reads (sites, entities, models, leases, ...) the fleet is at, and
// the one the engine last ran at: shared by every verifier process on the store (schema version 6).
struct fleet_generations {
    std::uint64_t fleet = 1;
    std::uint64_t policy = 0;
};

class coordination_store {
public:
    // The webhook outbox: deliveries due at `now_ms` (oldest first), when the next one is due, and its
    // bookkeeping; drop_outbox_except removes deliveries to URLs no longer configured.
    virtual result<std::vector<outbox_entry>> due_outbox(std::int64_t now_ms, std::size_t limit) = 0;
    virtual result<std::optional<std::int64_t>> next_outbox_due_ms() = 0;
    virtual result<void> remove_outbox(std::int64_t id) = 0;
    virtual result<void> retry_outbox(std::int64_t id, unsigned attempts, std::int64_t due_ms) = 0;
    virtual result<std::size_t> drop_outbox_except(const std::vector<std::string>& urls) = 0;
    virtual result<std::size_t> count_outbox() = 0;
    virtual result<fleet_generations> generations() = 0;
    virtual result<void> bump_fleet_generation() = 0;
    virtual result<void> set_policy_generation(std::uint64_t g) = 0;
    // Background work (sweeps, retention, webhook delivery) runs in one process of those sharing the store:
    // the one holding the lead, a lease renewed while it works. take_lead renews it for `replica` or takes
    // it when nobody holds it (expired or given up); false: another replica leads.
    virtual result<bool> take_lead(const std::string& replica, std::int64_t now_ms, std::int64_t ttl_ms) = 0;
    virtual result<void> give_up_lead(const std::string& replica) = 0;
    // Makes another read-write transaction asking for the same key wait until this one ends: taken before
    // a check-then-insert that a unique key cannot guard (a finding raised once). A PostgreSQL advisory
    // lock; nothing where one writer runs at a time (SQLite).
    virtual result<void> serialize_on(const std::string& key) = 0;

protected:
    ~coordination_store() = default;
};

}  // namespace custos::verifier
