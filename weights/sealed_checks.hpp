// The checks on a sealed directory that unseal (recipient key) and sealed_model::open (data key) share:
// layout, key.sealed box, index MAC, data file sizes, and the words for a chunk whose tag fails.
// Not part of the public API.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "weights/sealed.hpp"
#include "weights/sealed_crypto.hpp"

namespace custos::weights::detail {

inline constexpr std::size_t max_index_bytes = 64u << 20;
inline constexpr std::size_t max_box_bytes = 4096;

error tamper(const std::string& what);

// A regular file inside the sealed directory, never through a symlink.
result<bytes> read_member(const std::filesystem::path& dir, std::string_view name, std::size_t limit);

// `dir` itself: a directory, not a symlink.
result<void> check_sealed_dir(const std::filesystem::path& dir);
// Reads and parses DIR/index.json (regular file, no symlink, at most max_index_bytes).
result<sealed_index> read_index(const std::filesystem::path& dir);
// Exactly index.json, key.sealed and data/ with the index's data files, all regular, no symlinks.
result<void> check_layout(const std::filesystem::path& dir, const sealed_index& idx);

// Whether index_mac verifies under K_index = HKDF(DEK, model root); callers word the failure, since only
// they know whether the key is known to be the model's (unseal) or merely claimed to be (a released DEK).
result<bool> index_mac_verifies(const sealed_index& idx, const secret_bytes& dek);

// Every data file is size + 16 * chunks bytes; a truncated or extended file is named.
result<void> check_data_size(const sealed_file& f, std::uint64_t have);
result<void> check_data_sizes(const std::filesystem::path& dir, const sealed_index& idx);

struct chunk_ref {
    std::size_t file;
    std::uint64_t chunk;
};
std::uint64_t chunk_len(const sealed_index& idx, const chunk_ref& c);
// Offsets of chunk `c` in its data file and in its plaintext file.
inline std::uint64_t chunk_data_offset(const sealed_index& idx, std::uint64_t c) { return c * (idx.chunk_size + gcm_tag_size); }
inline std::uint64_t chunk_plain_offset(const sealed_index& idx, std::uint64_t c) { return c * idx.chunk_size; }

// Decrypts (out_fd >= 0) or only authenticates (out_fd < 0) one chunk at its own position: nonce
// (file index, chunk index) and AAD (model id, path, chunk, count, model root). errc::signature when the
// tag fails.
result<void> decrypt_chunk(EVP_CIPHER_CTX* ctx, const sealed_index& idx, const secret_bytes& dek, const chunk_ref& c,
                           int in_fd, const std::string& in_name, int out_fd, const std::string& out_name,
                           std::uint8_t* buf);

// The error for chunk `bad`, whose tag failed: `"<path>" chunk i of n (data/NNNNNN.enc) <why>`, where
// why says, after trying a bounded set of other positions, whether it holds another chunk's ciphertext
// (swapped or moved) or was altered.
error chunk_failure(const std::filesystem::path& dir, const sealed_index& idx, const secret_bytes& dek,
                    const chunk_ref& bad);

}  // namespace custos::weights::detail
