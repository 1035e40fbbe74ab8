// Crash safety of the report path: custos-agent and custos-verifier are killed with SIGKILL at random
// moments while reports flow; afterwards the verifier holds exactly the agent's chain, 1..N, once each,
// with no rollback, gap or signature findings, and the agent's spool is empty.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "attest/wire.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"
#include "verifier/store.hpp"

namespace custos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::uint64_t agent_head(const fs::path& state) {
    auto b = read_file(state / "chain.json");
    if (!b) return 0;
    auto v = sjson::parse(std::string(b->begin(), b->end()), "chain.json");
    if (!v) return 0;
    return v->as_object().at("seq").to_number<std::uint64_t>();
}

std::size_t spooled_reports(const fs::path& state) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state / "spool", ec))
        if (e.path().filename().string().rfind("r-", 0) == 0) ++n;
    return n;
}

class KillNine : public ::testing::Test {
protected:
    void SetUp() override {
        tpm_ = swtpm::start();
        dir_ = std::make_unique<temp_dir>("custos-kill9");
        vdir_ = dir_->path() / "v";
        fs::copy_file(tpm_->ca_cert(), dir_->path() / "ek-ca.pem");
        auto init = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", vdir_.string(), "--ek-ca",
                                 (dir_->path() / "ek-ca.pem").string()});
        ASSERT_EQ(init.exit_code, 0) << init.err;
        // Reports every second, rounds every 2 s: many chances to die mid-flight.
        std::ifstream in(vdir_ / "verifier.toml");
        std::string toml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        toml = std::regex_replace(toml, std::regex("report_interval_s = [0-9]+"), "report_interval_s = 1");
        toml = std::regex_replace(toml, std::regex("attest_interval_s = [0-9]+"), "attest_interval_s = 2");
        toml = std::regex_replace(toml, std::regex("dark_after_intervals = [0-9]+"), "dark_after_intervals = 1000");
        std::ofstream(vdir_ / "verifier.toml") << toml;
        start_verifier("127.0.0.1:0");
        std::smatch m;
        const std::string log = verifier_->log();
        ASSERT_TRUE(std::regex_search(log, m, std::regex("listening on port ([0-9]+)"))) << log;
        port_ = m[1].str();
        auto tok = run_process({CUSTOS_VERIFIER_PATH, "enroll-token", "--config", (vdir_ / "verifier.toml").string(),
                                "--host-id", "gpu-k"});
        ASSERT_EQ(tok.exit_code, 0) << tok.err;
        token_ = tok.out.substr(0, tok.out.find('\n'));
    }

    void start_verifier(const std::string& listen) {
        verifier_.reset();
        verifier_ = std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_VERIFIER_PATH, "serve", "--config", (vdir_ / "verifier.toml").string(),
                                     "--listen", listen},
            dir_->path() / "verifier.log");
        ASSERT_TRUE(wait_until([&] { return verifier_->log().find("listening on port") != std::string::npos ||
                                            !verifier_->running(); },
                               20s));
        ASSERT_TRUE(verifier_->running()) << verifier_->log();
    }

    std::unique_ptr<daemon_process> start_agent() {
        return std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_AGENT_PATH, "--allow-root", "--host-id", "gpu-k", "--verifier-url",
                                     "https://127.0.0.1:" + port_, "--ca-file", (vdir_ / "ca/ca.pem").string(),
                                     "--state-dir", (dir_->path() / "agent").string(), "--tcti", tpm_->tcti(),
                                     "--enroll-token", token_, "--report-interval", "1"},
            dir_->path() / "agent.log");
    }

    std::unique_ptr<swtpm> tpm_;
    std::unique_ptr<temp_dir> dir_;
    fs::path vdir_;
    std::string port_, token_;
    std::unique_ptr<daemon_process> verifier_;
};

TEST_F(KillNine, NoReportIsLostOrCountedTwice) {
    const fs::path state = dir_->path() / "agent";
    {
        auto a = start_agent();
        ASSERT_TRUE(wait_until([&] { return agent_head(state) >= 2 && spooled_reports(state) == 0; }, 30s)) << a->log();
        a->kill9();
    }
    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> life_ms(300, 2500);
    SCOPED_TRACE("seed " + std::to_string(seed));
    // The agent dies at random moments: while spooling, sending, or waiting for an answer.
    for (int i = 0; i < 6; ++i) {
        auto a = start_agent();
        std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
        a->kill9();
    }
    // The verifier dies at random moments while the agent keeps reporting (and spooling while it is down).
    {
        auto a = start_agent();
        for (int i = 0; i < 4; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
            verifier_->kill9();
            std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
            start_verifier("127.0.0.1:" + port_);
        }
        // Both die together once more.
        std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
        a->kill9();
        verifier_->kill9();
    }
    start_verifier("127.0.0.1:" + port_);
    auto a = start_agent();
    const std::uint64_t target = agent_head(state) + 2;
    ASSERT_TRUE(wait_until([&] { return agent_head(state) >= target && spooled_reports(state) == 0; }, 60s)) << a->log();
    a->signal(SIGTERM);
    ASSERT_EQ(a->wait(10s), 0) << a->log();
    verifier_->signal(SIGTERM);
    ASSERT_EQ(verifier_->wait(10s), 0) << verifier_->log();

    const std::uint64_t n = agent_head(state);
    ASSERT_EQ(spooled_reports(state), 0u) << "reports left in the spool";
    auto db = verifier::open_sqlite_store(vdir_ / "verifier.db");
    ASSERT_TRUE(db.ok()) << db.err().message;
    auto tx = (*db)->begin();
    ASSERT_TRUE(tx.ok());
    auto h = (*tx)->get_host("gpu-k");
    ASSERT_TRUE(h.ok() && h->has_value());
    EXPECT_EQ((*h)->chain_seq, n);
    EXPECT_EQ(*(*tx)->count_reports("gpu-k"), n);
    bytes prev(32, 0);
    for (std::uint64_t s = 1; s <= n; ++s) {
        auto r = (*tx)->get_report("gpu-k", s);
        ASSERT_TRUE(r.ok() && r->has_value()) << "report " << s << " missing";
        auto parsed = attest::parse_report((*r)->body);
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(parsed->prev, prev) << "report " << s << " does not chain";
        prev = (*r)->hash;
    }
    verifier::finding_filter f;
    f.host = "gpu-k";
    auto fs = (*tx)->list_findings(f);
    ASSERT_TRUE(fs.ok());
    // An agent killed before it finished a round, again and again, may have left the host without a
    // challenged quote long enough to be attestation-overdue; the last agent's rounds must have ended it.
    for (const auto& x : *fs)
        EXPECT_TRUE(x.rule == "reboot" || (x.rule == "attestation-overdue" && !x.open)) << x.rule << ": " << x.detail;
    std::cout << "kill -9 loop: " << n << " reports, all stored once, chain intact (seed " << seed << ")\n";
}

}  // namespace
}  // namespace custos::test
