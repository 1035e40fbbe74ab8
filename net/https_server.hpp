// A generic HTTPS server core: TLS 1.3 only, optional mutual TLS, exact method+path routes, limits on every read.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"

namespace custos::net {

// Whether a route needs a client certificate that verified against the configured client CA bundle.
enum class auth { none, client_cert };

struct http_request {
    std::string method;        // "GET", "POST", ...
    std::string target;        // path plus any query string, as sent
    std::string content_type;  // empty when absent
    std::string body;
};

struct http_response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string cache_control = {};  // sent as Cache-Control when not empty
};

// What the TLS layer established about the peer; handlers see only this, never the socket.
struct request_context {
    bool client_verified = false;  // a client certificate was offered and verified against the client CA
    std::string client_cn;         // that certificate's subject CN, empty when none
    std::string client_ou;         // its subject OU (custos puts the role there: "operator", "agent")
    std::string client_sha256;     // lowercase hex SHA-256 of the DER certificate
    std::vector<std::string> client_uris;  // its subjectAltName URIs
};

using route_handler = std::function<http_response(const http_request&, const request_context&)>;

// Called after each request with "METHOD route" (the exact path, or a prefix followed by '*', or
// "unmatched"), the status sent and the handling time; must be thread-safe.
using request_observer = std::function<void(const std::string& route, unsigned status, std::chrono::nanoseconds took)>;

struct https_server_options {
    std::string cert_pem_path;       // server certificate (chain) in PEM
    std::string key_pem_path;        // server private key in PEM
    std::string client_ca_pem_path;  // CA bundle for client certificates; empty disables mutual TLS
    std::size_t body_limit = 1024 * 1024;
    std::uint32_t header_limit = 16 * 1024;
    std::chrono::milliseconds read_timeout{10'000};  // TLS handshake and each request read
    unsigned threads = 2;
    // Connections open at once (TLS handshakes included); one more is closed as soon as it is accepted,
    // without a handshake, and counted (connection_stats::refused).
    std::size_t max_connections = 1024;
    request_observer observer;  // optional
};

// What the listener has seen, for /metrics.
struct connection_stats {
    std::size_t open = 0;         // connections now open
    std::uint64_t refused = 0;    // closed at once because max_connections were open
    std::uint64_t accept_errors = 0;  // accept() failures (e.g. out of file descriptors), each followed by a back-off
};

// {"error":"<error>","detail":"<detail>"} with the given status.
http_response json_error(unsigned status, std::string_view error, std::string_view detail);

class https_server {
public:
    [[nodiscard]] static result<std::unique_ptr<https_server>> create(https_server_options opts);
    ~https_server();
    https_server(const https_server&) = delete;
    https_server& operator=(const https_server&) = delete;

    // Register before run(); routes are matched on exact method and path (query string ignored).
    void route(std::string method, std::string path, auth required, route_handler handler);
    // A path prefix ("/v1/hosts/"): matched when no exact route matches, longest prefix first; the handler
    // parses the rest of the path itself.
    void route_prefix(std::string method, std::string prefix, auth required, route_handler handler);

    [[nodiscard]] result<void> listen(const std::string& host, std::uint16_t port);  // port 0: any free port
    std::uint16_t bound_port() const noexcept;
    connection_stats stats() const noexcept;

    void run();   // starts the worker threads and returns
    void stop();  // closes the listener and every connection, joins the workers; idempotent

    struct impl;

private:
    explicit https_server(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace custos::net
