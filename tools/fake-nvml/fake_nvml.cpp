// Fake NVML: every call reads the JSON file named by $CUSTOS_FAKE_NVML, so a test can add, remove, move
// or load GPUs while an agent runs:
//   {"driver_version":"550.54.15","gpus":[{"uuid":"GPU-…","serial":"1654922006536",
//     "name":"NVIDIA H100 80GB HBM3","board_part_number":"692-2G520-0200-000",
//     "pci_bus_id":"00000000:18:00.0","utilization_gpu":87,"energy_mj":123456789}]}
// A GPU without "serial" or "energy_mj" answers NVML_ERROR_NOT_SUPPORTED for it, as boards without
// those features do. A GPU with "attestation":{"key":"leaf.key.pem","chain":"chain.pem","fwid":"hex",
// "measurements":["hex",…]} (files as fake-gpu-ca writes them) answers the confidential-computing calls
// with an SPDM report it signs for the caller's nonce (tools/fake-nvml/gpu_test_ca); without it they
// answer NOT_SUPPORTED, as a GPU with confidential computing off does. {"init_error":N} makes nvmlInit_v2 fail with N. No file: NVML_ERROR_DRIVER_NOT_LOADED.
#include <boost/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <openssl/pem.h>

#include "agent/nvml_api.hpp"
#include "tools/fake-nvml/gpu_test_ca.hpp"

#define FAKE_NVML_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
namespace json = boost::json;

std::optional<json::object> load() {
    const char* path = std::getenv("CUSTOS_FAKE_NVML");
    if (!path) return std::nullopt;
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    json::value v = json::parse(ss.str(), ec);
    if (ec || !v.is_object()) return std::nullopt;
    return v.as_object();
}

custos_nvmlReturn_t gpu(custos_nvmlDevice_t d, json::object& out) {
    auto doc = load();
    if (!doc) return CUSTOS_NVML_ERROR_UNKNOWN;
    const auto i = reinterpret_cast<std::uintptr_t>(d);
    const json::array* gpus = doc->contains("gpus") ? doc->at("gpus").if_array() : nullptr;
    if (i == 0 || !gpus) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    if (i > gpus->size() || !(*gpus)[i - 1].is_object()) return CUSTOS_NVML_ERROR_GPU_IS_LOST;
    out = (*gpus)[i - 1].as_object();
    return CUSTOS_NVML_SUCCESS;
}

custos_nvmlReturn_t copy(const std::string& s, char* buf, unsigned len) {
    if (!buf) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    if (s.size() + 1 > len) return CUSTOS_NVML_ERROR_INSUFFICIENT_SIZE;
    std::memcpy(buf, s.c_str(), s.size() + 1);
    return CUSTOS_NVML_SUCCESS;
}

custos_nvmlReturn_t field(custos_nvmlDevice_t d, const char* key, char* buf, unsigned len) {
    json::object g;
    if (auto rc = gpu(d, g); rc != CUSTOS_NVML_SUCCESS) return rc;
    if (!g.contains(key) || !g.at(key).is_string()) return CUSTOS_NVML_ERROR_NOT_SUPPORTED;
    return copy(std::string(g.at(key).as_string()), buf, len);
}

