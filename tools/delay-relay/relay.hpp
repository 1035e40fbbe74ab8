// delay-relay's two relays, TCP streams and UDP datagrams, each holding every chunk for a fixed one-way delay.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <memory>
#include <vector>

#include "crypto/result.hpp"

namespace custos::delay_relay {

using clock = std::chrono::steady_clock;

// Diagnostics go to stderr, one line each, prefixed with the program name.
inline void log(const std::string& msg) { std::fprintf(stderr, "delay-relay: %s\n", msg.c_str()); }

// "127.0.0.1:80", "[::1]:80".
std::string to_string(const boost::asio::ip::tcp::endpoint& ep);
std::string to_string(const boost::asio::ip::udp::endpoint& ep);

// Accepts connections and, for each, connects to the target; every chunk read from either side is written to
// the other no earlier than `delay` after it was read. Half-closes and resets are forwarded after the data
// queued before them. A target that cannot be reached closes that one connection (with a reset), not the relay.
// Lives as long as the io_context runs; the sessions it starts hold only what they need.
class tcp_relay {
public:
    // Binds and listens on `listen` (port 0: a free port).
    [[nodiscard]] static result<std::unique_ptr<tcp_relay>> start(boost::asio::io_context& io,
                                                                  const boost::asio::ip::tcp::endpoint& listen,
                                                                  std::vector<boost::asio::ip::tcp::endpoint> targets,
                                                                  std::chrono::milliseconds delay);
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return bound_; }

    tcp_relay(boost::asio::io_context& io, std::vector<boost::asio::ip::tcp::endpoint> targets,
              std::chrono::milliseconds delay);

private:
    void accept();

    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer backoff_;
    std::shared_ptr<const std::vector<boost::asio::ip::tcp::endpoint>> targets_;
    std::chrono::milliseconds delay_;
    boost::asio::ip::tcp::endpoint bound_;
    std::uint64_t next_id_ = 1;
};

// Datagrams from each client to `listen` go to the target from a socket of that client's own, `delay` later;
// the target's replies on that socket go back to the client `delay` later. A client idle for a minute loses
// its socket. A datagram that cannot be sent is dropped, as a network would.
class udp_relay {
public:
    [[nodiscard]] static result<std::unique_ptr<udp_relay>> start(boost::asio::io_context& io,
                                                                  const boost::asio::ip::udp::endpoint& listen,
                                                                  const boost::asio::ip::udp::endpoint& target,
                                                                  std::chrono::milliseconds delay);
    [[nodiscard]] boost::asio::ip::udp::endpoint local_endpoint() const { return bound_; }

    struct peer;
    struct line;
    udp_relay(boost::asio::io_context& io, const boost::asio::ip::udp::endpoint& target,
              std::chrono::milliseconds delay);
    ~udp_relay();
    udp_relay(const udp_relay&) = delete;
    udp_relay& operator=(const udp_relay&) = delete;

private:
    void receive();
    void receive_reply(const std::shared_ptr<peer>& p);
    std::shared_ptr<peer> peer_for(const boost::asio::ip::udp::endpoint& client);
    void enqueue(const std::shared_ptr<peer>& p, line& l, const char* data, std::size_t n);
    void schedule(const std::shared_ptr<peer>& p, line& l);
    void sweep();

    boost::asio::io_context& io_;
    boost::asio::ip::udp::socket listen_;
    boost::asio::ip::udp::endpoint target_;
    std::chrono::milliseconds delay_;
    boost::asio::ip::udp::endpoint bound_;
    boost::asio::steady_timer sweep_timer_;
    std::vector<char> rbuf_;
    boost::asio::ip::udp::endpoint sender_;
    std::map<boost::asio::ip::udp::endpoint, std::shared_ptr<peer>> peers_;
};

}  // namespace custos::delay_relay
