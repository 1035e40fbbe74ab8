// delay-relay: relays TCP connections (or UDP datagrams) from --listen to --to, holding every chunk for a
// fixed one-way delay, so a simulated host on loopback sits "far" from a landmark (where tc netem is missing).
#include <CLI/CLI.hpp>

#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "net/address.hpp"
#include "tools/delay-relay/relay.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using namespace custos;
using namespace custos::delay_relay;

namespace {

constexpr int exit_usage = 2;
constexpr int exit_runtime = 1;

// Every address the name resolves to (a numeric address resolves to itself), in resolver order.
template <class Protocol>
result<std::vector<typename Protocol::endpoint>> resolve(asio::io_context& io, const std::string& what,
                                                         bool passive) {
    CUSTOS_TRY(hp, net::split_host_port(what));
    if (hp.port == 0 && !passive) return make_error(errc::invalid_argument, "'" + what + "': port 0 is only for --listen");
    typename Protocol::resolver resolver(io);
    boost::system::error_code ec;
    const auto flags = passive ? Protocol::resolver::passive : typename Protocol::resolver::flags{};
    const auto results = resolver.resolve(hp.host, std::to_string(hp.port), flags | Protocol::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        return make_error(errc::invalid_argument,
                          "cannot resolve '" + what + "': " + (ec ? ec.message() : std::string("no addresses")));
    }
    std::vector<typename Protocol::endpoint> eps;
    for (const auto& r : results) eps.push_back(r.endpoint());
    return eps;
}

// Written beside the target and renamed over it, so a reader never sees a half-written port.
result<void> write_port_file(const fs::path& file, unsigned short port) {
    const fs::path tmp = file.string() + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << port << '\n';
        out.close();
        if (!out) return make_error(errc::io, "cannot write " + tmp.string());
    }
    std::error_code ec;
    fs::rename(tmp, file, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return make_error(errc::io, "cannot rename " + tmp.string() + " to " + file.string());
    }
    return {};
}

int fail(int code, const std::string& msg) {
    log(msg);
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "delay-relay: relays TCP connections (or, with --udp, datagrams) from --listen to --to, holding every\n"
        "chunk for --delay-ms in each direction, so a round trip through it gains twice the delay.\n"
        "With port 0 in --listen a free port is chosen; the bound address is printed on stdout as\n"
        "'listening HOST:PORT' and, with --port-file, the port is written to FILE (removed on a clean exit).\n"
        "SIGINT/SIGTERM exit with status 0; usage errors exit 2; a failure to listen exits 1."};
    app.set_version_flag("--version", "delay-relay 0.1");
    std::string listen_arg, to_arg, port_file;
    long long delay_ms = -1;
    bool use_udp = false;
    app.add_option("--listen", listen_arg, "HOST:PORT to accept on; port 0 picks a free one")->required();
    app.add_option("--to", to_arg, "HOST:PORT of the target each connection (or client) is relayed to")->required();
    app.add_option("--delay-ms", delay_ms, "one-way delay added in each direction, in milliseconds (0 allowed)")
        ->required()
        ->check(CLI::Range(0LL, 3'600'000LL));
    app.add_flag("--udp", use_udp, "relay UDP datagrams instead of TCP connections");
    app.add_option("--port-file", port_file, "write the bound port to FILE (atomically) once listening");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : exit_usage;
    }

    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context io(1);
    const auto delay = std::chrono::milliseconds(delay_ms);

    std::string bound;
    std::unique_ptr<tcp_relay> tcp_r;
    std::unique_ptr<udp_relay> udp_r;
    if (use_udp) {
        auto listen = resolve<udp>(io, listen_arg, true);
        if (!listen) return fail(exit_usage, "--listen: " + listen.err().message);
        auto to = resolve<udp>(io, to_arg, false);
        if (!to) return fail(exit_usage, "--to: " + to.err().message);
        auto r = udp_relay::start(io, listen->front(), to->front(), delay);
        if (!r) return fail(exit_runtime, r.err().message);
        udp_r = std::move(*r);
        bound = to_string(udp_r->local_endpoint());
    } else {
        auto listen = resolve<tcp>(io, listen_arg, true);
        if (!listen) return fail(exit_usage, "--listen: " + listen.err().message);
        auto to = resolve<tcp>(io, to_arg, false);
        if (!to) return fail(exit_usage, "--to: " + to.err().message);
        auto r = tcp_relay::start(io, listen->front(), std::move(*to), delay);
        if (!r) return fail(exit_runtime, r.err().message);
        tcp_r = std::move(*r);
        bound = to_string(tcp_r->local_endpoint());
    }
    const unsigned short port = tcp_r ? tcp_r->local_endpoint().port() : udp_r->local_endpoint().port();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        log(std::string("got ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", exiting");
        io.stop();
    });

    if (!port_file.empty()) {
        if (auto w = write_port_file(port_file, port); !w) return fail(exit_runtime, "--port-file: " + w.err().message);
    }
    std::printf("listening %s\n", bound.c_str());
    std::fflush(stdout);
    log(std::string(use_udp ? "udp " : "tcp ") + bound + " -> " + to_arg + ", one-way delay " +
        std::to_string(delay_ms) + " ms");

    io.run();
    if (!port_file.empty()) {
        std::error_code ec;
        fs::remove(port_file, ec);
    }
    return 0;
}
