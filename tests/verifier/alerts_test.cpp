// verifier/alerts: findings delivered to a real HTTPS webhook receiver from the store's outbox (a real
// SQLite file), with retries and give-up; deliveries not made before a stop are made after the restart.
#include "verifier/alerts.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <sstream>

#include "tests/support/daemon.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

namespace custos::verifier {
namespace {

using namespace std::chrono_literals;

using receiver = custos::test::webhook_receiver;

finding_record sample() {
    return finding_record{7, "pcr-changed", "violation", "host", "gpu-2", "gpu-2", 1764000000, "PCR sha256:7 changed", true, 0, ""};
}

// A store on a temp SQLite file, and a finding raised in it as a handler does: inserted (with its
// deliveries) and committed, then handed to the sink.
struct outbox_store {
    custos::test::temp_dir dir{"custos-outbox"};
    std::unique_ptr<store> db = std::move(open_sqlite_store(dir.path() / "v.db")).value();
    finding_record raise(alert_sink& sink, finding_record f = sample()) {
        auto tx = std::move(db->begin()).value();
        f.id = tx->insert_finding(f).value();
        EXPECT_TRUE(tx->commit().ok());
        sink.emit(f);
        return f;
    }
    std::size_t queued() {
        auto tx = std::move(db->begin()).value();
        return tx->count_outbox().value();
    }
};

TEST(Alerts, FindingJsonHasTheSharedSchema) {
    EXPECT_EQ(boost::json::serialize(finding_to_json(sample())),
              R"({"id":7,"rule":"pcr-changed","severity":"violation","subject_kind":"host","subject":"gpu-2","host":"gpu-2","time":1764000000,"detail":"PCR sha256:7 changed","open":true})");
    auto f = sample();
    f.host.clear();
    f.subject_kind = "country";
    EXPECT_NE(boost::json::serialize(finding_to_json(f)).find(R"("host":null)"), std::string::npos);
}

TEST(Alerts, DeliversEachFindingOnceAfterRetryingBusyReceivers) {
    receiver r;
    r.fail_first = 2;
    outbox_store st;
    alert_sink sink(st.db.get(), {r.url()}, r.ca(), retry_policy{5, 50ms, 2, 1s});
    const auto f = st.raise(sink);
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.delivered() == 1; }, 10s));
    EXPECT_EQ(r.calls.load(), 3);
    EXPECT_EQ(sink.failed(), 0u);
    EXPECT_EQ(st.queued(), 0u);
    std::lock_guard lock(r.mu);
    ASSERT_EQ(r.bodies.size(), 1u);
    EXPECT_EQ(r.bodies[0], boost::json::serialize(finding_to_json(f)));
}

TEST(Alerts, GivesUpAfterTheLastAttemptWithoutBlockingEmit) {
    receiver r;
    r.fail_first = 1000;
    outbox_store st;
    alert_sink sink(st.db.get(), {r.url()}, r.ca(), retry_policy{3, 20ms, 2, 100ms});
    const auto t0 = std::chrono::steady_clock::now();
    st.raise(sink);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.failed() == 1; }, 10s));
    EXPECT_EQ(r.calls.load(), 3);
    EXPECT_EQ(sink.delivered(), 0u);
    EXPECT_EQ(st.queued(), 0u);
}

TEST(Alerts, GivesUpOnAReceiverThatIsDown) {
    auto r = std::make_unique<receiver>();
    const std::string url = r->url();
    r->srv->stop();  // nothing listens on the port any more; the directory (and its CA file) stays
    outbox_store st;
    alert_sink sink(st.db.get(), {url}, r->ca(), retry_policy{3, 20ms, 2, 100ms});
    st.raise(sink);
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.failed() == 1; }, 20s));
    EXPECT_EQ(sink.delivered(), 0u);
    EXPECT_EQ(r->calls.load(), 0);
}

