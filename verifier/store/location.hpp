// Location: landmarks, the sites they serve, hosts' latest location proofs and measurement state.
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

// A landmark the verifier trusts: its place, its Ed25519 key and where agents reach it.
struct landmark_record {
    std::string id;
    double lat = 0, lon = 0;
    bytes public_key;  // 32 bytes
    std::string address;  // HOST:PORT as agents dial it (a relay in tests)
    std::int64_t added_at = 0;
};

// A host's latest location proof: the verdict and the bound, with what each landmark measured.
struct host_location_record {
    std::string host_id;
    std::int64_t time = 0;
    std::string verdict;  // within, outside, unproven, impossible
    std::optional<double> max_km, min_km;  // from the site; absent when impossible
    std::string detail_json;  // {"landmarks":[{"id","rtt_ms","samples","radius_km"}],"errors":[…]}
};

// What measurement appraisal keeps per host between rounds (verifier/measurement_appraisal.hpp).
struct host_measurement_record {
    std::string host_id;
    std::uint64_t ima_count = 0;  // IMA entries accepted since the host's last reboot
    std::string ima_pcrs;         // their replay, attest::pcr_banks_to_json; empty: none yet
    std::string boot_reference;   // attest::boot_reference_to_json, captured at approval; empty: none
    std::int64_t updated_at = 0;
    // The TPM boot the IMA state belongs to (schema version 5): a quote of another resetCount starts the
    // list again, whatever the host's clock record says.
    bool have_reset = false;
    std::uint32_t reset_count = 0;
};

class location_store {
public:
    // Landmarks, the sites each one serves, and hosts' latest location proofs (schema version 3).
    virtual result<void> put_landmark(const landmark_record& l) = 0;
    virtual result<std::optional<landmark_record>> get_landmark(const std::string& id) = 0;
    virtual result<std::vector<landmark_record>> list_landmarks() = 0;  // ordered by id
    virtual result<void> assign_landmark(const std::string& site_id, const std::string& landmark_id) = 0;
    virtual result<std::vector<landmark_record>> site_landmarks(const std::string& site_id) = 0;  // ordered by id
    virtual result<std::vector<std::string>> landmark_sites(const std::string& landmark_id) = 0;  // sorted
    virtual result<void> put_host_location(const host_location_record& r) = 0;
    virtual result<std::optional<host_location_record>> get_host_location(const std::string& host_id) = 0;
    virtual result<void> put_host_measurements(const host_measurement_record& r) = 0;
    virtual result<std::optional<host_measurement_record>> get_host_measurements(const std::string& host_id) = 0;

protected:
    ~location_store() = default;
};

}  // namespace custos::verifier
