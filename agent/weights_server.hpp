// Hands decrypted model files, as sealed memfds over a UNIX socket (SCM_RIGHTS), to local processes whose
// uid is allowed; plus the client side of the exchange (`custos weights open` and the tests use it).
//
// Protocol, one request per connection: the client sends one line of JSON, at most 4096 bytes with its
// '\n', exactly {"model":"ID","file":"REL"}; the server answers one line, {"status":"ok","size":N} with the
// file's descriptor attached, or {"status":"error","error":"<code>","detail":"..."} and closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/file_io.hpp"
#include "crypto/result.hpp"

namespace custos::agent {

inline constexpr std::size_t max_weights_request = 4096;  // bytes of the request line, '\n' included

// An owned descriptor that a cache and a send in flight can hold at once (weights::shared_fd is the same).
using shared_fd = std::shared_ptr<const fd_guard>;

// The request line a peer sends, parsed strictly (exactly "model" and "file", both checked); errors name
// the field. Exposed for the fuzz target.
struct weights_request {
    std::string model;
    std::string file;
};
result<weights_request> parse_weights_request(std::string_view line);

// Why a file was not handed out. Wire codes: peer-not-allowed, bad-request, no-lease, no-such-file,
// decrypt-failed, busy (every worker and the queue are full), internal.
enum class weights_refusal { peer_not_allowed, bad_request, no_lease, no_such_file, decrypt_failed, busy, internal };
std::string_view refusal_code(weights_refusal r) noexcept;

// A weights_source's answer for one file: its sealed memfd, or why not.
struct source_answer {
    shared_fd fd;                                         // set when the file is handed out
    weights_refusal refusal = weights_refusal::internal;  // when fd is null
    std::string detail;                                   // sent to the peer: no secrets in it

    static source_answer file(shared_fd f) { return {std::move(f), weights_refusal::internal, {}}; }
    static source_answer refuse(weights_refusal r, std::string why) { return {nullptr, r, std::move(why)}; }
};

// What the agent provides: the models whose data key it holds under a lease, and their files. Called from
// the server's worker threads, concurrently: implementations must be thread-safe.
struct weights_source {
    virtual ~weights_source() = default;
    // Whether the agent holds a lease for `model` now. Asked on every request, cached file or not, so a
    // lease that ended stops hand-outs even before drop_model is called.
    virtual bool holds_lease(const std::string& model) = 0;
    // The file as a sealed memfd (weights::decrypt_to_sealed_memfd); asked only when the server has not
    // cached it. May take as long as decrypting the file does (the peer waits).
    virtual source_answer open_file(const std::string& model, const std::string& rel, unsigned peer_uid) = 0;
};

// One file handed to one process: what the agent puts into its signed reports.
struct hand_out {
    std::string model;
    std::string file;
    unsigned uid = 0;  // SO_PEERCRED at connect time
    unsigned gid = 0;
    int pid = 0;
    std::uint64_t size = 0;
    std::chrono::system_clock::time_point at;
};

struct weights_server_config {
    std::filesystem::path socket_path;                // its directory must exist; a stale socket is replaced
    std::vector<unsigned> allowed_uids;               // peers (SO_PEERCRED uid) served; empty = nobody
    std::chrono::milliseconds request_timeout{5000};  // whole request line within this, else bad-request
    unsigned workers = 4;                             // connections served at once (each may be decrypting)
    std::size_t max_pending = 64;                     // accepted, waiting for a worker; beyond that: busy
    std::function<void(const hand_out&)> on_hand_out;  // after each fd was sent; from a worker thread
};

// The socket is created mode 0660 under a private temporary name and renamed over `socket_path`, so it
// never exists with looser permissions; a live server already listening there is an error, as is any
// non-socket file at that path. One thread accepts and checks SO_PEERCRED (refused peers never reach a
// worker); `workers` threads read requests with a deadline and answer.
//
// Cache: each (model, file) memfd is kept after its first hand-out until drop_model(model), so later
// requests cost no decryption. drop_model only closes the server's copies: a process that already received
// a descriptor keeps its own, and the memory stays allocated until the last one is closed. Every hand-out
// is a fresh read-only open of the memfd (its own file offset), where /proc/self/fd allows it.
class weights_server {
public:
    static result<weights_server> start(weights_server_config cfg, weights_source& source);
    weights_server(weights_server&&) noexcept;
    weights_server& operator=(weights_server&&) noexcept;
    ~weights_server();  // stop()

    // Closes the listening socket (and removes it, if it is still ours), wakes and joins every thread;
    // connections waiting for a worker are closed unanswered. A decryption in progress is waited for.
    void stop();
    // Closes the cached memfds of `model` (its lease ended or was revoked).
    void drop_model(const std::string& model);
    std::size_t cached_files() const;
    const std::filesystem::path& socket_path() const noexcept;

private:
    struct state;
    explicit weights_server(std::unique_ptr<state> s);
    std::unique_ptr<state> s_;
};

// The server's answer, as the client received it.
struct weights_answer {
    shared_fd fd;            // the sealed memfd (on success)
    std::uint64_t size = 0;  // its size, checked against fstat
    std::string code;        // the server's error code when it refused ("no-lease", …); empty on success
    std::string detail;
    bool ok() const noexcept { return code.empty(); }
};

// Connects to `socket`, sends one request and reads one answer within `timeout` (the whole exchange; a
// first request for a file waits for its decryption). errc::io when the socket cannot be reached or the
// exchange fails or times out; errc::parse / errc::structure for an answer that breaks the protocol,
// including a descriptor that is not sealed against writing, growing and shrinking.
result<weights_answer> request_weights_file(const std::filesystem::path& socket, std::string_view model,
                                            std::string_view file, std::chrono::milliseconds timeout);

}  // namespace custos::agent
