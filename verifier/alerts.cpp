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

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

alert_sink::alert_sink(store* db, std::vector<std::string> webhook_urls, std::string ca_file, retry_policy retry,
                       std::function<bool()> may_deliver)
    : db_(db), urls_(std::move(webhook_urls)), ca_file_(std::move(ca_file)), retry_(retry), may_deliver_(std::move(may_deliver)) {
    if (!db_) {
        if (!urls_.empty()) spdlog::error("webhooks configured without a store: findings are only logged");
        urls_.clear();
        return;
    }
    db_->set_webhooks(urls_);
    // Deliveries to a webhook taken out of the configuration are not sent anywhere else.
    if (auto tx = db_->begin()) {
        auto n = (*tx)->drop_outbox_except(urls_);
        if (n && *n) spdlog::warn("webhooks: {} queued deliveries to URLs no longer configured dropped", *n);
        if (!n || !(*tx)->commit()) spdlog::error("webhooks: the outbox could not be cleaned");
    }
    if (!urls_.empty()) thread_ = std::thread([this] { run(); });
}

alert_sink::~alert_sink() { stop(); }

void alert_sink::emit(const finding_record& f) {
    const std::string line = json::serialize(json::object{{"finding", finding_to_json(f)}});
    if (f.severity == "info") spdlog::info("{}", line);
    else spdlog::warn("{}", line);
    wake();
}

void alert_sink::wake() {
    if (urls_.empty()) return;
    {
        std::lock_guard lock(mu_);
        woken_ = true;
    }
    cv_.notify_all();
}

void alert_sink::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool alert_sink::deliver(const outbox_entry& e) {
    // "https://host:port/path" → base and target.
    const std::string& url = e.url;
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
    auto r = (*c)->request("POST", target, e.body);
    if (!r) {
        spdlog::warn("webhook {} (attempt {}): {}", url, e.attempts + 1, r.err().message);
        return false;
    }
    if (r->status >= 200 && r->status < 300) return true;
    spdlog::warn("webhook {} (attempt {}): HTTP {}", url, e.attempts + 1, r->status);
    return false;
}

std::optional<std::int64_t> alert_sink::work() {
    if (may_deliver_ && !may_deliver_()) return now_ms() + 1000;  // another replica delivers
    std::vector<outbox_entry> due;
    std::optional<std::int64_t> next;
    {
        auto tx = db_->begin();
        if (!tx) {
            spdlog::error("webhooks: {}", tx.err().message);
            return now_ms() + 1000;
        }
        auto d = (*tx)->due_outbox(now_ms(), 32);
        if (!d) {
            spdlog::error("webhooks: {}", d.err().message);
            return now_ms() + 1000;
        }
        due = std::move(d).value();
        if (due.empty()) {
            auto n = (*tx)->next_outbox_due_ms();
            if (n) next = *n;
            return next;
        }
    }
    for (const auto& e : due) {
        {
            std::lock_guard lock(mu_);
            if (stopping_) return std::nullopt;
        }
        const bool ok = deliver(e);
        auto tx = db_->begin();
        if (!tx) {
            spdlog::error("webhooks: {}", tx.err().message);
            return now_ms() + 1000;
        }
        result<void> w;
        if (ok) {
            ++delivered_;
            w = (*tx)->remove_outbox(e.id);
        } else if (e.attempts + 1 >= retry_.attempts) {
            ++failed_;
            spdlog::error("webhook {}: giving up on finding {} after {} attempts", e.url, e.finding_id, e.attempts + 1);
            w = (*tx)->remove_outbox(e.id);
        } else {
            auto delay = retry_.first_delay;
            for (unsigned i = 0; i < e.attempts; ++i) delay = std::min(delay * retry_.factor, retry_.max_delay);
            w = (*tx)->retry_outbox(e.id, e.attempts + 1, now_ms() + delay.count());
        }
        if (!w || !(*tx)->commit()) spdlog::error("webhooks: recording a delivery of finding {} failed", e.finding_id);
    }
    return now_ms();  // more may be due at once
}

void alert_sink::run() {
    for (;;) {
        const auto next = work();
        std::unique_lock lock(mu_);
        if (stopping_) return;
        if (woken_) {
            woken_ = false;
            continue;
        }
        // Sleep until the next delivery is due, a new finding arrives, or a second passes (deliveries
        // queued by another process sharing the store).
        auto wake = std::chrono::system_clock::now() + std::chrono::seconds(1);
        if (next) wake = std::min(wake, std::chrono::system_clock::time_point(std::chrono::milliseconds(*next)));
        cv_.wait_until(lock, wake, [this] { return stopping_ || woken_; });
        if (stopping_) return;
        woken_ = false;
    }
}

}  // namespace custos::verifier
