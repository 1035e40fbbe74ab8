#include "agent/gpu_inventory.hpp"

#include <dlfcn.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "agent/nvml_api.hpp"

namespace custos::agent {
namespace fs = std::filesystem;

struct nvml::api {
    custos_nvmlReturn_t (*init)();
    custos_nvmlReturn_t (*shutdown)();
    const char* (*error_string)(custos_nvmlReturn_t);
    custos_nvmlReturn_t (*driver_version)(char*, unsigned);
    custos_nvmlReturn_t (*count)(unsigned*);
    custos_nvmlReturn_t (*by_index)(unsigned, custos_nvmlDevice_t*);
    custos_nvmlReturn_t (*uuid)(custos_nvmlDevice_t, char*, unsigned);
    custos_nvmlReturn_t (*serial)(custos_nvmlDevice_t, char*, unsigned);
    custos_nvmlReturn_t (*name)(custos_nvmlDevice_t, char*, unsigned);
    custos_nvmlReturn_t (*part)(custos_nvmlDevice_t, char*, unsigned);
    custos_nvmlReturn_t (*pci)(custos_nvmlDevice_t, custos_nvmlPciInfo_t*);
    custos_nvmlReturn_t (*util)(custos_nvmlDevice_t, custos_nvmlUtilization_t*);
    custos_nvmlReturn_t (*energy)(custos_nvmlDevice_t, unsigned long long*);
    // Optional (confidential computing, r535 and later): null when the library lacks them.
    custos_nvmlReturn_t (*by_bus)(const char*, custos_nvmlDevice_t*);
    custos_nvmlReturn_t (*cc_report)(custos_nvmlDevice_t, custos_nvmlConfComputeGpuAttestationReport_t*);
    custos_nvmlReturn_t (*cc_cert)(custos_nvmlDevice_t, custos_nvmlConfComputeGpuCertificate_t*);

    std::string message(custos_nvmlReturn_t rc) const {
        const char* s = error_string ? error_string(rc) : nullptr;
        return (s ? std::string(s) : std::string("NVML error")) + " (" + std::to_string(rc) + ")";
    }
};

namespace {

template <class F>
bool resolve(void* h, const char* symbol, F& out, std::string& missing) {
    out = reinterpret_cast<F>(dlsym(h, symbol));
    if (!out) missing = symbol;
    return out != nullptr;
}

std::string text(const char* buf, std::size_t cap) { return std::string(buf, strnlen(buf, cap)); }

}  // namespace

result<std::unique_ptr<nvml>> nvml::open(const std::string& library) {
    dlerror();
    void* h = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        return make_error(errc::io, "NVML library " + library + " cannot be loaded: " + (e ? e : "dlopen failed"));
    }
    std::unique_ptr<nvml> n(new nvml());
    n->handle_ = h;
    n->library_ = library;
    n->api_ = std::make_unique<api>();
    api& a = *n->api_;
    std::string missing;
    if (!resolve(h, "nvmlInit_v2", a.init, missing) || !resolve(h, "nvmlShutdown", a.shutdown, missing) ||
        !resolve(h, "nvmlErrorString", a.error_string, missing) ||
        !resolve(h, "nvmlSystemGetDriverVersion", a.driver_version, missing) ||
        !resolve(h, "nvmlDeviceGetCount_v2", a.count, missing) ||
        !resolve(h, "nvmlDeviceGetHandleByIndex_v2", a.by_index, missing) ||
        !resolve(h, "nvmlDeviceGetUUID", a.uuid, missing) || !resolve(h, "nvmlDeviceGetSerial", a.serial, missing) ||
        !resolve(h, "nvmlDeviceGetName", a.name, missing) ||
        !resolve(h, "nvmlDeviceGetBoardPartNumber", a.part, missing) ||
        !resolve(h, "nvmlDeviceGetPciInfo_v3", a.pci, missing) ||
        !resolve(h, "nvmlDeviceGetUtilizationRates", a.util, missing) ||
        !resolve(h, "nvmlDeviceGetTotalEnergyConsumption", a.energy, missing)) {
        n->api_.reset();  // nothing initialised yet: the destructor only closes the library
        return make_error(errc::unsupported, "NVML library " + library + " has no " + missing +
                                                 " (a driver older than this agent supports?)");
    }
    std::string optional_missing;
    resolve(h, "nvmlDeviceGetHandleByPciBusId_v2", a.by_bus, optional_missing);
    resolve(h, "nvmlDeviceGetConfComputeGpuAttestationReport", a.cc_report, optional_missing);
    resolve(h, "nvmlDeviceGetConfComputeGpuCertificate", a.cc_cert, optional_missing);
    const custos_nvmlReturn_t rc = a.init();
    if (rc != CUSTOS_NVML_SUCCESS) {
        const std::string m = a.message(rc);
        n->api_.reset();
        return make_error(errc::io, "NVML library " + library + ": nvmlInit_v2 failed: " + m);
    }
    return n;
}

