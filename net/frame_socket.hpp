// Small framed messages over a plain TCP socket (u8 type, u16 big-endian length, payload), with deadlines
// on every read and write: the landmark exchange, where one round trip is what is being measured, so no
// TLS handshake or HTTP parsing sits in the timed path (every message that matters is signed instead).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"
#include "net/address.hpp"

namespace custos::net {

struct frame {
    std::uint8_t type = 0;
    bytes payload;  // at most 65535 bytes
};

// An owned socket descriptor with TCP_NODELAY set.
class frame_socket {
public:
    frame_socket() = default;
    explicit frame_socket(int fd);
    ~frame_socket();
    frame_socket(frame_socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    frame_socket& operator=(frame_socket&& o) noexcept;
    frame_socket(const frame_socket&) = delete;
    frame_socket& operator=(const frame_socket&) = delete;

    // "HOST:PORT" (IPv6 as [::1]:PORT), resolved and connected within `timeout`.
    static result<frame_socket> connect(const std::string& address, std::chrono::milliseconds timeout);

    result<void> send(const frame& f, std::chrono::milliseconds timeout);
    // errc::io on timeout, a closed peer or a socket error; errc::parse for a frame longer than max_payload.
    result<frame> receive(std::chrono::milliseconds timeout, std::size_t max_payload = 4096);

    // Whether data (or the peer's close) is waiting, after at most `timeout`.
    result<bool> readable(std::chrono::milliseconds timeout);

    int fd() const { return fd_; }
    void close();

private:
    int fd_ = -1;
};

// A listening TCP socket on "HOST:PORT" (port 0: any free one).
class frame_listener {
public:
    static result<frame_listener> listen(const std::string& address);
    frame_listener(frame_listener&& o) noexcept : fd_(o.fd_), port_(o.port_) { o.fd_ = -1; }
    frame_listener& operator=(frame_listener&&) = delete;
    ~frame_listener();
    std::uint16_t port() const { return port_; }
    // Waits up to `timeout` for a connection; an empty socket (fd -1) when none came.
    result<frame_socket> accept(std::chrono::milliseconds timeout);
    void close();

private:
    frame_listener(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace custos::net
