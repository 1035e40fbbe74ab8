// The `ext` section of a signed report (docs/protocol.md, "Report ext"): the GPU inventory with each
// GPU's cumulative compute counters, the models whose weights were handed out during the interval, and
// the key releases and weight hand-outs since the previous report. Pure codec, shared by the agent
// (which writes it) and the verifier (which sums and checks it); `{}` is a report without any.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "crypto/result.hpp"

namespace custos::attest {

inline constexpr std::size_t max_ext_gpus = 256;
inline constexpr std::size_t max_ext_models = 256;
inline constexpr std::size_t max_ext_events = 256;
inline constexpr std::size_t max_ext_pci = 256;

struct gpu_report {
    std::string serial;  // empty: the inventory source has none (sysfs, or a board without one)
    std::string uuid;
    std::string name;
    std::string chip;  // the agent's chip-table id; the verifier looks the name up itself
    std::string pci_bus_id;
    std::optional<unsigned> util;  // utilisation at this sample, percent
    // Cumulative since this agent first saw the GPU, monotonic across agent restarts.
    double busy_s = 0;    // utilisation-weighted seconds
    double tpp_s = 0;     // busy seconds × TPP
    double ops = 0;       // busy seconds × peak dense ops/s: an upper bound of operations performed
    std::uint64_t energy_mj = 0;
};

// One PCI function of an accelerator class (display 0x03xx, processing accelerator 0x12xx) as the agent
// read it from sysfs, whatever vendor library is installed: the verifier reconciles these with the
// vendor library's list by bus id (verifier/pci_reconcile.hpp).
struct pci_function {
    std::string bus;  // canonical "dddd:bb:dd.f" (canonical_pci_bus)
    std::string vendor, device, subsystem_vendor, subsystem_device;  // 4 lowercase hex digits each
    std::string class_code;                                          // 6 lowercase hex digits: "030200"
    std::optional<int> numa_node;                                    // absent: the platform has none (-1)
};

// "00000000:18:00.0" (NVML), "0000:18:00.0" (sysfs), any case → "0000:18:00.0"; nullopt when it is not a
// PCI address (domain of 1..8 hex digits, bus 2, device 2 below 0x20, function 0..7).
std::optional<std::string> canonical_pci_bus(std::string_view s);

struct report_event {
    std::string kind;  // "key-release", "key-drop", "weights-handout"
    std::string model;
    std::string detail;  // file, lease id, peer uid: free text a person reads
    std::int64_t time = 0;
};

struct report_ext {
    std::string inventory_source;  // "nvml", "sysfs"; empty: no inventory in this report
    std::string driver_version;
    std::string inventory_error;  // the agent could not read its GPUs (why)
    std::vector<gpu_report> gpus;
    // The PCI view beside the vendor library's: absent from agents that do not send one (and with the
    // inventory only); pci_error says why the agent could not read it.
    std::optional<std::vector<pci_function>> pci;
    std::string pci_error;
    std::vector<std::string> models;  // weights handed out on this host during the interval
    std::vector<report_event> events;
    bool empty() const { return inventory_source.empty() && inventory_error.empty() && models.empty() && events.empty(); }
};

// One PCI function as the ext writes it: {"bus","vendor","device","subsystem_vendor","subsystem_device","class"
// [,"numa_node"]} (custos gpu list prints the same, with numa_node null when absent).
boost::json::object pci_function_json(const pci_function& f);

std::string encode_report_ext(const report_ext& e);
// Strict: known keys only, types, counts and string lengths bounded, counters finite and ≥ 0.
result<report_ext> parse_report_ext(std::string_view json);

}  // namespace custos::attest
