// The UDP relay: a socket per client towards the target, and two timed queues per client (there and back).
#include <deque>

#include "tools/delay-relay/relay.hpp"

namespace custos::delay_relay {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using boost::system::error_code;

std::string to_string(const udp::endpoint& ep) {
    const auto a = ep.address();
    const std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    return host + ":" + std::to_string(ep.port());
}

namespace {

constexpr std::size_t max_datagram = 65536;
// A queue longer than this drops new datagrams, like a router's full buffer, instead of growing without bound.
constexpr std::size_t max_queued_datagrams = 4096;
constexpr auto idle_limit = std::chrono::seconds(60);
constexpr auto sweep_every = std::chrono::seconds(10);

}  // namespace

// Datagrams waiting for their due time, in arrival order.
struct udp_relay::line {
    explicit line(asio::io_context& io, bool to_target) : timer(io), towards_target(to_target) {}
    std::deque<std::pair<clock::time_point, std::vector<char>>> queue;
    asio::steady_timer timer;
    bool armed = false;
    bool towards_target;
};

struct udp_relay::peer {
    peer(asio::io_context& io, const udp::endpoint& c)
        : client(c), upstream(io), rbuf(max_datagram), to_target(io, true), to_client(io, false) {}
    udp::endpoint client;
    udp::socket upstream;  // connected to the target, so only its replies arrive here
    std::vector<char> rbuf;
    line to_target;
    line to_client;
    clock::time_point last_active = clock::now();
};

udp_relay::udp_relay(asio::io_context& io, const udp::endpoint& target, std::chrono::milliseconds delay)
    : io_(io), listen_(io), target_(target), delay_(delay), sweep_timer_(io), rbuf_(max_datagram) {}

udp_relay::~udp_relay() {
    // Handlers still queued in the io_context may hold peers; closing here leaves them nothing to do.
    error_code ignore;
    for (auto& [ep, p] : peers_) p->upstream.close(ignore);
}

result<std::unique_ptr<udp_relay>> udp_relay::start(asio::io_context& io, const udp::endpoint& listen,
                                                    const udp::endpoint& target, std::chrono::milliseconds delay) {
    auto r = std::make_unique<udp_relay>(io, target, delay);
    error_code ec;
    r->listen_.open(listen.protocol(), ec);
    if (!ec) r->listen_.bind(listen, ec);
    if (!ec) r->listen_.non_blocking(true, ec);
    if (!ec) r->bound_ = r->listen_.local_endpoint(ec);
    if (ec) return make_error(errc::io, "cannot bind " + to_string(listen) + ": " + ec.message());
    r->receive();
    r->sweep();
    return r;
}

void udp_relay::receive() {
    listen_.async_receive_from(asio::buffer(rbuf_), sender_, [this](error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            if (auto p = peer_for(sender_)) enqueue(p, p->to_target, rbuf_.data(), n);
        }
        receive();
    });
}

std::shared_ptr<udp_relay::peer> udp_relay::peer_for(const udp::endpoint& client) {
    if (auto it = peers_.find(client); it != peers_.end()) return it->second;
    auto p = std::make_shared<peer>(io_, client);
    error_code ec;
    p->upstream.open(target_.protocol(), ec);
    if (!ec) p->upstream.connect(target_, ec);
    if (!ec) p->upstream.non_blocking(true, ec);
    if (ec) {
        log("cannot open a socket towards " + to_string(target_) + " for " + to_string(client) + ": " + ec.message());
        return nullptr;
    }
    peers_.emplace(client, p);
    receive_reply(p);
    return p;
}

void udp_relay::receive_reply(const std::shared_ptr<peer>& p) {
    p->upstream.async_receive(asio::buffer(p->rbuf), [this, p](error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || !p->upstream.is_open()) return;
        // connection_refused: an ICMP "port unreachable" for an earlier datagram; UDP carries on regardless.
        if (!ec) enqueue(p, p->to_client, p->rbuf.data(), n);
        receive_reply(p);
    });
}

void udp_relay::enqueue(const std::shared_ptr<peer>& p, line& l, const char* data, std::size_t n) {
    p->last_active = clock::now();
    if (l.queue.size() >= max_queued_datagrams) return;
    l.queue.emplace_back(p->last_active + delay_, std::vector<char>(data, data + n));
    schedule(p, l);
}

void udp_relay::schedule(const std::shared_ptr<peer>& p, line& l) {
    if (l.armed || l.queue.empty()) return;
    l.armed = true;
    l.timer.expires_at(l.queue.front().first);
    l.timer.async_wait([this, p, &l](error_code ec) {
        l.armed = false;
        if (ec || !p->upstream.is_open()) return;
        const auto now = clock::now();
        while (!l.queue.empty() && l.queue.front().first <= now) {
            const auto& d = l.queue.front().second;
            error_code sec;  // would_block and the like: the datagram is lost, as on a congested link
            if (l.towards_target) {
                p->upstream.send(asio::buffer(d), 0, sec);
            } else {
                listen_.send_to(asio::buffer(d), p->client, 0, sec);
            }
            l.queue.pop_front();
        }
        schedule(p, l);
    });
}

void udp_relay::sweep() {
    sweep_timer_.expires_after(sweep_every);
    sweep_timer_.async_wait([this](error_code ec) {
        if (ec) return;
        const auto now = clock::now();
        for (auto it = peers_.begin(); it != peers_.end();) {
            peer& p = *it->second;
            if (now - p.last_active > idle_limit && p.to_target.queue.empty() && p.to_client.queue.empty()) {
                error_code ignore;
                p.upstream.close(ignore);
                it = peers_.erase(it);
            } else {
                ++it;
            }
        }
        sweep();
    });
}

}  // namespace custos::delay_relay
