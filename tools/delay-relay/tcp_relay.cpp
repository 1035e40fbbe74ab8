// The TCP relay: per connection, two directions, each a queue of chunks released by one timer at read time + delay.
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <deque>

#include "tools/delay-relay/relay.hpp"

namespace custos::delay_relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::string to_string(const tcp::endpoint& ep) {
    const auto a = ep.address();
    const std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    return host + ":" + std::to_string(ep.port());
}

namespace {

constexpr std::size_t read_chunk = 64 * 1024;
// What one direction may hold before it stops reading from its source. With the delay this caps throughput at
// max_queued / delay (16 MiB per 25 ms), plenty for tests, and a fast sender cannot fill the relay's memory:
// TCP flow control pushes back on it instead.
constexpr std::size_t max_queued = 16 * 1024 * 1024;

struct chunk {
    enum class kind { data, eof, reset };
    clock::time_point due;
    kind what;
    std::vector<char> bytes;
};

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket client, std::chrono::milliseconds delay, std::uint64_t id)
        : client_(std::move(client)), upstream_(client_.get_executor()), delay_(delay), id_(id) {}

    void start(const std::shared_ptr<const std::vector<tcp::endpoint>>& targets) {
        asio::async_connect(upstream_, *targets,
                            [self = shared_from_this(), targets](error_code ec, const tcp::endpoint&) {
                                self->on_connect(ec, *targets);
                            });
    }

private:
    struct direction {
        direction(tcp::socket& f, tcp::socket& t, const char* n)
            : from(f), to(t), timer(f.get_executor()), rbuf(read_chunk), name(n) {}
        tcp::socket& from;
        tcp::socket& to;
        asio::steady_timer timer;
        std::vector<char> rbuf;
        std::deque<chunk> queue;
        std::size_t queued = 0;  // data bytes in `queue`
        bool reading = false;    // a read on `from` is outstanding
        bool sending = false;    // a timer wait or a write to `to` is outstanding
        bool read_done = false;  // `from` reached EOF or failed: nothing more to read
        bool shut = false;       // the EOF was delivered to `to`
        const char* name;
    };

    std::string tag() const { return "[conn " + std::to_string(id_) + "] "; }

    void on_connect(error_code ec, const std::vector<tcp::endpoint>& targets) {
        if (ec) {
            log(tag() + "target " + (targets.empty() ? std::string("?") : to_string(targets.front())) +
                " unreachable (" + ec.message() + "); resetting the client connection");
            abort(&client_);
            return;
        }
        error_code ignore;
        upstream_.set_option(tcp::no_delay(true), ignore);
        read(up_);
        read(down_);
    }

    void read(direction& d) {
        if (closed_ || d.reading || d.read_done || d.queued >= max_queued) return;
        d.reading = true;
        d.from.async_read_some(asio::buffer(d.rbuf), [self = shared_from_this(), &d](error_code ec, std::size_t n) {
            self->on_read(d, ec, n);
        });
    }

    void on_read(direction& d, error_code ec, std::size_t n) {
        d.reading = false;
        if (closed_) return;
        const auto due = clock::now() + delay_;
        if (!ec) {
            d.queue.push_back({due, chunk::kind::data, std::vector<char>(d.rbuf.begin(), d.rbuf.begin() + n)});
            d.queued += n;
            pump(d);
            read(d);
            return;
        }
        d.read_done = true;
        if (ec == asio::error::eof) {
            d.queue.push_back({due, chunk::kind::eof, {}});
        } else {
            log(tag() + d.name + ": " + ec.message() + "; resetting the other side after the delay");
            d.queue.push_back({due, chunk::kind::reset, {}});
        }
        pump(d);
    }

    // Waits for the front chunk's due time, then delivers it; one chunk in flight per direction keeps the order.
    void pump(direction& d) {
        if (closed_ || d.sending || d.queue.empty()) return;
        d.sending = true;
        d.timer.expires_at(d.queue.front().due);
        d.timer.async_wait([self = shared_from_this(), &d](error_code ec) { self->on_due(d, ec); });
    }

    void on_due(direction& d, error_code ec) {
        if (closed_ || ec) return;
        chunk& c = d.queue.front();
        switch (c.what) {
        case chunk::kind::data:
            asio::async_write(d.to, asio::buffer(c.bytes),
                              [self = shared_from_this(), &d](error_code wec, std::size_t) { self->on_written(d, wec); });
            return;
        case chunk::kind::eof: {
            error_code ignore;
            d.to.shutdown(tcp::socket::shutdown_send, ignore);
            d.shut = true;
            d.queue.pop_front();
            d.sending = false;
            if (up_.shut && down_.shut) close();
            return;
        }
        case chunk::kind::reset:
            abort(&d.to);
            return;
        }
    }

    void on_written(direction& d, error_code ec) {
        d.sending = false;
        if (closed_) return;
        if (ec) {
            log(tag() + d.name + ": write failed (" + ec.message() + "); closing the connection");
            abort(&d.from);
            return;
        }
        d.queued -= d.queue.front().bytes.size();
        d.queue.pop_front();
        pump(d);
        read(d);  // resumes a direction that stopped at max_queued
    }

    // Both sides said EOF and both EOFs were delivered.
    void close() {
        closed_ = true;
        error_code ignore;
        client_.close(ignore);
        upstream_.close(ignore);
        up_.timer.cancel();
        down_.timer.cancel();
    }

    // Closes both sockets at once, `reset_peer` (when set) with a reset rather than a FIN, dropping queued data.
    void abort(tcp::socket* reset_peer) {
        if (reset_peer != nullptr && reset_peer->is_open()) {
            error_code ignore;
            reset_peer->set_option(asio::socket_base::linger(true, 0), ignore);
        }
        close();
    }

    tcp::socket client_;
    tcp::socket upstream_;
    direction up_{client_, upstream_, "client->target"};
    direction down_{upstream_, client_, "target->client"};
    std::chrono::milliseconds delay_;
    std::uint64_t id_;
    bool closed_ = false;
};

}  // namespace

tcp_relay::tcp_relay(asio::io_context& io, std::vector<tcp::endpoint> targets, std::chrono::milliseconds delay)
    : acceptor_(io),
      backoff_(io),
      targets_(std::make_shared<const std::vector<tcp::endpoint>>(std::move(targets))),
      delay_(delay) {}

result<std::unique_ptr<tcp_relay>> tcp_relay::start(asio::io_context& io, const tcp::endpoint& listen,
                                                    std::vector<tcp::endpoint> targets, std::chrono::milliseconds delay) {
    auto r = std::make_unique<tcp_relay>(io, std::move(targets), delay);
    error_code ec;
    r->acceptor_.open(listen.protocol(), ec);
    if (!ec) r->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) r->acceptor_.bind(listen, ec);
    if (!ec) r->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) r->bound_ = r->acceptor_.local_endpoint(ec);
    if (ec) return make_error(errc::io, "cannot listen on " + to_string(listen) + ": " + ec.message());
    r->accept();
    return r;
}

void tcp_relay::accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
            // Out of descriptors and the like: retry shortly rather than spin.
            log("accept failed: " + ec.message());
            backoff_.expires_after(std::chrono::milliseconds(100));
            backoff_.async_wait([this](error_code wec) {
                if (!wec) accept();
            });
            return;
        }
        error_code ignore;
        socket.set_option(tcp::no_delay(true), ignore);
        std::make_shared<session>(std::move(socket), delay_, next_id_++)->start(targets_);
        accept();
    });
}

}  // namespace custos::delay_relay
