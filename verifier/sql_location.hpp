// The SQLite side of landmarks, their sites and hosts' location proofs, plus the findings' ref column
// (schema version 3), and of hosts' measurement appraisal state (version 4). Internal to verifier/
// (sqlite_store.cpp forwards to it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "verifier/sql_stmt.hpp"
#include "verifier/store.hpp"

namespace custos::verifier::sql {

extern const char* const location_migration_v3;
extern const char* const measurements_migration_v4;

class location_tx {
public:
    explicit location_tx(statements& s) : s_(s) {}

    result<void> put_landmark(const landmark_record& l);
    result<std::optional<landmark_record>> get_landmark(const std::string& id);
    result<std::vector<landmark_record>> list_landmarks();
    result<void> assign_landmark(const std::string& site_id, const std::string& landmark_id);
    result<std::vector<landmark_record>> site_landmarks(const std::string& site_id);
    result<std::vector<std::string>> landmark_sites(const std::string& landmark_id);
    result<void> put_host_location(const host_location_record& r);
    result<std::optional<host_location_record>> get_host_location(const std::string& host_id);
    result<void> put_host_measurements(const host_measurement_record& r);
    result<std::optional<host_measurement_record>> get_host_measurements(const std::string& host_id);

private:
    statements& s_;
};

}  // namespace custos::verifier::sql
