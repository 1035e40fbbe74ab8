// weights_server: an accept thread that checks SO_PEERCRED, a few workers that read one request line each
// under a deadline and answer it with a sealed memfd (SCM_RIGHTS) from a per-(model, file) cache.
#include "agent/weights_server.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "crypto/strict_json.hpp"

namespace custos::agent {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

std::string_view refusal_code(weights_refusal r) noexcept {
    switch (r) {
        case weights_refusal::peer_not_allowed: return "peer-not-allowed";
        case weights_refusal::bad_request: return "bad-request";
        case weights_refusal::no_lease: return "no-lease";
        case weights_refusal::no_such_file: return "no-such-file";
        case weights_refusal::decrypt_failed: return "decrypt-failed";
        case weights_refusal::busy: return "busy";
        case weights_refusal::internal: return "internal";
    }
    return "internal";
}

namespace {

error errno_error(const std::string& what, int err) { return make_error(errc::io, what + ": " + std::strerror(err)); }

// The wire format (see the header): one JSON line each way.
namespace wire {

std::string error_line(std::string_view code, const std::string& detail) {
    return sjson::dump(boost::json::object{{"status", "error"}, {"error", code}, {"detail", detail}}) + "\n";
}

std::string ok_line(std::uint64_t size) { return sjson::dump(boost::json::object{{"status", "ok"}, {"size", size}}) + "\n"; }

using request = weights_request;

bool model_id_ok(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    return std::all_of(id.begin(), id.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || std::strchr("._:/@+-", ch) != nullptr;
    });
}

// Strict: exactly the two string fields; the model id as the formats define it; a file path of printable
// bytes (it is only ever looked up in the index, never opened).
result<request> parse_request(std::string_view line) {
    CUSTOS_TRY(v, sjson::parse(line, "request", 4));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "request"));
    CUSTOS_TRY_VOID(o.only({"model", "file"}));
    CUSTOS_TRY(model, o.str("model"));
    CUSTOS_TRY(file, o.str("file"));
    if (!model_id_ok(model)) return o.bad("model", "must be 1-128 of A-Z a-z 0-9 . _ : / @ + -");
    if (file.empty() || std::any_of(file.begin(), file.end(), [](char ch) {
            const auto c = static_cast<unsigned char>(ch);
            return c < 0x20 || c == 0x7f;
        }))
        return o.bad("file", "must be a non-empty path without control characters");
    return request{std::move(model), std::move(file)};
}

void set_timeout(int fd, int opt, std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    (void)::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

// Sends `line`, with `pass_fd` (when >= 0) as SCM_RIGHTS on its first byte; bounded by the socket's SO_SNDTIMEO.
result<void> send_line(int fd, const std::string& line, int pass_fd) {
    std::size_t off = 0;
    while (off < line.size()) {
        iovec iov{const_cast<char*>(line.data() + off), line.size() - off};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
        if (off == 0 && pass_fd >= 0) {
            msg.msg_control = ctrl;
            msg.msg_controllen = sizeof ctrl;
            cmsghdr* cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
        }
        const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error("sending the answer", errno);
        }
        off += static_cast<std::size_t>(n);
    }
    return {};
}

// A connected stream socket; `timeout` bounds connect (SO_SNDTIMEO) and every later send.
result<std::unique_ptr<fd_guard>> connect_unix(const fs::path& path, std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.native().empty() || path.native().size() >= sizeof addr.sun_path)
        return make_error(errc::invalid_argument, "the socket path \"" + path.string() + "\" is empty or too long for a UNIX socket");
    std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
    auto s = std::make_unique<fd_guard>(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s->fd < 0) return errno_error("socket", errno);
    set_timeout(s->fd, SO_SNDTIMEO, timeout);
    if (::connect(s->fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return errno_error("cannot connect to " + path.string(), errno);
    return s;
}

}  // namespace wire


struct peer {
    unsigned uid = 0, gid = 0;
    int pid = 0;
};

struct connection {
    std::unique_ptr<fd_guard> fd;
    peer cred;
    steady::time_point deadline;
};

