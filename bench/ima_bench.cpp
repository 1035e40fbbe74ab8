// The verifier's cost for an IMA measurement list of 100,000 ima-ng entries (a long-running GPU host):
// parse_ima_log, replay_ima_log (SHA-1 and SHA-256 banks), appraise_runtime against an allow-list that
// covers every entry, and the whole appraisal of a 100-entry incremental update. Beside them, the floor:
// only the hashing a parse and a replay must do, with raw OpenSSL EVP (digests fetched once, contexts
// reused); the summary printed at the end gives our times as multiples of it.
//
// appraise_runtime looks exact-path rules up in the policy's index and runs fnmatch only for glob rules
// and excludes (index_runtime_policy), so it is timed over the whole list against the whole policy; the
// N × N series shows that it grows linearly with the list and the rules together.
//
// The summary is printed by this file's console reporter; for JSON use --benchmark_out=FILE
// --benchmark_out_format=json.
#include <benchmark/benchmark.h>

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "attest/ima_log.hpp"
#include "attest/runtime_policy.hpp"

namespace {

using namespace custos;
using namespace custos::attest;

constexpr std::size_t list_size = 100'000;
constexpr std::size_t update_size = 100;
constexpr std::uint32_t ima_pcr = 10;

const char* const module_glob = "/usr/lib/modules/6.8.0-45-generic/kernel/*.ko";
const char* const python_glob = "/usr/lib/python3/dist-packages/*.py";

// A path as a Debian/Ubuntu GPU host's IMA list shows them: mostly shared libraries, some binaries,
// kernel modules and Python files (under glob rules), log files (excluded), the agent itself.
std::string path_for(std::size_t i) {
    const std::string n = std::to_string(i);
    if (i == 0) return "boot_aggregate";
    if (i == 1) return "/usr/bin/custos-agent";
    if (i % 1000 == 500) return "/var/log/nvidia-persistenced" + n + ".log";
    if (i % 100 == 50) return "/usr/lib/modules/6.8.0-45-generic/kernel/drivers/gpu/mod" + n + ".ko";
    if (i % 100 == 75) return "/usr/lib/python3/dist-packages/pkg" + n + "/__init__.py";
    switch (i % 10) {
        case 6: return "/usr/bin/tool" + n;
        case 7: return "/usr/sbin/daemon" + n;
        case 8: return "/usr/libexec/helper" + n;
        case 9: return "/opt/nvidia/lib64/libnv" + n + ".so.550";
        default: return "/usr/lib/x86_64-linux-gnu/libfoo" + n + ".so.1";
    }
}

// The allow-list for entries [0, n): an exact entry per path (the agent's marked agent), two glob rules
// listing the digests of the modules and Python files they cover, and excludes.
runtime_policy policy_for(const std::vector<ima_entry>& entries, std::size_t n) {
    runtime_policy p;
    runtime_rule modules{module_glob, {}, false}, python{python_glob, {}, false};
    for (std::size_t i = 0; i < n; ++i) {
        const ima_entry& e = entries[i];
        if (e.path == "boot_aggregate" || e.path.starts_with("/var/log/")) continue;
        if (glob_match(module_glob, e.path))
            modules.sha256.push_back(e.file_hash);
        else if (glob_match(python_glob, e.path))
            python.sha256.push_back(e.file_hash);
        else
            p.entries.push_back({e.path, {e.file_hash}, e.path == "/usr/bin/custos-agent"});
    }
    if (!modules.sha256.empty()) p.entries.push_back(std::move(modules));
    if (!python.sha256.empty()) p.entries.push_back(std::move(python));
    p.excludes = {"/var/log/*", "/tmp/*", "/run/*"};
    index_runtime_policy(p);
    return p;
}

struct fixture {
    std::vector<ima_entry> all;      // list_size + update_size entries
    std::vector<ima_entry> list;     // the first list_size, as parsed
    bytes list_bytes, update_bytes;  // serialized
    runtime_policy policy;           // allows all of `all`
    pcr_banks list_pcrs;             // the replay of `list`: where the update starts
    std::size_t template_bytes = 0;  // template data of `list`, what the replay hashes

