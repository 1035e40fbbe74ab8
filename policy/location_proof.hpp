// Delay-based location proofs: the bytes an agent and a landmark sign in one timed exchange, and the pure
// check the verifier (and an auditor) runs over a landmark's statement. See docs/location.md.
//
// One exchange: the verifier gives the agent a round nonce; the landmark sends a fresh nonce (t_send); the
// agent answers at once with its report key's signature over (round nonce, landmark nonce); the landmark
// notes t_recv and signs one domain-tagged byte string holding its id, both nonces, the agent's key and
// signature, t_send and t_recv (µs). RTT = t_recv − t_send bounds the host's distance from the landmark.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::policy {

inline constexpr std::size_t location_nonce_size = 32;
inline constexpr std::size_t ed25519_key_size = 32;
inline constexpr std::size_t ed25519_sig_size = 64;
inline constexpr std::size_t landmark_id_max = 64;

// What the agent signs with its report key: "custos-location-answer-v1\0" ‖ round nonce ‖ landmark nonce.
bytes location_answer_message(byte_view round_nonce, byte_view landmark_nonce);

struct landmark_statement {
    std::string landmark_id;  // 1..64 of [A-Za-z0-9._-]
    bytes round_nonce;        // 32
    bytes landmark_nonce;     // 32
    bytes agent_key;          // the agent's report key (Ed25519 public, 32)
    bytes agent_sig;          // 64, over location_answer_message
    std::uint64_t t_send_us = 0;  // the landmark's clock (µs since the Unix epoch) when its nonce left
    std::uint64_t t_recv_us = 0;  // when the agent's answer arrived (t_send + a monotonic interval)
};

// "custos-landmark-statement-v1\0" ‖ u16 id length ‖ id ‖ round nonce ‖ landmark nonce ‖ agent key ‖
// agent signature ‖ u64 t_send ‖ u64 t_recv (big-endian). The landmark's Ed25519 signature is over these bytes.
bytes encode_landmark_statement(const landmark_statement& s);
// Strict: the tag, the id's length and characters, exact total length (errc::parse naming the field).
result<landmark_statement> parse_landmark_statement(byte_view b);

bool valid_landmark_id(std::string_view id) noexcept;

// The timed exchange's frames (net/frame_socket: u8 type, u16 length, payload), agent ↔ landmark over TCP.
namespace landmark_wire {
inline constexpr std::uint8_t hello = 'H';      // agent → landmark: round nonce (32) ‖ agent report key (32)
inline constexpr std::uint8_t nonce = 'N';      // landmark → agent: landmark nonce (32); t_send is taken here
inline constexpr std::uint8_t answer = 'A';     // agent → landmark: signature over location_answer_message (64)
inline constexpr std::uint8_t statement = 'S';  // landmark → agent: statement bytes ‖ landmark signature (64)
inline constexpr std::uint8_t error = 'E';      // landmark → agent: why it refused (text); the connection closes
}  // namespace landmark_wire

// A checked sample: the landmark and the round trip it measured.
struct location_sample {
    landmark_statement statement;
    double rtt_ms = 0;
};

// The verifier's check of one statement, in order: parse; structure (t_recv ≥ t_send, sizes); the
// landmark's signature with its registered key (errc::signature); the agent's signature with the key the
// statement names (errc::signature); then that it answers `round_nonce` (errc::mismatch) and names
// `agent_key` when one is given (errc::mismatch). Pure: the caller checks that the statement's agent key
// is bound to the host by a quote, that the landmark is one it trusts, and that the time is fresh.
result<location_sample> verify_landmark_statement(byte_view statement, byte_view landmark_sig, byte_view landmark_key,
                                                  byte_view round_nonce, byte_view agent_key);

// The landmark's side, for custos-landmark and tests: sign the statement bytes with a libsodium secret key
// (64 bytes: seed ‖ public key).
bytes sign_statement(byte_view statement, const secret_bytes& landmark_secret);
// Checks the agent's answer before the landmark vouches for it.
result<void> verify_location_answer(byte_view agent_key, byte_view agent_sig, byte_view round_nonce,
                                    byte_view landmark_nonce);

}  // namespace custos::policy