// Best effort: the peer may be gone, and a refusal must never block the accept thread.
void send_refusal(int fd, weights_refusal r, const std::string& detail) {
    const std::string line = wire::error_line(refusal_code(r), detail);
    (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

// A fresh open file description for each peer: read-only, with its own offset (a dup would share one).
shared_fd reopen_read_only(const shared_fd& fd) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fd->fd);
    const int r = ::open(proc.c_str(), O_RDONLY | O_CLOEXEC);
    if (r < 0) return fd;
    return std::make_shared<const fd_guard>(r);
}

std::string cache_key(const std::string& model, const std::string& file) { return model + '\0' + file; }

}  // namespace

result<weights_request> parse_weights_request(std::string_view line) { return wire::parse_request(line); }

struct weights_server::state {
    weights_server_config cfg;
    weights_source& source;
    fd_guard listen_fd;
    fd_guard wake_fd;  // eventfd: written by stop() to end the accept loop
    dev_t sock_dev = 0;
    ino_t sock_ino = 0;
    std::thread acceptor;
    std::vector<std::thread> pool;

    std::mutex m;  // queue, active, stopping
    std::condition_variable cv;
    std::deque<connection> queue;
    std::set<int> active;  // connections being served, shut down by stop() to end blocking calls
    bool stopping = false;
    bool stopped = false;

    // The cache: one entry per (model, file); an entry's own mutex makes concurrent first requests for the
    // same file wait for one decryption instead of running several.
    struct entry {
        std::mutex m;  // held while the source decrypts; never while cache_m is wanted
        shared_fd fd;
        std::atomic<bool> ready{false};  // fd is set (readable without m)
    };
    mutable std::mutex cache_m;
    std::map<std::string, std::shared_ptr<entry>> cache;

    state(weights_server_config c, weights_source& s) : cfg(std::move(c)), source(s) {}

    bool allowed(unsigned uid) const {
        return std::find(cfg.allowed_uids.begin(), cfg.allowed_uids.end(), uid) != cfg.allowed_uids.end();
    }