nvml::~nvml() {
    if (api_) api_->shutdown();
    if (handle_) dlclose(handle_);
}

result<gpu_inventory> nvml::read() const {
    const api& a = *api_;
    gpu_inventory inv;
    inv.source = "nvml";
    auto fail = [&](const std::string& what, custos_nvmlReturn_t rc) {
        return make_error(errc::io, "NVML (" + library_ + "): " + what + ": " + a.message(rc));
    };
    char buf[256];
    if (auto rc = a.driver_version(buf, CUSTOS_NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE); rc == CUSTOS_NVML_SUCCESS)
        inv.driver_version = text(buf, sizeof buf);
    else if (rc != CUSTOS_NVML_ERROR_NOT_SUPPORTED)
        return fail("nvmlSystemGetDriverVersion", rc);
    unsigned count = 0;
    if (auto rc = a.count(&count); rc != CUSTOS_NVML_SUCCESS) return fail("nvmlDeviceGetCount_v2", rc);
    if (count > 1024) return make_error(errc::structure, "NVML (" + library_ + ") reports " + std::to_string(count) + " GPUs");
    for (unsigned i = 0; i < count; ++i) {
        const std::string gpu = "GPU " + std::to_string(i);
        custos_nvmlDevice_t d = nullptr;
        if (auto rc = a.by_index(i, &d); rc != CUSTOS_NVML_SUCCESS) return fail(gpu + ": nvmlDeviceGetHandleByIndex_v2", rc);
        gpu_info g;
        // Strings: a field the board does not support stays empty; any other failure is an error.
        auto str = [&](custos_nvmlReturn_t (*f)(custos_nvmlDevice_t, char*, unsigned), unsigned cap, const char* call,
                       std::string& out) -> result<void> {
            std::memset(buf, 0, sizeof buf);
            const auto rc = f(d, buf, cap);
            if (rc == CUSTOS_NVML_SUCCESS) out = text(buf, cap);
            else if (rc != CUSTOS_NVML_ERROR_NOT_SUPPORTED) return fail(gpu + ": " + call, rc);
            return {};
        };
        CUSTOS_TRY_VOID(str(a.uuid, CUSTOS_NVML_DEVICE_UUID_V2_BUFFER_SIZE, "nvmlDeviceGetUUID", g.uuid));
        CUSTOS_TRY_VOID(str(a.serial, CUSTOS_NVML_DEVICE_SERIAL_BUFFER_SIZE, "nvmlDeviceGetSerial", g.serial));
        CUSTOS_TRY_VOID(str(a.name, CUSTOS_NVML_DEVICE_NAME_V2_BUFFER_SIZE, "nvmlDeviceGetName", g.name));
        CUSTOS_TRY_VOID(str(a.part, CUSTOS_NVML_DEVICE_PART_NUMBER_BUFFER_SIZE, "nvmlDeviceGetBoardPartNumber", g.board_part_number));
        custos_nvmlPciInfo_t pci{};
        if (auto rc = a.pci(d, &pci); rc != CUSTOS_NVML_SUCCESS) return fail(gpu + ": nvmlDeviceGetPciInfo_v3", rc);
        g.pci_bus_id = text(pci.busId, sizeof pci.busId);
        custos_nvmlUtilization_t u{};
        if (auto rc = a.util(d, &u); rc == CUSTOS_NVML_SUCCESS) g.utilization_gpu = std::min(u.gpu, 100u);
        else if (rc != CUSTOS_NVML_ERROR_NOT_SUPPORTED) return fail(gpu + ": nvmlDeviceGetUtilizationRates", rc);
        unsigned long long mj = 0;
        if (auto rc = a.energy(d, &mj); rc == CUSTOS_NVML_SUCCESS) g.energy_mj = mj;
        else if (rc != CUSTOS_NVML_ERROR_NOT_SUPPORTED) return fail(gpu + ": nvmlDeviceGetTotalEnergyConsumption", rc);
        inv.gpus.push_back(std::move(g));
    }
    return inv;
}

