// Pure appraisal of a verified quote against what the verifier knows of the host: clockInfo (reboots,
// rollback) and PCR values (golden values). No I/O: the verifier and the tests share it.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "attest/pcr_selection.hpp"
#include "attest/quote_verify.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

struct rule_hit {
    std::string rule;
    std::string detail;
};

struct quote_appraisal {
    std::vector<rule_hit> hits;
    std::string new_golden;  // non-empty: the host is approved without golden values; these become them
};

// Checks, in order: clock (reboot; clock-rollback for a lower resetCount/restartCount or a clock that went
// back within one boot), then PCRs against h.golden_pcrs (pcr-changed, one hit
// per differing PCR). When h is approved and has no golden values, the quoted values become the golden
// values (and no pcr-changed can fire).
// PCRs in `by_replay` are left out of the golden comparison: their logs were replayed against this quote
// (verifier/measurement_appraisal.hpp), which is how PCRs that change with every measurement are appraised.
quote_appraisal appraise_quote(const host_record& h, const attest::quote_info& q, const attest::pcr_values& pcrs,
                               const std::set<unsigned>& by_replay = {});

// Whether the quote's resetCount/restartCount are below what was recorded (they never go down on one TPM).
bool clock_went_back(const host_record& h, const attest::quote_info& q);

// Records the quote's clockInfo as the host's latest (after appraise_quote), unless it goes back: a lower
// resetCount/restartCount, or a lower clock in the same boot, leaves the record as it was.
void record_clock(host_record& h, const attest::quote_info& q);

}  // namespace custos::verifier
