// A blocking HTTPS/1.1 client over one keep-alive TLS 1.3 connection, with optional client certificate:
// what the agent, `custos fleet`, webhooks and the load generator use to talk to a server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/result.hpp"

namespace custos::net {

struct https_client_options {
    std::string ca_file;    // PEM bundle the server certificate must chain to; empty = system default paths
    std::string cert_file;  // client certificate (PEM); empty = none
    std::string key_file;   // its private key (PEM)
    std::chrono::milliseconds timeout{10'000};  // connect, handshake, and each whole request/response
    std::size_t body_limit = 4u << 20;           // largest response body accepted
};

struct http_reply {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

// The "detail" of a JSON error answer ({"error","detail"}), else the body's first 200 bytes: what to log.
std::string reply_detail(const http_reply& r);

class https_client {
public:
    // url: "https://HOST[:PORT]" (port 443 by default; a trailing '/' or path is refused). The server
    // certificate is verified against ca_file and its name (DNS SAN or IP SAN) against HOST.
    [[nodiscard]] static result<std::unique_ptr<https_client>> create(std::string_view url,
                                                                      https_client_options opts);
    ~https_client();
    https_client(const https_client&) = delete;
    https_client& operator=(const https_client&) = delete;

    // Sends one request on the kept-alive connection, (re)connecting as needed; a request on a connection the
    // server had closed is retried once on a new one. errc::io names what failed (connect, TLS, timeout).
    // Any HTTP status is a successful result: callers look at reply.status.
    [[nodiscard]] result<http_reply> request(std::string_view method, std::string_view target,
                                             std::string_view body = {},
                                             std::string_view content_type = "application/json");
    void close() noexcept;  // drops the connection (the next request reconnects)

    struct impl;

private:
    explicit https_client(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace custos::net
