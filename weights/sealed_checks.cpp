#include "weights/sealed_checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "crypto/file_io.hpp"

namespace custos::weights::detail {

namespace fs = std::filesystem;

namespace {
constexpr std::uint64_t max_diagnosis_tries = 64;
}  // namespace

error tamper(const std::string& what) { return make_error(errc::signature, what); }

result<bytes> read_member(const fs::path& dir, std::string_view name, std::size_t limit) {
    const auto p = dir / name;
    struct stat st{};
    if (::lstat(p.c_str(), &st) != 0) {
        if (errno == ENOENT) return make_error(errc::structure, "sealed directory " + dir.string() + " has no " + std::string(name));
        return make_error(errc::io, "cannot stat " + p.string() + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return make_error(errc::structure, p.string() + " is not a regular file (symlinks are refused)");
    return read_file(p, limit);
}

result<void> check_sealed_dir(const fs::path& dir) {
    std::error_code ec;
    const auto st = fs::symlink_status(dir, ec);
    if (fs::is_symlink(st)) return make_error(errc::structure, dir.string() + " is a symlink; refusing it");
    if (!fs::is_directory(st)) return make_error(errc::io, dir.string() + " is not a directory");
    return {};
}

result<sealed_index> read_index(const fs::path& dir) {
    CUSTOS_TRY(text, read_member(dir, sealed_index_name, max_index_bytes));
    return parse_sealed_index(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
}

result<void> check_layout(const fs::path& dir, const sealed_index& idx) {
    std::set<std::string> expected;
    for (const auto& f : idx.files) expected.insert(f.data);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name == sealed_index_name || name == sealed_key_name) continue;
        if (name == sealed_data_dir) {
            if (!e.is_directory() || e.is_symlink())
                return make_error(errc::structure, (dir / name).string() + " is not a directory (symlinks are refused)");
            continue;
        }
        return make_error(errc::structure, "unexpected entry \"" + name + "\" in sealed directory " + dir.string());
    }
    if (ec) return make_error(errc::io, "cannot list " + dir.string() + ": " + ec.message());
    const auto data_dir = dir / sealed_data_dir;
    if (!fs::is_directory(fs::symlink_status(data_dir)))
        return make_error(errc::structure, "sealed directory " + dir.string() + " has no data/ directory");
    for (const auto& e : fs::directory_iterator(data_dir, ec)) {
        const std::string rel = std::string(sealed_data_dir) + "/" + e.path().filename().string();
        if (!expected.count(rel)) return make_error(errc::structure, "unexpected file \"" + rel + "\" in sealed directory " + dir.string() + " (not in index.json)");
        if (e.is_symlink() || !e.is_regular_file()) return make_error(errc::structure, (dir / rel).string() + " is not a regular file (symlinks are refused)");
        expected.erase(rel);
    }
    if (ec) return make_error(errc::io, "cannot list " + data_dir.string() + ": " + ec.message());
    if (!expected.empty()) {
        const auto& missing = *expected.begin();
        std::string path;
        for (const auto& f : idx.files)
            if (f.data == missing) path = f.path;
        return make_error(errc::structure, "sealed directory " + dir.string() + " is missing " + missing + " (the data of \"" + path + "\")");
    }
    return {};
}

result<bool> index_mac_verifies(const sealed_index& idx, const secret_bytes& dek) {
    CUSTOS_TRY(keys, derive_keys(dek, idx.model_root));
    return equal_ct(hmac_sha256(keys.index_mac, index_mac_input(idx)), idx.index_mac);
}

result<void> check_data_size(const sealed_file& f, std::uint64_t have) {
    const auto want = sealed_data_size(f);
    if (have != want)
        return make_error(errc::structure, f.data + " (\"" + f.path + "\") is " + std::to_string(have) + " bytes, expected " +
                                               std::to_string(want) + (have < want ? " (truncated)" : " (extra bytes appended)"));
    return {};
}

result<void> check_data_sizes(const fs::path& dir, const sealed_index& idx) {
    for (const auto& f : idx.files) {
        struct stat st{};
        const auto p = dir / f.data;
        if (::lstat(p.c_str(), &st) != 0) return make_error(errc::io, "cannot stat " + p.string() + ": " + std::strerror(errno));
        CUSTOS_TRY_VOID(check_data_size(f, static_cast<std::uint64_t>(st.st_size)));
    }
    return {};
}

std::uint64_t chunk_len(const sealed_index& idx, const chunk_ref& c) {
    const auto& f = idx.files[c.file];
    const std::uint64_t off = c.chunk * idx.chunk_size;
    return std::min<std::uint64_t>(idx.chunk_size, f.size - std::min(f.size, off));
}

namespace {
// Authenticates the ciphertext stored at slot `at` of `in_fd` as if it were chunk `as`.
result<void> try_chunk_as(EVP_CIPHER_CTX* ctx, const sealed_index& idx, const secret_bytes& dek, const chunk_ref& at,
                          const chunk_ref& as, int in_fd, const std::string& in_name, int out_fd,
                          std::uint64_t out_off, const std::string& out_name, std::uint8_t* buf) {
    const auto& g = idx.files[as.file];
    const chunk_io io{in_fd, chunk_data_offset(idx, at.chunk), out_fd, out_off, chunk_len(idx, as), &in_name, &out_name};
    return gcm_chunk(ctx, false, dek, chunk_nonce(static_cast<std::uint32_t>(as.file), as.chunk),
                     chunk_aad(idx.model_id, g.path, as.chunk, g.chunks, idx.model_root), io, buf);
}
}  // namespace

result<void> decrypt_chunk(EVP_CIPHER_CTX* ctx, const sealed_index& idx, const secret_bytes& dek, const chunk_ref& c,
                           int in_fd, const std::string& in_name, int out_fd, const std::string& out_name,
                           std::uint8_t* buf) {
    return try_chunk_as(ctx, idx, dek, c, c, in_fd, in_name, out_fd, chunk_plain_offset(idx, c.chunk), out_name, buf);
}

// After slot `bad` failed its tag: does it hold another slot's ciphertext? Tries a bounded set of likely
// origins (nearby chunks of the same file, the same chunk of other files) so the error can say "swapped"
// or "moved" rather than only "altered".
error chunk_failure(const fs::path& dir, const sealed_index& idx, const secret_bytes& dek, const chunk_ref& bad) {
    const auto& f = idx.files[bad.file];
    const std::string name = (dir / f.data).string();
    fd_guard in(::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    ossl::cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    bytes buf(io_piece);
    const std::uint64_t len = chunk_len(idx, bad);
    std::vector<chunk_ref> cands;
    const std::uint64_t lo = bad.chunk > 16 ? bad.chunk - 16 : 0;
    for (std::uint64_t c = lo; c < f.chunks && c <= bad.chunk + 16; ++c)
        if (c != bad.chunk) cands.push_back({bad.file, c});
    for (std::size_t g = 0; g < idx.files.size() && cands.size() < max_diagnosis_tries; ++g)
        if (g != bad.file)
            for (std::uint64_t c : {bad.chunk, std::uint64_t{0}, idx.files[g].chunks - 1})
                if (c < idx.files[g].chunks) cands.push_back({g, c});
    std::string why = "does not authenticate (ciphertext or tag altered)";
    if (in.fd >= 0 && ctx) {
        for (const auto& c : cands) {
            if (chunk_len(idx, c) != len) continue;
            if (!try_chunk_as(ctx.get(), idx, dek, bad, c, in.fd, name, -1, 0, name, buf.data()).ok()) continue;
            if (c.file == bad.file)
                why = "holds the ciphertext of chunk " + std::to_string(c.chunk) + " of the same file (chunks swapped or reordered)";
            else
                why = "holds the ciphertext of chunk " + std::to_string(c.chunk) + " of \"" + idx.files[c.file].path +
                      "\" (chunk moved between files)";
            break;
        }
    }
    return tamper("\"" + f.path + "\" chunk " + std::to_string(bad.chunk) + " of " + std::to_string(f.chunks) + " (" +
                  f.data + ") " + why);
}

}  // namespace custos::weights::detail
