// The real custos-agent against the real custos-verifier, both as processes (swtpm, HTTPS, and SQLite or
// a PostgreSQL cluster of the test's own): the fixture the real-agent tests share. The verifier is
// initialised and started here; each test runs the agent. RealAgentOn runs a test on each backend.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <fstream>
#include <regex>

#include "crypto/strict_json.hpp"
#include "net/https_client.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/files.hpp"
#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos::test {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

class RealAgent : public ::testing::Test {
protected:
    void SetUp() override {
        if (backend() == "postgresql") pg_ = postgres_cluster::start();
        tpm_ = swtpm::start();
        vdir_ = dir_.path() / "v";
        fs::copy_file(tpm_->ca_cert(), dir_.path() / "ek-ca.pem");
        auto init = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", vdir_.string(), "--ek-ca",
                                 (dir_.path() / "ek-ca.pem").string()});
        ASSERT_EQ(init.exit_code, 0) << init.err;
        if (pg_)
            rewrite(vdir_ / "verifier.toml", {{"\nbackend = 'sqlite'", "\nbackend = 'postgresql'"},
                                              {"\ndsn = ''", "\ndsn = '" + pg_->dsn() + "'"}});
        edit_config(vdir_ / "verifier.toml");
        start_verifier();
        auto tok = run_process({CUSTOS_VERIFIER_PATH, "enroll-token", "--config", (vdir_ / "verifier.toml").string(),
                                "--host-id", "gpu-r"});
        ASSERT_EQ(tok.exit_code, 0) << tok.err;
        token_ = tok.out.substr(0, tok.out.find('\n'));
    }

    // `custos-verifier serve` on `listen` (a free port by default), its log in verifier-N.log; url_ is set.
    void start_verifier(const std::string& listen = "127.0.0.1:0") {
        const fs::path log = dir_.path() / ("verifier-" + std::to_string(++starts_) + ".log");
        verifier_ = std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_VERIFIER_PATH, "serve", "--config", (vdir_ / "verifier.toml").string(),
                                     "--listen", listen},
            log);
        ASSERT_TRUE(wait_until([&] { return verifier_->log().find("listening on port") != std::string::npos ||
                                            !verifier_->running(); },
                               20s));
        std::smatch m;
        const std::string text = verifier_->log();
        ASSERT_TRUE(std::regex_search(text, m, std::regex("listening on port ([0-9]+)"))) << text;
        url_ = "https://127.0.0.1:" + m[1].str();
        ASSERT_NE(text.find("store: " + backend()), std::string::npos) << text;
    }
    // "sqlite" or "postgresql" (RealAgentOn: the test's parameter).
    virtual std::string backend() const { return "sqlite"; }
    // verifier.toml as `custos-verifier init` wrote it, before the verifier starts (shorter intervals).
    virtual void edit_config(const fs::path&) {}
    // `custos ARGS...` as the operator.
    process_result cli(std::vector<std::string> args) {
        args.insert(args.begin(), CUSTOS_CLI_PATH);
        return run_process(args, {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "operator").string()}});
    }
    // One agent life: enroll if needed, one report, one round, flush, exit.
    process_result agent_once() {
        // An empty PCI bus of the test's own, not the build machine's.
        fs::create_directories(dir_.path() / "empty-sys/bus/pci/devices");
        return run_process({CUSTOS_AGENT_PATH, "--allow-root", "--once", "--host-id", "gpu-r", "--verifier-url", url_,
                            "--ca-file", (vdir_ / "ca/ca.pem").string(), "--state-dir", (dir_.path() / "agent").string(),
                            "--tcti", tpm_->tcti(), "--enroll-token", token_, "--sysfs-root",
                            (dir_.path() / "empty-sys").string()});
    }
    json::value get(const std::string& path) {
        net::https_client_options o;
        o.ca_file = (vdir_ / "operator/ca.pem").string();
        o.cert_file = (vdir_ / "operator/cert.pem").string();
        o.key_file = (vdir_ / "operator/key.pem").string();
        auto c = net::https_client::create(url_, o);
        EXPECT_TRUE(c.ok());
        auto r = (*c)->request("GET", path, "");
        EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.err().message);
        auto v = sjson::parse(r.ok() ? r->body : "{}", path);
        return v.ok() ? *v : json::value();
    }
    // GET /healthz without a credential, as a load balancer asks: status and body (0 when no answer).
    std::pair<unsigned, std::string> health() {
        net::https_client_options o;
        o.ca_file = (vdir_ / "ca/ca.pem").string();
        o.timeout = std::chrono::seconds(30);
        auto c = net::https_client::create(url_, o);
        EXPECT_TRUE(c.ok());
        auto r = (*c)->request("GET", "/healthz", "");
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
        return r.ok() ? std::make_pair(r->status, r->body) : std::make_pair(0u, std::string());
    }
    // GET /metrics as the operator (empty when it fails).
    std::string metrics_text(const std::string& url = {}) {
        net::https_client_options o;
        o.ca_file = (vdir_ / "operator/ca.pem").string();
        o.cert_file = (vdir_ / "operator/cert.pem").string();
        o.key_file = (vdir_ / "operator/key.pem").string();
        o.timeout = std::chrono::seconds(5);
        auto c = net::https_client::create(url.empty() ? url_ : url, o);
        if (!c) return {};
        auto r = (*c)->request("GET", "/metrics", "");
        return r && r->status == 200 ? r->body : std::string();
    }
    std::vector<std::string> open_rules() {
        std::vector<std::string> out;
        const json::value answer = get("/v1/findings?host=gpu-r&open=1");  // kept alive for the loop
        for (const auto& f : answer.at("findings").as_array())
            out.emplace_back(f.at("rule").as_string());
        std::sort(out.begin(), out.end());
        return out;
    }
    process_result verify_chain() {
        const std::string file = (dir_.path() / "chain.json").string();
        auto ex = cli({"fleet", "reports", "gpu-r", "--out", file});
        EXPECT_EQ(ex.exit_code, 0) << ex.err;
        return run_process({CUSTOS_CLI_PATH, "report", "verify", file});
    }

    std::unique_ptr<postgres_cluster> pg_;  // declared first: stopped after the verifiers using it
    temp_dir dir_{"custos-real-agent"};
    std::unique_ptr<swtpm> tpm_;
    fs::path vdir_;
    std::string url_, token_;
    std::unique_ptr<daemon_process> verifier_;
    int starts_ = 0;
};

// The same tests on SQLite and on PostgreSQL.
class RealAgentOn : public RealAgent, public ::testing::WithParamInterface<std::string> {
protected:
    std::string backend() const override { return GetParam(); }
};
#define CUSTOS_ON_BOTH_BACKENDS(fixture) \
    INSTANTIATE_TEST_SUITE_P(Backends, fixture, ::testing::Values("sqlite", "postgresql"), \
                             [](const auto& info) { return info.param; })

}  // namespace custos::test
