// Findings leave the verifier as structured log lines and as JSON POSTs to webhooks. Deliveries are rows of
// the store's outbox, written in the transaction that raises the finding (store::insert_finding), so none is
// lost when the verifier stops or dies before sending; a background thread works through them with retries,
// so a slow receiver never delays an appraisal. A delivery is removed once the receiver answers 2xx: a
// verifier killed between the two sends it again at its next start (receivers dedupe by the finding's id).
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
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
    // With webhook URLs, `db` must be given and outlive the sink: it is told the URLs (store::set_webhooks),
    // deliveries to URLs no longer configured are dropped (logged), and the delivery thread starts. Without
    // URLs findings are only logged.
    // `may_deliver` (when given) says whether this process delivers now: only the replica leading the
    // background work does, so a delivery is sent by one process of those sharing the store.
    alert_sink(store* db, std::vector<std::string> webhook_urls, std::string ca_file, retry_policy retry = {},
               std::function<bool()> may_deliver = {});
    ~alert_sink();
    alert_sink(const alert_sink&) = delete;
    alert_sink& operator=(const alert_sink&) = delete;

    // Logs the finding (one JSON line) and wakes the delivery thread; never blocks on the network.
    void emit(const finding_record& f);
    // Stops the delivery thread (a delivery under way finishes first); what is not yet delivered stays in the
    // outbox for the next start.
    void stop();
    // Looks at the outbox now (the process just took the lead).
    void wake();
    std::size_t delivered() const { return delivered_; }
    std::size_t failed() const { return failed_; }

private:
    void run();
    bool deliver(const outbox_entry& e);
    // One pass over what is due; returns when the next delivery is due (ms), if any.
    std::optional<std::int64_t> work();

    store* db_;
    std::vector<std::string> urls_;
    std::string ca_file_;
    retry_policy retry_;
    std::function<bool()> may_deliver_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool woken_ = false;
    std::atomic<std::size_t> delivered_{0}, failed_{0};
    std::thread thread_;
};

}  // namespace custos::verifier
