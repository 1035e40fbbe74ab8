// Model manifests: per-file chunk digests and Merkle roots, a model root over all files; built in
// parallel and streaming (bounded memory), serialised as versioned JSON (docs/weights-format.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "weights/merkle.hpp"

namespace custos::weights {

inline constexpr std::uint64_t default_chunk_size = 4u << 20;
inline constexpr std::uint64_t min_chunk_size = 64u << 10;
inline constexpr std::uint64_t max_chunk_size = 64u << 20;
inline constexpr int manifest_version = 1;

struct file_entry {
    std::string path;              // relative, '/'-separated, no "..", no leading '/', no empty components
    std::uint64_t size = 0;
    std::vector<digest> chunks;    // SHA-256 of each chunk (an empty file: one, of the empty string)
    digest root{};                 // Merkle root over the chunks (see docs/weights-format.md)
};

struct manifest {
    int version = manifest_version;
    std::string model_id;
    std::uint64_t chunk_size = default_chunk_size;
    std::vector<file_entry> files;  // sorted by path (bytewise)
    digest model_root{};
};

// Checks a relative model path: '/'-separated valid UTF-8, at most 4096 bytes, no "..", "." or empty
// component, no leading '/', NUL, backslash or control character.
result<void> check_model_path(std::string_view path);
// Chunk size: a power of two in [64 KiB, 64 MiB].
result<void> check_chunk_size(std::uint64_t chunk_size);
// Chunks of a file of `size` bytes: ceil(size / chunk_size), and 1 for an empty file.
std::uint64_t chunk_count(std::uint64_t size, std::uint64_t chunk_size);
// Model ids: 1-128 characters of [A-Za-z0-9._:/@+-].
result<void> check_model_id(std::string_view id);

// The regular files under `root` (or `root` itself when it is a file, named by its file name), sorted by
// relative path. Symlinks, devices, sockets and FIFOs are refused with an error naming them.
struct model_file {
    std::filesystem::path absolute;
    std::string relative;
};
result<std::vector<model_file>> list_model_files(const std::filesystem::path& root);

// The file's root from its chunk digests, and the model root from the file entries.
digest file_root(std::span<const digest> chunks);
digest model_root(const std::vector<file_entry>& files);

// Hashes every file with `threads` workers (0 = all cores), each reading 1 MiB at a time: memory is
// bounded by threads x 1 MiB whatever the chunk and model sizes.
result<manifest> build_manifest(const std::filesystem::path& root, std::string_view model_id,
                                std::uint64_t chunk_size = default_chunk_size, unsigned threads = 0);

std::string manifest_to_json(const manifest& m);
// Strict: version, types, hex lengths, chunk counts consistent with sizes, paths checked, sorted and
// unique, roots recomputed and compared. The error names the field.
result<manifest> parse_manifest(std::string_view json);

// Compares the tree at `root` with `m`; the error names the first differing file and chunk, or the
// missing / extra files.
result<void> verify_tree(const std::filesystem::path& root, const manifest& m, unsigned threads = 0);

}  // namespace custos::weights
