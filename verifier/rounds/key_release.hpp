// Attested model-key release (docs/protocol.md, "Model keys"): who may hold a model's data key, the
// PolicyPCR digest a host's bound key must carry, and the answer to a key request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attest/pcr_selection.hpp"
#include "crypto/bytes.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

// The PCRs a bound key's policy covers: the boot chain, PCRs 0–7 of the SHA-256 bank (never PCR 10,
// which moves with every file IMA measures).
inline constexpr const char* bound_key_pcrs = "sha256:0,1,2,3,4,5,6,7";

// What the release decision looks at, read from the store by the caller.
struct release_facts {
    const host_record* host = nullptr;
    std::optional<appraisal_record> latest;  // the host's latest appraisal
    const model_record* model = nullptr;     // null: no such model
    std::vector<std::string> model_sites;    // sites the model is approved for
    std::optional<site_record> site;         // the host's site
    std::optional<entity_record> entity;     // the site's entity
    // Open violations that may concern the host. The verifier passes exactly the one the store's
    // first_open_violation picks (the same order as the rule below), never a truncated list of all.
    std::vector<finding_record> open_findings;
    std::int64_t now = 0;
    std::int64_t max_appraisal_age_s = 120;  // the latest appraisal must be at most this old
    // At a site with landmarks the host must have proved it is there: a `within` proof at most
    // max_location_age_s old.
    bool location_required = false;
    std::optional<host_location_record> location;
    std::int64_t max_location_age_s = 180;
    // The host's site or the model requires attested GPUs ([gpu] require_attested_*): every GPU it lists
    // must have a valid attestation report from its latest rounds; `unattested` says which do not.
    bool attested_gpus_required = false;
    std::string unattested;
};

// Why the key must not be released (a sentence naming the failed condition), or nullopt: the host is
// approved, its latest appraisal is affirming or warning and recent, its last challenged quote is as
// recent, the model exists and is approved for the host's site, its location is proved where its site has
// landmarks, and no violation stands for the host, its site, its entity, its country or the model.
std::optional<std::string> release_denial(const release_facts& f);

// SHA-256 PolicyPCR digest over bound_key_pcrs with the host's appraised (golden) values; an error when
// the host has none yet.
result<bytes> expected_bound_key_policy(const host_record& h);

}  // namespace custos::verifier
