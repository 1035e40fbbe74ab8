// bound_location with 1, 8, 32 and 64 landmarks: a host 20 km from its site in Frankfurt, landmarks
// 100–3000 km around it, each RTT 1.3–1.8× the light-in-vacuum time plus 0.1 ms (routing, fibre, stacks),
// as real measurements are. The verifier runs this once per location round; it must stay under 1 ms.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "policy/geo.hpp"

namespace {

using custos::policy::landmark_rtt;

constexpr double site_lat = 50.11, site_lon = 8.68;

std::vector<landmark_rtt> landmarks(int n) {
    std::mt19937_64 rng(static_cast<unsigned>(n) * 7919u);
    std::uniform_real_distribution<double> bearing(0, 2 * std::numbers::pi), dist(100, 3000), slack(1.3, 1.8);
    const double host_lat = site_lat + 0.12, host_lon = site_lon + 0.15;  // ≈ 20 km away
    std::vector<landmark_rtt> out;
    for (int i = 0; i < n; ++i) {
        // A point `km` from the host on bearing `b` (flat-earth offset is fine for placing landmarks).
        const double b = bearing(rng), km = dist(rng);
        const double lat = host_lat + km * std::cos(b) / 111.195;
        const double lon = host_lon + km * std::sin(b) / (111.195 * std::cos(lat * std::numbers::pi / 180));
        const double d = custos::policy::great_circle_km(host_lat, host_lon, lat, lon);
        out.push_back({lat, lon, 2 * d / custos::policy::light_vacuum_km_per_ms * slack(rng) + 0.1});
    }
    return out;
}

void BM_bound_location(benchmark::State& state) {
    const auto lms = landmarks(static_cast<int>(state.range(0)));
    std::string verdict;
    for (auto _ : state) {
        auto r = custos::policy::bound_location(site_lat, site_lon, 500, lms);
        if (!r) {
            state.SkipWithError(r.err().message.c_str());
            break;
        }
        benchmark::DoNotOptimize(r->max_km_from_site);
        verdict = r->verdict;
    }
    state.SetLabel(verdict);
}
BENCHMARK(BM_bound_location)->Arg(1)->Arg(8)->Arg(32)->Arg(64)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
