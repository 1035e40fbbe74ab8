// A sealed model opened with its data key (the attested agent's side): the same checks as unseal, then
// files decrypted to memory only (sealed memfds), never to a file system.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/file_io.hpp"
#include "weights/recipient_key.hpp"
#include "weights/sealed.hpp"

namespace custos::weights {

// What key.sealed holds, once its recipient (the verifier) opened it: the model's data key and the model
// it belongs to.
struct sealed_key {
    secret_bytes dek;  // 32 bytes
    std::string model_id;
    digest model_root{};
};

// Opens a key.sealed box with the recipient's private key and parses DEK || u8 id length || id || root.
// Pure (no I/O): errc::signature when the box does not open (other recipient, or altered), errc::parse
// when its plaintext is malformed. The caller compares model_id / model_root with what it expects.
result<sealed_key> open_sealed_key(byte_view box, const recipient_private_key& key);
// Reads DIR/key.sealed (a regular file, no symlink) and opens it.
result<sealed_key> read_sealed_key(const std::filesystem::path& dir, const recipient_private_key& key);

// A sealed model directory checked with a released data key. open() runs, in order and naming the step
// that failed: parse index.json; structure (layout, no symlinks, no extra or missing entries); model
// binding (index's model id and root equal the expected ones: the key was released for that model);
// index MAC under HKDF(DEK); data file sizes. Chunks are authenticated by decrypt_file.
class sealed_model {
public:
    // `dek` is copied into locked, zeroed memory held by the sealed_model.
    static result<sealed_model> open(const std::filesystem::path& dir, const secret_bytes& dek,
                                     std::string_view expected_model_id, const digest& expected_root);

    const sealed_index& index() const noexcept { return idx_; }
    const std::filesystem::path& dir() const noexcept { return dir_; }
    // The index entry for `rel_path`, or nullptr when the model has no such file.
    const sealed_file* find(std::string_view rel_path) const noexcept;

    // Sizes out_fd to the file's plaintext size and writes the whole file at offset 0 with pwrite,
    // authenticating every chunk (nonce and AAD of its own position), on `threads` workers (0 = all cores).
    // The data file is re-checked (regular, expected size) on the descriptor it is read from. On failure
    // the error names the check (`"<path>" chunk i of n (data/NNNNNN.enc) does not authenticate …`) and
    // out_fd may hold unauthenticated bytes: discard it.
    result<void> decrypt_file(std::string_view rel_path, int out_fd, unsigned threads = 0) const;

private:
    sealed_model(std::filesystem::path dir, sealed_index idx, secret_bytes dek)
        : dir_(std::move(dir)), idx_(std::move(idx)), dek_(std::move(dek)) {}
    std::filesystem::path dir_;
    sealed_index idx_;
    secret_bytes dek_;
};

// An owned descriptor that a cache and a send in flight can hold at once; closed with its last owner.
using shared_fd = std::shared_ptr<const fd_guard>;

// memfd_create("custos:<rel_path>", MFD_CLOEXEC | MFD_ALLOW_SEALING, plus MFD_NOEXEC_SEAL where the
// kernel has it), the file decrypted into it, then sealed with F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
// | F_SEAL_SEAL (checked with F_GET_SEALS): its content is fixed for every holder of it. Nothing is
// returned unless every chunk authenticated. The descriptor's file offset is shared by everyone given
// this same descriptor; hand out re-opened descriptors (or use pread/mmap) to keep readers independent.
result<shared_fd> decrypt_to_sealed_memfd(const sealed_model& m, std::string_view rel_path, unsigned threads = 0);

}  // namespace custos::weights
