// Tests for verifier::https_server against a real Beast TLS client and certificates made in-test.
#include "net/https_server.hpp"

#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace custos::net;

// ---- throwaway PKI -------------------------------------------------------------------------

struct pkey_free { void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); } };
struct x509_free { void operator()(X509* p) const noexcept { X509_free(p); } };
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

struct issued {
    pkey_ptr key;
    x509_ptr cert;
};

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// Self-signed when `issuer` is null.
issued make_cert(const std::string& cn, const issued* issuer, bool ca, long serial) {
    issued out{pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")), x509_ptr(X509_new())};
    X509* c = out.cert.get();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400);
    X509_set_pubkey(c, out.key.get());
    X509_NAME* name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : c;
    X509_set_issuer_name(c, X509_get_subject_name(issuer_cert));
    add_ext(c, issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (!ca) add_ext(c, issuer_cert, NID_subject_alt_name, "IP:127.0.0.1");
    X509_sign(c, issuer != nullptr ? issuer->key.get() : out.key.get(), EVP_sha256());
    return out;
}

void write_pem(const fs::path& cert_path, const fs::path& key_path, const issued& i) {
    FILE* f = std::fopen(cert_path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, i.cert.get());
    std::fclose(f);
    f = std::fopen(key_path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_PrivateKey(f, i.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
}

// ---- Beast client --------------------------------------------------------------------------

struct client_options {
    bool tls12_only = false;
    std::string cert;  // client certificate PEM path, empty for none
    std::string key;
};

struct client {
    asio::io_context ioc;
    ssl::context tls{ssl::context::tls_client};
    std::optional<beast::ssl_stream<beast::tcp_stream>> stream;

    client(const fs::path& ca, const client_options& o) {
        tls.load_verify_file(ca.string());
        tls.set_verify_mode(ssl::verify_peer);
        if (o.tls12_only) SSL_CTX_set_max_proto_version(tls.native_handle(), TLS1_2_VERSION);
        if (!o.cert.empty()) {
            tls.use_certificate_file(o.cert, ssl::context::pem);
            tls.use_private_key_file(o.key, ssl::context::pem);
        }
        stream.emplace(ioc, tls);
    }

    beast::error_code connect(std::uint16_t port) {
        beast::error_code ec;
        auto& low = beast::get_lowest_layer(*stream);
        low.expires_after(std::chrono::seconds(5));
        low.socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        if (ec) return ec;
        stream->handshake(ssl::stream_base::client, ec);
        return ec;
    }

    // Status and body, or nullopt when the connection failed.
    std::optional<http::response<http::string_body>> request(http::verb verb, const std::string& target,
                                                             std::string body = {}) {
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.keep_alive(true);
        if (!body.empty() || verb == http::verb::post) {
            req.body() = std::move(body);
            req.prepare_payload();
        }
        beast::error_code ec;
        http::write(*stream, req, ec);
        if (ec) return std::nullopt;
        http::response<http::string_body> res;
        http::read(*stream, buf, res, ec);
        if (ec) return std::nullopt;
        return res;
    }

    beast::flat_buffer buf;
};

// ---- fixture -------------------------------------------------------------------------------

class HttpsServer : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("custos_https_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
        issued ca = make_cert("custos test CA", nullptr, true, 1);
        issued server = make_cert("verifier.test", &ca, false, 2);
        issued agent = make_cert("agent-7", &ca, false, 3);
        issued other_ca = make_cert("other CA", nullptr, true, 4);
        issued rogue = make_cert("rogue", &other_ca, false, 5);
        write_pem(dir_ / "ca.pem", dir_ / "ca.key", ca);
        write_pem(dir_ / "server.pem", dir_ / "server.key", server);
        write_pem(dir_ / "agent.pem", dir_ / "agent.key", agent);
        write_pem(dir_ / "rogue.pem", dir_ / "rogue.key", rogue);
    }

    void TearDown() override {
        server_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    void start(std::chrono::milliseconds read_timeout = std::chrono::milliseconds(1000), std::size_t max_connections = 1024) {
        https_server_options o;
        o.max_connections = max_connections;
        o.cert_pem_path = (dir_ / "server.pem").string();
        o.key_pem_path = (dir_ / "server.key").string();
        o.client_ca_pem_path = (dir_ / "ca.pem").string();
        o.read_timeout = read_timeout;
        auto s = https_server::create(o);
        ASSERT_TRUE(s.ok()) << s.err().message;
        server_ = std::move(s).value();
        server_->route("POST", "/v1/echo", auth::none, [this](const http_request& r, const request_context&) {
            ++calls_;
            return http_response{200, "application/octet-stream", r.body};
        });
        server_->route("GET", "/v1/whoami", auth::client_cert, [this](const http_request&, const request_context& c) {
            ++calls_;
            std::lock_guard lock(mu_);
            seen_cn_ = c.client_cn;
            return http_response{200, "text/plain", c.client_cn};
        });
        auto l = server_->listen("127.0.0.1", 0);
        ASSERT_TRUE(l.ok()) << l.err().message;
        ASSERT_NE(server_->bound_port(), 0);
        server_->run();
    }

    client_options with_cert(const std::string& who) {
        return client_options{false, (dir_ / (who + ".pem")).string(), (dir_ / (who + ".key")).string()};
    }

    fs::path dir_;
    std::unique_ptr<https_server> server_;
    std::atomic<int> calls_{0};
    std::mutex mu_;
    std::string seen_cn_;
};

TEST_F(HttpsServer, HttpsHealthzOverTls13) {
    start();
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    EXPECT_EQ(SSL_version(c.stream->native_handle()), TLS1_3_VERSION);
    auto r = c.request(http::verb::get, "/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(r->body(), R"({"status":"ok"})");
}

// A client offering to resume an earlier session (HAProxy's health checks do by default) gets a full
// handshake and its answer, not an aborted handshake; and no session is handed out to resume, so every
// connection shows its certificate afresh (a revoked credential cannot ride an old session). The client
// is `openssl s_client`, which offers the session it saved as HAProxy does.
TEST_F(HttpsServer, AClientOfferingToResumeASessionGetsAFullHandshake) {
    start();
    const std::string session = (dir_ / "session.pem").string();
    const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    auto s_client = [&](const char* flag) {
        std::vector<std::string> argv = {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(server_->bound_port()),
                                         "-CAfile", (dir_ / "ca.pem").string(), "-ign_eof"};
        // A session to offer, if the server handed one out (it should not).
        if (std::string(flag) == "-sess_out" || fs::exists(session)) argv.insert(argv.end(), {flag, session});
        return custos::test::run_process(argv, {}, std::chrono::seconds(20), get);
    };
    auto first = s_client("-sess_out");
    EXPECT_NE(first.out.find("HTTP/1.1 200"), std::string::npos) << first.out << first.err;
    EXPECT_EQ(first.out.find("New Session Ticket"), std::string::npos) << "the server issued a session ticket:\n" << first.out;
    auto second = s_client("-sess_in");
    EXPECT_NE(second.out.find("HTTP/1.1 200"), std::string::npos) << second.out << second.err;
    EXPECT_EQ(second.err.find("alert"), std::string::npos) << second.err;
    EXPECT_EQ(second.out.find("Reused,"), std::string::npos) << second.out;
}

TEST_F(HttpsServer, HttpsRefusesTls12Client) {
    start();
    client c(dir_ / "ca.pem", client_options{true, {}, {}});
    EXPECT_TRUE(c.connect(server_->bound_port()));
}

TEST_F(HttpsServer, HttpsClientCertRouteWithoutCertIs401) {
    start();
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r = c.request(http::verb::get, "/v1/whoami");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 401u);
    EXPECT_NE(r->body().find(R"("error":"unauthorized")"), std::string::npos);
    EXPECT_EQ(calls_, 0);
}

TEST_F(HttpsServer, HttpsClientCertFromOtherCaNeverReachesHandler) {
    start();
    client c(dir_ / "ca.pem", with_cert("rogue"));
    // Under TLS 1.3 the client finishes its side of the handshake before the server checks its
    // certificate, so the rejection (an alert, then close) shows up on the first request.
    if (!c.connect(server_->bound_port())) {
        auto r = c.request(http::verb::get, "/v1/whoami");
        EXPECT_FALSE(r) << "got status " << r->result_int();
    }
    EXPECT_EQ(calls_, 0);
}

TEST_F(HttpsServer, HttpsClientCertRouteSeesCn) {
    start();
    client c(dir_ / "ca.pem", with_cert("agent"));
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r = c.request(http::verb::get, "/v1/whoami");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(r->body(), "agent-7");
    EXPECT_EQ(calls_, 1);
    std::lock_guard lock(mu_);
    EXPECT_EQ(seen_cn_, "agent-7");
}

TEST_F(HttpsServer, HttpsUnknownPathIs404WrongMethodIs405) {
    start();
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r = c.request(http::verb::get, "/v1/nope");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 404u);
    EXPECT_NE(r->body().find(R"("error":"not_found")"), std::string::npos);
    EXPECT_NE(r->body().find(R"("detail":)"), std::string::npos);
    r = c.request(http::verb::get, "/v1/echo");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 405u);
    EXPECT_NE(r->body().find(R"("error":"method_not_allowed")"), std::string::npos);
    EXPECT_EQ(calls_, 0);
}

TEST_F(HttpsServer, HttpsOversizedBodyIs413) {
    start();
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    // Announce 2 MiB and send the start of it; the server must answer from the header alone.
    std::string head = "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2097152\r\n\r\n";
    head += std::string(4096, 'x');
    beast::error_code ec;
    asio::write(*c.stream, asio::buffer(head), ec);
    ASSERT_FALSE(ec) << ec.message();
    http::response<http::string_body> res;
    http::read(*c.stream, c.buf, res, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_FALSE(res.keep_alive());
    EXPECT_EQ(calls_, 0);
}

TEST_F(HttpsServer, HttpsBodyWithinLimitReachesHandler) {
    start();
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r = c.request(http::verb::post, "/v1/echo", std::string(512 * 1024, 'y'));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(r->body().size(), 512u * 1024u);
}

TEST_F(HttpsServer, HttpsSilentClientIsDisconnectedAfterTimeout) {
    start(std::chrono::milliseconds(1000));
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->bound_port()));
    timeval tv{8, 0};
    ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    auto t0 = std::chrono::steady_clock::now();
    char byte = 0;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, 0);
    int recv_errno = errno;
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_LE(n, 0);  // EOF or reset, not a timeout of our own
    if (n < 0) {
        EXPECT_NE(recv_errno, EAGAIN);
    }
    EXPECT_GE(waited, std::chrono::milliseconds(800));
    EXPECT_LT(waited, std::chrono::seconds(5));
}

