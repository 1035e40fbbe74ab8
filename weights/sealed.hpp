// Sealed models: a directory of AES-256-GCM encrypted chunks, a keyed index and the data key sealed to an
// X25519 recipient (layout in docs/weights-format.md, "Sealed model"); seal, unseal and inspect.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "weights/manifest.hpp"
#include "weights/recipient_key.hpp"

namespace custos::weights {

inline constexpr int sealed_version = 1;
inline constexpr std::string_view sealed_format = "custos-sealed-model";
inline constexpr std::string_view sealed_cipher = "AES-256-GCM";
inline constexpr std::size_t gcm_tag_size = 16;
inline constexpr std::string_view sealed_index_name = "index.json";
inline constexpr std::string_view sealed_key_name = "key.sealed";
inline constexpr std::string_view sealed_data_dir = "data";

struct sealed_file {
    std::string path;          // checked with check_model_path
    std::uint64_t size = 0;    // plaintext bytes
    std::uint64_t chunks = 0;  // chunk_count(size, chunk_size): max(1, ceil(size / chunk_size))
    std::string data;          // "data/NNNNNN.enc", NNNNNN = the file's position in the index
    digest keyed_root{};       // HMAC-SHA-256(file-root key, path, size, file root): no plaintext hash
};

struct sealed_index {
    int version = sealed_version;
    std::string model_id;
    digest model_root{};
    std::uint64_t chunk_size = default_chunk_size;
    bool single_file = false;  // PATH was one file (unseal writes a file), not a directory
    std::vector<sealed_file> files;  // sorted by path, unique
    digest index_mac{};        // HMAC-SHA-256(index key, canonical encoding of every field above)
};

std::string sealed_data_name(std::size_t file_index);
// Size of a file's data file: every chunk's ciphertext followed by its 16-byte tag.
std::uint64_t sealed_data_size(const sealed_file& f);

std::string sealed_index_to_json(const sealed_index& idx);
// Strict: exact key set, format, version, cipher, types, hex lengths, chunk counts consistent with sizes,
// data names, paths checked, sorted, unique and not nested under one another. Errors name the field.
result<sealed_index> parse_sealed_index(std::string_view json);

struct seal_options {
    std::uint64_t chunk_size = default_chunk_size;
    unsigned threads = 0;  // 0 = all cores
};

// Seals the file or directory `src` into `out_dir`, which must not exist: built in a temporary sibling
// directory and renamed into place only when complete. Returns the plaintext manifest (never written
// into out_dir).
result<manifest> seal_model(const std::filesystem::path& src, std::string_view model_id,
                            const x25519_public& recipient, const std::filesystem::path& out_dir,
                            const seal_options& opts = {});

// Reads and parses DIR/index.json (no key needed; the index MAC is checked only by unseal).
result<sealed_index> inspect_sealed(const std::filesystem::path& dir);

// Authenticates and decrypts `dir` to `out` (which must not exist), through a temporary sibling renamed
// into place at the end; on any failure nothing is left at `out`. The error says which check failed.
result<void> unseal_model(const std::filesystem::path& dir, const recipient_private_key& key,
                          const std::filesystem::path& out, unsigned threads = 0);

}  // namespace custos::weights
