// Findings leave the verifier as structured log lines and as JSON POSTs to webhooks, delivered by a
// background thread with retries so a slow receiver never delays an appraisal.
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "verifier/store.hpp"

namespace custos::verifier {

// The finding schema shared by every issue: {id, rule, severity, subject_kind, subject, host, time, detail, open}.
boost::json::object finding_to_json(const finding_record& f);

struct retry_policy {
    unsigned attempts = 5;
    std::chrono::milliseconds first_delay{1000};
    unsigned factor = 2;
    std::chrono::milliseconds max_delay{60'000};
};

class alert_sink {
public:
    alert_sink(std::vector<std::string> webhook_urls, std::string ca_file, retry_policy retry = {});
    ~alert_sink();
    alert_sink(const alert_sink&) = delete;
    alert_sink& operator=(const alert_sink&) = delete;

    // Logs the finding (one JSON line) and queues it for every webhook; never blocks on the network.
    void emit(const finding_record& f);
    // Stops the delivery thread; what is still queued is tried once more, then dropped with a log line.
    void stop();
    std::size_t delivered() const { return delivered_; }
    std::size_t failed() const { return failed_; }

private:
    struct job {
        std::size_t url;
        std::string body;
        unsigned attempt = 0;
        std::chrono::steady_clock::time_point due;
    };
    void run();
    bool deliver(const job& j);

    std::vector<std::string> urls_;
    std::string ca_file_;
    retry_policy retry_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<job> queue_;
    bool stopping_ = false;
    std::atomic<std::size_t> delivered_{0}, failed_{0};
    std::thread thread_;
};

}  // namespace custos::verifier
