// verifier/alerts: findings delivered to a real HTTPS webhook receiver, with retries and give-up.
#include "verifier/alerts.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <sstream>

#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_server.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/process.hpp"

namespace custos::verifier {
namespace {

using namespace std::chrono_literals;

struct receiver {
    custos::test::temp_dir dir{"custos-hook"};
    std::unique_ptr<net::https_server> srv;
    std::atomic<int> calls{0};
    std::atomic<int> fail_first{0};
    std::mutex mu;
    std::vector<std::string> bodies;

    receiver() {
        auto ca_key = x509::generate_p256().value();
        x509::cert_request cr;
        cr.subject = {"hook CA", "ca"};
        auto ca = x509::make_ca(ca_key.get(), cr).value();
        auto key = x509::generate_p256().value();
        x509::cert_request sr;
        sr.subject = {"hook", "server"};
        sr.kind = x509::cert_kind::server;
        sr.ips = {"127.0.0.1"};
        auto cert = x509::issue(ca.get(), ca_key.get(), key.get(), sr).value();
        EXPECT_TRUE(write_file_atomic(dir.path() / "ca.pem", x509::to_pem(ca.get()).value()).ok());
        EXPECT_TRUE(write_file_atomic(dir.path() / "s.pem", x509::to_pem(cert.get()).value()).ok());
        EXPECT_TRUE(write_file_atomic(dir.path() / "s.key", x509::private_key_to_pem(key.get()).value(), 0600).ok());
        net::https_server_options o;
        o.cert_pem_path = (dir.path() / "s.pem").string();
        o.key_pem_path = (dir.path() / "s.key").string();
        srv = std::move(net::https_server::create(o)).value();
        srv->route("POST", "/hooks/custos", net::auth::none, [this](const net::http_request& r, const net::request_context&) {
            if (++calls <= fail_first) return net::http_response{503, "text/plain", "busy"};
            std::lock_guard lock(mu);
            bodies.push_back(r.body);
            return net::http_response{204, "text/plain", ""};
        });
        EXPECT_TRUE(srv->listen("127.0.0.1", 0).ok());
        srv->run();
    }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(srv->bound_port()) + "/hooks/custos"; }
    std::string ca() const { return (dir.path() / "ca.pem").string(); }
};

finding_record sample() {
    return finding_record{7, "pcr-changed", "violation", "host", "gpu-2", "gpu-2", 1764000000, "PCR sha256:7 changed", true, 0, ""};
}

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
    alert_sink sink({r.url()}, r.ca(), retry_policy{5, 50ms, 2, 1s});
    sink.emit(sample());
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.delivered() == 1; }, 10s));
    EXPECT_EQ(r.calls.load(), 3);
    EXPECT_EQ(sink.failed(), 0u);
    std::lock_guard lock(r.mu);
    ASSERT_EQ(r.bodies.size(), 1u);
    EXPECT_EQ(r.bodies[0], boost::json::serialize(finding_to_json(sample())));
}

TEST(Alerts, GivesUpAfterTheLastAttemptWithoutBlockingEmit) {
    receiver r;
    r.fail_first = 1000;
    alert_sink sink({r.url()}, r.ca(), retry_policy{3, 20ms, 2, 100ms});
    const auto t0 = std::chrono::steady_clock::now();
    sink.emit(sample());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.failed() == 1; }, 10s));
    EXPECT_EQ(r.calls.load(), 3);
    EXPECT_EQ(sink.delivered(), 0u);
}

TEST(Alerts, GivesUpOnAReceiverThatIsDown) {
    auto r = std::make_unique<receiver>();
    const std::string url = r->url();
    r->srv->stop();  // nothing listens on the port any more; the directory (and its CA file) stays
    alert_sink sink({url}, r->ca(), retry_policy{3, 20ms, 2, 100ms});
    sink.emit(sample());
    ASSERT_TRUE(custos::test::wait_until([&] { return sink.failed() == 1; }, 20s));
    EXPECT_EQ(sink.delivered(), 0u);
    EXPECT_EQ(r->calls.load(), 0);
}

TEST(Alerts, StopTriesWhatIsPendingOnceMoreThenDropsIt) {
    receiver r;
    r.fail_first = 1000;
    // The retry would come only after a minute: stop() must not wait for it.
    alert_sink sink({r.url()}, r.ca(), retry_policy{5, 60s, 2, 60s});
    sink.emit(sample());
    ASSERT_TRUE(custos::test::wait_until([&] { return r.calls.load() == 1; }, 10s));
    const auto t0 = std::chrono::steady_clock::now();
    sink.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_EQ(r.calls.load(), 2);
    EXPECT_EQ(sink.failed(), 1u);
    EXPECT_EQ(sink.delivered(), 0u);
    sink.emit(sample());  // after stop: logged, not queued
    sink.stop();
    EXPECT_EQ(r.calls.load(), 2);
}

TEST(Alerts, EachWebhookSucceedsOrFailsOnItsOwn) {
    receiver a, b;
    // b's certificate comes from another CA than the one given: a gets the finding, b is given up on.
    alert_sink sink({a.url(), b.url()}, a.ca(), retry_policy{2, 10ms, 2, 10ms});
    sink.emit(sample());
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
        alert_sink sink({}, "");
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
