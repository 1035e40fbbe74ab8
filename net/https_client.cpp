#include "net/https_client.hpp"

#include <boost/json.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <optional>

namespace custos::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct https_client::impl {
    // Beast enforces tcp_stream timeouts only on asynchronous operations: each step starts one and runs the
    // io_context until it completes (or its timer fires with beast::error::timeout).
    template <class Start>
    beast::error_code run(Start start) {
        beast::error_code result = asio::error::would_block;
        start([&result](beast::error_code ec, auto&&...) { result = ec; });
        io.restart();
        io.run();
        return result;
    }

    std::string host;  // as in the URL, brackets removed for IPv6
    std::string port;
    bool host_is_ip = false;
    https_client_options opts;
    asio::io_context io;
    ssl::context tls{ssl::context::tls_client};
    std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
    beast::flat_buffer buffer;

    result<void> connect();
    result<http_reply> once(std::string_view method, std::string_view target, std::string_view body,
                            std::string_view content_type, bool& sent_nothing_back);
};

namespace {

error io_error(const std::string& what, const beast::error_code& ec) {
    std::string m = ec.message();
    if (ec == beast::error::timeout) m = "timed out";
    return make_error(errc::io, what + ": " + m);
}

}  // namespace

result<void> https_client::impl::connect() {
    stream.reset();
    buffer.clear();
    stream.emplace(io, tls);
    auto& lowest = beast::get_lowest_layer(*stream);
    beast::error_code ec;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(host, port, ec);
    if (ec) return io_error("resolving " + host, ec);
    lowest.expires_after(opts.timeout);
    ec = run([&](auto h) { lowest.async_connect(results, h); });
    if (ec) return io_error("connecting to " + host + ":" + port, ec);
    SSL* s = stream->native_handle();
    if (host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), host.c_str());
    } else {
        SSL_set_tlsext_host_name(s, host.c_str());
        SSL_set1_host(s, host.c_str());
    }
    lowest.expires_after(opts.timeout);
    ec = run([&](auto h) { stream->async_handshake(ssl::stream_base::client, h); });
    if (ec) {
        const long vr = SSL_get_verify_result(s);
        std::string why = ec == beast::error::timeout ? "timed out" : ec.message();
        if (vr != X509_V_OK) why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(vr);
        stream.reset();
        return make_error(errc::io, "TLS handshake with " + host + ":" + port + ": " + why);
    }
    return {};
}

result<http_reply> https_client::impl::once(std::string_view method, std::string_view target, std::string_view body,
                                            std::string_view content_type, bool& nothing_back) {
    nothing_back = true;
    http::request<http::string_body> req{http::string_to_verb(beast::string_view(method.data(), method.size())),
                                         beast::string_view(target.data(), target.size()), 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "custos");
    req.keep_alive(true);
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
        req.body() = std::string(body);
    }
    req.prepare_payload();
    auto& lowest = beast::get_lowest_layer(*stream);
    beast::error_code ec;
    lowest.expires_after(opts.timeout);
    ec = run([&](auto h) { http::async_write(*stream, req, h); });
    if (ec) return io_error("sending " + std::string(method) + " " + std::string(target), ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(opts.body_limit);
    parser.header_limit(64 * 1024);
    ec = run([&](auto h) { http::async_read(*stream, buffer, parser, h); });
    if (ec) {
        nothing_back = !parser.got_some();
        if (ec == http::error::body_limit)
            return make_error(errc::io, "the response to " + std::string(target) + " is larger than " +
                                            std::to_string(opts.body_limit) + " bytes");
        return io_error("reading the response to " + std::string(method) + " " + std::string(target), ec);
    }
    nothing_back = false;
    auto res = parser.release();
    http_reply r;
    r.status = res.result_int();
    r.content_type = std::string(res[http::field::content_type]);
    r.body = std::move(res.body());
    if (!res.keep_alive()) stream.reset();
    return r;
}

https_client::https_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
https_client::~https_client() { close(); }

