// A stand-in for NVIDIA's GPU identity PKI, for tests and the demo only: a P-384 root, per-GPU DeviceID
// certificates under it and attestation ("alias") leaf certificates carrying the FWID extension in the
// shape NVIDIA's carry (2.23.133.5.4.1: SEQUENCE { INTEGER 1, DeviceID SubjectPublicKeyInfo, SEQUENCE {
// sha384, OCTET STRING fwid } }), and SPDM 1.1 GET_MEASUREMENTS ‖ MEASUREMENTS reports signed by a leaf,
// laid out as an H100's (attest/gpu_attestation.hpp). The fake NVML serves these; the verifier is
// pointed at the test root instead of NVIDIA's.
#pragma once

#include <string>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"
#include "crypto/result.hpp"

namespace custos::gpu_test_ca {

struct authority {
    ossl::pkey_ptr key;
    ossl::x509_ptr cert;
};

struct gpu {
    ossl::pkey_ptr device_key;  // DeviceID: stable for the GPU's life
    ossl::x509_ptr device_cert;
    ossl::pkey_ptr leaf_key;  // attestation key: signs reports
    ossl::x509_ptr leaf_cert;
    bytes fwid;  // 48 bytes
};

result<authority> make_root(const std::string& cn = "custos test GPU identity CA");
// A GPU's DeviceID and attestation certificates under `root`; `fwid` is 48 bytes.
result<gpu> make_gpu(const authority& root, const std::string& name, const bytes& fwid);
// A leaf issued for another FWID (a firmware update: same DeviceID, new attestation key).
result<gpu> reissue_leaf(const authority& root, gpu g, const bytes& fwid);

// PEM text of a certificate, and of a private key (unencrypted PKCS#8: test keys only).
std::string cert_pem(X509* c);
std::string key_pem(EVP_PKEY* k);

// leaf, DeviceID, root: as NVML returns attestationCertChain.
result<std::string> chain_pem(const gpu& g, const authority& root);

struct report_fields {
    bytes nonce;  // 32
    bytes fwid;   // 48; empty: no FWID field
    std::string driver_version = "550.54.15";
    bytes vbios = {0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};  // 96.00.9F.00.01
    std::string project = "G520", project_sku = "0200", chip_sku = "882";
    std::vector<bytes> measurements;  // block values (48 bytes each), indices 1..n
};
// The report, signed by `leaf_key` (ECDSA P-384 over SHA-384 of everything before the 96-byte r ‖ s).
result<bytes> make_report(EVP_PKEY* leaf_key, const report_fields& f);

}  // namespace custos::gpu_test_ca
