// custos-landmark: keygen | pubkey | serve. A landmark answers timed challenges from agents and signs the
// round trip it measured; the verifier turns those into location bounds (docs/location.md).
#include <CLI/CLI.hpp>
#include <signal.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "tools/custos-landmark/landmark_server.hpp"

using namespace custos;

namespace {

int fail(const std::string& m, int code = 2) {
    std::cerr << "custos-landmark: " << m << "\n";
    return code;
}

int serve(const landmark::server_config& cfg, const std::string& key_file, const std::string& port_file) {
    auto key = landmark::load_key(key_file);
    if (!key) return fail(key.err().message);
    const std::string pub = to_base64(landmark::public_key(*key));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto srv = landmark::server::start(cfg, std::move(key).value());
    if (!srv) return fail(srv.err().message);
    const auto colon = cfg.listen.rfind(':');
    const std::string bound = cfg.listen.substr(0, colon) + ":" + std::to_string((*srv)->port());
    if (!port_file.empty()) {
        if (auto w = write_file_atomic(port_file, std::to_string((*srv)->port()) + "\n", 0644); !w)
            return fail(w.err().message);
    }
    std::printf("listening %s\n", bound.c_str());
    std::fflush(stdout);
    spdlog::info("landmark {} at {:.4f},{:.4f} on {} (public key {})", cfg.id, cfg.lat, cfg.lon, bound, pub);
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("landmark {}: stopping after {} statements", cfg.id, (*srv)->statements_signed());
    (*srv)->stop();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (sodium_init() < 0) return fail("libsodium failed to initialise", 1);
    CLI::App app{"custos-landmark: answers timed location challenges and signs the round trip"};
    app.require_subcommand(1);
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Log every sample");

    std::string key_file, public_file, port_file;
    auto* keygen = app.add_subcommand("keygen", "Make a new landmark key (Ed25519) and print its public key (base64)");
    keygen->add_option("--key", key_file, "Key file to create (mode 0600; never overwritten)")->required();
    keygen->add_option("--public", public_file, "Also write the public key (base64) to this file");
    auto* pubkey = app.add_subcommand("pubkey", "Print the public key (base64) of a landmark key");
    pubkey->add_option("--key", key_file, "Landmark key file")->required();

    landmark::server_config cfg;
    auto* srv = app.add_subcommand("serve", "Answer timed challenges until SIGTERM");
    srv->add_option("--listen", cfg.listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
    srv->add_option("--id", cfg.id, "This landmark's id, as registered with the verifier")->required();
    srv->add_option("--lat", cfg.lat, "Latitude (degrees), as registered")->required();
    srv->add_option("--lon", cfg.lon, "Longitude (degrees), as registered")->required();
    srv->add_option("--key", key_file, "Landmark key file (custos-landmark keygen)")->required();
    srv->add_option("--port-file", port_file, "Write the bound port here once listening");
    srv->add_option("--max-connections", cfg.max_connections, "Concurrent connections")->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    spdlog::set_pattern("custos-landmark: %^%l%$: %v");
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
    if (keygen->parsed()) {
        if (auto w = landmark::write_new_key(key_file); !w) return fail(w.err().message);
        auto key = landmark::load_key(key_file);
        if (!key) return fail(key.err().message);
        const std::string pub = to_base64(landmark::public_key(*key));
        if (!public_file.empty())
            if (auto w = write_file_atomic(public_file, pub + "\n", 0644); !w) return fail(w.err().message);
        std::printf("%s\n", pub.c_str());
        return 0;
    }
    if (pubkey->parsed()) {
        auto key = landmark::load_key(key_file);
        if (!key) return fail(key.err().message);
        std::printf("%s\n", to_base64(landmark::public_key(*key)).c_str());
        return 0;
    }
    return serve(cfg, key_file, port_file);
}
