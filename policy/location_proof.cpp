#include "policy/location_proof.hpp"

#include <sodium.h>

#include <cstring>

namespace custos::policy {
namespace {

constexpr char answer_tag[] = "custos-location-answer-v1";        // + NUL
constexpr char statement_tag[] = "custos-landmark-statement-v1";  // + NUL
constexpr std::size_t statement_tag_size = sizeof(statement_tag);  // includes the NUL
constexpr std::size_t fixed_tail = 3 * 32 + 64 + 8 + 8;             // nonces, key, signature, times

std::uint64_t read_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

bool valid_landmark_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > landmark_id_max) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bytes location_answer_message(byte_view round_nonce, byte_view landmark_nonce) {
    bytes m(answer_tag, answer_tag + sizeof(answer_tag));
    append(m, round_nonce);
    append(m, landmark_nonce);
    return m;
}

bytes encode_landmark_statement(const landmark_statement& s) {
    bytes out(statement_tag, statement_tag + statement_tag_size);
    append_u16_be(out, static_cast<std::uint16_t>(s.landmark_id.size()));
    append(out, as_bytes(s.landmark_id));
    append(out, s.round_nonce);
    append(out, s.landmark_nonce);
    append(out, s.agent_key);
    append(out, s.agent_sig);
    append_u64_be(out, s.t_send_us);
    append_u64_be(out, s.t_recv_us);
    return out;
}

result<landmark_statement> parse_landmark_statement(byte_view b) {
    if (b.size() < statement_tag_size + 2 || std::memcmp(b.data(), statement_tag, statement_tag_size) != 0)
        return make_error(errc::parse, "landmark statement: does not start with the custos-landmark-statement-v1 tag");
    const std::size_t id_len = (std::size_t(b[statement_tag_size]) << 8) | b[statement_tag_size + 1];
    const std::size_t want = statement_tag_size + 2 + id_len + fixed_tail;
    if (b.size() != want)
        return make_error(errc::parse, "landmark statement: " + std::to_string(b.size()) + " bytes, its id length (" +
                                           std::to_string(id_len) + ") makes it " + std::to_string(want));
    landmark_statement s;
    const std::uint8_t* p = b.data() + statement_tag_size + 2;
    s.landmark_id.assign(reinterpret_cast<const char*>(p), id_len);
    if (!valid_landmark_id(s.landmark_id))
        return make_error(errc::parse, "landmark statement: the landmark id is not 1-64 of [A-Za-z0-9._-]");
    p += id_len;
    auto take = [&p](std::size_t n) {
        bytes v(p, p + n);
        p += n;
        return v;
    };
    s.round_nonce = take(location_nonce_size);
    s.landmark_nonce = take(location_nonce_size);
    s.agent_key = take(ed25519_key_size);
    s.agent_sig = take(ed25519_sig_size);
    s.t_send_us = read_u64(p);
    s.t_recv_us = read_u64(p + 8);
    return s;
}

result<void> verify_location_answer(byte_view agent_key, byte_view agent_sig, byte_view round_nonce,
                                    byte_view landmark_nonce) {
    if (agent_key.size() != ed25519_key_size || agent_sig.size() != ed25519_sig_size)
        return make_error(errc::structure, "location answer: key or signature of the wrong size");
    const bytes m = location_answer_message(round_nonce, landmark_nonce);
    if (crypto_sign_verify_detached(agent_sig.data(), m.data(), m.size(), agent_key.data()) != 0)
        return make_error(errc::signature, "location answer: the agent's signature does not verify with its report key");
    return {};
}

bytes sign_statement(byte_view statement, const secret_bytes& landmark_secret) {
    bytes sig(crypto_sign_BYTES);
    if (landmark_secret.size() != crypto_sign_SECRETKEYBYTES) return {};
    crypto_sign_detached(sig.data(), nullptr, statement.data(), statement.size(), landmark_secret.data());
    return sig;
}

result<location_sample> verify_landmark_statement(byte_view statement, byte_view landmark_sig, byte_view landmark_key,
                                                  byte_view round_nonce, byte_view agent_key) {
    CUSTOS_TRY(s, parse_landmark_statement(statement));
    const std::string where = "statement of landmark " + s.landmark_id + ": ";
    if (s.t_recv_us < s.t_send_us)
        return make_error(errc::structure, where + "the answer arrived (t_recv) before the nonce left (t_send)");
    if (landmark_sig.size() != ed25519_sig_size)
        return make_error(errc::structure, where + "the landmark signature is " + std::to_string(landmark_sig.size()) +
                                               " bytes, not 64");
    if (landmark_key.size() != ed25519_key_size)
        return make_error(errc::structure, where + "the registered landmark key is not 32 bytes");
    if (crypto_sign_verify_detached(landmark_sig.data(), statement.data(), statement.size(), landmark_key.data()) != 0)
        return make_error(errc::signature, where + "the landmark's signature does not verify with its registered key");
    if (auto a = verify_location_answer(s.agent_key, s.agent_sig, s.round_nonce, s.landmark_nonce); !a)
        return make_error(a.err().code, where + a.err().message);
    if (!equal_ct(s.round_nonce, round_nonce))
        return make_error(errc::mismatch, where + "it answers another round's nonce (replayed or from another round)");
    if (!agent_key.empty() && !equal_ct(s.agent_key, agent_key))
        return make_error(errc::mismatch, where + "it was answered by a key other than the host's report key");
    location_sample out;
    out.rtt_ms = static_cast<double>(s.t_recv_us - s.t_send_us) / 1000.0;
    out.statement = std::move(s);
    return out;
}

}  // namespace custos::policy