    void accept_loop() {
        for (;;) {
            pollfd p[2] = {{listen_fd.fd, POLLIN, 0}, {wake_fd.fd, POLLIN, 0}};
            if (::poll(p, 2, -1) < 0) {
                if (errno == EINTR) continue;
                spdlog::error("weights socket: poll: {}", std::strerror(errno));
                return;
            }
            if (p[1].revents != 0) return;
            if ((p[0].revents & POLLIN) == 0) continue;
            auto c = std::make_unique<fd_guard>(::accept4(listen_fd.fd, nullptr, nullptr, SOCK_CLOEXEC));
            if (c->fd < 0) {
                // Out of descriptors: the pending connection stays readable, so pause instead of spinning.
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            ucred uc{};
            socklen_t len = sizeof uc;
            if (::getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) continue;
            if (!allowed(uc.uid)) {
                spdlog::warn("weights socket: refused uid {} (pid {}): not in the allow list", uc.uid, uc.pid);
                send_refusal(c->fd, weights_refusal::peer_not_allowed,
                             "uid " + std::to_string(uc.uid) + " may not receive model files");
                continue;
            }
            std::lock_guard lk(m);
            if (queue.size() >= cfg.max_pending) {
                send_refusal(c->fd, weights_refusal::busy, "too many connections waiting; try again");
                continue;
            }
            queue.push_back({std::move(c), peer{uc.uid, uc.gid, uc.pid}, steady::now() + cfg.request_timeout});
            cv.notify_one();
        }
    }

    void worker_loop() {
        for (;;) {
            connection c;
            {
                std::unique_lock lk(m);
                cv.wait(lk, [&] { return stopping || !queue.empty(); });
                if (stopping) return;
                c = std::move(queue.front());
                queue.pop_front();
                active.insert(c.fd->fd);
            }
            serve(c);
            std::lock_guard lk(m);
            active.erase(c.fd->fd);
        }
    }

    // Reads the request line: everything up to '\n', before the deadline, at most max_weights_request bytes.
    result<std::string> read_request(const connection& c) {
        std::string buf;
        char tmp[1024];
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - steady::now()).count();
            if (left <= 0)
                return make_error(errc::io, "no complete request line within " + std::to_string(cfg.request_timeout.count()) + " ms");
            pollfd p{c.fd->fd, POLLIN, 0};
            const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
            if (pr < 0 && errno != EINTR) return errno_error("poll", errno);
            if (pr <= 0) continue;
            const ssize_t n = ::recv(c.fd->fd, tmp, sizeof tmp, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
                return errno_error("reading the request", errno);
            }
            if (n == 0) return make_error(errc::parse, "the connection ended before a complete request line");
            buf.append(tmp, static_cast<std::size_t>(n));
            const auto nl = buf.find('\n');
            if (nl == std::string::npos) {
                if (buf.size() >= max_weights_request)
                    return make_error(errc::parse, "the request line is longer than " + std::to_string(max_weights_request) + " bytes");
                continue;
            }
            if (nl + 1 > max_weights_request)
                return make_error(errc::parse, "the request line is longer than " + std::to_string(max_weights_request) + " bytes");
            if (nl + 1 != buf.size()) return make_error(errc::parse, "data after the request line (one request per connection)");
            buf.resize(nl);
            return buf;
        }
    }

    void refuse(const connection& c, weights_refusal r, const std::string& detail) {
        const std::string line = wire::error_line(refusal_code(r), detail);
        (void)wire::send_line(c.fd->fd, line, -1);
    }

    // The cached memfd of (model, file), or the source's, cached on success.
    source_answer lookup(const std::string& model, const std::string& file, unsigned uid) {
        const std::string key = cache_key(model, file);
        std::shared_ptr<entry> e;
        {
            std::lock_guard lk(cache_m);
            auto& slot = cache[key];
            if (!slot) slot = std::make_shared<entry>();
            e = slot;
        }
        source_answer failed;
        {
            std::lock_guard lk(e->m);
            if (e->fd) return source_answer::file(e->fd);
            auto a = source.open_file(model, file, uid);
            if (a.fd && a.fd->fd < 0) a = source_answer::refuse(weights_refusal::internal, "the source gave no descriptor");
            if (a.fd) {
                e->fd = a.fd;
                e->ready = true;
                return a;
            }
            failed = std::move(a);
        }
        // A failure is not cached: the next request asks again. Only our own, still empty entry goes.
        std::lock_guard ck(cache_m);
        auto it = cache.find(key);
        if (it != cache.end() && it->second == e && !e->ready) cache.erase(it);
        return failed;
    }

    void serve(const connection& c) {
        wire::set_timeout(c.fd->fd, SO_SNDTIMEO, cfg.request_timeout);
        auto line = read_request(c);
        if (!line.ok()) return refuse(c, weights_refusal::bad_request, line.err().message);
        auto req = wire::parse_request(*line);
        if (!req.ok()) return refuse(c, weights_refusal::bad_request, req.err().message);
        if (!source.holds_lease(req->model))
            return refuse(c, weights_refusal::no_lease, "no key is held for model \"" + req->model + "\"");
        auto a = lookup(req->model, req->file, c.cred.uid);
        if (!a.fd) return refuse(c, a.refusal, a.detail);
        struct stat st{};
        if (::fstat(a.fd->fd, &st) != 0) return refuse(c, weights_refusal::internal, "cannot stat the file's memfd");
        const auto size = static_cast<std::uint64_t>(st.st_size);
        const shared_fd mine = reopen_read_only(a.fd);
        if (auto s = wire::send_line(c.fd->fd, wire::ok_line(size), mine->fd); !s.ok()) {
            spdlog::warn("weights socket: sending \"{}\" of {} to pid {}: {}", req->file, req->model, c.cred.pid, s.err().message);
            return;
        }
        if (cfg.on_hand_out)
            cfg.on_hand_out(hand_out{req->model, req->file, c.cred.uid, c.cred.gid, c.cred.pid, size,
                                     std::chrono::system_clock::now()});
    }

    void stop() {
        {
            std::lock_guard lk(m);
            if (stopped) return;
            stopped = true;
        }
        const std::uint64_t one = 1;
        (void)!::write(wake_fd.fd, &one, sizeof one);
        if (acceptor.joinable()) acceptor.join();
        // Remove the socket only while it is still ours (not a successor's at the same path).
        struct stat st{};
        if (::lstat(cfg.socket_path.c_str(), &st) == 0 && st.st_dev == sock_dev && st.st_ino == sock_ino)
            ::unlink(cfg.socket_path.c_str());
        listen_fd.reset();
        {
            std::lock_guard lk(m);
            stopping = true;
            for (int fd : active) ::shutdown(fd, SHUT_RDWR);
            queue.clear();
        }
        cv.notify_all();
        for (auto& t : pool)
            if (t.joinable()) t.join();
    }
};

