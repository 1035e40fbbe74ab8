// Pure decisions about a host's report chain and report keys: whether a round's quoted chain head agrees
// with the chain the verifier holds (report-rollback, report-chain-gap for withheld reports), and whether a
// report key may sign a given report (its validity window). No I/O: the handlers gather, these decide.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "crypto/bytes.hpp"
#include "verifier/appraisal.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

// What a round's quoted head (the evidence's head_seq/head_hash, under a quote over a fresh nonce) says.
struct head_check {
    std::optional<rule_hit> hit;      // report-rollback: the host's chain contradicts the stored one
    std::uint64_t quoted_head_seq = 0;  // the host's pending claim after this round (0: none)
    std::int64_t quoted_head_at = 0;    // when it was first made (0: none)
};

// `stored_at_head` is the hash of the stored report numbered head_seq (32 zero bytes for 0) when
// head_seq <= h.chain_seq, nullopt otherwise. A head behind the stored chain, or at a stored seq with
// another hash, is report-rollback (an agent's spool head never goes back); a head ahead of it is a claim
// that reports exist, recorded as pending from the first round that made it.
head_check check_quoted_head(const host_record& h, std::uint64_t head_seq, byte_view head_hash,
                             const std::optional<bytes>& stored_at_head, std::int64_t now);

// The report-chain-gap a pending claim turns into once `grace_s` passed without the reports arriving.
std::optional<rule_hit> chain_gap_due(const host_record& h, std::int64_t now, std::int64_t grace_s);
// Its detail: the same for one claimed seq, so the finding is raised once and found again to resolve.
std::string chain_gap_detail(const std::string& host, std::uint64_t claimed_seq);

// Why report `seq` must not be accepted under key `k` (nullopt: it may). `k` is the host's record of the
// key that signed it, or nullopt when no quote of the host bound it.
std::optional<std::string> key_window_refusal(const std::optional<report_key_record>& k, std::uint64_t seq);

}  // namespace custos::verifier
