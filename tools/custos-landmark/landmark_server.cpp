#include "tools/custos-landmark/landmark_server.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "policy/location_proof.hpp"

namespace custos::landmark {
namespace {

using namespace std::chrono_literals;
namespace wire = policy::landmark_wire;

constexpr auto idle_timeout = 10s;    // between samples
constexpr auto answer_timeout = 2s;   // nonce sent → answer received: longer is no proof of anything

std::uint64_t realtime_us() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void refuse(net::frame_socket& s, const std::string& why) {
    spdlog::warn("landmark: refused a sample: {}", why);
    (void)s.send({wire::error, bytes(why.begin(), why.end())}, 1s);
}

}  // namespace

result<secret_bytes> load_key(const std::filesystem::path& file) {
    CUSTOS_TRY(raw, read_file(file, 4096));
    std::string text(raw.begin(), raw.end());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    auto seed = from_base64(text);
    if (!seed || seed->size() != crypto_sign_SEEDBYTES)
        return make_error(errc::parse, file.string() + ": not a landmark key (the base64 of a 32-byte Ed25519 seed)");
    secret_bytes sk(crypto_sign_SECRETKEYBYTES);
    bytes pk(crypto_sign_PUBLICKEYBYTES);
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed->data());
    sodium_memzero(seed->data(), seed->size());
    sodium_memzero(text.data(), text.size());
    return sk;
}

result<void> write_new_key(const std::filesystem::path& file) {
    std::error_code ec;
    if (std::filesystem::exists(file, ec))
        return make_error(errc::invalid_argument, file.string() + " exists: a landmark key is never overwritten");
    secret_bytes seed(crypto_sign_SEEDBYTES);
    randombytes_buf(seed.data(), seed.size());
    std::string text = to_base64(seed.view()) + "\n";
    auto w = write_file_atomic(file, text, 0600);
    sodium_memzero(text.data(), text.size());
    return w;
}

bytes public_key(const secret_bytes& secret) {
    bytes pk(crypto_sign_PUBLICKEYBYTES);
    if (secret.size() == crypto_sign_SECRETKEYBYTES) crypto_sign_ed25519_sk_to_pk(pk.data(), secret.data());
    return pk;
}

result<std::unique_ptr<server>> server::start(server_config cfg, secret_bytes key) {
    if (!policy::valid_landmark_id(cfg.id))
        return make_error(errc::invalid_argument, "landmark id \"" + cfg.id + "\" must be 1-64 of [A-Za-z0-9._-]");
    if (!(cfg.lat >= -90 && cfg.lat <= 90 && cfg.lon >= -180 && cfg.lon <= 180))
        return make_error(errc::invalid_argument, "landmark coordinates must be lat -90..90, lon -180..180");
    if (key.size() != crypto_sign_SECRETKEYBYTES) return make_error(errc::invalid_argument, "landmark key is not an Ed25519 key");
    CUSTOS_TRY(l, net::frame_listener::listen(cfg.listen));
    auto s = std::unique_ptr<server>(new server(std::move(cfg), std::move(key), std::move(l)));
    s->thread_ = std::thread([p = s.get()] { p->accept_loop(); });
    return s;
}

server::server(server_config cfg, secret_bytes key, net::frame_listener l)
    : cfg_(std::move(cfg)), key_(std::move(key)), listener_(std::move(l)), port_(listener_.port()) {}

server::~server() { stop(); }

void server::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    while (active_.load() > 0) std::this_thread::sleep_for(10ms);
    listener_.close();
}

void server::accept_loop() {
    while (!stopping_) {
        auto s = listener_.accept(200ms);
        if (!s) {
            spdlog::error("landmark: {}", s.err().message);
            std::this_thread::sleep_for(100ms);
            continue;
        }
        if (s->fd() < 0) continue;
        if (active_.load() >= cfg_.max_connections) {
            refuse(*s, "busy: " + std::to_string(cfg_.max_connections) + " connections already");
            continue;
        }
        ++active_;
        std::thread([this, sock = std::move(s).value()]() mutable {
            serve(std::move(sock));
            --active_;
        }).detach();
    }
}

void server::serve(net::frame_socket s) {
    for (unsigned n = 0; n < cfg_.max_samples_per_connection && !stopping_; ++n) {
        // Wait for the next hello in slices, so stop() is never held up by an idle agent.
        bool ready = false;
        for (auto waited = 0ms; waited < idle_timeout && !stopping_; waited += 200ms) {
            auto r = s.readable(200ms);
            if (!r) return;
            if (*r) {
                ready = true;
                break;
            }
        }
        if (!ready) return;
        auto hello = s.receive(1s, 64);
        if (!hello) return;  // closed: the agent has its samples
        if (hello->type != wire::hello || hello->payload.size() != 64)
            return refuse(s, "expected a hello frame of 64 bytes (round nonce, report key)");
        policy::landmark_statement st;
        st.landmark_id = cfg_.id;
        st.round_nonce.assign(hello->payload.begin(), hello->payload.begin() + 32);
        st.agent_key.assign(hello->payload.begin() + 32, hello->payload.end());
        st.landmark_nonce.resize(policy::location_nonce_size);
        randombytes_buf(st.landmark_nonce.data(), st.landmark_nonce.size());

        const auto t0 = std::chrono::steady_clock::now();
        st.t_send_us = realtime_us();
        if (auto w = s.send({wire::nonce, st.landmark_nonce}, 1s); !w) return;
        auto ans = s.receive(answer_timeout, 64);
        const auto t1 = std::chrono::steady_clock::now();
        if (!ans) return;
        if (ans->type != wire::answer || ans->payload.size() != policy::ed25519_sig_size)
            return refuse(s, "expected an answer frame of 64 bytes (a signature)");
        // The interval on the monotonic clock: a wall-clock step during the exchange cannot bend it.
        st.t_recv_us = st.t_send_us + static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
        st.agent_sig = std::move(ans->payload);
        if (auto v = policy::verify_location_answer(st.agent_key, st.agent_sig, st.round_nonce, st.landmark_nonce); !v)
            return refuse(s, v.err().message);
        bytes out = policy::encode_landmark_statement(st);
        const bytes sig = policy::sign_statement(out, key_);
        append(out, sig);
        ++signed_;  // before it is sent: whoever holds the statement can count on the counter
        if (auto w = s.send({wire::statement, std::move(out)}, 1s); !w) return;
        spdlog::debug("landmark {}: sample {}, RTT {} µs", cfg_.id, n + 1, st.t_recv_us - st.t_send_us);
    }
}

}  // namespace custos::landmark
