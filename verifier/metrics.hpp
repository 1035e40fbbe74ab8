// Prometheus text-format metrics: counters by label, request latency histograms per route, and gauges
// the caller computes at scrape time (hosts by state).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace custos::verifier {

class metrics {
public:
    void count_appraisal(const std::string& status);
    void count_finding(const std::string& rule);
    void count_report(const std::string& result);  // accepted, duplicate, rejected
    void observe_request(const std::string& route, unsigned status, std::chrono::nanoseconds took);

    // hosts_by_state: gauge values computed by the caller from the store.
    std::string render(const std::map<std::string, std::uint64_t>& hosts_by_state) const;

    // Bucket upper bounds in seconds (le), cumulative in the output.
    static constexpr std::array<double, 12> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                    0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

private:
    struct histogram {
        std::array<std::uint64_t, buckets.size()> counts{};
        std::uint64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mu_;
    std::map<std::string, std::uint64_t> appraisals_, findings_, reports_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> requests_;  // route, status
    std::map<std::string, histogram> latency_;
};

}  // namespace custos::verifier
