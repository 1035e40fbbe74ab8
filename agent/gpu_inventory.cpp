#include "agent/gpu_inventory.hpp"

#include <dlfcn.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

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

namespace {

std::string read_line(const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

// "0x10de" → "10de"
std::string hex_id(const std::string& s) {
    std::string t = s.rfind("0x", 0) == 0 ? s.substr(2) : s;
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return t;
}

}  // namespace

result<gpu_inventory> read_sysfs_inventory(const fs::path& pci_root) {
    gpu_inventory inv;
    inv.source = "sysfs";
    std::error_code ec;
    fs::directory_iterator it(pci_root, ec);
    if (ec) return make_error(errc::io, "PCI sysfs " + pci_root.string() + ": " + ec.message());
    for (const auto& e : it) {
        const std::string vendor = hex_id(read_line(e.path() / "vendor"));
        const std::string cls = hex_id(read_line(e.path() / "class"));
        // NVIDIA, AMD, Huawei; display (0x0300), 3D (0x0302) and processing accelerators (0x1200).
        if (vendor != "10de" && vendor != "1002" && vendor != "19e5") continue;
        if (cls.rfind("0300", 0) != 0 && cls.rfind("0302", 0) != 0 && cls.rfind("1200", 0) != 0) continue;
        gpu_info g;
        g.pci_bus_id = e.path().filename().string();
        g.pci_vendor_id = vendor;
        g.pci_device_id = hex_id(read_line(e.path() / "device"));
        g.name = "PCI " + vendor + ":" + g.pci_device_id;
        inv.gpus.push_back(std::move(g));
    }
    std::sort(inv.gpus.begin(), inv.gpus.end(), [](const gpu_info& a, const gpu_info& b) { return a.pci_bus_id < b.pci_bus_id; });
    return inv;
}

result<inventory_reader> inventory_reader::open(const std::optional<std::string>& explicit_library, fs::path pci_root) {
    inventory_reader r;
    r.pci_root_ = std::move(pci_root);
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
    if (nvml_) return nvml_->read();
    CUSTOS_TRY(inv, read_sysfs_inventory(pci_root_));
    inv.note = note_;
    return inv;
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
        // By the library's product name; a card listed from sysfs alone by its PCI ids (the chip family).
        const policy::chip* c = chips.by_name(g.name);
        if (!c && !g.pci_vendor_id.empty()) c = chips.by_pci(g.pci_vendor_id, g.pci_device_id);
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
    return out;
}

}  // namespace custos::agent
