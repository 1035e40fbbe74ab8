// run_process and temp_dir: fork+exec with pipes watched by poll(2), the exit watched by a pidfd.
#include "tests/support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace custos::test {
namespace {

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    ~unique_fd() { reset(); }
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    [[nodiscard]] int get() const { return fd_; }
    [[nodiscard]] bool open() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

struct pipe_pair {
    unique_fd read, write;
};

pipe_pair make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Reads what is there now; closes fd at end of file. Returns false on EOF or error.
bool drain(unique_fd& fd, std::string& into) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n > 0) {
            into.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        fd.reset();
        return false;
    }
}

std::string lookup_env(const std::vector<std::string>& envp, const std::string& key) {
    for (const auto& kv : envp)
        if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=')
            return kv.substr(key.size() + 1);
    return {};
}

// The program's path, searched in the child's PATH as execvp would; empty when not found.
std::string resolve(const std::string& name, const std::string& path_var) {
    if (name.find('/') != std::string::npos) return name;
    std::string paths = path_var.empty() ? "/usr/local/bin:/usr/bin:/bin" : path_var;
    std::size_t start = 0;
    for (;;) {
        auto end = paths.find(':', start);
        auto dir = paths.substr(start, end == std::string::npos ? std::string::npos : end - start);
        auto candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (end == std::string::npos) return {};
        start = end + 1;
    }
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Writing to a pipe whose reader has gone must fail with EPIPE, not kill the test.
void ignore_sigpipe_once() {
    static const bool done = [] {
        ::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)done;
}

}  // namespace

std::vector<std::string> merged_environment(const std::vector<std::pair<std::string, std::string>>& env) {
    std::vector<std::string> envs;
    for (char** e = environ; e && *e; ++e) {
        std::string kv(*e);
        bool overridden = false;
        for (const auto& [k, v] : env)
            if (kv.size() > k.size() && kv.compare(0, k.size(), k) == 0 && kv[k.size()] == '=') overridden = true;
        if (!overridden) envs.push_back(std::move(kv));
    }
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    return envs;
}

process_result run_process(const std::vector<std::string>& argv,
                           const std::vector<std::pair<std::string, std::string>>& env, std::chrono::seconds timeout,
                           const std::string& stdin_text) {
    process_result res;
    if (argv.empty()) {
        res.exit_code = 127;
        res.err = "run_process: empty argv";
        return res;
    }
    ignore_sigpipe_once();

    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<std::string> envs = merged_environment(env);
    std::vector<char*> envp, args;
    for (auto& s : envs) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& s : argv_copy) args.push_back(s.data());
    args.push_back(nullptr);

    const std::string path = resolve(argv[0], lookup_env(envs, "PATH"));
    if (path.empty()) {
        res.exit_code = 127;
        res.err = "run_process: " + argv[0] + ": not found in PATH";
        return res;
    }

    auto out = make_pipe(), err = make_pipe(), status_pipe = make_pipe();
    pipe_pair in;
    unique_fd dev_null;
    if (!stdin_text.empty()) {
        in = make_pipe();
    } else {
        dev_null = unique_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    const int child_in = stdin_text.empty() ? dev_null.get() : in.read.get();

    pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
        // Own process group, so a timeout kills whatever the program started too.
        ::setpgid(0, 0);
        ::dup2(child_in, 0);
        ::dup2(out.write.get(), 1);
        ::dup2(err.write.get(), 2);
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(path.c_str(), args.data(), envp.data());
        int e = errno;
        (void)!::write(status_pipe.write.get(), &e, sizeof e);
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    out.write.reset();
    err.write.reset();
    status_pipe.write.reset();
    in.read.reset();
    dev_null.reset();

    // The status pipe closes on a successful exec (CLOEXEC) or carries execve's errno.
    int exec_errno = 0;
    ssize_t n;
    do n = ::read(status_pipe.read.get(), &exec_errno, sizeof exec_errno);
    while (n < 0 && errno == EINTR);
    if (n == sizeof exec_errno) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        res.exit_code = 127;
        res.err = "run_process: cannot execute " + path + ": " + std::strerror(exec_errno);
        return res;
    }

    unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    set_nonblocking(out.read.get());
    set_nonblocking(err.read.get());
    if (in.write.open()) set_nonblocking(in.write.get());

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t written = 0;
    bool exited = false;
    int status = 0;
    while (!exited) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        std::vector<pollfd> fds;
        if (out.read.open()) fds.push_back({out.read.get(), POLLIN, 0});
        if (err.read.open()) fds.push_back({err.read.get(), POLLIN, 0});
        if (in.write.open()) fds.push_back({in.write.get(), POLLOUT, 0});
        if (pidfd.open()) fds.push_back({pidfd.get(), POLLIN, 0});
        // Without a pidfd (old kernel) the exit is noticed by polling waitpid.
        int wait_ms = static_cast<int>(std::min<long long>(left.count(), pidfd.open() ? 1000 : 10));
        int r = ::poll(fds.data(), fds.size(), wait_ms);
        if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
        for (const auto& p : fds) {
            if (!p.revents) continue;
            if (p.fd == out.read.get()) drain(out.read, res.out);
            else if (p.fd == err.read.get()) drain(err.read, res.err);
            else if (p.fd == in.write.get()) {
                if (p.revents & (POLLERR | POLLHUP)) {
                    in.write.reset();
                    continue;
                }
                ssize_t w = ::write(in.write.get(), stdin_text.data() + written, stdin_text.size() - written);
                if (w > 0) written += static_cast<std::size_t>(w);
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_text.size()) in.write.reset();
            }
        }
        if (::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    }
    if (!exited) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        res.timed_out = true;
    }
    // What the program wrote before it exited; a daemon it left behind may keep the pipes open, so no waiting.
    if (out.read.open()) drain(out.read, res.out);
    if (err.read.open()) drain(err.read, res.err);
    if (res.timed_out) {
        res.exit_code = -1;
        res.err += "\nrun_process: " + argv[0] + " timed out after " + std::to_string(timeout.count()) +
                   " s and was killed\n";
    } else {
        res.exit_code = decode_status(status);
    }
    return res;
}

temp_dir::temp_dir(const std::string& prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path base = (tmp && *tmp) ? tmp : "/tmp";
    std::string templ = (std::filesystem::absolute(base) / (prefix + ".XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr)
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
    path_ = templ;
}

temp_dir::~temp_dir() { remove(); }

temp_dir::temp_dir(temp_dir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

temp_dir& temp_dir::operator=(temp_dir&& other) noexcept {
    if (this != &other) {
        remove();
        path_ = std::exchange(other.path_, {});
    }
    return *this;
}

void temp_dir::remove() noexcept {
    if (path_.empty()) return;
    const char* keep = std::getenv("CUSTOS_KEEP_TEST_DIRS");
    if (keep && *keep && std::string(keep) != "0") {
        std::cerr << "temp_dir: kept " << path_ << "\n";
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
}

}  // namespace custos::test
