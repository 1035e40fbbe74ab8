#include "agent/landmark_client.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "net/frame_socket.hpp"
#include "policy/location_proof.hpp"

namespace custos::agent {
namespace {

namespace wire = policy::landmark_wire;

// One connection, up to `samples` exchanges; appends proofs and returns why it stopped early ("" if it did not).
std::string sample_landmark(const landmark_target& lm, byte_view round_nonce, byte_view report_pk,
                            const secret_bytes& report_sk, unsigned samples, std::chrono::milliseconds timeout,
                            std::vector<landmark_proof>& out) {
    auto s = net::frame_socket::connect(lm.address, timeout);
    if (!s) return s.err().message;
    bytes hello(round_nonce.begin(), round_nonce.end());
    append(hello, report_pk);
    for (unsigned i = 0; i < samples; ++i) {
        if (auto w = s->send({wire::hello, hello}, timeout); !w) return w.err().message;
        auto n = s->receive(timeout, 4096);
        if (!n) return n.err().message;
        if (n->type == wire::error) return "refused: " + std::string(n->payload.begin(), n->payload.end());
        if (n->type != wire::nonce || n->payload.size() != policy::location_nonce_size)
            return "expected a 32-byte nonce frame";
        // At once: this signature is what the landmark times.
        const bytes m = policy::location_answer_message(round_nonce, n->payload);
        bytes sig(crypto_sign_BYTES);
        crypto_sign_detached(sig.data(), nullptr, m.data(), m.size(), report_sk.data());
        if (auto w = s->send({wire::answer, sig}, timeout); !w) return w.err().message;
        auto st = s->receive(timeout, 4096);
        if (!st) return st.err().message;
        if (st->type == wire::error) return "refused: " + std::string(st->payload.begin(), st->payload.end());
        if (st->type != wire::statement || st->payload.size() <= policy::ed25519_sig_size)
            return "expected a statement frame";
        landmark_proof p;
        p.landmark = lm.id;
        p.statement.assign(st->payload.begin(), st->payload.end() - policy::ed25519_sig_size);
        p.signature.assign(st->payload.end() - policy::ed25519_sig_size, st->payload.end());
        out.push_back(std::move(p));
    }
    return {};
}

}  // namespace

location_attempt prove_location(byte_view round_nonce, byte_view report_pk, const secret_bytes& report_sk,
                                const std::vector<landmark_target>& landmarks, unsigned samples,
                                std::chrono::milliseconds timeout) {
    location_attempt a;
    for (const auto& lm : landmarks) {
        const std::size_t before = a.proofs.size();
        const std::string why = sample_landmark(lm, round_nonce, report_pk, report_sk, samples, timeout, a.proofs);
        if (!why.empty()) {
            spdlog::warn("landmark {} ({}): {} of {} samples: {}", lm.id, lm.address, a.proofs.size() - before, samples, why);
            a.errors.push_back(lm.id + " (" + lm.address + "): " + why);
        }
    }
    return a;
}

}  // namespace custos::agent
