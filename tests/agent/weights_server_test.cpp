// The weights socket: real UNIX sockets in a temp dir, a fake weights_source (and one backed by a real
// sealed model), peers allowed and refused, malformed and silent clients, the cache and drop_model, and
// `custos weights open` in-process.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "agent/weights_server.hpp"
#include "tests/support/cli_runner.hpp"
#include "tests/support/files.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_open.hpp"

namespace custos::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using custos::test::random_bytes;

using custos::test::fd_content;

// A sealed memfd holding `data`, as weights::decrypt_to_sealed_memfd makes them.
shared_fd sealed_memfd(const std::string& data) {
    auto g = std::make_shared<fd_guard>(::memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (g->fd < 0) return nullptr;
    if (::write(g->fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) return nullptr;
    if (::fcntl(g->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) return nullptr;
    return g;
}

// Models held in memory; counts how often the server asked for a file.
class fake_source : public weights_source {
public:
    void add(const std::string& model, const std::string& rel, std::string data) {
        std::lock_guard lk(m_);
        models_[model][rel] = std::move(data);
    }
    void revoke(const std::string& model) {
        std::lock_guard lk(m_);
        models_.erase(model);
    }
    bool holds_lease(const std::string& model) override {
        std::lock_guard lk(m_);
        return models_.count(model) != 0;
    }
    source_answer open_file(const std::string& model, const std::string& rel, unsigned peer_uid) override {
        ++opens;
        last_uid = peer_uid;
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
        std::string data;
        {
            std::lock_guard lk(m_);
            auto m = models_.find(model);
            if (m == models_.end()) return source_answer::refuse(weights_refusal::no_lease, "no key held for \"" + model + "\"");
            auto f = m->second.find(rel);
            if (f == m->second.end()) return source_answer::refuse(weights_refusal::no_such_file, "no file \"" + rel + "\"");
            data = f->second;
        }
        return source_answer::file(sealed_memfd(data));
    }

    std::atomic<int> opens{0};
    std::atomic<unsigned> last_uid{~0u};
    std::chrono::milliseconds delay{0};

private:
    std::mutex m_;
    std::map<std::string, std::map<std::string, std::string>> models_;
};

// The other end of the protocol without the client library: raw bytes in, the answer line out.
std::string raw_exchange(const fs::path& sock, const std::string& bytes_out, std::chrono::milliseconds timeout = 5s) {
    fd_guard s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return "<connect failed>";
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::size_t off = 0;
    while (off < bytes_out.size()) {
        const ssize_t n = ::send(s.fd, bytes_out.data() + off, bytes_out.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
    std::string in;
    char buf[512];
    for (;;) {
        const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        if (in.find('\n') != std::string::npos) break;
    }
    return in;
}

class WeightsServer : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "custos-ws-XXXXXX").string();
        dir_ = ::mkdtemp(t.data());
        sock_ = dir_ / "weights.sock";
        source_.add("org/m@1", "a.bin", data_a_);
        source_.add("org/m@1", "sub/b.txt", "hello");
        source_.add("org/m@1", "empty", "");
    }
    void TearDown() override {
        server_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    weights_server_config config(std::vector<unsigned> uids = {::getuid()}) {
        weights_server_config c;
        c.socket_path = sock_;
        c.allowed_uids = std::move(uids);
        c.on_hand_out = [this](const hand_out& h) {
            std::lock_guard lk(hm_);
            hand_outs_.push_back(h);
        };
        return c;
    }
    void start(weights_server_config c) {
        auto s = weights_server::start(std::move(c), source_);
        ASSERT_TRUE(s.ok()) << s.err().message;
        server_ = std::make_unique<weights_server>(std::move(*s));
    }
    result<weights_answer> request(const std::string& model, const std::string& file, std::chrono::milliseconds t = 5s) {
        return request_weights_file(sock_, model, file, t);
    }
    void expect_refused(const std::string& model, const std::string& file, const std::string& code, const std::string& detail = "") {
        auto a = request(model, file);
        ASSERT_TRUE(a.ok()) << a.err().message;
        EXPECT_FALSE(a->ok());
        EXPECT_EQ(a->code, code) << a->detail;
        EXPECT_EQ(a->fd, nullptr);
        EXPECT_NE(a->detail.find(detail), std::string::npos) << a->detail;
    }
    std::vector<hand_out> hand_outs() {
        std::lock_guard lk(hm_);
        return hand_outs_;
    }
    // The record is made just after the send, so the client may see its file first: wait a little for it.
    std::vector<hand_out> hand_outs_after(std::size_t n) {
        for (int i = 0; i < 200 && hand_outs().size() < n; ++i) std::this_thread::sleep_for(5ms);
        return hand_outs();
    }

    fs::path dir_, sock_;
    const std::string data_a_ = random_bytes(300000, 5);
    fake_source source_;
    std::unique_ptr<weights_server> server_;
    std::mutex hm_;
    std::vector<hand_out> hand_outs_;
};

TEST_F(WeightsServer, AllowedPeerReceivesTheSealedFile) {
    start(config());
    const auto before = std::chrono::system_clock::now();
    auto a = request("org/m@1", "a.bin");
    ASSERT_TRUE(a.ok()) << a.err().message;
    ASSERT_TRUE(a->ok()) << a->code << ": " << a->detail;
    EXPECT_EQ(a->size, data_a_.size());
    EXPECT_EQ(fd_content(a->fd->fd), data_a_);
    EXPECT_EQ(::fcntl(a->fd->fd, F_GETFL) & O_ACCMODE, O_RDONLY);  // a read-only re-open, not the cached one
    EXPECT_NE(::fcntl(a->fd->fd, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(source_.last_uid.load(), ::getuid());
    const auto h = hand_outs_after(1);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].model, "org/m@1");
    EXPECT_EQ(h[0].file, "a.bin");
    EXPECT_EQ(h[0].uid, ::getuid());
    EXPECT_EQ(h[0].gid, ::getgid());
    EXPECT_EQ(h[0].pid, ::getpid());
    EXPECT_EQ(h[0].size, data_a_.size());
    EXPECT_GE(h[0].at, before);

    auto e = request("org/m@1", "empty");
    ASSERT_TRUE(e.ok()) << e.err().message;
    ASSERT_TRUE(e->ok()) << e->detail;
    EXPECT_EQ(e->size, 0u);
}

TEST_F(WeightsServer, SocketIsMode0660AndRemovedOnStop) {
    start(config());
    struct stat st{};
    ASSERT_EQ(::lstat(sock_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    // Nothing left of the private directory it was bound in.
    std::set<std::string> names;
    for (auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    EXPECT_EQ(names, std::set<std::string>{"weights.sock"});
    server_->stop();
    EXPECT_FALSE(fs::exists(fs::symlink_status(sock_)));
    auto a = request("org/m@1", "a.bin");
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.err().code, errc::io);
    EXPECT_NE(a.err().message.find("cannot connect"), std::string::npos) << a.err().message;
}

TEST_F(WeightsServer, StaleSocketReplacedLiveOneAndOtherFilesNot) {
    {
        // A socket file nobody listens on any more (an agent that crashed).
        fd_guard s(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
        ASSERT_EQ(::bind(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    }
    ASSERT_TRUE(fs::is_socket(fs::symlink_status(sock_)));
    start(config());
    auto a = request("org/m@1", "sub/b.txt");
    ASSERT_TRUE(a.ok() && a->ok());
    EXPECT_EQ(fd_content(a->fd->fd), "hello");

    // A second server on the same path while the first listens: refused, the first keeps working.
    fake_source other;
    auto second = weights_server::start(config(), other);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.err().message.find("another server is listening"), std::string::npos) << second.err().message;
    auto b = request("org/m@1", "sub/b.txt");
    ASSERT_TRUE(b.ok() && b->ok());

    // Not a socket: never replaced.
    const auto plain = dir_ / "plain";
    std::ofstream(plain) << "keep me";
    auto c = config();
    c.socket_path = plain;
    auto third = weights_server::start(c, other);
    ASSERT_FALSE(third.ok());
    EXPECT_NE(third.err().message.find("is not a socket"), std::string::npos) << third.err().message;
    EXPECT_EQ(test::read_text(plain), "keep me");

    c.socket_path = dir_ / "missing" / "w.sock";
    auto fourth = weights_server::start(c, other);
    ASSERT_FALSE(fourth.ok());
    EXPECT_NE(fourth.err().message.find("does not exist"), std::string::npos) << fourth.err().message;
}

TEST_F(WeightsServer, PeerNotInAllowListRefused) {
    start(config({::getuid() + 1}));
    expect_refused("org/m@1", "a.bin", "peer-not-allowed", "uid " + std::to_string(::getuid()));
    EXPECT_EQ(source_.opens.load(), 0);
    EXPECT_TRUE(hand_outs().empty());
}

TEST_F(WeightsServer, EmptyAllowListRefusesEveryone) {
    start(config({}));
    expect_refused("org/m@1", "a.bin", "peer-not-allowed");
    EXPECT_EQ(source_.opens.load(), 0);
}

TEST_F(WeightsServer, UnknownModelIsNoLease) {
    start(config());
    expect_refused("org/other@1", "a.bin", "no-lease", "org/other@1");
    EXPECT_EQ(source_.opens.load(), 0);  // no lease: the source is not even asked for the file
}

TEST_F(WeightsServer, UnknownFileIsNoSuchFile) {
    start(config());
    expect_refused("org/m@1", "nope.bin", "no-such-file", "nope.bin");
    expect_refused("org/m@1", "nope.bin", "no-such-file");
    EXPECT_EQ(server_->cached_files(), 0u);  // refusals are not cached
    EXPECT_EQ(source_.opens.load(), 2);
}

TEST_F(WeightsServer, MalformedRequestsAreBadRequest) {
    auto c = config();
    c.request_timeout = 2s;
    start(std::move(c));
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{\"model\":\"org/m@1\",\"file\":\n", "not valid JSON"},
        {"[\"org/m@1\",\"a.bin\"]\n", "must be a JSON object"},
        {"{\"model\":\"org/m@1\",\"file\":\"a.bin\",\"x\":1}\n", "unknown field \\\"x\\\""},
        {"{\"model\":\"org/m@1\"}\n", "field \\\"file\\\" is missing"},
        {"{\"model\":1,\"file\":\"a.bin\"}\n", "field \\\"model\\\" must be a string"},
        {"{\"model\":\"org/m@1\",\"model\":\"org/m@1\",\"file\":\"a.bin\"}\n", "duplicate"},
        {"{\"model\":\"bad id!\",\"file\":\"a.bin\"}\n", "field \\\"model\\\" must be 1-128 of"},
        {"{\"model\":\"org/m@1\",\"file\":\"\"}\n", "field \\\"file\\\" must be a non-empty path"},
        {"{\"model\":\"org/m@1\",\"file\":\"a\\u0001b\"}\n", "field \\\"file\\\" must be a non-empty path"},
        {"{\"model\":\"org/m@1\",\"file\":\"a.bin\"}\n{\"model\":\"org/m@1\",\"file\":\"a.bin\"}\n", "one request per connection"},
        {"{\"model\":\"org/m@1\",\"file\":\"" + std::string(5000, 'a') + "\"}\n", "longer than 4096 bytes"},
        {std::string(4096, ' '), "longer than 4096 bytes"},  // no newline at all: refused at the limit, not at the timeout
        {"", "ended before a complete request line"},
    };
    for (const auto& [req, why] : cases) {
        SCOPED_TRACE(req.substr(0, 80));
        const auto t0 = std::chrono::steady_clock::now();
        std::string ans;
        if (req.empty()) {
            // Connect, then close the sending side at once.
            fd_guard s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
            ASSERT_EQ(::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
            ::shutdown(s.fd, SHUT_WR);
            char buf[512];
            const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
            if (n > 0) ans.assign(buf, static_cast<std::size_t>(n));
        } else {
            ans = raw_exchange(sock_, req);
        }
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
        EXPECT_EQ(ans.rfind("{\"status\":\"error\",\"error\":\"bad-request\",\"detail\":", 0), 0u) << ans;
        EXPECT_NE(ans.find(why), std::string::npos) << ans;
        EXPECT_EQ(ans.back(), '\n');
    }
    EXPECT_EQ(source_.opens.load(), 0);
    EXPECT_TRUE(hand_outs().empty());
}

TEST_F(WeightsServer, SilentClientDoesNotBlockAnother) {
    auto c = config();
    c.request_timeout = 3s;
    start(std::move(c));
    // Connects and never sends a byte.
    fd_guard silent(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::connect(silent.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    std::this_thread::sleep_for(100ms);  // let a worker pick it up and wait on it

    const auto t0 = std::chrono::steady_clock::now();
    auto a = request("org/m@1", "sub/b.txt");
    ASSERT_TRUE(a.ok()) << a.err().message;
    ASSERT_TRUE(a->ok()) << a->detail;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

    // The silent one is answered at its deadline and closed.
    timeval tv{10, 0};
    ::setsockopt(silent.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    const ssize_t n = ::recv(silent.fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    const std::string ans(buf, static_cast<std::size_t>(n));
    EXPECT_NE(ans.find("bad-request"), std::string::npos) << ans;
    EXPECT_NE(ans.find("no complete request line within 3000 ms"), std::string::npos) << ans;
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 2500ms);
}

TEST_F(WeightsServer, SilentClientsHoldOneWorkerOnlyUntilTheirDeadline) {
    auto c = config();
    c.workers = 1;
    c.request_timeout = 300ms;
    start(std::move(c));
    fd_guard silent(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::connect(silent.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    std::this_thread::sleep_for(50ms);
    const auto t0 = std::chrono::steady_clock::now();
    auto a = request("org/m@1", "sub/b.txt");
    ASSERT_TRUE(a.ok()) << a.err().message;
    ASSERT_TRUE(a->ok()) << a->detail;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(WeightsServer, CachedUntilDropModel) {
    start(config());
    auto a = request("org/m@1", "a.bin");
    auto b = request("org/m@1", "a.bin");
    ASSERT_TRUE(a.ok() && a->ok() && b.ok() && b->ok());
    EXPECT_EQ(source_.opens.load(), 1);
    EXPECT_EQ(server_->cached_files(), 1u);
    EXPECT_EQ(fd_content(b->fd->fd), data_a_);
    // Each hand-out has its own offset: reading one does not move the other.
    char buf[100];
    ASSERT_EQ(::read(a->fd->fd, buf, sizeof buf), 100);
    EXPECT_EQ(::lseek(b->fd->fd, 0, SEEK_CUR), 0);

    server_->drop_model("org/m@1");
    EXPECT_EQ(server_->cached_files(), 0u);
    auto c = request("org/m@1", "a.bin");
    ASSERT_TRUE(c.ok() && c->ok());
    EXPECT_EQ(source_.opens.load(), 2);  // decrypted again after the drop
    EXPECT_EQ(hand_outs_after(3).size(), 3u);
}

TEST_F(WeightsServer, DropModelThenRequestIsNoLeaseAndEarlierFdsStayValid) {
    start(config());
    auto a = request("org/m@1", "a.bin");
    ASSERT_TRUE(a.ok() && a->ok());
    // The lease ends: the agent forgets the key and drops the cached memfds.
    source_.revoke("org/m@1");
    server_->drop_model("org/m@1");
    EXPECT_EQ(server_->cached_files(), 0u);
    expect_refused("org/m@1", "a.bin", "no-lease");
    // A process that already received the file keeps its copy.
    EXPECT_EQ(fd_content(a->fd->fd), data_a_);
}

TEST_F(WeightsServer, EndedLeaseStopsCachedHandOutsEvenBeforeDrop) {
    start(config());
    auto a = request("org/m@1", "a.bin");
    ASSERT_TRUE(a.ok() && a->ok());
    source_.revoke("org/m@1");
    expect_refused("org/m@1", "a.bin", "no-lease");
    EXPECT_EQ(server_->cached_files(), 1u);
}

TEST_F(WeightsServer, ConcurrentFirstRequestsDecryptOnce) {
    source_.delay = 200ms;
    auto c = config();
    c.workers = 4;
    start(std::move(c));
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i)
        ts.emplace_back([&] {
            auto a = request("org/m@1", "a.bin");
            if (a.ok() && a->ok() && fd_content(a->fd->fd) == data_a_) ++ok;
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(ok.load(), 4);
    EXPECT_EQ(source_.opens.load(), 1);
}

TEST_F(WeightsServer, StopIsPromptWithAWaitingClient) {
    auto c = config();
    c.request_timeout = 30s;
    start(std::move(c));
    fd_guard silent(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::connect(silent.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    std::this_thread::sleep_for(100ms);
    const auto t0 = std::chrono::steady_clock::now();
    server_->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    server_->stop();  // idempotent
}

// A source backed by a real sealed model, as the agent's will be: the key from key.sealed, memfds from
// weights::decrypt_to_sealed_memfd.
class sealed_source : public weights_source {
public:
    explicit sealed_source(weights::sealed_model m) : model_(std::move(m)) {}
    bool holds_lease(const std::string& model) override { return model == model_.index().model_id; }
    source_answer open_file(const std::string& model, const std::string& rel, unsigned) override {
        if (model != model_.index().model_id) return source_answer::refuse(weights_refusal::no_lease, "no key");
        if (!model_.find(rel)) return source_answer::refuse(weights_refusal::no_such_file, "no file \"" + rel + "\"");
        auto fd = weights::decrypt_to_sealed_memfd(model_, rel, 2);
        if (!fd.ok()) return source_answer::refuse(weights_refusal::decrypt_failed, fd.err().message);
        return source_answer::file(std::move(*fd));
    }

private:
    weights::sealed_model model_;
};

TEST_F(WeightsServer, RealSealedModelEndToEnd) {
    constexpr std::uint64_t cs = 64u << 10;
    const std::string w = random_bytes(3 * cs + 11, 9);
    {
        fs::create_directories(dir_ / "model");
        std::ofstream(dir_ / "model" / "w.bin", std::ios::binary) << w;
        std::ofstream(dir_ / "model" / "t.json", std::ios::binary) << "{\"vocab\":1}";
    }
    auto key = weights::generate_recipient_key();
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(weights::seal_model(dir_ / "model", "org/real@2", key->pub, dir_ / "sealed", {cs, 2}).ok());
    // Files in path order: t.json is data/000000.enc, w.bin data/000001.enc; alter w.bin's chunk 2.
    {
        const auto p = dir_ / "sealed" / "data" / "000001.enc";
        std::string enc = test::read_text(p);
        enc[2 * (cs + 16) + 3] ^= 0x42;
        std::ofstream(p, std::ios::binary | std::ios::trunc) << enc;
    }
    auto k = weights::read_sealed_key(dir_ / "sealed", *key);
    ASSERT_TRUE(k.ok()) << k.err().message;
    auto m = weights::sealed_model::open(dir_ / "sealed", k->dek, k->model_id, k->model_root);
    ASSERT_TRUE(m.ok()) << m.err().message;
    sealed_source src(std::move(*m));
    auto s = weights_server::start(config(), src);
    ASSERT_TRUE(s.ok()) << s.err().message;

    auto t = request("org/real@2", "t.json");
    ASSERT_TRUE(t.ok()) << t.err().message;
    ASSERT_TRUE(t->ok()) << t->detail;
    EXPECT_EQ(fd_content(t->fd->fd), "{\"vocab\":1}");
    auto bad = request("org/real@2", "w.bin");
    ASSERT_TRUE(bad.ok()) << bad.err().message;
    EXPECT_EQ(bad->code, "decrypt-failed");
    EXPECT_NE(bad->detail.find("\"w.bin\" chunk 2 of 4 (data/000001.enc)"), std::string::npos) << bad->detail;
    auto none = request("org/real@2", "x.bin");
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->code, "no-such-file");
}

// `custos weights open` against a live server, in-process.
class WeightsOpenCli : public WeightsServer {};

TEST_F(WeightsOpenCli, WritesTheFileAtomicallyMode0600) {
    start(config());
    const auto out = dir_ / "a.out";
    auto r = test::run_cli({"weights", "open", "--socket", sock_.string(), "--model", "org/m@1", "--file", "a.bin", "--out",
                            out.string()});
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(test::read_text(out), data_a_);
    EXPECT_EQ(fs::status(out).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_NE(r.out.find(std::to_string(data_a_.size()) + " bytes"), std::string::npos) << r.out;
    for (auto& e : fs::directory_iterator(dir_)) EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);

    const auto empty = dir_ / "empty.out";
    auto r2 = test::run_cli({"weights", "open", "--socket", sock_.string(), "--model", "org/m@1", "--file", "empty", "--out",
                             empty.string()});
    EXPECT_EQ(r2.rc, 0) << r2.err;
    EXPECT_TRUE(fs::is_regular_file(empty));
    EXPECT_EQ(fs::file_size(empty), 0u);
}

TEST_F(WeightsOpenCli, ErrorAnswerIsOneLineAndExit1) {
    start(config());
    const auto out = dir_ / "x.out";
    auto r = test::run_cli({"weights", "open", "--socket", sock_.string(), "--model", "org/none@1", "--file", "a.bin", "--out",
                            out.string()});
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(r.err, "custos: weights open: no-lease: no key is held for model \"org/none@1\"\n");
    EXPECT_FALSE(fs::exists(out));
    auto r2 = test::run_cli({"weights", "open", "--socket", sock_.string(), "--model", "org/m@1", "--file", "zz", "--out",
                             out.string()});
    EXPECT_EQ(r2.rc, 1);
    EXPECT_EQ(r2.err, "custos: weights open: no-such-file: no file \"zz\"\n");
}

TEST_F(WeightsOpenCli, CannotConnectOrBadArgumentsExit2) {
    const auto out = dir_ / "x.out";
    auto r = test::run_cli({"weights", "open", "--socket", (dir_ / "nobody.sock").string(), "--model", "org/m@1", "--file",
                            "a.bin", "--out", out.string()});
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
    auto r2 = test::run_cli({"weights", "open", "--socket", sock_.string(), "--model", "org/m@1", "--file", "a.bin"});
    EXPECT_EQ(r2.rc, 2);
    auto r3 = test::run_cli({"weights", "open", "--socket", sock_.string(), "--model", "", "--file", "a.bin", "--out",
                             out.string()});
    EXPECT_EQ(r3.rc, 2);
    EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace custos::agent
