// The agent's side of a location proof: for each landmark the verifier names, a few timed exchanges
// (policy/location_proof.hpp), answering each landmark nonce at once with the report key.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "crypto/bytes.hpp"

namespace custos::agent {

struct landmark_target {
    std::string id;
    std::string address;  // HOST:PORT
};

struct landmark_proof {
    std::string landmark;
    bytes statement;  // as the landmark signed it
    bytes signature;  // the landmark's, over statement
};

struct location_attempt {
    std::vector<landmark_proof> proofs;
    std::vector<std::string> errors;  // per landmark, why it gave fewer samples than asked (sent to the verifier)
};

// `samples` exchanges per landmark on one connection each. Never fails as a whole: what could not be done is
// in `errors`, and the verifier decides what the rest proves.
location_attempt prove_location(byte_view round_nonce, byte_view report_pk, const secret_bytes& report_sk,
                                const std::vector<landmark_target>& landmarks, unsigned samples,
                                std::chrono::milliseconds timeout);

}  // namespace custos::agent
