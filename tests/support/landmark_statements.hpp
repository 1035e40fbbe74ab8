// Landmark statements made in tests the way custos-landmark and the agent make them: real Ed25519 keys, the
// agent's answer signed over the round and landmark nonces, the landmark's signature over the statement.
// Header-only: the unit tests that use it link the policy library already; the support library does not.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <string>

#include "attest/messages.hpp"
#include "crypto/bytes.hpp"
#include "policy/location_proof.hpp"

namespace custos::test {

struct ed25519_keypair {
    bytes pk = bytes(crypto_sign_PUBLICKEYBYTES);
    secret_bytes sk{crypto_sign_SECRETKEYBYTES};
    ed25519_keypair() { crypto_sign_keypair(pk.data(), sk.data()); }
};

// Landmark `id` (key `landmark`) vouches that `agent` answered `round` at `t_s` (Unix seconds) with a round
// trip of `rtt_ms`.
inline attest::location_proof_request::proof signed_statement(const ed25519_keypair& landmark, const ed25519_keypair& agent,
                                                              const std::string& id, byte_view round, double rtt_ms,
                                                              std::int64_t t_s) {
    policy::landmark_statement s;
    s.landmark_id = id;
    s.round_nonce = bytes(round.begin(), round.end());
    s.landmark_nonce = bytes(32, 0x77);
    s.agent_key = agent.pk;
    s.agent_sig = bytes(64);
    const bytes m = policy::location_answer_message(round, s.landmark_nonce);
    crypto_sign_detached(s.agent_sig.data(), nullptr, m.data(), m.size(), agent.sk.data());
    s.t_send_us = static_cast<std::uint64_t>(t_s) * 1'000'000;
    s.t_recv_us = s.t_send_us + static_cast<std::uint64_t>(rtt_ms * 1000);
    const bytes b = policy::encode_landmark_statement(s);
    return {b, policy::sign_statement(b, landmark.sk)};
}

}  // namespace custos::test