result<nvml::attestation> nvml::attest(const std::string& pci_bus_id, byte_view nonce) const {
    const api& a = *api_;
    if (!a.by_bus || !a.cc_report || !a.cc_cert)
        return make_error(errc::unsupported, "NVML (" + library_ + ") has no confidential-computing attestation calls "
                                             "(nvmlDeviceGetConfComputeGpuAttestationReport: driver r535 or later)");
    if (nonce.size() != CUSTOS_NVML_CC_GPU_CEC_NONCE_SIZE) return make_error(errc::invalid_argument, "the GPU nonce must be 32 bytes");
    const std::string gpu = "GPU " + pci_bus_id;
    custos_nvmlDevice_t d = nullptr;
    if (auto rc = a.by_bus(pci_bus_id.c_str(), &d); rc != CUSTOS_NVML_SUCCESS)
        return make_error(errc::io, "NVML (" + library_ + "): " + gpu + ": nvmlDeviceGetHandleByPciBusId_v2: " + a.message(rc));
    auto report = std::make_unique<custos_nvmlConfComputeGpuAttestationReport_t>();
    std::memset(report.get(), 0, sizeof *report);
    std::memcpy(report->nonce, nonce.data(), nonce.size());
    if (auto rc = a.cc_report(d, report.get()); rc != CUSTOS_NVML_SUCCESS)
        return make_error(rc == CUSTOS_NVML_ERROR_NOT_SUPPORTED ? errc::unsupported : errc::io,
                          "NVML (" + library_ + "): " + gpu + ": nvmlDeviceGetConfComputeGpuAttestationReport: " + a.message(rc));
    if (report->attestationReportSize == 0 || report->attestationReportSize > sizeof report->attestationReport)
        return make_error(errc::structure, "NVML (" + library_ + "): " + gpu + ": attestation report size " +
                                               std::to_string(report->attestationReportSize) + " is out of range");
    auto cert = std::make_unique<custos_nvmlConfComputeGpuCertificate_t>();
    std::memset(cert.get(), 0, sizeof *cert);
    if (auto rc = a.cc_cert(d, cert.get()); rc != CUSTOS_NVML_SUCCESS)
        return make_error(rc == CUSTOS_NVML_ERROR_NOT_SUPPORTED ? errc::unsupported : errc::io,
                          "NVML (" + library_ + "): " + gpu + ": nvmlDeviceGetConfComputeGpuCertificate: " + a.message(rc));
    if (cert->attestationCertChainSize == 0 || cert->attestationCertChainSize > sizeof cert->attestationCertChain)
        return make_error(errc::structure, "NVML (" + library_ + "): " + gpu + ": attestation certificate chain size " +
                                               std::to_string(cert->attestationCertChainSize) + " is out of range");
    attestation out;
    out.report.assign(report->attestationReport, report->attestationReport + report->attestationReportSize);
    out.chain.assign(reinterpret_cast<const char*>(cert->attestationCertChain), strnlen(reinterpret_cast<const char*>(cert->attestationCertChain), cert->attestationCertChainSize));
    return out;
}

