// Fuzz target: what a verifier reads from POST /v1/location about one landmark sample
// (policy/location_proof.hpp): parse_landmark_statement over the whole input, and
// verify_landmark_statement with the input split as statement ‖ 64-byte landmark signature, checked with a
// fixed landmark key (the seed `valid-signed` is signed with it, so the signature checks are reached), then
// the region its round trip bounds (policy/geo.hpp), as the verifier computes it.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "policy/geo.hpp"
#include "policy/location_proof.hpp"

namespace {

using namespace custos;
using namespace custos::policy;

// The fixed landmark key: seed 32 × 'L'. The seed corpus's signed statements were made with it.
struct fuzz_landmark {
    bytes pk = bytes(crypto_sign_PUBLICKEYBYTES);
    secret_bytes sk{crypto_sign_SECRETKEYBYTES};
    fuzz_landmark() {
        if (sodium_init() < 0) __builtin_trap();
        const std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed = [] {
            std::array<std::uint8_t, crypto_sign_SEEDBYTES> s{};
            s.fill('L');
            return s;
        }();
        crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
    }
};

const fuzz_landmark& key() {
    static const fuzz_landmark k;
    return k;
}

// A parsed statement must be exactly what encodes back to the input, with every field of its fixed size.
void check_parsed(byte_view in, const landmark_statement& s) {
    if (!valid_landmark_id(s.landmark_id)) __builtin_trap();
    if (s.round_nonce.size() != location_nonce_size || s.landmark_nonce.size() != location_nonce_size ||
        s.agent_key.size() != ed25519_key_size || s.agent_sig.size() != ed25519_sig_size)
        __builtin_trap();
    const bytes again = encode_landmark_statement(s);
    if (again.size() != in.size() || !std::equal(again.begin(), again.end(), in.begin())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const byte_view in(data, size);
    if (auto s = parse_landmark_statement(in)) check_parsed(in, *s);

    if (size <= ed25519_sig_size) return 0;
    const byte_view statement = in.first(size - ed25519_sig_size);
    const byte_view sig = in.last(ed25519_sig_size);
    auto parsed = parse_landmark_statement(statement);
    // Checked against the round the statement names (the verifier passes its own), with and without the
    // agent key it names.
    const bytes round = parsed ? parsed->round_nonce : bytes(location_nonce_size, 0);
    auto v = verify_landmark_statement(statement, sig, key().pk, round, {});
    if (!parsed) {
        if (v || v.err().code != errc::parse) __builtin_trap();  // the first step refuses what does not parse
        return 0;
    }
    check_parsed(statement, *parsed);
    if (!v) {
        if (v.err().message.empty()) __builtin_trap();
        if (v.err().code == errc::parse) __builtin_trap();  // it parsed
        return 0;
    }
    // Accepted: the landmark signed these bytes and the agent answered this round with the key it names.
    if (parsed->t_recv_us < parsed->t_send_us) __builtin_trap();
    if (!(v->rtt_ms >= 0) || v->rtt_ms != static_cast<double>(parsed->t_recv_us - parsed->t_send_us) / 1000.0)
        __builtin_trap();
    if (v->statement.landmark_id != parsed->landmark_id || v->statement.agent_key != parsed->agent_key) __builtin_trap();
    if (!verify_landmark_statement(statement, sig, key().pk, round, parsed->agent_key)) __builtin_trap();
    if (!verify_location_answer(parsed->agent_key, parsed->agent_sig, parsed->round_nonce, parsed->landmark_nonce))
        __builtin_trap();
    // Another round, another agent key, one changed byte of the statement: each refused.
    bytes other_round = round;
    other_round[0] ^= 1;
    auto r = verify_landmark_statement(statement, sig, key().pk, other_round, {});
    if (r || r.err().code != errc::mismatch) __builtin_trap();
    bytes other_key = parsed->agent_key;
    other_key[0] ^= 1;
    auto k = verify_landmark_statement(statement, sig, key().pk, round, other_key);
    if (k || k.err().code != errc::mismatch) __builtin_trap();
    bytes edited(statement.begin(), statement.end());
    edited[edited.size() - 1] ^= 1;  // t_recv
    if (verify_landmark_statement(edited, sig, key().pk, round, {})) __builtin_trap();

    // Any round trip a landmark can sign (up to 2^64 µs) bounds a region without error; a cap is at most
    // the whole sphere, so the site is within its radius of the landmark or the verdict says otherwise.
    auto b = bound_location(37.5, 127.0, 1500, {{37.5, 127.0, v->rtt_ms}});
    if (!b) __builtin_trap();
    if (b->verdict == "impossible" || !b->min_km_from_site || *b->min_km_from_site != 0) __builtin_trap();
    if (!b->max_km_from_site || !std::isfinite(*b->max_km_from_site) ||
        *b->max_km_from_site > M_PI * earth_radius_km * (1 + 1e-9))
        __builtin_trap();
    return 0;
}
