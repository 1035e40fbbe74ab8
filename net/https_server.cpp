// Beast/Asio/OpenSSL implementation of https_server; all Beast types stay in this file.
#include "net/https_server.hpp"

#include "crypto/bytes.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace custos::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

http_response json_error(unsigned status, std::string_view error, std::string_view detail) {
    boost::json::object o;
    o["error"] = error;
    o["detail"] = detail;
    return http_response{status, "application/json", boost::json::serialize(o)};
}

namespace {

struct route_entry {
    auth required;
    route_handler handler;
};

// path -> method -> route; exact matches only, so 404 and 405 can be told apart.
using method_table = std::map<std::string, route_entry, std::less<>>;
struct route_table {
    std::map<std::string, method_table, std::less<>> exact;
    std::map<std::string, method_table, std::greater<>> prefixes;  // longest first among shared prefixes
};

std::string subject_entry(X509* cert, int nid) {
    X509_NAME* name = X509_get_subject_name(cert);
    if (name == nullptr) return {};
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0) return {};
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return out;
}

std::vector<std::string> san_uris(X509* cert) {
    std::vector<std::string> out;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names == nullptr) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type != GEN_URI) continue;
        const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
        out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(names);
    return out;
}

request_context peer_context(SSL* ssl_handle) {
    request_context ctx;
    X509* peer = SSL_get0_peer_certificate(ssl_handle);
    if (peer != nullptr && SSL_get_verify_result(ssl_handle) == X509_V_OK) {
        ctx.client_verified = true;
        ctx.client_cn = subject_entry(peer, NID_commonName);
        ctx.client_ou = subject_entry(peer, NID_organizationalUnitName);
        ctx.client_uris = san_uris(peer);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        if (X509_digest(peer, EVP_sha256(), md, &md_len) == 1) ctx.client_sha256 = to_hex({md, md_len});
    }
    return ctx;
}

// The matched table and its name for metrics: the exact path, or the prefix followed by '*'.
const method_table* find_routes(const route_table& routes, std::string_view path, std::string& name) {
    if (auto e = routes.exact.find(path); e != routes.exact.end()) {
        name = e->first;
        return &e->second;
    }
    for (const auto& [prefix, methods] : routes.prefixes)
        if (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix) {
            name = prefix + "*";
            return &methods;
        }
    name = "unmatched";
    return nullptr;
}

http_response dispatch_route(const route_table& routes, const http_request& req, const request_context& ctx,
                             std::string& name) {
    std::string_view path = req.target;
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    const method_table* methods = find_routes(routes, path, name);
    if (methods == nullptr) return json_error(404, "not_found", "no route for this path");
    auto by_method = methods->find(req.method);
    if (by_method == methods->end())
        return json_error(405, "method_not_allowed", "this path does not accept " + req.method);
    const route_entry& r = by_method->second;
    if (r.required == auth::client_cert && !ctx.client_verified)
        return json_error(401, "unauthorized", "this route requires a verified client certificate");
    try {
        return r.handler(req, ctx);
    } catch (const std::exception& e) {
        return json_error(500, "internal", e.what());
    } catch (...) {
        return json_error(500, "internal", "handler failed");
    }
}