namespace {

std::string read_line(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

// "0x10DE" → "10de"; "" unless it is `digits` hex digits after the prefix.
std::string hex_id(const std::string& s, std::size_t digits) {
    std::string t = s.rfind("0x", 0) == 0 ? s.substr(2) : s;
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (t.size() != digits || t.find_first_not_of("0123456789abcdef") != std::string::npos) return {};
    return t;
}

bool accelerator_vendor(const std::string& vendor) {
    return vendor == "10de" || vendor == "1002" || vendor == "19e5" || vendor == "1da3";
}

}  // namespace

result<std::vector<attest::pci_function>> read_pci_functions(const fs::path& sysfs_root) {
    const fs::path dir = sysfs_root / "bus" / "pci" / "devices";
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return make_error(errc::io, "PCI sysfs " + dir.string() + ": " + ec.message());
    std::vector<attest::pci_function> out;
    for (const auto& e : it) {
        const std::string name = e.path().filename().string();
        const auto bus = attest::canonical_pci_bus(name);
        if (!bus) return make_error(errc::structure, "PCI sysfs " + dir.string() + ": \"" + name + "\" is not a PCI address");
        const std::string where = "PCI function " + name + " (" + dir.string() + "): ";
        const std::string cls = hex_id(read_line(e.path() / "class"), 6);
        // A function removed while the bus is read (hot unplug, a rescan) is gone, not a hole in the view.
        if (cls.empty() && !fs::exists(e.path() / "class", ec)) continue;
        if (cls.empty()) return make_error(errc::io, where + "no readable class");
        if (!cls.starts_with("03") && !cls.starts_with("12")) continue;
        attest::pci_function f;
        f.bus = *bus;
        f.class_code = cls;
        f.vendor = hex_id(read_line(e.path() / "vendor"), 4);
        f.device = hex_id(read_line(e.path() / "device"), 4);
        if (f.vendor.empty() || f.device.empty()) return make_error(errc::io, where + "no readable vendor or device id");
        // Subsystem ids name the board maker; some virtual functions have none (recorded as 0000).
        f.subsystem_vendor = hex_id(read_line(e.path() / "subsystem_vendor"), 4);
        f.subsystem_device = hex_id(read_line(e.path() / "subsystem_device"), 4);
        if (f.subsystem_vendor.empty()) f.subsystem_vendor = "0000";
        if (f.subsystem_device.empty()) f.subsystem_device = "0000";
        const std::string numa = read_line(e.path() / "numa_node");
        if (!numa.empty() && numa.find_first_not_of("0123456789") == std::string::npos && numa.size() <= 4)
            f.numa_node = std::stoi(numa);  // "-1" (no NUMA) and anything else stay absent
        out.push_back(std::move(f));
        if (out.size() > attest::max_ext_pci)
            return make_error(errc::structure, "PCI sysfs " + dir.string() + ": more than " + std::to_string(attest::max_ext_pci) +
                                                   " display controllers and accelerators");
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.bus < b.bus; });
    return out;
}

