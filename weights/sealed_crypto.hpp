// Internals shared by seal.cpp, unseal.cpp and sealed_open.cpp: key derivation, nonce and AAD layout, the
// key.sealed box, chunk encryption over file descriptors, and a small worker pool. Not part of the public API.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "crypto/file_io.hpp"
#include "crypto/ossl.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_open.hpp"

namespace custos::weights::detail {

inline constexpr std::size_t dek_size = 32;
inline constexpr std::size_t nonce_size = 12;
inline constexpr std::size_t io_piece = 1u << 20;  // chunks are streamed in pieces: memory is independent of chunk size
inline constexpr unsigned max_workers = 16;         // 16 x 1 MiB buffers: well inside the 64 MiB peak-RSS budget
inline constexpr std::string_view hkdf_info_index = "custos sealed model v1 index mac";
inline constexpr std::string_view hkdf_info_file = "custos sealed model v1 file root mac";
inline constexpr std::string_view aad_label = "custos sealed chunk v1";

struct derived_keys {
    secret_bytes index_mac;
    secret_bytes file_mac;
};
// HKDF-SHA-256(ikm = DEK, salt = model root, info = the labels above), 32 bytes each.
result<derived_keys> derive_keys(const secret_bytes& dek, const digest& model_root);

digest hmac_sha256(const secret_bytes& key, byte_view data);
digest keyed_file_root(const secret_bytes& file_mac_key, const std::string& path, std::uint64_t size,
                       const digest& root);
// Every field of the index but the MAC itself, length-prefixed, in a fixed order.
bytes index_mac_input(const sealed_index& idx);

std::array<std::uint8_t, nonce_size> chunk_nonce(std::uint32_t file_index, std::uint64_t chunk);
bytes chunk_aad(std::string_view model_id, std::string_view path, std::uint64_t chunk, std::uint64_t chunk_count,
                const digest& model_root);

// key.sealed plaintext: DEK (32) || u8 model id length || model id || model root (32).
secret_bytes box_plaintext(const secret_bytes& dek, std::string_view model_id, const digest& root);
using box_contents = sealed_key;  // public: the verifier opens key.sealed (sealed_open.hpp)
result<box_contents> parse_box_plaintext(byte_view plain);


result<void> pread_full(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t off, const std::string& name);
result<void> pwrite_full(int fd, const std::uint8_t* buf, std::size_t n, std::uint64_t off, const std::string& name);
result<void> fsync_path(const std::filesystem::path& p, bool directory);

// One chunk through AES-256-GCM, streamed in io_piece pieces from in_fd to out_fd. Encrypting writes the
// tag after the ciphertext; decrypting reads it from there. Decrypting with out_fd < 0 only checks the tag.
// An authentication failure is reported as errc::signature.
struct chunk_io {
    int in_fd;
    std::uint64_t in_off;
    int out_fd;
    std::uint64_t out_off;
    std::uint64_t len;  // plaintext length
    const std::string* in_name;
    const std::string* out_name;
};
result<void> gcm_chunk(EVP_CIPHER_CTX* ctx, bool encrypt, const secret_bytes& key,
                       const std::array<std::uint8_t, nonce_size>& nonce, byte_view aad, const chunk_io& io,
                       std::uint8_t* buf);

// Runs job(i, worker) for i in [0, n) on `threads` workers (0 = all cores); stops at the first error,
// which it returns (the lowest-numbered failing job among those run).
result<void> parallel_for(std::uint64_t n, unsigned threads,
                          const std::function<result<void>(std::uint64_t, unsigned)>& job);
// `requested` workers (0 = all cores), at most max_workers.
unsigned worker_count(unsigned requested);

// What each worker reuses for every chunk it handles: one cipher context and one io_piece buffer.
struct worker_buffers {
    std::vector<ossl::cipher_ctx_ptr> ctxs;
    std::vector<bytes> bufs;
};
result<worker_buffers> make_worker_buffers(unsigned workers);

// Temporary sibling of `target`: "<parent>/.<name>.<what>-XXXXXX", created 0700.
result<std::filesystem::path> make_temp_sibling(const std::filesystem::path& target, const char* what);

}  // namespace custos::weights::detail
