// NVIDIA GPU attestation evidence in an attestation round (docs/gpu-attestation.md): each report checked
// against the configured root (NVIDIA's, pinned, by default) with the nonce derived from the round's, and
// the physical GPU it proves (its DeviceID key) bound to the serial NVML claims for it:
//
//   gpu-attestation-invalid   a report that fails a step (named), or a GPU that attested before and now
//                             gives no report (evidence for a serial the host's inventory does not list is
//                             not looked at);
//   gpu-identity-mismatch     another physical GPU answers for a serial, or one physical GPU answers for two
//                             serials (on one host or two);
//   gpu-measurements-changed  a GPU's measurements differ from its baseline (its first valid report, or
//                             the operator's approval of the serial since).
// A GPU that cannot attest (confidential computing off, an older driver) keeps working: it is recorded
// as "unavailable", and only sites and models that require attested GPUs refuse it a key.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "attest/gpu_attestation.hpp"
#include "attest/messages.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

struct service_context;

// Verified chains by (root, chain) digest: a host's GPUs present the same chains every round. Entries
// are re-verified after an hour (the chain is checked at a time); at most 4096 are kept.
class gpu_chain_cache {
public:
    result<attest::gpu_chain> get(const std::string& chain_pem, const std::string& root_pem, std::int64_t now);

private:
    struct entry {
        attest::gpu_chain chain;
        std::int64_t at = 0;
    };
    std::mutex mu_;
    std::map<std::string, entry> cache_;
};

result<void> appraise_gpu_attestations(service_context& ctx, store_tx& tx, const host_record& h,
                                       const attest::attest_request& msg, std::int64_t now,
                                       std::vector<finding_record>& raised);

// Why not every GPU host `host` lists has a valid report at most `max_age_s` old from it ("" when all do,
// and when it lists none).
result<std::string> unattested_gpus(store_tx& tx, const std::string& host, std::int64_t now, std::int64_t max_age_s);

// The operator approved `serial` on `host`: its current measurements become its baseline.
result<void> rebaseline_gpu_attestation(store_tx& tx, const std::string& host, const std::string& serial, std::int64_t now);

}  // namespace custos::verifier