namespace {

// A new listening socket at `path`, mode 0660: bound under a private 0700 directory beside it, then
// renamed over `path` (which replaces a stale socket atomically).
result<void> listen_at(weights_server_config& cfg, fd_guard& out, dev_t& dev, ino_t& ino) {
    const fs::path& path = cfg.socket_path;
    if (path.empty()) return make_error(errc::invalid_argument, "the weights socket path is empty");
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    struct stat st{};
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return make_error(errc::io, "the directory of the weights socket " + path.string() + " does not exist");
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error(errc::io, path.string() + " exists and is not a socket; refusing to replace it");
        // A socket someone still listens on is not stale.
        if (wire::connect_unix(path, std::chrono::milliseconds(200)).ok())
            return make_error(errc::io, "another server is listening on " + path.string());
    }
    std::string tmpl = (parent / ".custos-ws-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return errno_error("cannot create a temporary directory in " + parent.string(), errno);
    const fs::path tmp_dir = tmpl;
    const fs::path tmp_sock = tmp_dir / "s";
    struct cleanup {
        const fs::path& s;
        const fs::path& d;
        ~cleanup() {
            ::unlink(s.c_str());
            ::rmdir(d.c_str());
        }
    } clean{tmp_sock, tmp_dir};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (tmp_sock.native().size() >= sizeof addr.sun_path || path.native().size() >= sizeof addr.sun_path)
        return make_error(errc::invalid_argument, "the weights socket path " + path.string() + " is too long for a UNIX socket");
    std::memcpy(addr.sun_path, tmp_sock.c_str(), tmp_sock.native().size() + 1);
    fd_guard s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.fd < 0) return errno_error("socket", errno);
    if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return errno_error("cannot bind " + tmp_sock.string(), errno);
    if (::chmod(tmp_sock.c_str(), 0660) != 0) return errno_error("cannot chmod " + tmp_sock.string(), errno);
    if (::listen(s.fd, 64) != 0) return errno_error("listen", errno);
    if (::rename(tmp_sock.c_str(), path.c_str()) != 0) return errno_error("cannot move the socket to " + path.string(), errno);
    if (::lstat(path.c_str(), &st) != 0) return errno_error("cannot stat " + path.string(), errno);
    dev = st.st_dev;
    ino = st.st_ino;
    out.reset(s.fd);
    s.fd = -1;
    return {};
}

}  // namespace

result<weights_server> weights_server::start(weights_server_config cfg, weights_source& source) {
    if (cfg.workers == 0) return make_error(errc::invalid_argument, "the weights server needs at least one worker");
    if (cfg.request_timeout.count() <= 0) return make_error(errc::invalid_argument, "the request timeout must be positive");
    auto s = std::make_unique<state>(std::move(cfg), source);
    CUSTOS_TRY_VOID(listen_at(s->cfg, s->listen_fd, s->sock_dev, s->sock_ino));
    s->wake_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (s->wake_fd.fd < 0) {
        auto e = errno_error("eventfd", errno);
        ::unlink(s->cfg.socket_path.c_str());
        return e;
    }
    state* raw = s.get();
    for (unsigned i = 0; i < raw->cfg.workers; ++i) raw->pool.emplace_back([raw] { raw->worker_loop(); });
    raw->acceptor = std::thread([raw] { raw->accept_loop(); });
    return weights_server(std::move(s));
}

weights_server::weights_server(std::unique_ptr<state> s) : s_(std::move(s)) {}
weights_server::weights_server(weights_server&&) noexcept = default;
weights_server& weights_server::operator=(weights_server&& o) noexcept {
    if (this != &o) {
        stop();
        s_ = std::move(o.s_);
    }
    return *this;
}
weights_server::~weights_server() { stop(); }

void weights_server::stop() {
    if (s_) s_->stop();
}

void weights_server::drop_model(const std::string& model) {
    if (!s_) return;
    const std::string prefix = model + '\0';
    std::lock_guard lk(s_->cache_m);
    auto it = s_->cache.lower_bound(prefix);
    while (it != s_->cache.end() && it->first.compare(0, prefix.size(), prefix) == 0) it = s_->cache.erase(it);
}

