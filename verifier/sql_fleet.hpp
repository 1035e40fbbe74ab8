// The SQLite side of the GPU registry, compute sums, models and key leases: schema version 2 and the
// statements a transaction runs for them. Internal to verifier/ (sqlite_store.cpp forwards to it).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "verifier/sql_stmt.hpp"
#include "verifier/store.hpp"

namespace custos::verifier::sql {

extern const char* const fleet_migration_v2;
extern const char* const pci_migration_v8;
extern const char* const gpu_attestation_migration_v9;

class fleet_tx {
public:
    explicit fleet_tx(statements& s) : s_(s) {}

    result<std::optional<gpu_record>> get_gpu(const std::string& serial);
    result<void> put_gpu(const gpu_record& g);
    result<std::vector<gpu_record>> list_gpus(const std::optional<std::string>& host);
    result<std::optional<host_inventory_record>> get_host_inventory(const std::string& host_id);
    result<void> put_host_inventory(const host_inventory_record& r);
    result<std::vector<std::string>> gpu_approvals(const std::string& host_id);
    result<void> approve_gpu(const std::string& host_id, const std::string& serial, std::int64_t now);
    result<bool> release_gpu(const std::string& host_id, const std::string& serial);
    result<void> clear_gpu_approvals(const std::string& host_id);
    result<void> insert_gpu_event(const gpu_event_record& e);
    result<std::vector<gpu_event_record>> list_gpu_events(const std::optional<std::string>& serial,
                                                          const std::optional<std::string>& host, std::size_t limit);
    result<std::optional<gpu_attestation_record>> get_gpu_attestation(const std::string& serial);
    result<std::vector<gpu_attestation_record>> gpu_attestations_of_device(const std::string& device_id);
    result<std::vector<gpu_attestation_record>> list_gpu_attestations(const std::optional<std::string>& host);
    result<void> put_gpu_attestation(const gpu_attestation_record& r);
    result<std::vector<std::pair<std::string, counter_record>>> gpu_counters(const std::string& host_id);
    result<void> put_gpu_counter(const std::string& host_id, const std::string& key, const counter_record& c);
    result<void> add_compute(const std::string& host_id, const std::string& model, const counter_record& d, std::int64_t now);
    result<std::vector<compute_record>> list_compute();
    result<void> put_model(const model_record& m);
    result<std::optional<model_record>> get_model(const std::string& id);
    result<std::vector<model_record>> list_models();
    result<void> approve_model_site(const std::string& model_id, const std::string& site_id, std::int64_t now);
    result<std::vector<std::string>> model_sites(const std::string& model_id);
    result<void> insert_lease(const lease_record& l);
    result<std::vector<lease_record>> active_leases(const std::optional<std::string>& host_id, std::int64_t now);
    result<std::optional<lease_record>> get_lease(const std::string& id);
    result<std::vector<lease_record>> host_model_leases(const std::string& host_id, const std::string& model_id);
    result<void> revoke_lease(const std::string& id, std::int64_t now, const std::string& reason);
    result<void> renew_lease(const std::string& id, std::int64_t expires_at);

private:
    statements& s_;
};

}  // namespace custos::verifier::sql
