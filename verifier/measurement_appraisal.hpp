// Pure appraisal of a host's measurement logs against its verified quote: the boot event log by replay
// (PCRs 0-7) and against the boot reference captured at approval, the IMA list incrementally (from the
// entries already accepted) by replay of PCR 10 and against the runtime allow-list. No I/O.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "attest/boot_appraisal.hpp"
#include "attest/ima_log.hpp"
#include "attest/runtime_policy.hpp"
#include "verifier/appraisal.hpp"

namespace custos::verifier {

// What the verifier keeps per host between rounds.
struct measurement_state {
    std::uint64_t ima_count = 0;   // IMA entries accepted so far (since the last reboot)
    attest::pcr_banks ima_pcrs;    // the PCR values those entries replay to
    std::string boot_reference;    // attest::boot_reference_to_json; empty until captured
};

struct measurement_input {
    const attest::pcr_values* quoted = nullptr;  // verified
    std::optional<bytes> boot_log;               // absent: the host sent none
    std::optional<std::uint64_t> ima_from;       // absent: no IMA entries sent
    bytes ima_entries;                           // entries ima_from, ima_from + 1, … (binary list format)
    bool rebooted = false;      // the TPM reset since the last quote: the IMA list starts again at 0
    bool approved = false;      // approved hosts capture their boot reference from the first consistent log
    const attest::runtime_policy* runtime = nullptr;  // null: IMA is replayed but not judged
};

struct measurement_outcome {
    std::vector<rule_hit> hits;          // event-log-mismatch, boot-changed, agent-modified, ima-unknown-file
    std::set<unsigned> replayed_pcrs;    // PCRs appraised by replay: golden values do not apply to them
    measurement_state next;              // to store
    std::uint64_t ima_next = 0;          // the entry the host should send from next round
    std::uint64_t ima_accepted = 0;      // entries accepted this round
};

// The IMA list on a host grows between its quote and the moment it is read, so the accepted entries are the
// longest prefix whose replay equals the quoted PCR 10; later ones wait for the next round. A prefix that
// never meets the quote, an unparsable log or a boot log that replays to other values is event-log-mismatch.
measurement_outcome appraise_measurements(const measurement_state& state, const measurement_input& in);

}  // namespace custos::verifier