result<std::unique_ptr<https_client>> https_client::create(std::string_view url, https_client_options opts) {
    constexpr std::string_view scheme = "https://";
    if (url.substr(0, scheme.size()) != scheme)
        return make_error(errc::invalid_argument, "URL \"" + std::string(url) + "\" does not start with https://");
    std::string_view rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos || rest.empty())
        return make_error(errc::invalid_argument, "URL \"" + std::string(url) + "\" must be https://HOST[:PORT] without a path");
    auto p = std::make_unique<impl>();
    std::string_view hostport = rest;
    if (hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) return make_error(errc::invalid_argument, "URL \"" + std::string(url) + "\": unclosed [");
        p->host = std::string(hostport.substr(1, close - 1));
        const auto after = hostport.substr(close + 1);
        p->port = after.empty() ? "443" : after[0] == ':' ? std::string(after.substr(1)) : "";
    } else {
        const auto colon = hostport.rfind(':');
        p->host = std::string(hostport.substr(0, colon));
        p->port = colon == std::string_view::npos ? "443" : std::string(hostport.substr(colon + 1));
    }
    if (p->host.empty() || p->port.empty() || p->port.find_first_not_of("0123456789") != std::string::npos)
        return make_error(errc::invalid_argument, "URL \"" + std::string(url) + "\" has no valid host and port");
    beast::error_code ec;
    asio::ip::make_address(p->host, ec);
    p->host_is_ip = !ec;
    p->opts = std::move(opts);

    SSL_CTX* ctx = p->tls.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    p->tls.set_verify_mode(ssl::verify_peer);
    if (p->opts.ca_file.empty()) {
        p->tls.set_default_verify_paths(ec);
    } else {
        p->tls.load_verify_file(p->opts.ca_file, ec);
    }
    if (ec) return make_error(errc::io, "loading the CA bundle " + p->opts.ca_file + ": " + ec.message());
    if (!p->opts.cert_file.empty()) {
        p->tls.use_certificate_chain_file(p->opts.cert_file, ec);
        if (ec) return make_error(errc::io, "loading the client certificate " + p->opts.cert_file + ": " + ec.message());
        p->tls.use_private_key_file(p->opts.key_file, ssl::context::pem, ec);
        if (ec) return make_error(errc::io, "loading the client key " + p->opts.key_file + ": " + ec.message());
    }
    return std::unique_ptr<https_client>(new https_client(std::move(p)));
}

result<http_reply> https_client::request(std::string_view method, std::string_view target, std::string_view body,
                                         std::string_view content_type) {
    // A kept-alive connection the server has closed (or sent anything on while idle) is not reused: that
    // is found out before sending, so a request is never sent twice for it.
    if (impl_->stream) {
        pollfd p{beast::get_lowest_layer(*impl_->stream).socket().native_handle(), POLLIN | POLLRDHUP, 0};
        if (::poll(&p, 1, 0) != 0) impl_->stream.reset();
    }
    const bool reused = impl_->stream.has_value();
    if (!reused) CUSTOS_TRY_VOID(impl_->connect());
    bool nothing_back = true;
    auto r = impl_->once(method, target, body, content_type, nothing_back);
    if (r.ok()) return r;
    impl_->stream.reset();
    // The server may have closed the connection just as the request went out. Only a GET is sent again
    // on a fresh one: a POST (an attestation round, a key release) may have been carried out already, and
    // sending it twice would spend its nonce twice.
    if (!reused || !nothing_back || method != "GET") return r;
    CUSTOS_TRY_VOID(impl_->connect());
    auto again = impl_->once(method, target, body, content_type, nothing_back);
    if (!again.ok()) impl_->stream.reset();
    return again;
}

void https_client::close() noexcept {
    if (!impl_ || !impl_->stream) return;
    beast::error_code ec;
    beast::get_lowest_layer(*impl_->stream).expires_after(std::chrono::milliseconds(200));
    beast::get_lowest_layer(*impl_->stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    impl_->stream.reset();
}

std::string reply_detail(const http_reply& r) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (!ec && v.is_object() && v.as_object().contains("detail") && v.as_object().at("detail").is_string())
        return std::string(v.as_object().at("detail").as_string());
    return r.body.substr(0, 200);
}

}  // namespace custos::net
