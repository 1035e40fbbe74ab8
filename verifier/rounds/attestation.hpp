// The attestation round (POST /v1/challenge, then POST /v1/attest) and the report-key binding (POST
// /v1/report-key) as use cases. The pure decisions are declared first: they are what the unit tests pin
// (tests/verifier/rounds_test.cpp); the use cases gather the facts they need from the store and write.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "attest/messages.hpp"
#include "verifier/rounds/outcome.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {

// Why the challenge a request answers (what take_challenge returned for its nonce) does not belong to
// `host` at `now`, as the end of a sentence ("a nonce issued to host ..."), or nullopt.
std::optional<std::string> nonce_refusal(const std::optional<store_tx::challenge>& ch, const std::string& host,
                                         std::int64_t now, std::int64_t ttl_s);

// The logs a round leaves out that the host has shown it keeps ("boot event log", "IMA list" or both), or
// empty. Such a round is answered but is not the host's challenged quote: nothing replays what it hides.
std::string missing_logs(const std::optional<host_measurement_record>& stored, bool sent_boot, bool sent_ima);

// Whether the round's quote is from another boot than the host's stored IMA state. The state records the
// boot it was built in; the host record's clock may already have been moved by a key binding after the
// reboot, so it decides only for a state without that record.
bool rebooted_since(const std::optional<host_measurement_record>& stored, const host_record& h, std::uint32_t reset_count);

// What a round does with the report key its evidence names: bind a key never seen (it signs from the next
// report the verifier lacks), retire a current key bound in another boot (an agent never outlives a TPM
// reset: only a replayed or stolen key does), keep the rest as it is.
enum class round_key_step { bind, retire, keep };
round_key_step round_key_action(const std::optional<report_key_record>& k, std::uint32_t reset_count);

// Why a binding that continues the chain at (prev_seq, prev_hash) contradicts the stored chain, or nullopt.
// `stored_at_prev` is the stored hash of report prev_seq (32 zero bytes for 0; nullopt when the verifier
// lacks it); only a prev_seq the verifier's chain reaches (<= h.chain_seq) is checked.
std::optional<std::string> binding_chain_refusal(const host_record& h, std::uint64_t prev_seq, byte_view prev_hash,
                                                 const std::optional<bytes>& stored_at_prev);

// A fresh challenge for the host: stored (single use, challenge_ttl_s) and answered as
// {"nonce","expires_in_s","pcr_selection"}.
result<boost::json::object> issue_challenge(service_context& ctx, store_tx& tx, const host_record& h, std::int64_t now);

// A round's answer: the nonce, the evidence, the quote with the host's AK, the logs replayed, the report key
// bound or retired, the quoted chain head judged, the export-control engine run, the next location round
// opened. Updates h (the handler stores it with the appraisal). A nonce, evidence or quote that fails is
// refused (unprocessable) with its finding raised and kept.
result<outcome> attestation_round(service_context& ctx, store_tx& tx, host_record& h, const attest::attest_request& msg,
                                  std::int64_t now);

// A report-key binding: a quote over a fresh challenge proves the key lives next to this TPM now and says
// where in the chain it starts. It is not an appraisal: no appraisal row, no golden values, no end to
// host-dark or attestation-overdue. Refusals (conflict for the nonce or the chain, unprocessable for the
// quote) raise and keep their finding. Updates h (clock); the handler refreshes its status and stores it.
result<outcome> bind_report_key(service_context& ctx, store_tx& tx, host_record& h,
                                const attest::key_binding_request& msg, std::int64_t now);

}  // namespace custos::verifier
