// net/https_client against a real net::https_server: mutual TLS, name checks, reconnects, limits, timeouts.
#include "net/https_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include <thread>

#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_server.hpp"
#include "tests/support/process.hpp"

namespace custos::net {
namespace {

namespace fs = std::filesystem;
using custos::test::temp_dir;

struct pki {
    temp_dir dir{"custos-client"};
    fs::path ca, server_cert, server_key, client_cert, client_key, other_ca;

    explicit pki(std::vector<std::string> server_ips = {"127.0.0.1"}, std::vector<std::string> dns = {"localhost"}) {
        auto ca_key = x509::generate_p256().value();
        x509::cert_request cr;
        cr.subject = {"test CA", "ca"};
        auto ca_cert = x509::make_ca(ca_key.get(), cr).value();
        auto skey = x509::generate_p256().value();
        x509::cert_request sr;
        sr.subject = {"server", "server"};
        sr.kind = x509::cert_kind::server;
        sr.ips = server_ips;
        sr.dns = dns;
        auto scert = x509::issue(ca_cert.get(), ca_key.get(), skey.get(), sr).value();
        auto ckey = x509::generate_p256().value();
        x509::cert_request crq;
        crq.subject = {"alice", "operator"};
        auto ccert = x509::issue(ca_cert.get(), ca_key.get(), ckey.get(), crq).value();
        auto okey = x509::generate_p256().value();
        auto ocert = x509::make_ca(okey.get(), cr).value();
        ca = put("ca.pem", *x509::to_pem(ca_cert.get()));
        server_cert = put("server.pem", *x509::to_pem(scert.get()));
        server_key = put("server.key", *x509::private_key_to_pem(skey.get()));
        client_cert = put("client.pem", *x509::to_pem(ccert.get()));
        client_key = put("client.key", *x509::private_key_to_pem(ckey.get()));
        other_ca = put("other.pem", *x509::to_pem(ocert.get()));
    }
    fs::path put(const char* name, const std::string& text) {
        EXPECT_TRUE(write_file_atomic(dir.path() / name, text, 0600).ok());
        return dir.path() / name;
    }
};

std::unique_ptr<https_server> serve(const pki& p, std::uint16_t port = 0) {
    https_server_options o;
    o.cert_pem_path = p.server_cert.string();
    o.key_pem_path = p.server_key.string();
    o.client_ca_pem_path = p.ca.string();
    auto s = https_server::create(o);
    EXPECT_TRUE(s.ok());
    (*s)->route("POST", "/echo", auth::none, [](const http_request& r, const request_context& c) {
        return http_response{200, "application/json", "{\"got\":\"" + r.body + "\",\"ou\":\"" + c.client_ou + "\"}"};
    });
    (*s)->route("GET", "/big", auth::none, [](const http_request&, const request_context&) {
        return http_response{200, "text/plain", std::string(100'000, 'x')};
    });
    EXPECT_TRUE((*s)->listen("127.0.0.1", port).ok());
    (*s)->run();
    return std::move(s).value();
}

https_client_options opts(const fs::path& ca) {
    https_client_options o;
    o.ca_file = ca.string();
    return o;
}

std::string url(const https_server& s) { return "https://127.0.0.1:" + std::to_string(s.bound_port()); }

TEST(HttpsClient, RoundTripsWithAClientCertificateTheServerSees) {
    pki p;
    auto s = serve(p);
    https_client_options o;
    o.ca_file = p.ca.string();
    o.cert_file = p.client_cert.string();
    o.key_file = p.client_key.string();
    auto c = https_client::create(url(*s), o);
    ASSERT_TRUE(c.ok()) << c.err().message;
    for (int i = 0; i < 3; ++i) {  // the same kept-alive connection, several requests
        auto r = (*c)->request("POST", "/echo", "hi");
        ASSERT_TRUE(r.ok()) << r.err().message;
        EXPECT_EQ(r->status, 200u);
        EXPECT_EQ(r->body, R"({"got":"hi","ou":"operator"})");
    }
    auto nf = (*c)->request("GET", "/nope");
    ASSERT_TRUE(nf.ok());
    EXPECT_EQ(nf->status, 404u);
}

TEST(HttpsClient, RefusesAServerFromAnotherCaOrWithAnotherName) {
    pki p;
    auto s = serve(p);
    auto c = https_client::create(url(*s), opts(p.other_ca));
    auto r = (*c)->request("GET", "/big");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("certificate verification failed"), std::string::npos) << r.err().message;
    pki named({}, {"verifier.example"});  // no IP SAN: 127.0.0.1 is not its name
    auto s2 = serve(named);
    auto c2 = https_client::create(url(*s2), opts(named.ca));
    auto r2 = (*c2)->request("GET", "/big");
    ASSERT_FALSE(r2.ok());
    EXPECT_NE(r2.err().message.find("certificate verification failed"), std::string::npos) << r2.err().message;
}

TEST(HttpsClient, ReconnectsAfterTheServerRestarts) {
    pki p;
    auto s = serve(p);
    const auto port = s->bound_port();
    auto c = https_client::create(url(*s), opts(p.ca));
    ASSERT_TRUE((*c)->request("POST", "/echo", "1").ok());
    s->stop();
    s.reset();
    s = serve(p, port);
    auto r = (*c)->request("POST", "/echo", "2");
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->body, R"({"got":"2","ou":""})");
}

TEST(HttpsClient, EnforcesTheBodyLimitAndTimesOut) {
    pki p;
    auto s = serve(p);
    https_client_options o;
    o.ca_file = p.ca.string();
    o.body_limit = 1000;
    auto c = https_client::create(url(*s), o);
    auto r = (*c)->request("GET", "/big");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("larger than 1000 bytes"), std::string::npos) << r.err().message;
    // A listener that accepts and never speaks TLS.
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acc(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    https_client_options t;
    t.ca_file = p.ca.string();
    t.timeout = std::chrono::milliseconds(300);
    auto silent = https_client::create("https://127.0.0.1:" + std::to_string(acc.local_endpoint().port()), t);
    const auto t0 = std::chrono::steady_clock::now();
    auto sr = (*silent)->request("GET", "/");
    ASSERT_FALSE(sr.ok());
    EXPECT_EQ(sr.err().code, errc::io);
    EXPECT_NE(sr.err().message.find("timed out"), std::string::npos) << sr.err().message;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(HttpsClient, RefusesUrlsItCannotUse) {
    EXPECT_FALSE(https_client::create("http://x:1", {}).ok());
    EXPECT_FALSE(https_client::create("https://x:1/path", {}).ok());
    EXPECT_FALSE(https_client::create("https://:1", {}).ok());
    EXPECT_FALSE(https_client::create("https://x:port", {}).ok());
    EXPECT_NE(https_client::create("https://x:1", opts("/nonexistent/ca.pem")).err().message.find("/nonexistent/ca.pem"),
              std::string::npos);
}

}  // namespace
}  // namespace custos::net
