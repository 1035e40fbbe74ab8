// Crash safety of the report path: custos-agent and custos-verifier are killed with SIGKILL at random
// moments while reports flow; afterwards the verifier holds exactly the agent's chain, 1..N, once each,
// with no rollback, gap or signature findings, and the agent's spool is empty.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "attest/wire.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/files.hpp"
#include "tests/support/postgres.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"
#include "tests/support/webhook_receiver.hpp"
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

std::int64_t json_id(const std::string& body) {
    auto v = sjson::parse(body, "webhook body");
    return v ? v->as_object().at("id").to_number<std::int64_t>() : -1;
}

std::size_t spooled_reports(const fs::path& state) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state / "spool", ec))
        if (e.path().filename().string().rfind("r-", 0) == 0) ++n;
    return n;
}

// Every report 1..n stored once, each chaining to the one before, the head at n; no finding but reboots
// and an attestation-overdue the last agent ended; no open finding twice.
void expect_every_report_once(verifier::store& db, const std::string& host, std::uint64_t n) {
    auto tx = db.begin_read();
    ASSERT_TRUE(tx.ok());
    auto h = (*tx)->get_host(host);
    ASSERT_TRUE(h.ok()) << h.err().message;
    ASSERT_TRUE(h->has_value()) << "no host " << host;
    EXPECT_EQ((*h)->chain_seq, n);
    EXPECT_EQ(*(*tx)->count_reports(host), n);
    bytes prev(32, 0);
    for (std::uint64_t s = 1; s <= n; ++s) {
        auto r = (*tx)->get_report(host, s);
        ASSERT_TRUE(r.ok() && r->has_value()) << "report " << s << " missing";
        auto parsed = attest::parse_report((*r)->body);
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(parsed->prev, prev) << "report " << s << " does not chain";
        prev = (*r)->hash;
    }
    verifier::finding_filter f;
    f.host = host;
    auto fs = (*tx)->list_findings(f);
    ASSERT_TRUE(fs.ok());
    // An agent killed before it finished a round, again and again, may have left the host without a
    // challenged quote long enough to be attestation-overdue; the last agent's rounds must have ended it.
    std::set<std::string> open;
    for (const auto& x : *fs) {
        EXPECT_TRUE(x.rule == "reboot" || (x.rule == "attestation-overdue" && !x.open)) << x.rule << ": " << x.detail;
        if (x.open) {
            EXPECT_TRUE(open.insert(x.rule + "\n" + x.subject + "\n" + x.detail).second) << "twice: " << x.rule;
        }
    }
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
        rewrite(vdir_ / "verifier.toml", {{"report_interval_s = [0-9]+", "report_interval_s = 1"},
                                          {"attest_interval_s = [0-9]+", "attest_interval_s = 2"},
                                          {"dark_after_intervals = [0-9]+", "dark_after_intervals = 1000"}});
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
    expect_every_report_once(**db, "gpu-k", n);
    std::cout << "kill -9 loop: " << n << " reports, all stored once, chain intact (seed " << seed << ")\n";
}


// A port nobody listens on now (bound and released), for processes that must keep theirs across restarts.
std::uint16_t free_port() {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

// Two verifier replicas on one PostgreSQL database behind HAProxy in TCP mode (mutual TLS ends at the
// verifier), the agent reporting through HAProxy, findings owed to a webhook.
class ReplicasKillNine : public ::testing::Test {
protected:
    void SetUp() override {
        pg_ = postgres_cluster::start();
        tpm_ = swtpm::start();
        vdir_ = dir_.path() / "v";
        fs::copy_file(tpm_->ca_cert(), dir_.path() / "ek-ca.pem");
        auto init = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", vdir_.string(), "--ek-ca",
                                 (dir_.path() / "ek-ca.pem").string()});
        ASSERT_EQ(init.exit_code, 0) << init.err;
        rewrite(vdir_ / "verifier.toml", {
                 {"\nreport_interval_s = [0-9]+", "\nreport_interval_s = 1"},
                 {"\nattest_interval_s = [0-9]+", "\nattest_interval_s = 2"},
                 {"\ndark_after_intervals = [0-9]+", "\ndark_after_intervals = 1000"},
                 {"\nbackend = 'sqlite'", "\nbackend = 'postgresql'"},
                 {"\ndsn = ''", "\ndsn = '" + pg_->dsn() + "'"},
                 {"\nwebhooks = \\[\\]", "\nwebhooks = [\"" + hook_.url() + "\"]"},
                 {"\nwebhook_ca_file = '[^']*'", "\nwebhook_ca_file = '" + hook_.ca() + "'"}});
        for (int i = 0; i < 2; ++i) {
            ports_[i] = free_port();
            start_replica(i);
        }
        front_ = free_port();
        std::ofstream(dir_.path() / "haproxy.cfg")
            << "global\n  maxconn 256\n"
            << "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n"
            << "  retries 3\n  option redispatch\n"
            << "frontend agents\n  bind 127.0.0.1:" << front_ << "\n  default_backend verifiers\n"
            << "backend verifiers\n  balance roundrobin\n  option httpchk GET /healthz\n  http-check expect status 200\n"
            << "  server a 127.0.0.1:" << ports_[0] << " check check-ssl verify none inter 300ms fall 1 rise 1\n"
            << "  server b 127.0.0.1:" << ports_[1] << " check check-ssl verify none inter 300ms fall 1 rise 1\n";
        haproxy_ = std::make_unique<daemon_process>(
            std::vector<std::string>{"/usr/sbin/haproxy", "-db", "-f", (dir_.path() / "haproxy.cfg").string()},
            dir_.path() / "haproxy.log");
        ASSERT_TRUE(wait_until([&] { return accepts(front_) || !haproxy_->running(); }, 10s));
        ASSERT_TRUE(haproxy_->running()) << haproxy_->log();
        auto tok = run_process({CUSTOS_VERIFIER_PATH, "enroll-token", "--config", (vdir_ / "verifier.toml").string(),
                                "--host-id", "gpu-k"});
        ASSERT_EQ(tok.exit_code, 0) << tok.err;
        token_ = tok.out.substr(0, tok.out.find('\n'));
    }

    void start_replica(int i) {
        auto& v = replicas_[i];
        v.reset();
        v = std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_VERIFIER_PATH, "serve", "--config", (vdir_ / "verifier.toml").string(),
                                     "--listen", "127.0.0.1:" + std::to_string(ports_[i])},
            dir_.path() / ("replica-" + std::to_string(i) + "-" + std::to_string(++starts_) + ".log"));
        ASSERT_TRUE(wait_until([&] { return v->log().find("listening on port") != std::string::npos || !v->running(); }, 20s));
        ASSERT_TRUE(v->running()) << v->log();
        ASSERT_NE(v->log().find("store: postgresql"), std::string::npos) << v->log();
    }

    std::unique_ptr<daemon_process> start_agent() {
        return std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_AGENT_PATH, "--allow-root", "--host-id", "gpu-k", "--verifier-url",
                                     "https://127.0.0.1:" + std::to_string(front_), "--ca-file",
                                     (vdir_ / "ca/ca.pem").string(), "--state-dir", (dir_.path() / "agent").string(),
                                     "--tcti", tpm_->tcti(), "--enroll-token", token_, "--report-interval", "1"},
            dir_.path() / ("agent-" + std::to_string(++starts_) + ".log"));
    }

    std::unique_ptr<verifier::store> open_db() {
        auto db = verifier::open_postgres_store({pg_->dsn(), "", 2});
        EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.err().message);
        return db.ok() ? std::move(db).value() : nullptr;
    }

    std::unique_ptr<postgres_cluster> pg_;  // first: stopped after everything that uses it
    webhook_receiver hook_;
    temp_dir dir_{"custos-replicas"};
    std::unique_ptr<swtpm> tpm_;
    fs::path vdir_;
    std::string token_;
    std::uint16_t ports_[2] = {0, 0};
    std::uint16_t front_ = 0;
    int starts_ = 0;
    std::unique_ptr<daemon_process> replicas_[2];
    std::unique_ptr<daemon_process> haproxy_;
};

