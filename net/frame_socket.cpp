#include "net/frame_socket.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace custos::net {
namespace {

using steady = std::chrono::steady_clock;

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// Waits for `events` on fd until `deadline`; errc::io on timeout.
result<void> wait_for(int fd, short events, steady::time_point deadline, const char* what) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) return make_error(errc::io, std::string(what) + ": timed out");
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left));
        if (r < 0) {
            if (errno == EINTR) continue;
            return make_error(errc::io, sys_error(what));
        }
        if (r > 0) return {};
    }
}

void set_nodelay_nonblock(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

result<void> read_exact(int fd, std::uint8_t* p, std::size_t n, steady::time_point deadline) {
    while (n > 0) {
        const ssize_t r = ::recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= static_cast<std::size_t>(r);
            continue;
        }
        if (r == 0) return make_error(errc::io, "the peer closed the connection");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return make_error(errc::io, sys_error("receiving"));
        CUSTOS_TRY_VOID(wait_for(fd, POLLIN, deadline, "receiving"));
    }
    return {};
}

}  // namespace

frame_socket::frame_socket(int fd) : fd_(fd) {
    if (fd_ >= 0) set_nodelay_nonblock(fd_);
}

frame_socket::~frame_socket() { close(); }

frame_socket& frame_socket::operator=(frame_socket&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

void frame_socket::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

result<frame_socket> frame_socket::connect(const std::string& address, std::chrono::milliseconds timeout) {
    CUSTOS_TRY(hp, split_host_port(address));
    const auto deadline = steady::now() + timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(hp.host.c_str(), std::to_string(hp.port).c_str(), &hints, &res); rc != 0)
        return make_error(errc::io, "resolving " + address + ": " + ::gai_strerror(rc));
    std::string last = "no address";
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        frame_socket s(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
        if (s.fd() < 0) {
            last = sys_error("socket");
            continue;
        }
        if (::connect(s.fd(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last = sys_error("connecting to " + address);
            continue;
        }
        if (auto w = wait_for(s.fd(), POLLOUT, deadline, "connecting"); !w) {
            last = "connecting to " + address + ": timed out";
            continue;
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            last = "connecting to " + address + ": " + std::strerror(err);
            continue;
        }
        ::freeaddrinfo(res);
        return s;
    }
    ::freeaddrinfo(res);
    return make_error(errc::io, last);
}

result<void> frame_socket::send(const frame& f, std::chrono::milliseconds timeout) {
    if (f.payload.size() > 0xFFFF) return make_error(errc::invalid_argument, "frame payload over 65535 bytes");
    bytes out;
    out.reserve(3 + f.payload.size());
    out.push_back(f.type);
    append_u16_be(out, static_cast<std::uint16_t>(f.payload.size()));
    append(out, f.payload);
    const auto deadline = steady::now() + timeout;
    std::size_t off = 0;
    while (off < out.size()) {
        const ssize_t w = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += static_cast<std::size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return make_error(errc::io, sys_error("sending"));
        CUSTOS_TRY_VOID(wait_for(fd_, POLLOUT, deadline, "sending"));
    }
    return {};
}

result<frame> frame_socket::receive(std::chrono::milliseconds timeout, std::size_t max_payload) {
    const auto deadline = steady::now() + timeout;
    std::uint8_t head[3];
    CUSTOS_TRY_VOID(read_exact(fd_, head, 3, deadline));
    const std::size_t len = (std::size_t(head[1]) << 8) | head[2];
    if (len > max_payload)
        return make_error(errc::parse, "a frame of " + std::to_string(len) + " bytes (at most " + std::to_string(max_payload) + ")");
    frame f;
    f.type = head[0];
    f.payload.resize(len);
    CUSTOS_TRY_VOID(read_exact(fd_, f.payload.data(), len, deadline));
    return f;
}

result<bool> frame_socket::readable(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno != EINTR) return make_error(errc::io, sys_error("waiting for data"));
    return r > 0;
}

result<frame_listener> frame_listener::listen(const std::string& address) {
    CUSTOS_TRY(hp, split_host_port(address));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(hp.host.c_str(), std::to_string(hp.port).c_str(), &hints, &res); rc != 0)
        return make_error(errc::invalid_argument, "listen address " + address + ": " + ::gai_strerror(rc));
    const int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        ::freeaddrinfo(res);
        return make_error(errc::io, sys_error("socket"));
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
        const std::string e = sys_error("listening on " + address);
        ::freeaddrinfo(res);
        ::close(fd);
        return make_error(errc::io, e);
    }
    ::freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const std::uint16_t port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return frame_listener(fd, port);
}

frame_listener::~frame_listener() { close(); }

void frame_listener::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

result<frame_socket> frame_listener::accept(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno != EINTR) return make_error(errc::io, sys_error("waiting for connections"));
    if (r <= 0) return frame_socket{};
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return frame_socket{};
        return make_error(errc::io, sys_error("accepting"));
    }
    return frame_socket(fd);
}

}  // namespace custos::net
