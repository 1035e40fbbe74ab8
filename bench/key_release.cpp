// Times attested key release end to end against an in-process verifier (HTTPS, SQLite) and swtpm: from the
// key request (challenge, TPM2_CertifyCreation, POST /v1/keys, TPM unwrap, sealed model opened) to the first
// byte a local process reads from the weights socket, for a model of SIZE_MIB (default 1024); then the
// throughput of reading the served memfd against `cat` of the plain file. Usage: key_release [SIZE_MIB]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include "agent/model_keys.hpp"
#include "agent/weights_server.hpp"
#include "tests/int/verifier_harness.hpp"
#include "weights/sealed.hpp"

namespace {
using clk = std::chrono::steady_clock;
double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

// Reads fd from offset 0 to the end in 1 MiB blocks; returns bytes read.
std::uint64_t drain(int fd) {
    std::vector<char> buf(1 << 20);
    std::uint64_t total = 0;
    for (;;) {
        const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(total));
        if (n <= 0) return total;
        total += static_cast<std::uint64_t>(n);
    }
}
}  // namespace

int main(int argc, char** argv) {
    using namespace custos;
    using namespace custos::test;
    const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
    try {
        temp_dir dir("custos-bench-release");
        auto tpm = swtpm::start();
        verifier_instance v({tpm.get()});
        sim_host h("bench-host", std::move(tpm));
        if (h.enroll(v, v.token("bench-host")) != 200) throw std::runtime_error("enrollment failed");
        // The model: one file of random bytes, sealed to the verifier.
        const fs::path plain = dir.path() / "model" / "weights.bin";
        fs::create_directories(plain.parent_path());
        {
            std::ofstream out(plain, std::ios::binary);
            std::mt19937_64 rng(42);
            std::vector<std::uint64_t> block((1 << 20) / 8);
            for (std::uint64_t i = 0; i < mib; ++i) {
                for (auto& x : block) x = rng();
                out.write(reinterpret_cast<const char*>(block.data()), 1 << 20);
            }
        }
        auto pub = weights::load_recipient_public(v.dir() / "keys/recipient.pub");
        const fs::path models = dir.path() / "models";
        fs::create_directories(models);
        if (!pub || !weights::seal_model(plain.parent_path(), "bench-llm", *pub, models / "bench-llm", {}))
            throw std::runtime_error("sealing failed");
        auto op = v.client();
        unsigned st = 0;
        post(*op, "/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})", &st);
        post(*op, "/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", &st);
        const json::object m{{"id", "bench-llm"},
                             {"index", text_of(models / "bench-llm/index.json")},
                             {"key_sealed", to_base64(as_bytes(text_of(models / "bench-llm/key.sealed")))}};
        post(*op, "/v1/models", json::serialize(m), &st);
        post(*op, "/v1/models/bench-llm/approve", R"({"site":"dc1"})", &st);
        post(*op, "/v1/hosts/bench-host/approve", R"({"site":"dc1"})", &st);
        h.round(&st);
        if (st != 200) throw std::runtime_error("round failed");

        agent::model_keys keys(h.dev(), models);
        auto t_key = clk::now();
        if (auto b = keys.ensure_bound_key(attest::ek_kind::ecc_p384); !b) throw std::runtime_error(b.err().message);
        const double bound_ms = ms_since(t_key);
        agent::weights_server_config wc;
        wc.socket_path = dir.path() / "weights.sock";
        wc.allowed_uids = {static_cast<unsigned>(::getuid())};
        auto srv = agent::weights_server::start(std::move(wc), keys);
        if (!srv) throw std::runtime_error(srv.err().message);

        const auto t0 = clk::now();
        if (auto r = keys.request(h.client(), h.ak(), "bench-llm"); !r) throw std::runtime_error(r.err().message);
        const double release_ms = ms_since(t0);
        auto got = agent::request_weights_file(dir.path() / "weights.sock", "bench-llm", "weights.bin", std::chrono::minutes(5));
        if (!got || !got->ok()) throw std::runtime_error("weights request failed");
        char first = 0;
        if (::pread(got->fd->fd, &first, 1, 0) != 1) throw std::runtime_error("no first byte");
        const double first_byte_ms = ms_since(t0);

        const auto t1 = clk::now();
        const std::uint64_t n = drain(got->fd->fd);
        const double read_ms = ms_since(t1);
        const auto t2 = clk::now();
        auto again = agent::request_weights_file(dir.path() / "weights.sock", "bench-llm", "weights.bin", std::chrono::minutes(5));
        const double cached_ms = ms_since(t2);
        if (!again || !again->ok()) throw std::runtime_error("second request failed");

        // The peer: cat of the plain file (page cache warm: read it once first).
        (void)std::system(("cat '" + plain.string() + "' > /dev/null").c_str());
        const auto t3 = clk::now();
        (void)std::system(("cat '" + plain.string() + "' > /dev/null").c_str());
        const double cat_ms = ms_since(t3);
        // The same program on the served file: cat of the memfd through /proc.
        const std::string served = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(got->fd->fd);
        const auto t4 = clk::now();
        (void)std::system(("cat '" + served + "' > /dev/null").c_str());
        const double cat_served_ms = ms_since(t4);
        const double gib = static_cast<double>(n) / (1u << 30);
        std::printf("model: %llu MiB, one file\n", static_cast<unsigned long long>(mib));
        std::printf("bound key creation at agent start (swtpm RSA-2048): %.0f ms (once per start)\n", bound_ms);
        std::printf("key request -> key held (challenge, CertifyCreation, /v1/keys, TPM unwrap, open): %.1f ms\n", release_ms);
        std::printf("key request -> first served byte (includes decrypting the file into a sealed memfd): %.0f ms\n", first_byte_ms);
        std::printf("second request for the same file (cached memfd): %.2f ms\n", cached_ms);
        std::printf("cat of the plain file (page cache): %.0f ms = %.2f GiB/s\n", cat_ms, gib / (cat_ms / 1000));
        std::printf("cat of the served memfd: %.0f ms = %.2f GiB/s (ratio to cat of the plain file %.2f)\n", cat_served_ms,
                    gib / (cat_served_ms / 1000), cat_ms / cat_served_ms);
        std::printf("pread of the served memfd in 1 MiB blocks: %.0f ms = %.2f GiB/s (ratio %.2f)\n", read_ms, gib / (read_ms / 1000),
                    cat_ms / read_ms);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "key_release: %s\n", e.what());
        return 2;
    }
    return 0;
}