std::size_t weights_server::cached_files() const {
    if (!s_) return 0;
    std::lock_guard lk(s_->cache_m);
    std::size_t n = 0;
    for (const auto& [k, e] : s_->cache) n += e->ready ? 1 : 0;
    return n;
}

const fs::path& weights_server::socket_path() const noexcept {
    static const fs::path none;
    return s_ ? s_->cfg.socket_path : none;
}

namespace {

// Reads one answer line and every descriptor that came with it, until '\n', EOF or the deadline.
struct raw_answer {
    std::string line;
    std::vector<shared_fd> fds;
};

result<raw_answer> read_answer(int fd, steady::time_point deadline) {
    raw_answer a;
    constexpr std::size_t max_answer = 64u << 10;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) return make_error(errc::io, "no answer from the weights socket in time");
        pollfd p{fd, POLLIN, 0};
        const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
        if (pr < 0 && errno != EINTR) return errno_error("poll", errno);
        if (pr <= 0) continue;
        char buf[4096];
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 8)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl;
        msg.msg_controllen = sizeof ctrl;
        const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return errno_error("reading the answer", errno);
        }
        for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int rfd = -1;
                std::memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                a.fds.push_back(std::make_shared<const fd_guard>(rfd));
            }
        }
        if ((msg.msg_flags & MSG_CTRUNC) != 0) return make_error(errc::parse, "the answer carried more descriptors than one");
        if (n == 0) return make_error(errc::parse, "the weights socket closed the connection without a complete answer");
        a.line.append(buf, static_cast<std::size_t>(n));
        if (const auto nl = a.line.find('\n'); nl != std::string::npos) {
            a.line.resize(nl);
            return a;
        }
        if (a.line.size() > max_answer)
            return make_error(errc::parse, "the answer line is longer than " + std::to_string(max_answer) + " bytes");
    }
}

}  // namespace

result<weights_answer> request_weights_file(const fs::path& socket, std::string_view model, std::string_view file,
                                            std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    CUSTOS_TRY(conn, wire::connect_unix(socket, timeout));
    const std::string req = sjson::dump(boost::json::object{{"model", model}, {"file", file}}) + "\n";
    // A refusing server may answer and close before reading: its answer is still there to read, so a
    // failed send is reported only when no answer came.
    auto sent = wire::send_line(conn->fd, req, -1);
    auto got = read_answer(conn->fd, deadline);
    if (!got.ok()) return with_context(sent.ok() ? std::move(got).err() : std::move(sent).err(), socket.string());
    auto raw = std::move(got).value();
    CUSTOS_TRY(v, sjson::parse(raw.line, "weights answer", 4));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "weights answer"));
    CUSTOS_TRY(status, o.str("status"));
    weights_answer a;
    if (status == "error") {
        CUSTOS_TRY_VOID(o.only({"status", "error", "detail"}));
        CUSTOS_TRY(code, o.str("error"));
        CUSTOS_TRY(detail, o.str("detail"));
        if (code.empty()) return o.bad("error", "is empty");
        a.code = std::move(code);
        a.detail = std::move(detail);
        return a;  // any descriptor that came along is closed with `raw`
    }
    if (status != "ok") return o.bad("status", "must be \"ok\" or \"error\"");
    CUSTOS_TRY_VOID(o.only({"status", "size"}));
    CUSTOS_TRY(size, o.u64("size"));
    if (raw.fds.size() != 1)
        return make_error(errc::structure,
                          "weights answer: \"ok\" came with " + std::to_string(raw.fds.size()) + " descriptors, not one");
    struct stat st{};
    if (::fstat(raw.fds[0]->fd, &st) != 0) return errno_error("cannot stat the received descriptor", errno);
    if (!S_ISREG(st.st_mode)) return make_error(errc::structure, "weights answer: the descriptor is not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) != size)
        return make_error(errc::structure, "weights answer: size " + std::to_string(size) + ", but the descriptor holds " +
                                               std::to_string(st.st_size) + " bytes");
    constexpr int needed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    const int seals = ::fcntl(raw.fds[0]->fd, F_GET_SEALS);
    if (seals < 0 || (seals & needed) != needed)
        return make_error(errc::structure, "weights answer: the descriptor is not sealed against writing, growing and shrinking");
    a.fd = std::move(raw.fds[0]);
    a.size = size;
    return a;
}

}  // namespace custos::agent
