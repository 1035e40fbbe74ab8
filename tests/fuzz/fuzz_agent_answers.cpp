// Fuzz target: the agent's reading of the verifier's answers (agent/answers.hpp). The first byte picks the
// answer and, for reports, how many were sent; nothing may throw, and what is accepted is within range.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/answers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 3) {
    case 0:
        if (auto a = custos::agent::parse_challenge_answer(body); a && (a->nonce.size() < 16 || a->nonce.size() > 64))
            __builtin_trap();
        break;
    case 1:
        if (auto a = custos::agent::parse_attest_answer(body); a && a->next_round_s && (*a->next_round_s < 1 || *a->next_round_s > 86'400))
            __builtin_trap();
        break;
    default: {
        const std::size_t sent = (data[0] / 3) % 8;
        if (auto a = custos::agent::parse_reports_answer(body, sent); a && a->results.size() != sent) __builtin_trap();
        break;
    }
    }
    return 0;
}