    fixture() {
        all.reserve(list_size + update_size);
        for (std::size_t i = 0; i < list_size + update_size; ++i) {
            const std::string path = path_for(i);
            all.push_back(make_ima_entry(ima_pcr, path, sha256(as_bytes("contents of " + path))));
        }
        const std::vector<ima_entry> head(all.begin(), all.begin() + list_size);
        const std::vector<ima_entry> tail(all.begin() + list_size, all.end());
        list_bytes = serialize_ima_log(head);
        update_bytes = serialize_ima_log(tail);
        list = *parse_ima_log(list_bytes);
        for (const auto& e : list) template_bytes += e.template_data.size();
        policy = policy_for(all, all.size());
        list_pcrs = replay_ima_log(list);
        allowed = appraise_runtime(policy, list).empty();
    }
    bool allowed = false;  // the policy allows every entry of the list
};

const fixture& fx() {
    static const fixture f;
    return f;
}

// Refuses to time anything if the fixture is not what the numbers claim.
bool check_fixture(benchmark::State& state) {
    const auto& f = fx();
    if (f.list.size() != list_size) {
        state.SkipWithError("the serialized list does not parse back to 100,000 entries");
        return false;
    }
    if (!f.allowed) {
        state.SkipWithError("the policy does not allow the benchmark list");
        return false;
    }
    return true;
}

void BM_parse_ima_log(benchmark::State& state) {
    const auto& f = fx();
    if (!check_fixture(state)) return;
    for (auto _ : state) {
        auto r = parse_ima_log(f.list_bytes);
        if (!r) {
            state.SkipWithError(r.err().message.c_str());
            break;
        }
        benchmark::DoNotOptimize(r->data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(list_size));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.list_bytes.size()));
}

void BM_replay_ima_log(benchmark::State& state) {
    const auto& f = fx();
    for (auto _ : state) {
        auto banks = replay_ima_log(f.list);
        benchmark::DoNotOptimize(banks);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(list_size));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.list_bytes.size()));
}

// N entries against the policy of exactly those N: the growth with list and policy size.
void BM_appraise_runtime_n_by_n(benchmark::State& state) {
    const auto& f = fx();
    const auto n = static_cast<std::size_t>(state.range(0));
    const std::vector<ima_entry> part(f.list.begin(), f.list.begin() + static_cast<std::ptrdiff_t>(n));
    const runtime_policy p = policy_for(f.list, n);
    if (!appraise_runtime(p, part).empty()) {
        state.SkipWithError("the policy does not allow the benchmark list");
        return;
    }
    for (auto _ : state) {
        auto findings = appraise_runtime(p, part);
        benchmark::DoNotOptimize(findings.data());
    }
    state.counters["rules"] = static_cast<double>(p.entries.size());
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

// The whole list against the whole policy.
void BM_appraise_runtime_full_list(benchmark::State& state) {
    const auto& f = fx();
    if (!check_fixture(state)) return;
    for (auto _ : state) {
        auto findings = appraise_runtime(f.policy, f.list);
        benchmark::DoNotOptimize(findings.data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(list_size));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.list_bytes.size()));
}

// What the verifier does with each round's new measurements: parse them, continue the replay from the
// PCR values of the list so far, appraise them.
void BM_incremental_update(benchmark::State& state) {
    const auto& f = fx();
    {
        auto r = parse_ima_log(f.update_bytes);
        if (!r || !appraise_runtime(f.policy, *r, list_size).empty()) {
            state.SkipWithError("the update does not parse or is not allowed");
            return;
        }
    }
    for (auto _ : state) {
        auto r = parse_ima_log(f.update_bytes);
        auto banks = replay_ima_log(*r, f.list_pcrs);
        auto findings = appraise_runtime(f.policy, *r, list_size);
        benchmark::DoNotOptimize(banks);
        benchmark::DoNotOptimize(findings.data());
    }
    state.counters["rules"] = static_cast<double>(f.policy.entries.size());
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(update_size));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.update_bytes.size()));
}

// The floor: raw EVP, SHA-256 and SHA-1 fetched once, one context per algorithm reused. With
// `with_sha1` it also computes each entry's SHA-1 template hash, which parse_ima_log checks; the
// replay itself folds the recorded one.
struct evp_floor {
    EVP_MD* sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ossl::md_ctx_ptr ctx{EVP_MD_CTX_new()};
    ~evp_floor() {
        EVP_MD_free(sha1);
        EVP_MD_free(sha256);
    }
    void hash(const EVP_MD* md, const void* a, std::size_t an, const void* b, std::size_t bn, std::uint8_t* out) {
        unsigned int len = 0;
        EVP_DigestInit_ex2(ctx.get(), md, nullptr);
        EVP_DigestUpdate(ctx.get(), a, an);
        if (bn) EVP_DigestUpdate(ctx.get(), b, bn);
        EVP_DigestFinal_ex(ctx.get(), out, &len);
    }
    // Final PCR 10 values of both banks.
    std::pair<bytes, bytes> run(const std::vector<ima_entry>& entries, bool with_sha1) {
        std::array<std::uint8_t, 20> p1{}, th{};
        std::array<std::uint8_t, 32> p256{}, td256{};
        for (const auto& e : entries) {
            const auto* td = e.template_data.data();
            const std::size_t n = e.template_data.size();
            if (with_sha1) hash(sha1, td, n, nullptr, 0, th.data());
            else std::memcpy(th.data(), e.template_hash.data(), th.size());
            hash(sha256, td, n, nullptr, 0, td256.data());
            hash(sha1, p1.data(), p1.size(), th.data(), th.size(), p1.data());
            hash(sha256, p256.data(), p256.size(), td256.data(), td256.size(), p256.data());
        }
        return {bytes(p1.begin(), p1.end()), bytes(p256.begin(), p256.end())};
    }
};

