// Appraising measured boot: whether quoted PCRs are what the logs replay to, and whether the boot
// components (firmware, bootloader, kernel, Secure Boot state and keys) differ from a reference captured
// at approval. Pure functions.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "attest/event_log.hpp"
#include "attest/pcr_selection.hpp"

namespace custos::attest {

struct replay_mismatch {
    hash_alg bank;
    std::uint32_t pcr = 0;
    bytes quoted, replayed;
};

// For each PCR of `pcrs` the quote holds (in any bank the replay has), the quoted value must equal the
// replayed one; a PCR the logs never touch replays to its reset value (zero; PCR 0 at `locality`), so an
// extension without a log entry is caught too. Returns every difference, in quote order.
std::vector<replay_mismatch> compare_replay(const pcr_values& quoted, const pcr_banks& replayed,
                                            const std::set<std::uint32_t>& pcrs, std::uint8_t locality = 0);
std::string describe(const replay_mismatch& m);

// One measured boot component: the event's PCR, type and SHA-256 digest (the first bank if the log has no
// SHA-256), in log order.
struct boot_component {
    std::uint32_t pcr = 0;
    std::uint32_t type = 0;
    bytes digest;
};
using boot_reference = std::vector<boot_component>;

// The components of PCRs 0-7 (EV_NO_ACTION left out).
boot_reference boot_components(const boot_log& log);
std::string boot_reference_to_json(const boot_reference& r);
result<boot_reference> parse_boot_reference(std::string_view json_text);

// What differs between the reference and the current boot, per PCR and position: "PCR 4 event 2
// (EV_EFI_BOOT_SERVICES_APPLICATION): digest 3f2a… now 9b01…", "PCR 7: 1 event more (EV_EFI_VARIABLE_…)",
// "PCR 0: 1 event fewer". Empty when they match.
std::vector<std::string> diff_boot(const boot_reference& reference, const boot_reference& current);

// "EV_SEPARATOR", "EV_EFI_VARIABLE_DRIVER_CONFIG", …, or "0x%08x" for a type we have no name for.
std::string event_type_name(std::uint32_t type);

}  // namespace custos::attest
