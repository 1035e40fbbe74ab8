#include "verifier/chain_integrity.hpp"

#include "attest/report_chain.hpp"

namespace custos::verifier {

head_check check_quoted_head(const host_record& h, std::uint64_t head_seq, byte_view head_hash,
                             const std::optional<bytes>& stored_at_head, std::int64_t now) {
    head_check out;
    out.quoted_head_seq = h.quoted_head_seq;
    out.quoted_head_at = h.quoted_head_at;
    if (head_seq <= h.chain_seq) {
        if (head_seq < h.chain_seq) {
            out.hit = rule_hit{"report-rollback",
                               "the round's quoted evidence puts the host's report chain at " + std::to_string(head_seq) +
                                   ", behind the " + std::to_string(h.chain_seq) +
                                   " reports the verifier already holds: the agent's state was rolled back or replaced"};
        } else if (!stored_at_head || !equal_ct(*stored_at_head, head_hash)) {
            out.hit = rule_hit{"report-rollback", "the round's quoted report chain head " + std::to_string(head_seq) + " (" +
                                                      short_hex(head_hash) +
                                                      ") is not the stored report with that number: the host's chain "
                                                      "was forked or rewritten"};
        }
        if (h.chain_seq >= h.quoted_head_seq) out.quoted_head_seq = 0, out.quoted_head_at = 0;
        return out;
    }
    // Ahead: reports the host says it has made and not yet delivered. The first claim starts the clock; a
    // later, higher claim keeps it (the oldest missing report is what is overdue).
    if (out.quoted_head_at == 0 || out.quoted_head_seq <= h.chain_seq) out.quoted_head_at = now;
    if (head_seq > out.quoted_head_seq) out.quoted_head_seq = head_seq;
    return out;
}

std::string chain_gap_detail(const std::string& host, std::uint64_t claimed_seq) {
    return "a quote of host \"" + host + "\" claimed report " + std::to_string(claimed_seq) +
           ", which has not arrived: reports are withheld or lost (their GPU inventory and compute counts with them)";
}

std::optional<rule_hit> chain_gap_due(const host_record& h, std::int64_t now, std::int64_t grace_s) {
    if (h.quoted_head_at == 0 || h.quoted_head_seq <= h.chain_seq) return std::nullopt;
    if (now - h.quoted_head_at <= grace_s) return std::nullopt;
    return rule_hit{"report-chain-gap", chain_gap_detail(h.id, h.quoted_head_seq)};
}

std::optional<std::string> key_window_refusal(const std::optional<report_key_record>& k, std::uint64_t seq) {
    if (!k) return "report " + std::to_string(seq) + " is signed with a key no quote of this host has bound";
    return attest::key_window_refusal(k->from_seq, k->until_seq, seq, k->retire_reason);
}

}  // namespace custos::verifier