void run_floor(benchmark::State& state, bool with_sha1) {
    const auto& f = fx();
    evp_floor fl;
    if (!fl.sha1 || !fl.sha256 || !fl.ctx) {
        state.SkipWithError("EVP_MD_fetch failed");
        return;
    }
    // Same entries, same result as replay_ima_log, or the floor measures something else.
    const auto [p1, p256] = fl.run(f.list, with_sha1);
    if (p1 != f.list_pcrs.at(hash_alg::sha1).at(ima_pcr) || p256 != f.list_pcrs.at(hash_alg::sha256).at(ima_pcr)) {
        state.SkipWithError("the EVP floor does not reach the replay's PCR 10");
        return;
    }
    for (auto _ : state) {
        auto r = fl.run(f.list, with_sha1);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(list_size));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(f.list_bytes.size()));
}
void BM_floor_replay_evp(benchmark::State& state) { run_floor(state, false); }
void BM_floor_parse_replay_evp(benchmark::State& state) { run_floor(state, true); }

BENCHMARK(BM_parse_ima_log)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_replay_ima_log)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_floor_replay_evp)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_floor_parse_replay_evp)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_appraise_runtime_full_list)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_appraise_runtime_n_by_n)->Arg(1000)->Arg(8000)->Arg(64000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_incremental_update)->Unit(benchmark::kMillisecond);

// The console output, plus seconds per iteration of each run for the summary.
class summary_reporter : public benchmark::ConsoleReporter {
public:
    summary_reporter() : ConsoleReporter(OO_None) {}
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs)
            if (r.run_type == Run::RT_Iteration && !r.error_occurred && r.iterations > 0)
                secs_[r.run_name.function_name + (r.run_name.args.empty() ? "" : "/" + r.run_name.args)] =
                    r.real_accumulated_time / static_cast<double>(r.iterations);
        ConsoleReporter::ReportRuns(runs);
    }
    void summary() const {
        auto get = [&](const std::string& k) {
            auto it = secs_.find(k);
            return it == secs_.end() ? -1.0 : it->second;
        };
        const double parse = get("BM_parse_ima_log"), replay = get("BM_replay_ima_log");
        const double floor_r = get("BM_floor_replay_evp"), floor_pr = get("BM_floor_parse_replay_evp");
        const double full = get("BM_appraise_runtime_full_list"), inc = get("BM_incremental_update");
        std::printf("\nsummary, %zu ima-ng entries (%zu rules):\n", list_size, fx().policy.entries.size());
        if (replay > 0 && floor_r > 0)
            std::printf("  replay_ima_log          %8.1f ms = %.2fx the EVP floor (SHA-256 of template data + both extends, %.1f ms)\n",
                        replay * 1e3, replay / floor_r, floor_r * 1e3);
        if (parse > 0 && replay > 0 && floor_pr > 0)
            std::printf("  parse + replay          %8.1f ms = %.2fx the EVP floor (+ SHA-1 of template data, %.1f ms)\n",
                        (parse + replay) * 1e3, (parse + replay) / floor_pr, floor_pr * 1e3);
        if (full > 0)
            std::printf("  appraise_runtime        %8.1f ms for the whole list against the whole policy\n", full * 1e3);
        if (inc > 0)
            std::printf("  incremental update      %8.3f ms for %zu new entries (parse + replay + appraise)\n", inc * 1e3, update_size);
        const double n1 = get("BM_appraise_runtime_n_by_n/1000"), n64 = get("BM_appraise_runtime_n_by_n/64000");
        if (n1 > 0 && n64 > 0)
            std::printf("  appraise N x N          64000 vs 1000: %.0fx the time for 64x the entries and rules\n", n64 / n1);
    }

private:
    std::map<std::string, double> secs_;
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    summary_reporter rep;
    benchmark::RunSpecifiedBenchmarks(&rep);
    rep.summary();
    benchmark::Shutdown();
    return 0;
}
