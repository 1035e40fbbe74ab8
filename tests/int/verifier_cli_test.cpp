// custos-verifier as a program: init (idempotent refusal), enroll-token, serve with sd_notify readiness
// and a clean SIGTERM shutdown, config errors.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <regex>

#include "net/https_client.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/process.hpp"

namespace custos::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A NOTIFY_SOCKET the way systemd provides one: an AF_UNIX datagram socket.
class notify_socket {
public:
    explicit notify_socket(const fs::path& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind notify socket");
        timeval tv{0, 200'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~notify_socket() { ::close(fd_); }
    // Everything received until `needle` appears or the timeout passes.
    std::string receive_until(const std::string& needle, std::chrono::seconds timeout) {
        std::string all;
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (all.find(needle) == std::string::npos && std::chrono::steady_clock::now() < end) {
            char buf[4096];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) all.append(buf, static_cast<std::size_t>(n)).push_back('\n');
        }
        return all;
    }

private:
    fs::path path_;
    int fd_ = -1;
};

TEST(VerifierCli, InitRefusesToRunTwiceAndChangesNothing) {
    temp_dir d("custos-vcli");
    const fs::path dir = d.path() / "v";
    auto r = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", dir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string key = slurp(dir / "ca/ca.key");
    auto again = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", dir.string()});
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.err.find("already initialised"), std::string::npos) << again.err;
    EXPECT_EQ(slurp(dir / "ca/ca.key"), key);
    auto forced = run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", dir.string(), "--force"});
    EXPECT_EQ(forced.exit_code, 0) << forced.err;
    EXPECT_NE(slurp(dir / "ca/ca.key"), key);
}

TEST(VerifierCli, EnrollTokenNamesItsHostAndRefusesBadIds) {
    temp_dir d("custos-vcli");
    const fs::path dir = d.path() / "v";
    ASSERT_EQ(run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", dir.string()}).exit_code, 0);
    auto t = run_process({CUSTOS_VERIFIER_PATH, "enroll-token", "--config", (dir / "verifier.toml").string(), "--host-id", "gpu-01"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_TRUE(std::regex_match(t.out, std::regex("gpu-01\\.[A-Za-z0-9_-]{43}\n"))) << t.out;
    auto bad = run_process({CUSTOS_VERIFIER_PATH, "enroll-token", "--config", (dir / "verifier.toml").string(), "--host-id", "../x"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("not a valid host id"), std::string::npos) << bad.err;
}

TEST(VerifierCli, ServeNotifiesReadinessAndStopsCleanlyOnSigterm) {
    temp_dir d("custos-vcli");
    const fs::path dir = d.path() / "v";
    ASSERT_EQ(run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", dir.string()}).exit_code, 0);
    notify_socket notify(d.path() / "notify.sock");
    daemon_process v({CUSTOS_VERIFIER_PATH, "serve", "--config", (dir / "verifier.toml").string(), "--listen", "127.0.0.1:0"},
                     d.path() / "verifier.log", {{"NOTIFY_SOCKET", (d.path() / "notify.sock").string()}});
    const std::string ready = notify.receive_until("READY=1", std::chrono::seconds(15));
    ASSERT_NE(ready.find("READY=1"), std::string::npos) << v.log();
    std::smatch m;
    const std::string log = v.log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex("listening on port ([0-9]+)"))) << log;
    net::https_client_options o;
    o.ca_file = (dir / "ca/ca.pem").string();
    auto c = net::https_client::create("https://127.0.0.1:" + m[1].str(), o);
    ASSERT_TRUE(c.ok()) << c.err().message;
    auto h = (*c)->request("GET", "/healthz");
    ASSERT_TRUE(h.ok()) << h.err().message;
    EXPECT_EQ(h->status, 200u);
    v.signal(SIGTERM);
    EXPECT_EQ(v.wait(std::chrono::seconds(10)), 0) << v.log();
    EXPECT_NE(notify.receive_until("STOPPING=1", std::chrono::seconds(2)).find("STOPPING=1"), std::string::npos);
}

TEST(VerifierCli, AnUnknownConfigKeyIsNamed) {
    temp_dir d("custos-vcli");
    const fs::path dir = d.path() / "v";
    ASSERT_EQ(run_process({CUSTOS_VERIFIER_PATH, "init", "--dir", dir.string()}).exit_code, 0);
    std::ofstream(dir / "verifier.toml", std::ios::app) << "\nlisten_port = 5\n";
    auto r = run_process({CUSTOS_VERIFIER_PATH, "serve", "--config", (dir / "verifier.toml").string()}, {},
                         std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("listen_port"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace custos::test
