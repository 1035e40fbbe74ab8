// GPU inventory: NVML loaded at run time with dlopen through the project's own minimal declarations
// (agent/nvml_api.hpp; no NVIDIA headers needed to build), with a PCI sysfs fallback when no NVML is
// installed. The fallback has no serials, so evidence built from it says so (source "sysfs"). Beside
// either, every accelerator-class PCI function (display 0x03xx, processing accelerator 0x12xx, any
// vendor) is listed from sysfs, so a card no vendor library lists (a Huawei Ascend, an AMD Instinct, a
// card the driver hides) still reaches the verifier.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "attest/report_ext.hpp"
#include "crypto/bytes.hpp"
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
    std::vector<attest::pci_function> pci;  // every accelerator-class PCI function, by bus id
    std::string pci_error;                  // why the PCI view could not be read ("" when it was)
};

inline constexpr const char* default_sysfs_root = "/sys";

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

    // The GPU at `pci_bus_id`'s attestation report for `nonce` (32 bytes) and its attestation certificate
    // chain (PEM), through nvmlDeviceGetConfComputeGpuAttestationReport / ...GpuCertificate. An error names
    // the call and NVML's answer: a library without the calls (an older driver), or a GPU that cannot
    // give one (confidential computing off: NVML answers NOT_SUPPORTED).
    struct attestation {
        bytes report;
        std::string chain;
    };
    result<attestation> attest(const std::string& pci_bus_id, byte_view nonce) const;

    struct api;

private:
    nvml() = default;
    void* handle_ = nullptr;
    std::unique_ptr<api> api_;
    std::string library_;
};

// Every display controller (class 0x03xx) and processing accelerator (0x12xx) under `sysfs_root`/bus/pci/
// devices, any vendor, with its ids, subsystem ids, class and NUMA node, sorted by bus id. A function
// whose vendor, device or class cannot be read is an error naming it (a view with a hole in it would
// read as a complete one); more than max_ext_pci such functions is an error.
result<std::vector<attest::pci_function>> read_pci_functions(const std::filesystem::path& sysfs_root = default_sysfs_root);

// The fallback inventory without NVML: the 3D controllers, processing accelerators and the display
// controllers of accelerator vendors (NVIDIA, AMD, Huawei, Intel Habana) under `sysfs_root`, plus the PCI view.
result<gpu_inventory> read_sysfs_inventory(const std::filesystem::path& sysfs_root = default_sysfs_root);

// The inventory source an agent or the CLI uses: an explicitly named library must load (an error names
// it); with none named, the default library is tried and, when it is absent or cannot initialise, the
// sysfs fallback is used with a note saying why. Either way the PCI view is read beside it.
class inventory_reader {
public:
    static result<inventory_reader> open(const std::optional<std::string>& explicit_library,
                                         std::filesystem::path sysfs_root = default_sysfs_root);
    result<gpu_inventory> read() const;
    const nvml* library() const { return nvml_.get(); }  // null: the sysfs fallback

private:
    std::shared_ptr<nvml> nvml_;
    std::filesystem::path sysfs_root_;
    std::string note_;
};

// The table's chip for a GPU: by the library's product name, else (a card listed from sysfs) by its PCI ids.
const policy::chip* chip_of(const gpu_info& g, const policy::chip_table& chips);

// {"source","driver_version",["note",]"gpus":[{"uuid","serial","name","board_part_number","pci_bus_id",
// "chip","tpp",…}],"pci":[{"bus","vendor","device","subsystem_vendor","subsystem_device","class",
// "numa_node","chip","listed_by_nvml","display_only"}],["pci_error"]}: chip is the table's id, or "unknown"
// with "tpp": null (never guessed from a similar name).
boost::json::object inventory_to_json(const gpu_inventory& inv, const policy::chip_table& chips);

}  // namespace custos::agent
