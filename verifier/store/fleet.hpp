// The fleet the export-control rules see: sites and entities, the GPU registry with its events and
// approvals, and compute counters.
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

struct site_record {
    std::string id;
    std::string entity;
    std::string country;  // ISO 3166-1 alpha-2
    double lat = 0, lon = 0, max_km = 0;
};

struct entity_record {
    std::string id;
    std::string hq;      // ISO 3166-1 alpha-2
    std::string status;  // uveu, nveu, none
};
// The fleet GPU registry: one row per serial, naming the host that reported it last.
struct gpu_record {
    std::string serial;
    std::string host_id;    // the host it is registered on now
    std::string prev_host;  // the host it was registered on before it moved (empty: never moved)
    std::string name, chip, uuid, pci_bus_id;
    std::int64_t first_seen = 0;
    std::int64_t last_seen = 0;  // the last report from host_id that listed it
    std::int64_t moved_at = 0;
};

// A GPU's latest attestation evidence (docs/gpu-attestation.md): which physical GPU (device_id, from its
// NVIDIA-certified DeviceID key) answered for the serial, on which host, with which measurements, and the
// measurements taken as its baseline (its first valid report, or the operator's approval).
struct gpu_attestation_record {
    std::string serial;
    std::string host_id;
    std::string status;  // "valid", "invalid" (error says which step), "unavailable" (the GPU gave none: why)
    std::string error;
    std::string device_id, hw_model, fwid, driver_version, vbios_version, mode, measurements_digest;
    std::string baseline_digest, baseline_driver, baseline_vbios;
    std::int64_t time = 0;          // of this evidence
    std::int64_t last_valid = 0;    // of the latest valid report (0: never)
};

// A host's latest inventory and whether its approved GPU set has been taken from one.
struct host_inventory_record {
    std::string host_id;
    std::string source;  // nvml, sysfs, "" (an error)
    std::string driver_version;
    std::string error;
    std::vector<std::string> serials;  // sorted
    std::int64_t time = 0;
    bool baseline_taken = false;  // the first inventory after approval became the approved set
    // Accelerators listed only from PCI (no serial from a vendor library): "bus vvvv:dddd chip" each
    // (verifier/pci_reconcile.hpp); the policy engine counts them by chip.
    std::vector<std::string> pci_only;
};

struct gpu_event_record {
    std::string serial;
    std::string host_id;
    std::string event;  // seen, approved, released, moved-in, moved-out, missing, baseline
    std::int64_t time = 0;
    std::string detail;
};

// Cumulative counters as the host last reported them for one GPU (the key is its serial, uuid: or pci:).
struct counter_record {
    double busy_s = 0, tpp_s = 0, ops = 0;
    std::uint64_t energy_mj = 0;
};

// Compute delivered on a host, attributed to one model ("" = the host's total, whatever ran).
struct compute_record {
    std::string host_id;
    std::string model;
    counter_record total;
    std::int64_t updated_at = 0;
};

class fleet_store {
public:
    virtual result<void> put_site(const site_record& s) = 0;
    virtual result<std::optional<site_record>> get_site(const std::string& id) = 0;
    virtual result<std::vector<site_record>> list_sites() = 0;
    virtual result<void> put_entity(const entity_record& e) = 0;
    virtual result<std::optional<entity_record>> get_entity(const std::string& id) = 0;
    virtual result<std::vector<entity_record>> list_entities() = 0;
    // GPU registry (gpu_registry.cpp decides; these only read and write).
    virtual result<std::optional<gpu_record>> get_gpu(const std::string& serial) = 0;
    virtual result<void> put_gpu(const gpu_record& g) = 0;
    virtual result<std::vector<gpu_record>> list_gpus(const std::optional<std::string>& host) = 0;
    virtual result<std::optional<host_inventory_record>> get_host_inventory(const std::string& host_id) = 0;
    virtual result<void> put_host_inventory(const host_inventory_record& r) = 0;
    virtual result<std::vector<std::string>> gpu_approvals(const std::string& host_id) = 0;  // sorted
    virtual result<void> approve_gpu(const std::string& host_id, const std::string& serial, std::int64_t now) = 0;
    virtual result<bool> release_gpu(const std::string& host_id, const std::string& serial) = 0;  // false: was not approved
    virtual result<void> clear_gpu_approvals(const std::string& host_id) = 0;
    virtual result<void> insert_gpu_event(const gpu_event_record& e) = 0;
    virtual result<std::vector<gpu_event_record>> list_gpu_events(const std::optional<std::string>& serial,
                                                                  const std::optional<std::string>& host,
                                                                  std::size_t limit) = 0;  // newest first
    // GPU attestation evidence, by serial and by the physical GPU's device id.
    virtual result<std::optional<gpu_attestation_record>> get_gpu_attestation(const std::string& serial) = 0;
    virtual result<std::vector<gpu_attestation_record>> gpu_attestations_of_device(const std::string& device_id) = 0;
    virtual result<std::vector<gpu_attestation_record>> list_gpu_attestations(const std::optional<std::string>& host) = 0;
    virtual result<void> put_gpu_attestation(const gpu_attestation_record& r) = 0;
    // Compute counters and the sums they add up to.
    virtual result<std::vector<std::pair<std::string, counter_record>>> gpu_counters(const std::string& host_id) = 0;
    virtual result<void> put_gpu_counter(const std::string& host_id, const std::string& key, const counter_record& c) = 0;
    virtual result<void> add_compute(const std::string& host_id, const std::string& model, const counter_record& delta,
                                     std::int64_t now) = 0;
    virtual result<std::vector<compute_record>> list_compute() = 0;

protected:
    ~fleet_store() = default;
};

}  // namespace custos::verifier