TEST(Alerts, WhatIsNotDeliveredBeforeAStopIsDeliveredOnceAfterTheRestart) {
    receiver r;
    r.fail_first = 1;
    outbox_store st;
    finding_record f;
    {
        // The retry would come only after a minute: stop() does not wait for it, and drops nothing.
        alert_sink sink(st.db.get(), {r.url()}, r.ca(), retry_policy{5, 60s, 2, 60s});
        f = st.raise(sink);
        ASSERT_TRUE(custos::test::wait_until([&] { return r.calls.load() == 1; }, 10s));
        const auto t0 = std::chrono::steady_clock::now();
        sink.stop();
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
        EXPECT_EQ(sink.failed(), 0u);
        EXPECT_EQ(sink.delivered(), 0u);
    }
    EXPECT_EQ(st.queued(), 1u);
    // A finding raised while no sink runs (the verifier down between commit and send) is queued too.
    auto tx = std::move(st.db->begin()).value();
    auto g = sample();
    g.rule = "reboot";
    g.id = tx->insert_finding(g).value();
    ASSERT_TRUE(tx->commit().ok());
    tx.reset();
    EXPECT_EQ(st.queued(), 2u);
    // The next start sends both once its retry is due (the first at 60 s: bring it forward as time would).
    {
        auto t = std::move(st.db->begin()).value();
        auto due = t->due_outbox(INT64_MAX, 10);
        ASSERT_TRUE(due.ok());
        const std::vector<outbox_entry> entries = std::move(due).value();
        for (const auto& e : entries) ASSERT_TRUE(t->retry_outbox(e.id, e.attempts, 0).ok());
        ASSERT_TRUE(t->commit().ok());
    }
    alert_sink again(st.db.get(), {r.url()}, r.ca(), retry_policy{5, 60s, 2, 60s});
    ASSERT_TRUE(custos::test::wait_until([&] { return again.delivered() == 2; }, 10s));
    EXPECT_EQ(st.queued(), 0u);
    std::lock_guard lock(r.mu);
    ASSERT_EQ(r.bodies.size(), 2u);
    EXPECT_EQ(r.bodies[0], boost::json::serialize(finding_to_json(f)));
    EXPECT_EQ(r.bodies[1], boost::json::serialize(finding_to_json(g)));
}

TEST(Alerts, AFindingRolledBackIsNeverSentAndARemovedWebhooksDeliveriesAreDropped) {
    receiver a, b;
    outbox_store st;
    {
        alert_sink sink(st.db.get(), {a.url(), b.url()}, a.ca(), retry_policy{5, 60s, 2, 60s});
        sink.stop();  // nothing delivers while the rows are looked at
        auto tx = std::move(st.db->begin()).value();
        ASSERT_TRUE(tx->insert_finding(sample()).ok());
        tx.reset();  // rolled back: its deliveries with it
        EXPECT_EQ(st.queued(), 0u);
        st.raise(sink);
        EXPECT_EQ(st.queued(), 2u);
    }
    // b is no longer configured: its delivery is dropped at the next start, a's is made.
    alert_sink sink(st.db.get(), {a.url()}, a.ca(), retry_policy{5, 20ms, 2, 20ms});
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.delivered() == 1; }, 10s));
    EXPECT_EQ(st.queued(), 0u);
    EXPECT_EQ(a.calls.load(), 1);
    EXPECT_EQ(b.calls.load(), 0);
}

TEST(Alerts, EachWebhookSucceedsOrFailsOnItsOwn) {
    receiver a, b;
    // b's certificate comes from another CA than the one given: a gets the finding, b is given up on.
    outbox_store st;
    alert_sink sink(st.db.get(), {a.url(), b.url()}, a.ca(), retry_policy{2, 10ms, 2, 10ms});
    st.raise(sink);
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.delivered() + sink.failed() == 2; }, 10s));
    EXPECT_EQ(sink.delivered(), 1u);
    EXPECT_EQ(sink.failed(), 1u);
    EXPECT_EQ(a.calls.load(), 1);
    EXPECT_EQ(b.calls.load(), 0);
}

TEST(Alerts, LogsOneJsonLinePerFindingAtItsSeverity) {
    std::ostringstream os;
    auto logger = std::make_shared<spdlog::logger>("alerts-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(os));
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::info);
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(logger);
    {
        alert_sink sink(nullptr, {}, "");
        sink.emit(sample());
        auto info = sample();
        info.rule = "reboot";
        info.severity = "info";
        info.detail = "resetCount 3 -> 4";
        sink.emit(info);
    }
    spdlog::set_default_logger(previous);
    EXPECT_EQ(os.str(),
              R"(warning {"finding":{"id":7,"rule":"pcr-changed","severity":"violation","subject_kind":"host","subject":"gpu-2",)"
              R"("host":"gpu-2","time":1764000000,"detail":"PCR sha256:7 changed","open":true}})"
              "\n"
              R"(info {"finding":{"id":7,"rule":"reboot","severity":"info","subject_kind":"host","subject":"gpu-2",)"
              R"("host":"gpu-2","time":1764000000,"detail":"resetCount 3 -> 4","open":true}})"
              "\n");
}

}  // namespace
}  // namespace custos::verifier
