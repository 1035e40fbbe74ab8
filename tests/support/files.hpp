// A whole file as a string, for tests that compare or search file contents ("" when unreadable), and
// the other small file chores tests share.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace custos::test {

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Writes `s` to `p` (replacing it), creating the parent directories.
inline void write_text(const std::filesystem::path& p, const std::string& s) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

// Rewrites `p` with each (regex, replacement) applied in turn: how tests adjust the verifier.toml that
// `custos-verifier init` wrote.
inline void rewrite(const std::filesystem::path& p, const std::vector<std::pair<std::string, std::string>>& edits) {
    std::string text = read_text(p);
    for (const auto& [pattern, replacement] : edits) text = std::regex_replace(text, std::regex(pattern), replacement);
    write_text(p, text);
}

// n pseudo-random bytes, the same for the same seed.
inline std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

// Everything in the descriptor, read with pread (its offset is left alone).
inline std::string fd_content(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return "<fstat failed>";
    std::string s(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::pread(fd, s.data() + off, s.size() - off, static_cast<off_t>(off));
        if (n <= 0) return "<pread failed>";
        off += static_cast<std::size_t>(n);
    }
    return s;
}

}  // namespace custos::test
