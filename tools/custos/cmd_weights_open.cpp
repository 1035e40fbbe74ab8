// custos weights open: asks an agent's weights socket for one model file and copies the sealed memfd it
// hands out to a file (for checking a deployment; inference processes use the descriptor directly).
#include <sys/mman.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>

#include "agent/weights_server.hpp"
#include "crypto/file_io.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {

namespace {

struct open_opts {
    std::string socket;
    std::string model;
    std::string file;
    std::string out;
    unsigned timeout_s = 300;  // a first request waits for the agent to decrypt the file
};

// The server's words go to one stderr line: control characters would break it.
std::string printable(std::string s) {
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return s;
}

// A read-only view of the whole descriptor; unmapped on destruction.
struct mapping {
    void* addr = MAP_FAILED;
    std::size_t len = 0;
    ~mapping() {
        if (addr != MAP_FAILED) ::munmap(addr, len);
    }
};

int weights_open(const open_opts& o) {
    if (o.model.empty() || o.file.empty()) return fail_usage("weights open: --model and --file must not be empty");
    if (o.timeout_s == 0) return fail_usage("weights open: --timeout must be at least 1 second");
    auto a = agent::request_weights_file(o.socket, o.model, o.file, std::chrono::seconds(o.timeout_s));
    if (!a.ok()) return fail("weights open", a.err());
    if (!a->ok()) {
        std::cerr << "custos: weights open: " << printable(a->code) << ": " << printable(a->detail) << "\n";
        return exit_failed;
    }
    // The memfd is sealed against writes, so a shared read-only mapping is allowed and copies nothing.
    mapping m;
    byte_view content;
    if (a->size > 0) {
        m.len = static_cast<std::size_t>(a->size);
        m.addr = ::mmap(nullptr, m.len, PROT_READ, MAP_SHARED, a->fd->fd, 0);
        if (m.addr == MAP_FAILED)
            return fail("weights open", make_error(errc::io, std::string("cannot map the received file: ") + std::strerror(errno)));
        content = byte_view(static_cast<const std::uint8_t*>(m.addr), m.len);
    }
    // Decrypted weights: readable by the owner only.
    if (auto w = write_file_atomic(o.out, content, 0600); !w.ok()) return fail("weights open: --out", w.err());
    std::cout << a->size << " bytes of \"" << o.file << "\" (model " << o.model << ") written to " << o.out << "\n";
    return exit_ok;
}

}  // namespace

void register_weights_open_commands(CLI::App& weights, command_list& cmds) {
    auto oo = std::make_shared<open_opts>();
    auto* open = weights.add_subcommand("open", "Fetch one decrypted model file from an agent's weights socket");
    open->add_option("--socket", oo->socket, "The agent's weights socket (UNIX stream socket)")->required();
    open->add_option("--model", oo->model, "Model id")->required();
    open->add_option("--file", oo->file, "File path inside the model")->required();
    open->add_option("--out", oo->out, "File to write (atomically, mode 0600)")->required();
    open->add_option("--timeout", oo->timeout_s, "Seconds to wait for the answer (a first request waits for decryption)")
        ->capture_default_str();
    cmds.push_back({open, [oo] { return weights_open(*oo); }});
}

}  // namespace custos::cli
