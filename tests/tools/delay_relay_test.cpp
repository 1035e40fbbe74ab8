// delay-relay, the real binary between a test client and in-process echo servers on loopback: a round trip
// gains at least twice the one-way delay (TCP and UDP), delays do not accumulate, 1 MiB arrives byte for byte
// with the half-close after it, an unreachable target costs one connection and not the relay, usage errors exit 2.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/daemon.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"

namespace custos {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr int delay_ms = 25;

class unique_fd {
public:
    explicit unique_fd(int fd = -1) : fd_(fd) {}
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// A socket bound to 127.0.0.1 on a free port.
unique_fd bound_socket(int type, std::uint16_t& port) {
    unique_fd fd(::socket(AF_INET, type, 0));
    sockaddr_in a = loopback(0);
    if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
    }
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

void set_recv_timeout(int fd, std::chrono::milliseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Echoes every TCP connection until its EOF, then closes it. Bound at construction but listening only after
// listen(), so until then connections to its port are refused: an unreachable target with a known port.
class tcp_echo_server {
public:
    tcp_echo_server() : fd_(bound_socket(SOCK_STREAM, port_)) {}
    ~tcp_echo_server() {
        ::shutdown(fd_.get(), SHUT_RDWR);  // wakes accept()
        if (acceptor_.joinable()) acceptor_.join();
        for (int c : conns_) ::shutdown(c, SHUT_RDWR);  // wakes the workers still in recv()
        for (auto& t : workers_) t.join();
        for (int c : conns_) ::close(c);
    }
    std::uint16_t port() const { return port_; }

    void listen() {
        ASSERT_EQ(::listen(fd_.get(), 64), 0);
        acceptor_ = std::thread([this] {
            for (;;) {
                const int c = ::accept(fd_.get(), nullptr, nullptr);
                if (c < 0) return;
                std::lock_guard lock(mu_);
                conns_.push_back(c);
                workers_.emplace_back([c] { echo(c); });
            }
        });
    }

private:
    static void echo(int c) {
        const int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::vector<char> buf(64 * 1024);
        bool ok = true;
        while (ok) {
            const ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
            if (n <= 0) break;
            for (ssize_t off = 0; ok && off < n;) {
                const ssize_t w = ::send(c, buf.data() + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
                ok = w > 0;
                off += w;
            }
        }
        ::shutdown(c, SHUT_WR);
    }

    std::uint16_t port_ = 0;
    unique_fd fd_;
    std::thread acceptor_;
    std::mutex mu_;
    std::vector<int> conns_;  // closed by the destructor, after the workers are done with them
    std::vector<std::thread> workers_;
};

class udp_echo_server {
public:
    udp_echo_server() : fd_(bound_socket(SOCK_DGRAM, port_)) {
        set_recv_timeout(fd_.get(), 50ms);
        thread_ = std::thread([this] {
            std::vector<char> buf(65536);
            while (!stop_) {
                sockaddr_in from{};
                socklen_t len = sizeof from;
                const ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
                if (n >= 0) ::sendto(fd_.get(), buf.data(), static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
            }
        });
    }
    ~udp_echo_server() {
        stop_ = true;
        thread_.join();
    }
    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_ = 0;
    unique_fd fd_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// The relay binary, started with --listen 127.0.0.1:0 and --port-file; port() is what it wrote there.
class relay_process {
public:
    relay_process(std::uint16_t target_port, int delay, bool udp = false) {
        port_file_ = dir_.path() / "relay.port";
        std::vector<std::string> argv = {CUSTOS_DELAY_RELAY_PATH, "--listen", "127.0.0.1:0", "--to",
                                         "127.0.0.1:" + std::to_string(target_port), "--delay-ms",
                                         std::to_string(delay), "--port-file", port_file_.string()};
        if (udp) argv.emplace_back("--udp");
        proc_.emplace(argv, dir_.path() / "relay.log");
        // Polled finely: the shared 50 ms wait_until would dominate these tests' run time.
        const auto end = steady::now() + 3s;
        while (!fs::exists(port_file_) && steady::now() < end && proc_->running()) std::this_thread::sleep_for(2ms);
        const std::string text = test::read_text(port_file_);
        if (text.empty()) throw std::runtime_error("delay-relay did not start: " + proc_->log());
        port_ = static_cast<std::uint16_t>(std::stoi(text));
    }
    std::uint16_t port() const { return port_; }
    test::daemon_process& proc() { return *proc_; }
    const fs::path& port_file() const { return port_file_; }

private:
    test::temp_dir dir_{"custos-delay-relay"};
    fs::path port_file_;
    std::optional<test::daemon_process> proc_;
    std::uint16_t port_ = 0;
};

unique_fd connect_tcp(std::uint16_t port) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a = loopback(port);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_recv_timeout(fd.get(), 3s);
    return fd;
}

// Sends `msg`, reads the same number of bytes back; returns the elapsed time and what came back.
std::pair<std::chrono::microseconds, std::string> ping(int fd, const std::string& msg) {
    const auto t0 = steady::now();
    EXPECT_EQ(::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL), static_cast<ssize_t>(msg.size()));
    std::string got;
    char buf[256];
    while (got.size() < msg.size()) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return {std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0), got};
}

TEST(DelayRelay, TcpRoundTripGainsTwiceTheDelay) {
    tcp_echo_server echo;
    echo.listen();
    relay_process relay(echo.port(), delay_ms);
    const unique_fd c = connect_tcp(relay.port());
    auto best = std::chrono::microseconds::max();
    for (int i = 0; i < 4; ++i) {
        const auto [rtt, got] = ping(c.get(), "ping" + std::to_string(i));
        EXPECT_EQ(got, "ping" + std::to_string(i));
        EXPECT_GE(rtt, std::chrono::milliseconds(2 * delay_ms)) << "the relay did not delay ping " << i;
        best = std::min(best, rtt);
    }
    EXPECT_LT(best, std::chrono::milliseconds(2 * delay_ms + 150));
}

TEST(DelayRelay, TcpDelaysDoNotAccumulate) {
    // Five chunks 3 ms apart: each is due one round trip after it was sent, so the last is back about
    // 2·D + 12 ms after the first left. Delaying each chunk after the previous one would take 5·D or more.
    tcp_echo_server echo;
    echo.listen();
    relay_process relay(echo.port(), delay_ms);
    const unique_fd c = connect_tcp(relay.port());
    const auto t0 = steady::now();
    for (char ch = 'a'; ch <= 'e'; ++ch) {
        ASSERT_EQ(::send(c.get(), &ch, 1, MSG_NOSIGNAL), 1);
        std::this_thread::sleep_for(3ms);
    }
    std::string got;
    char buf[16];
    while (got.size() < 5) {
        const ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    const auto elapsed = steady::now() - t0;
    EXPECT_EQ(got, "abcde");
    EXPECT_GE(elapsed, std::chrono::milliseconds(2 * delay_ms + 12));
    EXPECT_LT(elapsed, std::chrono::milliseconds(5 * delay_ms + 20));
}

TEST(DelayRelay, TcpCarriesOneMebibyteIntactThenTheHalfClose) {
    tcp_echo_server echo;
    echo.listen();
    relay_process relay(echo.port(), delay_ms);
    const unique_fd c = connect_tcp(relay.port());
    const std::string data = test::random_bytes(1 << 20, 7);
    std::thread sender([&] {
        for (std::size_t off = 0; off < data.size();) {
            const ssize_t w = ::send(c.get(), data.data() + off, std::min<std::size_t>(data.size() - off, 50'000), MSG_NOSIGNAL);
            if (w <= 0) break;
            off += static_cast<std::size_t>(w);
        }
        ::shutdown(c.get(), SHUT_WR);  // the echo server closes after its EOF, the relay carries both back
    });
    std::string got;
    std::vector<char> buf(64 * 1024);
    ssize_t n = 0;
    while ((n = ::recv(c.get(), buf.data(), buf.size(), 0)) > 0) got.append(buf.data(), static_cast<std::size_t>(n));
    sender.join();
    EXPECT_EQ(n, 0) << "no EOF after the data: " << std::strerror(errno);
    ASSERT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data) << "the bytes differ";
}

TEST(DelayRelay, UdpRoundTripGainsTwiceTheDelay) {
    udp_echo_server echo;
    relay_process relay(echo.port(), delay_ms, /*udp=*/true);
    unique_fd c(::socket(AF_INET, SOCK_DGRAM, 0));
    set_recv_timeout(c.get(), 2s);
    const sockaddr_in to = loopback(relay.port());
    auto best = std::chrono::microseconds::max();
    for (int i = 0; i < 3; ++i) {
        const std::string msg = "datagram " + std::to_string(i);
        const auto t0 = steady::now();
        ASSERT_EQ(::sendto(c.get(), msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to),
                  static_cast<ssize_t>(msg.size()));
        char buf[256];
        const ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
        ASSERT_GT(n, 0) << "no reply through the relay: " << std::strerror(errno);
        EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), msg);
        EXPECT_GE(rtt, std::chrono::milliseconds(2 * delay_ms)) << "the relay did not delay datagram " << i;
        best = std::min(best, rtt);
    }
    EXPECT_LT(best, std::chrono::milliseconds(2 * delay_ms + 150));
}

TEST(DelayRelay, UnreachableTargetClosesOnlyThatConnection) {
    tcp_echo_server echo;  // bound, not yet listening: connecting to it is refused
    relay_process relay(echo.port(), delay_ms);
    {
        const unique_fd c = connect_tcp(relay.port());
        char b = 0;
        const ssize_t n = ::recv(c.get(), &b, 1, 0);
        const int err = errno;
        EXPECT_TRUE(n == 0 || (n < 0 && err == ECONNRESET)) << "n=" << n << ": " << std::strerror(err);
    }
    EXPECT_TRUE(relay.proc().running());
    EXPECT_NE(relay.proc().log().find("unreachable"), std::string::npos) << relay.proc().log();

    echo.listen();
    const unique_fd c = connect_tcp(relay.port());
    const auto [rtt, got] = ping(c.get(), "again");
    EXPECT_EQ(got, "again");
    EXPECT_GE(rtt, std::chrono::milliseconds(2 * delay_ms));
}

TEST(DelayRelay, ZeroDelayRelaysAndSigtermExitsCleanly) {
    tcp_echo_server echo;
    echo.listen();
    relay_process relay(echo.port(), 0);
    {
        const unique_fd c = connect_tcp(relay.port());
        EXPECT_EQ(ping(c.get(), "zero").second, "zero");
    }
    relay.proc().signal(SIGTERM);
    EXPECT_EQ(relay.proc().wait(3s), 0) << relay.proc().log();
    EXPECT_NE(relay.proc().log().find("listening 127.0.0.1:" + std::to_string(relay.port())), std::string::npos)
        << relay.proc().log();
    EXPECT_FALSE(fs::exists(relay.port_file()));
}

TEST(DelayRelay, UsageErrorsExitTwo) {
    const std::string bin = CUSTOS_DELAY_RELAY_PATH;
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {bin, "--listen", "nonsense", "--to", "127.0.0.1:9", "--delay-ms", "5"},
             {bin, "--listen", "127.0.0.1:0", "--to", "127.0.0.1:0", "--delay-ms", "5"},
             {bin, "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--delay-ms", "-1"},
             {bin, "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9"},
         }) {
        const auto r = test::run_process(argv, {}, std::chrono::seconds(5));
        EXPECT_EQ(r.exit_code, 2) << argv[2] << " " << argv[4] << ": " << r.err;
    }
}

}  // namespace
}  // namespace custos
