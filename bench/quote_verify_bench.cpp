// verify_quote throughput on software-signed quotes, next to the raw ECDSA P-256 verification it is
// built on (what `openssl speed ecdsap256` measures); scripts/bench-quote compares the two.
#include <benchmark/benchmark.h>

#include "attest/quote_verify.hpp"
#include "tests/attest/soft_quote.hpp"

namespace {

using namespace custos;
using namespace custos::attest;

struct fixture {
    ossl::pkey_ptr key;
    TPML_PCR_SELECTION selection{};
    test::soft_quote quote;
    bytes nonce = bytes(32, 0x5c);

    fixture(ossl::pkey_ptr k, TPMI_ALG_SIG_SCHEME scheme) : key(std::move(k)) {
        selection = *parse_pcr_selection("sha256:0,1,2,3,4,5,6,7,16");
        quote = test::make_soft_quote(key.get(), scheme, TPM2_ALG_SHA256, selection, nonce);
    }
    quote_input input(bool with_pcrs) const {
        quote_input in;
        in.attest = quote.attest;
        in.signature = quote.signature;
        in.ak = key.get();
        in.qualification = nonce;
        if (with_pcrs) {
            in.expected_selection = &selection;
            in.pcrs = &quote.pcrs;
        }
        return in;
    }
};

const fixture& p256() {
    static const fixture f(test::generate_ec_key("P-256"), TPM2_ALG_ECDSA);
    return f;
}
const fixture& rsa2048() {
    static const fixture f(test::generate_rsa_key(2048), TPM2_ALG_RSASSA);
    return f;
}

void run_verify(benchmark::State& state, const fixture& f, bool with_pcrs) {
    const quote_input in = f.input(with_pcrs);
    if (!verify_quote(in).ok()) {
        state.SkipWithError("the benchmark quote does not verify");
        return;
    }
    for (auto _ : state) {
        auto r = verify_quote(in);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_verify_quote_p256(benchmark::State& state) { run_verify(state, p256(), false); }
void BM_verify_quote_p256_pcrs(benchmark::State& state) { run_verify(state, p256(), true); }
void BM_verify_quote_rsa2048_pcrs(benchmark::State& state) { run_verify(state, rsa2048(), true); }

// The floor: one EVP_PKEY_verify of a DER ECDSA signature over a precomputed digest with a context set up
// once, as `openssl speed ecdsap256` times it.
void BM_ecdsa_p256_verify_raw(benchmark::State& state) {
    const auto& f = p256();
    bytes dgst = sha256(f.quote.attest);
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    std::size_t len = 0;
    bytes der(128);
    len = der.size();
    if (EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, f.key.get()) != 1 ||
        EVP_DigestSign(md.get(), der.data(), &len, f.quote.attest.data(), f.quote.attest.size()) != 1) {
        state.SkipWithError("signing failed");
        return;
    }
    der.resize(len);
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, f.key.get(), nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) {
        state.SkipWithError("EVP_PKEY_verify_init failed");
        return;
    }
    for (auto _ : state) {
        int ok = EVP_PKEY_verify(ctx.get(), der.data(), der.size(), dgst.data(), dgst.size());
        benchmark::DoNotOptimize(ok);
    }
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_verify_quote_p256);
BENCHMARK(BM_verify_quote_p256_pcrs);
BENCHMARK(BM_verify_quote_rsa2048_pcrs);
BENCHMARK(BM_ecdsa_p256_verify_raw);

}  // namespace

BENCHMARK_MAIN();