// A flood of idle connections (a host's root opening sockets and saying nothing) holds at most
// max_connections; the rest are closed at once and counted, and a slot frees when one goes away.
TEST_F(HttpsServer, ConnectionsPastTheCapAreRefusedFastAndCounted) {
    start(std::chrono::milliseconds(5000), 3);
    asio::io_context ioc;
    std::vector<std::unique_ptr<tcp::socket>> idle;
    for (int i = 0; i < 3; ++i) {
        idle.push_back(std::make_unique<tcp::socket>(ioc));
        idle.back()->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->bound_port()));
    }
    for (int i = 0; i < 50 && server_->stats().open < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(server_->stats().open, 3u);
    // The fourth is accepted and closed without a handshake: EOF well before the read timeout.
    tcp::socket extra(ioc);
    extra.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->bound_port()));
    timeval tv{4, 0};
    ASSERT_EQ(::setsockopt(extra.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    const auto t0 = std::chrono::steady_clock::now();
    char byte = 0;
    EXPECT_LE(::recv(extra.native_handle(), &byte, 1, 0), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(server_->stats().refused, 1u);
    // One idle connection leaves: a real client is served again.
    idle.pop_back();
    for (int i = 0; i < 100 && server_->stats().open > 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r = c.request(http::verb::get, "/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(server_->stats().accept_errors, 0u);
}

// Out of descriptors (a flood past the process's limit): accept() fails with EMFILE for as long as it
// lasts. The server backs off (10 ms, doubling to 1 s) rather than retrying at once, which would spin a core
// on the error; it counts each failure and accepts again once descriptors free up.
TEST_F(HttpsServer, AcceptFailuresBackOffInsteadOfSpinningAndRecover) {
    start();
    // Client sockets made while descriptors remain; connected once the process has none left.
    std::vector<int> pending;
    for (int i = 0; i < 3; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(fd, 0);
        pending.push_back(fd);
    }
    int highest = 0;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) highest = std::max(highest, std::stoi(e.path().filename().string()));
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest) + 16;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::dup(pending[0])) >= 0;) fillers.push_back(fd);
    ASSERT_EQ(errno, EMFILE);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(server_->bound_port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int fd : pending) ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to), 0) << std::strerror(errno);
    for (int i = 0; i < 100 && server_->stats().accept_errors == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GT(server_->stats().accept_errors, 0u);
    // 1.5 s with the descriptors gone: a few retries, not a busy loop (which burns ~1.5 s of CPU).
    rusage before{}, after{};
    ::getrusage(RUSAGE_SELF, &before);
    const auto errors_before = server_->stats().accept_errors;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ::getrusage(RUSAGE_SELF, &after);
    const auto cpu_us = [](const rusage& r) {
        return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1'000'000L + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
    };
    EXPECT_LT(cpu_us(after) - cpu_us(before), 300'000L);
    EXPECT_LE(server_->stats().accept_errors - errors_before, 12u);
    // Descriptors back: the waiting connections are accepted within a back-off step, and a client is served.
    for (int fd : fillers) ::close(fd);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < 150 && server_->stats().open < pending.size(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(server_->stats().open, pending.size());
    client c(dir_ / "ca.pem", {});
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r = c.request(http::verb::get, "/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    for (int fd : pending) ::close(fd);
}

TEST_F(HttpsServer, HttpsKeepAliveServesTwoRequestsOnOneConnection) {
    start();
    client c(dir_ / "ca.pem", with_cert("agent"));
    ASSERT_FALSE(c.connect(server_->bound_port()));
    auto r1 = c.request(http::verb::post, "/v1/echo", "one");
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->body(), "one");
    auto r2 = c.request(http::verb::get, "/v1/whoami");
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->result_int(), 200u);
    EXPECT_EQ(r2->body(), "agent-7");
    EXPECT_EQ(calls_, 2);
}

TEST_F(HttpsServer, HttpsStopWithOpenConnectionsReturnsPromptly) {
    start(std::chrono::milliseconds(10'000));
    client tls_idle(dir_ / "ca.pem", {});
    ASSERT_FALSE(tls_idle.connect(server_->bound_port()));
    ASSERT_TRUE(tls_idle.request(http::verb::get, "/healthz"));
    asio::io_context ioc;
    tcp::socket raw(ioc);
    raw.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->bound_port()));
    auto t0 = std::chrono::steady_clock::now();
    server_->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    server_->stop();  // idempotent
    // The kept-alive connection is gone.
    EXPECT_FALSE(tls_idle.request(http::verb::get, "/healthz"));
}

TEST(HttpsServerOptions, HttpsCreateFailsOnMissingCertificate) {
    https_server_options o;
    o.cert_pem_path = "/nonexistent/server.pem";
    o.key_pem_path = "/nonexistent/server.key";
    auto s = https_server::create(o);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("/nonexistent/server.pem"), std::string::npos);
}

}  // namespace