http_response dispatch(const route_table& routes, const http_request& req, const request_context& ctx,
                       const request_observer& observer) {
    if (!observer) {
        std::string name;
        return dispatch_route(routes, req, ctx, name);
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::string name;
    http_response resp = dispatch_route(routes, req, ctx, name);
    observer(req.method + " " + name, resp.status, std::chrono::steady_clock::now() - t0);
    return resp;
}

class session : public std::enable_shared_from_this<session> {
public:
    // `open` counts live sessions: incremented by the acceptor before construction, decremented here.
    session(tcp::socket socket, ssl::context& tls, const route_table& routes, const https_server_options& opts,
            std::atomic<std::size_t>& open)
        : stream_(std::move(socket), tls), routes_(routes), opts_(opts), open_(open) {}
    ~session() { open_.fetch_sub(1); }
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    void start() {
        beast::get_lowest_layer(stream_).expires_after(opts_.read_timeout);
        stream_.async_handshake(ssl::stream_base::server,
                                [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
    }

private:
    void on_handshake(beast::error_code ec) {
        if (ec) return close();
        ctx_ = peer_context(stream_.native_handle());
        read_request();
    }

    void read_request() {
        parser_.emplace();
        parser_->body_limit(opts_.body_limit);
        parser_->header_limit(opts_.header_limit);
        beast::get_lowest_layer(stream_).expires_after(opts_.read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            return send(json_error(413, "payload_too_large", "request body exceeds the limit"), false, 11);
        }
        if (ec == http::error::header_limit) {
            return send(json_error(431, "headers_too_large", "request headers exceed the limit"), false, 11);
        }
        if (ec) return close();  // timeout, EOF, reset or malformed request: nothing useful to answer
        auto& msg = parser_->get();
        http_request req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        if (auto it = msg.find(http::field::content_type); it != msg.end()) req.content_type = std::string(it->value());
        req.body = std::move(msg.body());
        http_response resp = dispatch(routes_, req, ctx_, opts_.observer);
        send(std::move(resp), msg.keep_alive(), msg.version());
    }

    void send(http_response r, bool keep_alive, unsigned version) {
        auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status),
                                                                         version == 10 ? 10 : 11);
        res->set(http::field::server, "custos");
        res->set(http::field::content_type, r.content_type);
        if (!r.cache_control.empty()) res->set(http::field::cache_control, r.cache_control);
        res->body() = std::move(r.body);
        res->keep_alive(keep_alive);
        res->prepare_payload();
        beast::get_lowest_layer(stream_).expires_after(opts_.read_timeout);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              if (keep_alive) return self->read_request();
                              self->linger_close();
                          });
    }

    // Stop sending, then drain what the peer still sends for a moment so the kernel does not
    // answer unread data with a reset that would discard our last response before the peer reads it.
    void linger_close() {
        beast::error_code ignored;
        auto& sock = beast::get_lowest_layer(stream_).socket();
        sock.shutdown(tcp::socket::shutdown_send, ignored);
        beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
        drain();
    }

    void drain() {
        beast::get_lowest_layer(stream_).async_read_some(
            asio::buffer(drain_buf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (ec) return self->close();
                self->drain();
            });
    }

    void close() {
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(stream_).close();
    }

    beast::ssl_stream<beast::tcp_stream> stream_;
    const route_table& routes_;
    const https_server_options& opts_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    request_context ctx_;
    std::array<char, 4096> drain_buf_{};
    std::atomic<std::size_t>& open_;
};

}  // namespace

struct https_server::impl {
    https_server_options opts;
    ssl::context tls{ssl::context::tls_server};
    route_table routes;
    std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>();
    std::unique_ptr<tcp::acceptor> acceptor;
    std::vector<std::thread> workers;
    std::uint16_t port = 0;
    bool stopped = false;
    std::atomic<std::size_t> open{0};
    std::atomic<std::uint64_t> refused{0}, accept_errors{0};
    std::optional<asio::steady_timer> backoff_timer;
    std::chrono::milliseconds backoff{0};

    void accept() {
        acceptor->async_accept(asio::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
            if (ec) {
                // Out of descriptors or memory: accepting again at once would spin. Back off, 10 ms
                // doubling to 1 s, and try again.
                accept_errors.fetch_add(1);
                backoff = std::min(std::max(backoff * 2, std::chrono::milliseconds(10)), std::chrono::milliseconds(1000));
                backoff_timer.emplace(*ioc, backoff);
                backoff_timer->async_wait([this](beast::error_code tec) {
                    if (!tec && acceptor && acceptor->is_open()) accept();
                });
                return;
            }
            backoff = std::chrono::milliseconds(0);
            if (open.load() >= opts.max_connections) {
                // Refused fast: no handshake, no buffers; the client sees the connection close.
                refused.fetch_add(1);
                beast::error_code ignored;
                socket.close(ignored);
            } else {
                open.fetch_add(1);
                std::make_shared<session>(std::move(socket), tls, routes, opts, open)->start();
            }
            accept();
        });
    }
};

https_server::https_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

https_server::~https_server() { stop(); }

