// Fuzz target: the agent's reading of the verifier's answers (agent/answers.hpp). The first byte picks the
// answer (high bit clear: challenge, attest, reports and how many were sent; set: location round, location
// answer, key answer, renewal answer); nothing may throw, and what is accepted is within range.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json/parse.hpp>

#include "agent/answers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 0x80) {
        switch (data[0] & 3) {
        case 0: {
            boost::system::error_code ec;
            const auto v = boost::json::parse(body, ec);
            if (ec || !v.is_object()) break;
            if (auto r = custos::agent::parse_location_round(v.as_object());
                r && (r->round.size() != 32 || r->samples < 1 || r->samples > 64 || r->timeout_ms < 1 || r->timeout_ms > 60'000 ||
                      r->landmarks.size() > 64))
                __builtin_trap();
            break;
        }
        case 1:
            if (auto a = custos::agent::parse_location_answer(body); a && a->size() > 64) __builtin_trap();
            break;
        case 2:
            if (auto a = custos::agent::parse_key_answer(body);
                a && (a->expires_in_s < 1 || a->expires_in_s > 86'400 || a->model_root.size() != 32 || a->lease.empty()))
                __builtin_trap();
            break;
        default:
            if (auto a = custos::agent::parse_renew_answer(body); a && (*a < 1 || *a > 86'400)) __builtin_trap();
            break;
        }
        return 0;
    }
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
