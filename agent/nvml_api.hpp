// The part of NVML's C API custos uses, declared from NVIDIA's public API reference (no NVIDIA headers
// are installed on build machines). Versioned entry points are the ones current drivers export; the
// fake NVML (tools/fake-nvml) implements exactly these.
#pragma once

extern "C" {

typedef int custos_nvmlReturn_t;
typedef struct custos_nvmlDevice_st* custos_nvmlDevice_t;

enum : int {
    CUSTOS_NVML_SUCCESS = 0,
    CUSTOS_NVML_ERROR_UNINITIALIZED = 1,
    CUSTOS_NVML_ERROR_INVALID_ARGUMENT = 2,
    CUSTOS_NVML_ERROR_NOT_SUPPORTED = 3,
    CUSTOS_NVML_ERROR_NO_PERMISSION = 4,
    CUSTOS_NVML_ERROR_NOT_FOUND = 6,
    CUSTOS_NVML_ERROR_INSUFFICIENT_SIZE = 7,
    CUSTOS_NVML_ERROR_DRIVER_NOT_LOADED = 9,
    CUSTOS_NVML_ERROR_GPU_IS_LOST = 15,
    CUSTOS_NVML_ERROR_UNKNOWN = 999,
};

// nvmlPciInfo_t as nvmlDeviceGetPciInfo_v3 fills it.
struct custos_nvmlPciInfo_t {
    char busIdLegacy[16];  // NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;  // (device id << 16) | vendor id
    unsigned int pciSubSystemId;
    char busId[32];  // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE
};

struct custos_nvmlUtilization_t {
    unsigned int gpu;     // percent of time a kernel ran over the last sample period
    unsigned int memory;  // percent of time device memory was read or written
};

// Buffer sizes from the API reference.
enum : unsigned {
    CUSTOS_NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96,
    CUSTOS_NVML_DEVICE_SERIAL_BUFFER_SIZE = 30,
    CUSTOS_NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96,
    CUSTOS_NVML_DEVICE_PART_NUMBER_BUFFER_SIZE = 80,
    CUSTOS_NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80,
};

// Confidential computing (driver r535 and later; absent from older libraries, so resolved optionally).
// Layouts from nvml.h (NVML API version 12/13); sizes are checked below.
enum : unsigned {
    CUSTOS_NVML_CC_GPU_CEC_NONCE_SIZE = 0x20,
    CUSTOS_NVML_CC_GPU_ATTESTATION_REPORT_SIZE = 0x2000,
    CUSTOS_NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE = 0x1000,
    CUSTOS_NVML_GPU_CERT_CHAIN_SIZE = 0x1000,
    CUSTOS_NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE = 0x1400,
};

// nvmlConfComputeGpuAttestationReport_t: `nonce` is the input, the rest output.
struct custos_nvmlConfComputeGpuAttestationReport_t {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[CUSTOS_NVML_CC_GPU_CEC_NONCE_SIZE];
    unsigned char attestationReport[CUSTOS_NVML_CC_GPU_ATTESTATION_REPORT_SIZE];
    unsigned char cecAttestationReport[CUSTOS_NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE];
};

// nvmlConfComputeGpuCertificate_t: the attestation chain is PEM text, leaf first.
struct custos_nvmlConfComputeGpuCertificate_t {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[CUSTOS_NVML_GPU_CERT_CHAIN_SIZE];
    unsigned char attestationCertChain[CUSTOS_NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE];
};

}  // extern "C"

static_assert(sizeof(custos_nvmlConfComputeGpuAttestationReport_t) == 12332, "nvml.h's layout");
static_assert(sizeof(custos_nvmlConfComputeGpuCertificate_t) == 9224, "nvml.h's layout");
