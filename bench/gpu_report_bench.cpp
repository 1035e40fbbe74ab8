// One NVIDIA GPU attestation report check on a real H100 sample (tests/data/nvidia-gpu), as the verifier
// does it each round with the GPU's chain already verified (parse, nonce, ECDSA P-384/SHA-384, FWID), and
// the whole check with the chain verified again. bench/gpu_report.sh runs `openssl speed ecdsap384` in the
// same run and prints the ratios.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "attest/gpu_attestation.hpp"

namespace {

using namespace custos;

struct sample {
    bytes report, nonce;
    std::string chain;
    sample() {
        const std::string dir = std::string(CUSTOS_TEST_DATA_DIR) + "/nvidia-gpu/nvtrust_lgv_hopper/";
        auto text = [&](const char* f) {
            std::ifstream in(dir + f);
            std::stringstream ss;
            ss << in.rdbuf();
            return ss.str();
        };
        std::string hex = text("report.hex"), n = text("nonce.hex");
        while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.pop_back();
        while (!n.empty() && std::isspace(static_cast<unsigned char>(n.back()))) n.pop_back();
        report = from_hex(hex).value();
        nonce = from_hex(n).value();
        chain = text("chain.pem");
    }
};

const sample& the_sample() {
    static const sample s;
    return s;
}

void BM_gpu_report_check(benchmark::State& state) {
    const sample& s = the_sample();
    auto chain = attest::gpu_chain::verify(s.chain);
    if (!chain || !chain->check(s.report, s.nonce)) {
        state.SkipWithError("the sample does not verify");
        return;
    }
    for (auto _ : state) {
        auto r = chain->check(s.report, s.nonce);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_gpu_report_verify_with_chain(benchmark::State& state) {
    const sample& s = the_sample();
    for (auto _ : state) {
        auto r = attest::verify_gpu_attestation(s.report, s.chain, s.nonce);
        if (!r) {
            state.SkipWithError("the sample does not verify");
            return;
        }
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_gpu_report_check);
BENCHMARK(BM_gpu_report_verify_with_chain);
BENCHMARK_MAIN();
