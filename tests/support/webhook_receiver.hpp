// A real HTTPS webhook receiver for tests: its own CA and server certificate, one route
// (POST /hooks/custos) that answers 503 to the first `fail_first` calls and 204 after, keeping the bodies.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_server.hpp"
#include "tests/support/process.hpp"

namespace custos::test {

struct webhook_receiver {
    temp_dir dir{"custos-hook"};
    std::unique_ptr<net::https_server> srv;
    std::atomic<int> calls{0};
    std::atomic<int> fail_first{0};
    std::mutex mu;
    std::vector<std::string> bodies;

    webhook_receiver() {
        auto ca_key = x509::generate_p256().value();
        x509::cert_request cr;
        cr.subject = {"hook CA", "ca"};
        auto ca = x509::make_ca(ca_key.get(), cr).value();
        auto key = x509::generate_p256().value();
        x509::cert_request sr;
        sr.subject = {"hook", "server"};
        sr.kind = x509::cert_kind::server;
        sr.ips = {"127.0.0.1"};
        auto cert = x509::issue(ca.get(), ca_key.get(), key.get(), sr).value();
        EXPECT_TRUE(write_file_atomic(dir.path() / "ca.pem", x509::to_pem(ca.get()).value()).ok());
        EXPECT_TRUE(write_file_atomic(dir.path() / "s.pem", x509::to_pem(cert.get()).value()).ok());
        EXPECT_TRUE(write_file_atomic(dir.path() / "s.key", x509::private_key_to_pem(key.get()).value(), 0600).ok());
        net::https_server_options o;
        o.cert_pem_path = (dir.path() / "s.pem").string();
        o.key_pem_path = (dir.path() / "s.key").string();
        srv = std::move(net::https_server::create(o)).value();
        srv->route("POST", "/hooks/custos", net::auth::none, [this](const net::http_request& r, const net::request_context&) {
            if (++calls <= fail_first) return net::http_response{503, "text/plain", "busy"};
            std::lock_guard lock(mu);
            bodies.push_back(r.body);
            return net::http_response{204, "text/plain", ""};
        });
        EXPECT_TRUE(srv->listen("127.0.0.1", 0).ok());
        srv->run();
    }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(srv->bound_port()) + "/hooks/custos"; }
    std::string ca() const { return (dir.path() / "ca.pem").string(); }
    std::vector<std::string> received() {
        std::lock_guard lock(mu);
        return bodies;
    }
};

}  // namespace custos::test