result<std::unique_ptr<https_server>> https_server::create(https_server_options opts) {
    auto p = std::make_unique<impl>();
    p->opts = std::move(opts);
    if (p->opts.threads == 0) p->opts.threads = 1;
    SSL_CTX* ctx = p->tls.native_handle();
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 || SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        return make_error(errc::crypto, "cannot restrict TLS to version 1.3");
    // No session resumption: every connection shows its client certificate afresh (a revoked credential
    // cannot ride an old session), and a client that offers a saved session (HAProxy's health checks do
    // by default) gets a full handshake. No tickets and no cache, so nothing is handed out to resume; the
    // context id keeps OpenSSL from aborting with internal_error when a client offers one anyway.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1) return make_error(errc::crypto, "cannot turn off TLS session tickets");
    static constexpr unsigned char session_context[] = "custos";
    if (SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1) != 1)
        return make_error(errc::crypto, "cannot set the TLS session id context");
    beast::error_code ec;
    p->tls.use_certificate_chain_file(p->opts.cert_pem_path, ec);
    if (ec) return make_error(errc::io, "loading server certificate " + p->opts.cert_pem_path + ": " + ec.message());
    p->tls.use_private_key_file(p->opts.key_pem_path, ssl::context::pem, ec);
    if (ec) return make_error(errc::io, "loading server key " + p->opts.key_pem_path + ": " + ec.message());
    if (SSL_CTX_check_private_key(ctx) != 1)
        return make_error(errc::mismatch, "server key does not match certificate " + p->opts.cert_pem_path);
    if (!p->opts.client_ca_pem_path.empty()) {
        p->tls.load_verify_file(p->opts.client_ca_pem_path, ec);
        if (ec) return make_error(errc::io, "loading client CA " + p->opts.client_ca_pem_path + ": " + ec.message());
        // Request a certificate but do not require one: routes decide, and /healthz stays open.
        p->tls.set_verify_mode(ssl::verify_peer, ec);
        if (ec) return make_error(errc::crypto, "setting client verification: " + ec.message());
    }
    auto srv = std::unique_ptr<https_server>(new https_server(std::move(p)));
    srv->route("GET", "/healthz", auth::none,
               [](const http_request&, const request_context&) { return http_response{200, "application/json", R"({"status":"ok"})"}; });
    return srv;
}

void https_server::route(std::string method, std::string path, auth required, route_handler handler) {
    impl_->routes.exact[std::move(path)][std::move(method)] = route_entry{required, std::move(handler)};
}

void https_server::route_prefix(std::string method, std::string prefix, auth required, route_handler handler) {
    impl_->routes.prefixes[std::move(prefix)][std::move(method)] = route_entry{required, std::move(handler)};
}

result<void> https_server::listen(const std::string& host, std::uint16_t port) {
    beast::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return make_error(errc::invalid_argument, "bad listen address '" + host + "': " + ec.message());
    tcp::endpoint ep{addr, port};
    auto acc = std::make_unique<tcp::acceptor>(*impl_->ioc);
    if (acc->open(ep.protocol(), ec); ec) return make_error(errc::io, "opening listener: " + ec.message());
    if (acc->set_option(asio::socket_base::reuse_address(true), ec); ec)
        return make_error(errc::io, "setting SO_REUSEADDR: " + ec.message());
    if (acc->bind(ep, ec); ec)
        return make_error(errc::io, "binding " + host + ":" + std::to_string(port) + ": " + ec.message());
    if (acc->listen(asio::socket_base::max_listen_connections, ec); ec)
        return make_error(errc::io, "listening: " + ec.message());
    impl_->port = acc->local_endpoint().port();
    impl_->acceptor = std::move(acc);
    impl_->accept();
    return {};
}

std::uint16_t https_server::bound_port() const noexcept { return impl_->port; }

connection_stats https_server::stats() const noexcept {
    return {impl_->open.load(), impl_->refused.load(), impl_->accept_errors.load()};
}

void https_server::run() {
    if (impl_->stopped || !impl_->workers.empty()) return;
    for (unsigned i = 0; i < impl_->opts.threads; ++i) impl_->workers.emplace_back([this] { impl_->ioc->run(); });
}

void https_server::stop() {
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->ioc->stop();
    for (auto& t : impl_->workers) t.join();
    impl_->workers.clear();
    // Destroying the io_context destroys every pending handler and with it every session and socket.
    impl_->acceptor.reset();
    impl_->backoff_timer.reset();
    impl_->ioc.reset();
}

}  // namespace custos::net
