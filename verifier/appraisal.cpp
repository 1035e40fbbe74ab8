#include "verifier/appraisal.hpp"

#include <boost/json.hpp>

#include <map>

#include "attest/tpm_alg.hpp"
#include "attest/wire.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

using pcr_key = std::pair<std::string, unsigned>;  // bank name, index

// Golden values as stored (JSON written by the verifier or validated when the operator gave them).
std::map<pcr_key, std::string> golden_map(const std::string& text) {
    std::map<pcr_key, std::string> out;
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return out;
    for (const auto& [bank, values] : v.get_object()) {
        if (!values.is_object()) continue;
        for (const auto& [idx, hex] : values.get_object()) {
            if (!hex.is_string()) continue;
            out[{std::string(bank), static_cast<unsigned>(std::stoul(std::string(idx)))}] = std::string(hex.get_string());
        }
    }
    return out;
}

std::string short_hex(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) + "…" : h; }

}  // namespace

quote_appraisal appraise_quote(const host_record& h, const attest::quote_info& q, const attest::pcr_values& pcrs,
                               const std::set<unsigned>& by_replay) {
    quote_appraisal out;
    if (h.have_clock) {
        const std::string was = std::to_string(h.reset_count) + "/" + std::to_string(h.restart_count);
        const std::string is = std::to_string(q.reset_count) + "/" + std::to_string(q.restart_count);
        if (clock_went_back(h, q)) {
            out.hits.push_back({"clock-rollback", "the TPM's resetCount/restartCount went back from " + was + " to " + is +
                                                      ": a TPM never counts down, so this evidence is replayed or the "
                                                      "TPM's state was rolled back; investigate the host before trusting "
                                                      "it again"});
        } else if (q.reset_count != h.reset_count || q.restart_count != h.restart_count) {
            out.hits.push_back({"reboot", "the TPM's resetCount/restartCount moved from " + was + " to " + is +
                                              ": the host rebooted or resumed"});
        } else if (q.clock < h.clock && q.safe) {
            out.hits.push_back({"clock-rollback", "the TPM clock went back from " + std::to_string(h.clock) + " ms to " +
                                                      std::to_string(q.clock) +
                                                      " ms without a reset: replayed or manipulated evidence; "
                                                      "investigate the host before trusting it again"});
        }
    }
    if (h.state == "approved" && h.golden_pcrs.empty()) {
        out.new_golden = json::serialize(attest::pcrs_to_json(pcrs));
        return out;
    }
    if (h.golden_pcrs.empty()) return out;
    const auto golden = golden_map(h.golden_pcrs);
    for (const auto& v : pcrs) {
        if (by_replay.count(v.index)) continue;
        const std::string bank = attest::tpm_alg_name(v.bank);
        auto g = golden.find({bank, v.index});
        if (g == golden.end()) continue;
        const std::string seen = to_hex(v.digest);
        if (seen != g->second)
            out.hits.push_back({"pcr-changed", "PCR " + bank + ":" + std::to_string(v.index) + " is " + short_hex(seen) +
                                                   ", the golden value is " + short_hex(g->second) +
                                                   ": the host's boot or runtime state changed since approval; "
                                                   "if the change is intended, approve the host again"});
    }
    return out;
}

bool clock_went_back(const host_record& h, const attest::quote_info& q) {
    if (!h.have_clock) return false;
    return q.reset_count < h.reset_count || (q.reset_count == h.reset_count && q.restart_count < h.restart_count);
}

void record_clock(host_record& h, const attest::quote_info& q) {
    // What was recorded is never rewound: a rolled-back TPM must not become the new reference.
    if (clock_went_back(h, q)) return;
    if (h.have_clock && q.reset_count == h.reset_count && q.restart_count == h.restart_count && q.clock < h.clock) return;
    h.have_clock = true;
    h.clock = q.clock;
    h.reset_count = q.reset_count;
    h.restart_count = q.restart_count;
}

}  // namespace custos::verifier
