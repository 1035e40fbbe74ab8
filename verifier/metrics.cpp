#include "verifier/metrics.hpp"

#include <cstdio>

namespace custos::verifier {
namespace {

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void counter_family(std::string& out, const char* name, const char* help, const char* label,
                    const std::map<std::string, std::uint64_t>& values) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [k, v] : values) out += std::string(name) + "{" + label + "=\"" + k + "\"} " + std::to_string(v) + "\n";
}

}  // namespace

void metrics::count_appraisal(const std::string& status) {
    std::lock_guard lock(mu_);
    ++appraisals_[status];
}

void metrics::count_finding(const std::string& rule) {
    std::lock_guard lock(mu_);
    ++findings_[rule];
}

void metrics::count_report(const std::string& result) {
    std::lock_guard lock(mu_);
    ++reports_[result];
}

void metrics::observe_request(const std::string& route, unsigned status, std::chrono::nanoseconds took) {
    const double s = std::chrono::duration<double>(took).count();
    std::lock_guard lock(mu_);
    ++requests_[{route, std::to_string(status)}];
    auto& h = latency_[route];
    for (std::size_t i = 0; i < buckets.size(); ++i)
        if (s <= buckets[i]) ++h.counts[i];
    ++h.count;
    h.sum += s;
}

std::string metrics::render(const std::map<std::string, std::uint64_t>& hosts_by_state) const {
    std::string out;
    out += "# HELP custos_hosts Hosts by lifecycle state and latest appraisal status.\n# TYPE custos_hosts gauge\n";
    for (const auto& [k, v] : hosts_by_state) out += "custos_hosts{state=\"" + k + "\"} " + std::to_string(v) + "\n";
    std::lock_guard lock(mu_);
    counter_family(out, "custos_appraisals_total", "Appraisals by resulting status.", "status", appraisals_);
    counter_family(out, "custos_findings_total", "Findings raised by rule.", "rule", findings_);
    counter_family(out, "custos_reports_total", "Reports by result.", "result", reports_);
    out += "# HELP custos_requests_total HTTP requests by route and status.\n# TYPE custos_requests_total counter\n";
    for (const auto& [k, v] : requests_)
        out += "custos_requests_total{route=\"" + k.first + "\",status=\"" + k.second + "\"} " + std::to_string(v) + "\n";
    out += "# HELP custos_request_duration_seconds Request handling latency by route.\n"
           "# TYPE custos_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
        const std::string l = "route=\"" + route + "\"";
        for (std::size_t i = 0; i < buckets.size(); ++i)
            out += "custos_request_duration_seconds_bucket{" + l + ",le=\"" + num(buckets[i]) + "\"} " +
                   std::to_string(h.counts[i]) + "\n";
        out += "custos_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
        out += "custos_request_duration_seconds_sum{" + l + "} " + num(h.sum) + "\n";
        out += "custos_request_duration_seconds_count{" + l + "} " + std::to_string(h.count) + "\n";
    }
    return out;
}

}  // namespace custos::verifier