// A whole, non-negative JSON number; nullopt otherwise (to_number would throw across the C ABI, which a
// caller built against the real NVML never expects).
std::optional<std::uint64_t> whole(const json::value& v) {
    if (const auto* u = v.if_uint64()) return *u;
    if (const auto* i = v.if_int64(); i && *i >= 0) return static_cast<std::uint64_t>(*i);
    if (const auto* d = v.if_double(); d && *d >= 0 && *d < 1.8e19 && static_cast<double>(static_cast<std::uint64_t>(*d)) == *d)
        return static_cast<std::uint64_t>(*d);
    return std::nullopt;
}

}  // namespace

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlInit_v2() {
    auto doc = load();
    if (!doc) return CUSTOS_NVML_ERROR_DRIVER_NOT_LOADED;
    if (doc->contains("init_error") && doc->at("init_error").is_int64())
        return static_cast<custos_nvmlReturn_t>(doc->at("init_error").as_int64());
    return CUSTOS_NVML_SUCCESS;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlShutdown() { return CUSTOS_NVML_SUCCESS; }

FAKE_NVML_EXPORT const char* nvmlErrorString(custos_nvmlReturn_t rc) {
    switch (rc) {
    case CUSTOS_NVML_SUCCESS: return "Success";
    case CUSTOS_NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case CUSTOS_NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case CUSTOS_NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case CUSTOS_NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case CUSTOS_NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlSystemGetDriverVersion(char* buf, unsigned len) {
    auto doc = load();
    if (!doc) return CUSTOS_NVML_ERROR_UNKNOWN;
    if (!doc->contains("driver_version") || !doc->at("driver_version").is_string()) return CUSTOS_NVML_ERROR_NOT_SUPPORTED;
    return copy(std::string(doc->at("driver_version").as_string()), buf, len);
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) {
    auto doc = load();
    if (!doc || !count) return CUSTOS_NVML_ERROR_UNKNOWN;
    const json::array* gpus = doc->contains("gpus") ? doc->at("gpus").if_array() : nullptr;
    *count = gpus ? static_cast<unsigned>(gpus->size()) : 0;
    return CUSTOS_NVML_SUCCESS;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, custos_nvmlDevice_t* d) {
    if (!d) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    auto* h = reinterpret_cast<custos_nvmlDevice_t>(static_cast<std::uintptr_t>(i) + 1);
    json::object g;
    if (auto rc = gpu(h, g); rc != CUSTOS_NVML_SUCCESS) return rc == CUSTOS_NVML_ERROR_GPU_IS_LOST ? CUSTOS_NVML_ERROR_INVALID_ARGUMENT : rc;
    *d = h;
    return CUSTOS_NVML_SUCCESS;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetUUID(custos_nvmlDevice_t d, char* b, unsigned n) { return field(d, "uuid", b, n); }
FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetSerial(custos_nvmlDevice_t d, char* b, unsigned n) { return field(d, "serial", b, n); }
FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetName(custos_nvmlDevice_t d, char* b, unsigned n) { return field(d, "name", b, n); }
FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetBoardPartNumber(custos_nvmlDevice_t d, char* b, unsigned n) {
    return field(d, "board_part_number", b, n);
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetPciInfo_v3(custos_nvmlDevice_t d, custos_nvmlPciInfo_t* pci) {
    if (!pci) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    json::object g;
    if (auto rc = gpu(d, g); rc != CUSTOS_NVML_SUCCESS) return rc;
    std::memset(pci, 0, sizeof *pci);
    const std::string bus = g.contains("pci_bus_id") && g.at("pci_bus_id").is_string() ? std::string(g.at("pci_bus_id").as_string()) : "";
    if (bus.size() >= sizeof pci->busId) return CUSTOS_NVML_ERROR_UNKNOWN;
    std::memcpy(pci->busId, bus.c_str(), bus.size() + 1);
    unsigned dom = 0, b = 0, dev = 0, fn = 0;
    if (std::sscanf(bus.c_str(), "%x:%x:%x.%x", &dom, &b, &dev, &fn) == 4) {
        pci->domain = dom;
        pci->bus = b;
        pci->device = dev;
        std::snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.%x", dom & 0xffff, b & 0xff, dev & 0xff, fn & 0xf);
    }
    pci->pciDeviceId = 0x233010de;  // H100 SXM5, NVIDIA
    return CUSTOS_NVML_SUCCESS;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetUtilizationRates(custos_nvmlDevice_t d, custos_nvmlUtilization_t* u) {
    if (!u) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    json::object g;
    if (auto rc = gpu(d, g); rc != CUSTOS_NVML_SUCCESS) return rc;
    if (!g.contains("utilization_gpu") || !g.at("utilization_gpu").is_number()) return CUSTOS_NVML_ERROR_NOT_SUPPORTED;
    const auto pct = whole(g.at("utilization_gpu"));
    if (!pct || *pct > 0xffffffffu) return CUSTOS_NVML_ERROR_UNKNOWN;
    u->gpu = static_cast<unsigned>(*pct);
    u->memory = 0;
    return CUSTOS_NVML_SUCCESS;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(custos_nvmlDevice_t d, unsigned long long* mj) {
    if (!mj) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    json::object g;
    if (auto rc = gpu(d, g); rc != CUSTOS_NVML_SUCCESS) return rc;
    if (!g.contains("energy_mj") || !g.at("energy_mj").is_number()) return CUSTOS_NVML_ERROR_NOT_SUPPORTED;
    const auto e = whole(g.at("energy_mj"));
    if (!e) return CUSTOS_NVML_ERROR_UNKNOWN;
    *mj = *e;
    return CUSTOS_NVML_SUCCESS;
}

namespace {

std::optional<std::string> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The GPU's "attestation" object, or NOT_SUPPORTED.
custos_nvmlReturn_t attestation_of(custos_nvmlDevice_t d, json::object& out) {
    json::object g;
    if (auto rc = gpu(d, g); rc != CUSTOS_NVML_SUCCESS) return rc;
    if (!g.contains("attestation") || !g.at("attestation").is_object()) return CUSTOS_NVML_ERROR_NOT_SUPPORTED;
    out = g.at("attestation").as_object();
    return CUSTOS_NVML_SUCCESS;
}

std::string text_of(const json::object& o, const char* key) {
    return o.contains(key) && o.at(key).is_string() ? std::string(o.at(key).as_string()) : std::string();
}

}  // namespace

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char* bus, custos_nvmlDevice_t* d) {
    if (!bus || !d) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    auto doc = load();
    if (!doc) return CUSTOS_NVML_ERROR_UNKNOWN;
    const json::array* gpus = doc->contains("gpus") ? doc->at("gpus").if_array() : nullptr;
    if (!gpus) return CUSTOS_NVML_ERROR_NOT_FOUND;
    for (std::size_t i = 0; i < gpus->size(); ++i) {
        const auto* g = (*gpus)[i].if_object();
        if (g && g->contains("pci_bus_id") && g->at("pci_bus_id").is_string() && g->at("pci_bus_id").as_string() == bus) {
            *d = reinterpret_cast<custos_nvmlDevice_t>(static_cast<std::uintptr_t>(i + 1));
            return CUSTOS_NVML_SUCCESS;
        }
    }
    return CUSTOS_NVML_ERROR_NOT_FOUND;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(
    custos_nvmlDevice_t d, custos_nvmlConfComputeGpuAttestationReport_t* r) {
    if (!r) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    json::object a;
    if (auto rc = attestation_of(d, a); rc != CUSTOS_NVML_SUCCESS) return rc;
    const auto key_pem = slurp(text_of(a, "key"));
    if (!key_pem) return CUSTOS_NVML_ERROR_UNKNOWN;
    custos::ossl::bio_ptr bio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
    custos::ossl::pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) return CUSTOS_NVML_ERROR_UNKNOWN;
    custos::gpu_test_ca::report_fields f;
    f.nonce.assign(r->nonce, r->nonce + sizeof r->nonce);
    auto fwid = custos::from_hex(text_of(a, "fwid"));
    if (!fwid) return CUSTOS_NVML_ERROR_UNKNOWN;
    f.fwid = std::move(*fwid);
    if (a.contains("measurements") && a.at("measurements").is_array())
        for (const auto& m : a.at("measurements").as_array()) {
            auto b = m.is_string() ? custos::from_hex(std::string(m.as_string())) : custos::result<custos::bytes>(custos::make_error(custos::errc::parse, "x"));
            if (!b) return CUSTOS_NVML_ERROR_UNKNOWN;
            f.measurements.push_back(std::move(*b));
        }
    if (f.measurements.empty()) f.measurements.push_back(custos::bytes(48, 0x11));
    if (const std::string dv = text_of(a, "driver_version"); !dv.empty()) f.driver_version = dv;
    auto report = custos::gpu_test_ca::make_report(key.get(), f);
    if (!report || report->size() > sizeof r->attestationReport) return CUSTOS_NVML_ERROR_UNKNOWN;
    std::memcpy(r->attestationReport, report->data(), report->size());
    r->attestationReportSize = static_cast<unsigned>(report->size());
    r->isCecAttestationReportPresent = 0;
    r->cecAttestationReportSize = 0;
    return CUSTOS_NVML_SUCCESS;
}

FAKE_NVML_EXPORT custos_nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(custos_nvmlDevice_t d,
                                                                            custos_nvmlConfComputeGpuCertificate_t* c) {
    if (!c) return CUSTOS_NVML_ERROR_INVALID_ARGUMENT;
    json::object a;
    if (auto rc = attestation_of(d, a); rc != CUSTOS_NVML_SUCCESS) return rc;
    const auto chain = slurp(text_of(a, "chain"));
    if (!chain || chain->size() >= sizeof c->attestationCertChain) return CUSTOS_NVML_ERROR_UNKNOWN;
    std::memcpy(c->attestationCertChain, chain->data(), chain->size());
    c->attestationCertChainSize = static_cast<unsigned>(chain->size());
    c->certChainSize = 0;
    return CUSTOS_NVML_SUCCESS;
}
