#include "verifier/alerts.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>

#include "net/https_client.hpp"

namespace custos::verifier {
namespace json = boost::json;

json::object finding_to_json(const finding_record& f) {
    json::object o;
    o["id"] = f.id;
    o["rule"] = f.rule;
    o["severity"] = f.severity;
    o["subject_kind"] = f.subject_kind;
    o["subject"] = f.subject;
    o["host"] = f.host.empty() ? json::value(nullptr) : json::value(f.host);
    o["time"] = f.time;
    o["detail"] = f.detail;
    o["open"] = f.open;
    return o;
}

alert_sink::alert_sink(std::vector<std::string> webhook_urls, std::string ca_file, retry_policy retry)
    : urls_(std::move(webhook_urls)), ca_file_(std::move(ca_file)), retry_(retry) {
    if (!urls_.empty()) thread_ = std::thread([this] { run(); });
}

alert_sink::~alert_sink() { stop(); }

void alert_sink::emit(const finding_record& f) {
    const std::string body = json::serialize(finding_to_json(f));
    const std::string line = json::serialize(json::object{{"finding", finding_to_json(f)}});
    if (f.severity == "info") spdlog::info("{}", line);
    else spdlog::warn("{}", line);
    if (urls_.empty()) return;
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        for (std::size_t i = 0; i < urls_.size(); ++i)
            queue_.push_back(job{i, body, 0, std::chrono::steady_clock::now()});
    }
    cv_.notify_all();
}

void alert_sink::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool alert_sink::deliver(const job& j) {
    // "https://host:port/path" → base and target.
    const std::string& url = urls_[j.url];
    const auto slash = url.find('/', 8);
    const std::string base = slash == std::string::npos ? url : url.substr(0, slash);
    const std::string target = slash == std::string::npos ? "/" : url.substr(slash);
    net::https_client_options o;
    o.ca_file = ca_file_;
    o.timeout = std::chrono::seconds(5);
    auto c = net::https_client::create(base, o);
    if (!c) {
        spdlog::error("webhook {}: {}", url, c.err().message);
        return false;
    }
    auto r = (*c)->request("POST", target, j.body);
    if (!r) {
        spdlog::warn("webhook {} (attempt {}): {}", url, j.attempt + 1, r.err().message);
        return false;
    }
    if (r->status >= 200 && r->status < 300) return true;
    spdlog::warn("webhook {} (attempt {}): HTTP {}", url, j.attempt + 1, r->status);
    return false;
}

void alert_sink::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        if (queue_.empty()) {
            if (stopping_) return;
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            continue;
        }
        // The job due first.
        auto next = queue_.begin();
        for (auto it = queue_.begin(); it != queue_.end(); ++it)
            if (it->due < next->due) next = it;
        if (!stopping_ && next->due > std::chrono::steady_clock::now()) {
            cv_.wait_until(lock, next->due);
            continue;
        }
        job j = *next;
        queue_.erase(next);
        const bool last_chance = stopping_;
        lock.unlock();
        const bool ok = deliver(j);
        lock.lock();
        if (ok) {
            ++delivered_;
        } else if (++j.attempt >= retry_.attempts || last_chance) {
            ++failed_;
            spdlog::error("webhook {}: giving up on a finding after {} attempts", urls_[j.url], j.attempt);
        } else {
            auto delay = retry_.first_delay;
            for (unsigned i = 1; i < j.attempt; ++i) delay = std::min(delay * retry_.factor, retry_.max_delay);
            j.due = std::chrono::steady_clock::now() + delay;
            queue_.push_back(std::move(j));
        }
    }
}

}  // namespace custos::verifier
