// The TCG PC Client boot event log (crypto-agile format): a strict parser and the PCR values it implies.
//
// Layout (TCG PC Client Platform Firmware Profile 1.05, section 10): one TCG_PCR_EVENT in the SHA-1
// format whose data is the TCG_EfiSpecIdEvent ("Spec ID Event03": the digest algorithms and sizes every
// later event carries), then TCG_PCR_EVENT2 records (pcr, type, one digest per algorithm, data), all
// little-endian. Pure functions over bytes, shared by the CLI, the verifier and the fuzzers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "crypto/digest.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

// Event types the replay treats specially, and the ones tests write.
inline constexpr std::uint32_t ev_post_code = 0x1;
inline constexpr std::uint32_t ev_no_action = 0x3;  // recorded, never extended
inline constexpr std::uint32_t ev_separator = 0x4;
inline constexpr std::uint32_t ev_action = 0x5;
inline constexpr std::uint32_t ev_s_crtm_version = 0x8;
inline constexpr std::uint32_t ev_ipl = 0xd;
inline constexpr std::uint32_t ev_efi_action = 0x80000007;

// The highest PCR index an event may name (PC Client TPMs have 24).
inline constexpr std::uint32_t max_event_pcr = 23;

struct boot_event {
    std::size_t offset = 0;  // of the record in the log
    std::uint32_t pcr = 0;
    std::uint32_t type = 0;
    std::map<hash_alg, bytes> digests;  // one per algorithm the header lists
    bytes data;
};

struct boot_log {
    std::vector<hash_alg> algorithms;  // in the header's order
    std::uint32_t platform_class = 0;
    std::uint8_t spec_major = 0, spec_minor = 0, spec_errata = 0, uintn_size = 0;
    std::uint8_t startup_locality = 0;  // from a StartupLocality EV_NO_ACTION event in PCR 0, else 0
    std::vector<boot_event> events;      // after the header, in log order
};

// PCR values by bank and index (only the PCRs some event extended).
using pcr_banks = std::map<hash_alg, std::map<std::uint32_t, bytes>>;

// Strict: the header must be a Spec ID Event03 with 1..8 distinct SHA-1/256/384/512 algorithms at their
// sizes and no bytes to spare; every event names a PCR 0..23 and carries exactly the header's algorithms
// once each; sizes never run past the end; nothing follows the last event. Errors are errc::parse and
// say the byte offset and what was wrong there; a log is never half-used.
result<boot_log> parse_boot_log(byte_view data);

// Replays the log into every bank it carries: each PCR starts at zero (PCR 0 at the startup locality in
// its last byte, as the TPM does for H-CRTM-less starts) and is extended with each event's digest;
// EV_NO_ACTION events are skipped.
pcr_banks replay_boot_log(const boot_log& log);

// Writes a log (the test tool's half): the header for `algorithms`, then each event as given (its
// digests must cover the algorithms). Used by tests and the demo to build logs swtpm hosts lack.
bytes serialize_boot_log(const std::vector<hash_alg>& algorithms, const std::vector<boot_event>& events);

// The event a firmware measures `data` with: the digest of `data` in each algorithm.
boot_event measured_event(std::uint32_t pcr, std::uint32_t type, byte_view data, const std::vector<hash_alg>& algorithms);

// {"sha256":{"0":"hex",…},"sha1":{…}}: banks by name, PCRs in numeric order, lowercase hex.
std::string pcr_banks_to_json(const pcr_banks& banks);
// The inverse, strict: known bank names, PCR indices 0..23, digests of the bank's size.
result<pcr_banks> pcr_banks_from_json(std::string_view json_text);

}  // namespace custos::attest
