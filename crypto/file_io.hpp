// Whole-file reads with a size cap and atomic writes (temp file, fsync, rename, fsync dir).
#pragma once

#include <filesystem>
#include <string>

#include "crypto/bytes.hpp"

namespace custos {

// A file descriptor closed when it goes out of scope; `fd` < 0 means none.
struct fd_guard {
    int fd = -1;
    fd_guard() = default;
    explicit fd_guard(int f) : fd(f) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() { reset(); }
    void reset(int f = -1) noexcept;
};

// Reads at most max_size bytes; a larger file is an error naming the path and the limit.
result<bytes> read_file(const std::filesystem::path& path, std::size_t max_size = 16u << 20);
// Writes via a temp file in the same directory; never leaves a partial file under `path`.
result<void> write_file_atomic(const std::filesystem::path& path, byte_view data, unsigned mode = 0644);
inline result<void> write_file_atomic(const std::filesystem::path& path, std::string_view s, unsigned mode = 0644) {
    return write_file_atomic(path, as_bytes(s), mode);
}

}  // namespace custos
