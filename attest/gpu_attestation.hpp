// NVIDIA GPU attestation reports (Hopper and later, in confidential-computing or protected-PCIe mode): an
// SPDM 1.1 GET_MEASUREMENTS request ‖ MEASUREMENTS response, signed by the GPU's attestation key (ECDSA
// P-384 over SHA-384, raw r‖s), whose certificate chain runs up to NVIDIA's device identity root. The
// root is pinned here, never taken from the device. Layout, as NVIDIA's own verifiers read it
// (NVIDIA/nvtrust local GPU verifier, NVIDIA/attestation-sdk; docs/gpu-attestation.md):
//
//   request   37 bytes: version 0x11, 0xE0 GET_MEASUREMENTS, param1 (bit 0: signature), param2, nonce[32], slot
//   response  version 0x11, 0x60 MEASUREMENTS, param1, param2, block count, record length (LE24), blocks
//             (index, spec 0x01, size LE16, DMTF value type, value size LE16, value), responder nonce[32],
//             opaque length (LE16), opaque data (TLVs: type LE16, size LE16, value), signature[96]
//
// Nothing in the layout is fixed-size beyond that: block count, value sizes and opaque length are read,
// bounded and checked to add up exactly, with nothing after the signature.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

inline constexpr std::size_t gpu_nonce_size = 32;
inline constexpr std::size_t max_gpu_report_size = 0x2000;  // NVML's attestation report buffer
inline constexpr std::size_t max_gpu_chain_size = 0x1400;   // NVML's attestation certificate chain buffer

// Opaque data types NVIDIA's verifiers name (a subset; others are kept as they are).
enum gpu_opaque_type : std::uint16_t {
    opaque_driver_version = 3,
    opaque_vbios_version = 6,
    opaque_chip_sku = 15,
    opaque_project = 17,
    opaque_project_sku = 18,
    opaque_fwid = 20,
    opaque_feature_flag = 36,
};

struct spdm_block {
    std::uint8_t index = 0;
    std::uint8_t value_type = 0;  // DMTF measurement value type (bit 7: raw bit stream, else a digest)
    bytes value;
};

struct spdm_opaque_field {
    std::uint16_t type = 0;
    bytes value;
};

struct spdm_measurements {
    bytes request_nonce;  // the requester's 32 bytes: what freshness is checked against
    std::uint8_t slot = 0;
    std::vector<spdm_block> blocks;  // indices strictly ascending
    bytes responder_nonce;
    std::vector<spdm_opaque_field> opaque;  // each type at most once
    std::size_t signed_size = 0;            // the signature covers report[0, signed_size)
    bytes signature;                        // r ‖ s, 48 bytes each

    const spdm_opaque_field* opaque_of(std::uint16_t type) const;
};

// Strict structure: every length checked against the buffer and against each other; an error names the
// field and its offset. No signature or certificate is looked at.
result<spdm_measurements> parse_spdm_measurements(byte_view report);

// What a verified report says.
struct gpu_attestation {
    // Hardware identity, from the certificate chain NVIDIA's root vouches for.
    std::string device_id;      // SHA-256 of the DeviceID certificate's public key (the leaf's issuer), hex:
                                // stable for the GPU's life (the leaf's key changes with firmware)
    std::string device_serial;  // that certificate's serial number, hex
    std::string hw_model;       // its common name ("GH100 A01 GSP BROM")
    std::string ueid;           // the leaf's serial number in decimal (NVIDIA's `ueid` claim)
    // Measurements.
    std::string fwid;  // hex: the leaf certificate's FWID, which the report's equals where it carries one
    bool fwid_in_report = false;  // older firmware's reports carry none (NVIDIA's verifiers skip the check then)
    std::string driver_version, vbios_version, project, project_sku, chip_sku;
    std::string mode;  // feature flag: "spt", "mpt", "ppcie", or "" when the report has none
    std::vector<std::pair<unsigned, std::string>> measurements;  // block index, value (hex)
    std::string measurements_digest;  // SHA-256 over every (index, value): one value to compare
};

// NVIDIA's device identity root ("NVIDIA Device Identity CA"), pinned: PEM.
std::string_view nvidia_device_root_pem();

// A GPU's certificate chain, verified once: "chain" (the PEM chain, leaf first, verified up to `root_pem`
// alone at the current time; the device's own copy of a root is never trusted; a DeviceID certificate
// must sit between the leaf and the root) and the leaf's FWID extension read ("fwid": it must name the
// DeviceID certificate's key). check() then verifies reports under it: a verifier sees the same chain
// every round.
class gpu_chain {
public:
    static result<gpu_chain> verify(std::string_view chain_pem, std::string_view root_pem = nvidia_device_root_pem());
    // "parse", "nonce" (the request carries `nonce`), "signature" (ECDSA P-384/SHA-384 by the leaf over the
    // exact signed bytes), "fwid" (the report's FWID, where it carries one, equals the leaf's).
    result<gpu_attestation> check(byte_view report, byte_view nonce) const;

private:
    struct state;
    std::shared_ptr<const state> s_;
};

// The whole check, in order, each failure naming its step: parse, nonce, chain, signature, fwid.
result<gpu_attestation> verify_gpu_attestation(byte_view report, std::string_view chain_pem, byte_view nonce,
                                               std::string_view root_pem = nvidia_device_root_pem());

// The nonce a GPU is asked to sign in an attestation round: SHA-256("custos gpu attestation v1" ‖ 0 ‖ the
// round's verifier nonce ‖ the serial the agent claims for it). The verifier chose the round nonce, so it
// controls freshness; the serial makes each GPU's report name the claim it answers.
bytes gpu_round_nonce(byte_view round_nonce, std::string_view serial);

// A report as a file holds it: hex text as NVIDIA's tools write it (whitespace ignored), else raw bytes.
result<bytes> decode_gpu_report(byte_view content);

}  // namespace custos::attest