// Replicas die with SIGKILL at random moments while the agent reports through HAProxy; the agent dies
// too, and the host reboots now and then (a finding owed to the webhook each time). Afterwards: every
// report stored once and chained, no open finding twice, and every finding delivered to the webhook,
// none twice. CUSTOS_SOAK_KILLS sets the number of replica kills (bench/soak-replicas runs 100 and more).
TEST_F(ReplicasKillNine, ReplicasDyingWhileTheAgentReportsLoseAndDoubleNothing) {
    const fs::path state = dir_.path() / "agent";
    int kills = 8;
    if (const char* k = std::getenv("CUSTOS_SOAK_KILLS"); k && std::atoi(k) > 0) kills = std::atoi(k);
    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> life_ms(300, 2000);
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto a = start_agent();
    ASSERT_TRUE(wait_until([&] { return agent_head(state) >= 2 && spooled_reports(state) == 0; }, 30s)) << a->log();
    int agent_kills = 0, reboots = 0;
    for (int i = 0; i < kills; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
        replicas_[i % 2]->kill9();
        if (i % 3 == 2) {  // the agent too, and every other time the host reboots under it
            a->kill9();
            ++agent_kills;
            if (i % 6 == 5) {
                tpm_->restart();
                ++reboots;
            }
            a = start_agent();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(life_ms(rng)));
        start_replica(i % 2);
    }
    const std::uint64_t target = agent_head(state) + 2;
    ASSERT_TRUE(wait_until([&] { return agent_head(state) >= target && spooled_reports(state) == 0; }, 60s)) << a->log();
    a->signal(SIGTERM);
    ASSERT_EQ(a->wait(10s), 0) << a->log();
    auto db = open_db();
    ASSERT_TRUE(db);
    // The outbox drains (a delivery claimed by a replica killed while sending comes back after its claim).
    ASSERT_TRUE(wait_until([&] {
        auto tx = db->begin_read();
        auto n = tx ? (*tx)->count_outbox() : result<std::size_t>(make_error(errc::io, "no tx"));
        return n && *n == 0;
    }, 90s));
    for (auto& r : replicas_) {
        r->signal(SIGTERM);
        EXPECT_EQ(r->wait(10s), 0) << r->log();
    }
    const std::uint64_t n = agent_head(state);
    ASSERT_EQ(spooled_reports(state), 0u) << "reports left in the spool";
    expect_every_report_once(*db, "gpu-k", n);
    // Every finding the store holds reached the webhook exactly once.
    auto tx = db->begin_read();
    ASSERT_TRUE(tx.ok());
    auto all = (*tx)->list_findings({});
    ASSERT_TRUE(all.ok());
    std::map<std::int64_t, int> delivered;
    for (const auto& body : hook_.received()) ++delivered[json_id(body)];
    for (const auto& f : *all) EXPECT_EQ(delivered[f.id], 1) << "finding " << f.id << " (" << f.rule << ")";
    EXPECT_EQ(delivered.size(), all->size());
    std::cout << "replicas kill -9 loop: " << kills << " replica kills, " << agent_kills << " agent kills, " << reboots
              << " reboots; " << n << " reports stored once, chain intact; " << all->size()
              << " findings each delivered once (seed " << seed << ")\n";
}

}  // namespace
}  // namespace custos::test