namespace {

// The fallback's GPUs, from the PCI view.
std::vector<gpu_info> gpus_from_pci(const std::vector<attest::pci_function>& pci) {
    std::vector<gpu_info> out;
    for (const auto& f : pci) {
        const bool accel = f.class_code.starts_with("0302") || f.class_code.starts_with("12");
        if (!accel && !(f.class_code.starts_with("0300") && accelerator_vendor(f.vendor))) continue;
        gpu_info g;
        g.pci_bus_id = f.bus;
        g.pci_vendor_id = f.vendor;
        g.pci_device_id = f.device;
        g.name = "PCI " + f.vendor + ":" + f.device;
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace

result<gpu_inventory> read_sysfs_inventory(const fs::path& sysfs_root) {
    gpu_inventory inv;
    inv.source = "sysfs";
    CUSTOS_TRY(pci, read_pci_functions(sysfs_root));
    inv.gpus = gpus_from_pci(pci);
    inv.pci = std::move(pci);
    return inv;
}

result<inventory_reader> inventory_reader::open(const std::optional<std::string>& explicit_library, fs::path sysfs_root) {
    inventory_reader r;
    r.sysfs_root_ = std::move(sysfs_root);
    if (explicit_library) {
        CUSTOS_TRY(n, nvml::open(*explicit_library));
        r.nvml_ = std::move(n);
        return r;
    }
    auto n = nvml::open(default_nvml_library);
    if (n) r.nvml_ = std::move(n).value();
    else r.note_ = n.err().message + "; GPUs listed from PCI sysfs, without serials";
    return r;
}

result<gpu_inventory> inventory_reader::read() const {
    if (!nvml_) {
        CUSTOS_TRY(inv, read_sysfs_inventory(sysfs_root_));
        inv.note = note_;
        return inv;
    }
    CUSTOS_TRY(inv, nvml_->read());
    // The PCI view is evidence of its own: a failure to read it is reported, not fatal to the inventory.
    auto pci = read_pci_functions(sysfs_root_);
    if (pci) inv.pci = std::move(pci).value();
    else inv.pci_error = pci.err().message.substr(0, 256);
    return inv;
}

const policy::chip* chip_of(const gpu_info& g, const policy::chip_table& chips) {
    if (const policy::chip* c = chips.by_name(g.name)) return c;
    if (!g.pci_vendor_id.empty()) return chips.by_pci(g.pci_vendor_id, g.pci_device_id);
    return nullptr;
}

boost::json::object inventory_to_json(const gpu_inventory& inv, const policy::chip_table& chips) {
    namespace json = boost::json;
    json::object out;
    out["source"] = inv.source;
    out["driver_version"] = inv.driver_version;
    if (!inv.note.empty()) out["note"] = inv.note;
    json::array gpus;
    for (const auto& g : inv.gpus) {
        json::object o;
        o["uuid"] = g.uuid;
        o["serial"] = g.serial;
        o["name"] = g.name;
        o["board_part_number"] = g.board_part_number;
        o["pci_bus_id"] = g.pci_bus_id;
        if (!g.pci_vendor_id.empty()) {
            o["pci_vendor_id"] = g.pci_vendor_id;
            o["pci_device_id"] = g.pci_device_id;
        }
        const policy::chip* c = chip_of(g, chips);
        o["chip"] = c ? c->id : "unknown";
        if (c && c->tpp) o["tpp"] = *c->tpp;
        else o["tpp"] = nullptr;
        if (g.utilization_gpu) o["utilization_gpu"] = *g.utilization_gpu;
        else o["utilization_gpu"] = nullptr;
        if (g.energy_mj) o["energy_mj"] = *g.energy_mj;
        else o["energy_mj"] = nullptr;
        gpus.push_back(std::move(o));
    }
    out["gpus"] = std::move(gpus);
    // The PCI view: each function's chip by its ids, whether the vendor library listed it (by bus id).
    std::set<std::string> listed;
    if (inv.source == "nvml")
        for (const auto& g : inv.gpus)
            if (auto b = attest::canonical_pci_bus(g.pci_bus_id)) listed.insert(*b);
    json::array pci;
    for (const auto& f : inv.pci) {
        json::object o = attest::pci_function_json(f);
        if (!f.numa_node) o["numa_node"] = nullptr;
        const policy::chip* c = chips.by_pci(f.vendor, f.device);
        const policy::display_device* d = c ? nullptr : chips.display_only(f.vendor, f.device);
        o["chip"] = c ? c->id : d ? "display:" + d->id : "unknown";
        o["display_only"] = d != nullptr;
        o["listed_by_nvml"] = listed.count(f.bus) > 0;
        pci.push_back(std::move(o));
    }
    out["pci"] = std::move(pci);
    if (!inv.pci_error.empty()) out["pci_error"] = inv.pci_error;
    return out;
}

}  // namespace custos::agent
