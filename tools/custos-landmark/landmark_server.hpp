// A landmark: a server at a known place that times one round trip to an agent and signs what it saw
// (policy/location_proof.hpp). One thread per connection, at most max_connections at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"
#include "net/frame_socket.hpp"

namespace custos::landmark {

// The landmark key file: the base64 of a 32-byte Ed25519 seed and a newline, mode 0600.
result<secret_bytes> load_key(const std::filesystem::path& file);  // libsodium's 64-byte secret key
result<void> write_new_key(const std::filesystem::path& file);      // refuses to overwrite
bytes public_key(const secret_bytes& secret);                        // 32 bytes

struct server_config {
    std::string listen = "0.0.0.0:7447";
    std::string id;
    double lat = 0, lon = 0;  // logged; the verifier uses the coordinates registered with it
    unsigned max_connections = 64;
    unsigned max_samples_per_connection = 64;
};

class server {
public:
    static result<std::unique_ptr<server>> start(server_config cfg, secret_bytes key);
    ~server();
    std::uint16_t port() const { return port_; }
    std::uint64_t statements_signed() const { return signed_.load(); }
    void stop();

private:
    server(server_config cfg, secret_bytes key, net::frame_listener l);
    void accept_loop();
    void serve(net::frame_socket s);

    server_config cfg_;
    secret_bytes key_;
    net::frame_listener listener_;
    std::uint16_t port_;
    std::atomic<bool> stopping_{false};
    std::atomic<unsigned> active_{0};
    std::atomic<std::uint64_t> signed_{0};
    std::thread thread_;
};

}  // namespace custos::landmark
