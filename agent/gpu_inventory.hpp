// GPU inventory: NVML loaded at run time with dlopen through the project's own minimal declarations
// (agent/nvml_api.hpp; no NVIDIA headers needed to build), with a PCI sysfs fallback when no NVML is
// installed. The fallback has no serials, so evidence built from it says so (source "sysfs").
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "crypto/result.hpp"
#include "policy/chips.hpp"

namespace custos::agent {

inline constexpr const char* default_nvml_library = "libnvidia-ml.so.1";

struct gpu_info {
    std::string uuid;               // NVML only
    std::string serial;             // NVML only; empty when the board does not report one
    std::string name;               // NVML's product name; sysfs: "PCI VVVV:DDDD"
    std::string board_part_number;  // NVML only
    std::string pci_bus_id;         // "00000000:18:00.0"
    std::string pci_vendor_id;      // sysfs only: "10de"
    std::string pci_device_id;      // sysfs only: "2330"
    std::optional<unsigned> utilization_gpu;  // percent, NVML only
    std::optional<std::uint64_t> energy_mj;   // total energy since the driver loaded, NVML only
};

struct gpu_inventory {
    std::string source;          // "nvml" or "sysfs"
    std::string driver_version;  // NVML only
    std::string note;            // why the fallback was used
    std::vector<gpu_info> gpus;  // in NVML index order, or by PCI bus id
};

// An NVML library, initialised once and shut down on destruction.
class nvml {
public:
    // dlopen(`library`), resolve the versioned entry points, nvmlInit_v2. Errors name the library and
    // the failing step (not found, symbol missing, init refused with NVML's own message).
    static result<std::unique_ptr<nvml>> open(const std::string& library);
    ~nvml();
    nvml(const nvml&) = delete;
    nvml& operator=(const nvml&) = delete;
    // One pass over every GPU. A field a board does not support (NVML_ERROR_NOT_SUPPORTED) stays empty;
    // any other error fails the read and names the GPU and the call.
    result<gpu_inventory> read() const;
    const std::string& library() const { return library_; }

    struct api;

private:
    nvml() = default;
    void* handle_ = nullptr;
    std::unique_ptr<api> api_;
    std::string library_;
};

// Display and 3D controllers and processing accelerators of known accelerator vendors under
// `pci_root` (default /sys/bus/pci/devices).
result<gpu_inventory> read_sysfs_inventory(const std::filesystem::path& pci_root = "/sys/bus/pci/devices");

// The inventory source an agent or the CLI uses: an explicitly named library must load (an error names
// it); with none named, the default library is tried and, when it is absent or cannot initialise, the
// sysfs fallback is used with a note saying why.
class inventory_reader {
public:
    static result<inventory_reader> open(const std::optional<std::string>& explicit_library,
                                         std::filesystem::path pci_root = "/sys/bus/pci/devices");
    result<gpu_inventory> read() const;

private:
    std::shared_ptr<nvml> nvml_;
    std::filesystem::path pci_root_;
    std::string note_;
};

// {"source","driver_version",["note",]"gpus":[{"uuid","serial","name","board_part_number","pci_bus_id",
// "chip","tpp",…}]}: chip is the table's id for the reported name (for a card listed from sysfs, for its
// PCI vendor and device ids), or "unknown" with "tpp": null (never guessed from a similar name).
boost::json::object inventory_to_json(const gpu_inventory& inv, const policy::chip_table& chips);

}  // namespace custos::agent
