// A long-running program under test (custos-verifier serve, custos-agent): started in the background
// with its output in a log file, signalled, killed with SIGKILL, waited for.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace custos::test {

class daemon_process {
public:
    // Starts argv (argv[0] a path) with env added to the current environment; stdout and stderr go to `log`
    // (appended). Throws std::runtime_error if it cannot start.
    daemon_process(const std::vector<std::string>& argv, const std::filesystem::path& log,
                   const std::vector<std::pair<std::string, std::string>>& env = {});
    ~daemon_process();  // SIGKILL and reap if still running
    daemon_process(const daemon_process&) = delete;
    daemon_process& operator=(const daemon_process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig);
    // Waits for the exit; returns the exit code (128 + N when killed by signal N), or -1 after the timeout.
    int wait(std::chrono::milliseconds timeout);
    // SIGKILL, then reap.
    int kill9();
    // The log so far.
    std::string log() const;

private:
    pid_t pid_ = -1;
    int status_ = -1;
    std::filesystem::path log_;
};

// Polls `pred` every 50 ms until it is true or the timeout passes; returns its last value.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() > end) return false;
        struct timespec ts{0, 50'000'000};
        nanosleep(&ts, nullptr);
    }
}

}  // namespace custos::test
