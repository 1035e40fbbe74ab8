// unseal_model: parse, then check the directory's structure, then open key.sealed, then the index MAC,
// then every chunk's tag while decrypting into a temporary sibling of the output; each step says what failed.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>

#include "crypto/file_io.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_crypto.hpp"

namespace custos::weights {

using namespace detail;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_index_bytes = 64u << 20;
constexpr std::size_t max_box_bytes = 4096;
constexpr std::uint64_t max_diagnosis_tries = 64;

struct temp_dir_guard {
    fs::path path;
    ~temp_dir_guard() {
        if (!path.empty()) {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
};

error tamper(const std::string& what) { return make_error(errc::signature, what); }

// A regular file inside the sealed directory, never through a symlink.
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

// Exactly index.json, key.sealed and data/ with the index's data files, all regular, no symlinks.
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

struct chunk_ref {
    std::size_t file;
    std::uint64_t chunk;
};

std::uint64_t chunk_len(const sealed_index& idx, const chunk_ref& c) {
    const auto& f = idx.files[c.file];
    const std::uint64_t off = c.chunk * idx.chunk_size;
    return std::min<std::uint64_t>(idx.chunk_size, f.size - std::min(f.size, off));
}

// After slot `bad` failed its tag: does it hold another slot's ciphertext? Tries a bounded set of likely
// origins (nearby chunks of the same file, the same chunk of other files) so the error can say "swapped"
// or "moved" rather than only "altered".
std::string diagnose(const fs::path& dir, const sealed_index& idx, const secret_bytes& dek, const chunk_ref& bad) {
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
    if (in.fd >= 0 && ctx) {
        for (const auto& c : cands) {
            if (chunk_len(idx, c) != len) continue;
            const auto& g = idx.files[c.file];
            const chunk_io io{in.fd, bad.chunk * (idx.chunk_size + gcm_tag_size), -1, 0, len, &name, &name};
            auto r = gcm_chunk(ctx.get(), false, dek, chunk_nonce(static_cast<std::uint32_t>(c.file), c.chunk),
                               chunk_aad(idx.model_id, g.path, c.chunk, g.chunks, idx.model_root), io, buf.data());
            if (!r.ok()) continue;
            if (c.file == bad.file)
                return "holds the ciphertext of chunk " + std::to_string(c.chunk) + " of the same file (chunks swapped or reordered)";
            return "holds the ciphertext of chunk " + std::to_string(c.chunk) + " of \"" + g.path + "\" (chunk moved between files)";
        }
    }
    return "does not authenticate (ciphertext or tag altered)";
}

result<void> make_parents(const fs::path& root, const std::string& rel) {
    fs::path p = root;
    const auto parent = fs::path(rel).parent_path();
    for (const auto& part : parent) {
        p /= part;
        if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST)
            return make_error(errc::io, "cannot create " + p.string() + ": " + std::strerror(errno));
        struct stat st{};
        if (::lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            return make_error(errc::io, p.string() + " is not a directory");
    }
    return {};
}

}  // namespace

result<void> unseal_model(const fs::path& dir, const recipient_private_key& key, const fs::path& out, unsigned threads) {
    if (sodium_init() < 0) return make_error(errc::crypto, "libsodium failed to initialise");
    std::error_code ec;
    if (fs::is_symlink(fs::symlink_status(dir, ec))) return make_error(errc::structure, dir.string() + " is a symlink; refusing it");
    if (!fs::is_directory(fs::symlink_status(dir, ec))) return make_error(errc::io, dir.string() + " is not a directory");
    if (fs::exists(fs::symlink_status(out, ec)))
        return make_error(errc::io, out.string() + " already exists; unseal writes a new file or directory");

    // 1. Parse, 2. structure.
    CUSTOS_TRY(index_text, read_member(dir, sealed_index_name, max_index_bytes));
    CUSTOS_TRY(idx, parse_sealed_index(std::string_view(reinterpret_cast<const char*>(index_text.data()), index_text.size())));
    CUSTOS_TRY_VOID(check_layout(dir, idx));

    // 3. The data key, and whose model it is.
    CUSTOS_TRY(box, read_member(dir, sealed_key_name, max_box_bytes));
    if (box.size() < crypto_box_SEALBYTES) return make_error(errc::parse, "key.sealed is too short to be a sealed box");
    secret_bytes plain(box.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(plain.data(), box.data(), box.size(), key.pub.data(), key.secret.data()) != 0)
        return tamper("key.sealed does not open with this recipient key (sealed to another recipient, or altered)");
    CUSTOS_TRY(contents, parse_box_plaintext(plain.view()));
    if (contents.model_id != idx.model_id || contents.model_root != idx.model_root)
        return make_error(errc::mismatch, "key.sealed is the key of model \"" + contents.model_id + "\" (root " +
                                              to_hex(contents.model_root) + "), but index.json describes model \"" +
                                              idx.model_id + "\" (root " + to_hex(idx.model_root) + ")");

    // 4. The index MAC.
    CUSTOS_TRY(keys, derive_keys(contents.dek, idx.model_root));
    if (!equal_ct(hmac_sha256(keys.index_mac, index_mac_input(idx)), idx.index_mac))
        return tamper("index.json was altered: its MAC does not verify under the model's key");

    // 5. Data file sizes: a truncated or extended file is named before any decryption.
    for (const auto& f : idx.files) {
        struct stat st{};
        const auto p = dir / f.data;
        if (::lstat(p.c_str(), &st) != 0) return make_error(errc::io, "cannot stat " + p.string() + ": " + std::strerror(errno));
        const auto want = sealed_data_size(f);
        const auto have = static_cast<std::uint64_t>(st.st_size);
        if (have != want)
            return make_error(errc::structure, f.data + " (\"" + f.path + "\") is " + std::to_string(have) + " bytes, expected " +
                                                   std::to_string(want) + (have < want ? " (truncated)" : " (extra bytes appended)"));
    }

    // 6. Decrypt into a temporary sibling of `out`.
    CUSTOS_TRY(tmp, make_temp_sibling(out, "unsealing"));
    temp_dir_guard guard{tmp};
    std::vector<std::uint64_t> first_chunk;
    std::uint64_t total = 0;
    for (const auto& f : idx.files) {
        CUSTOS_TRY_VOID(make_parents(tmp, f.path));
        const auto p = tmp / f.path;
        fd_guard o(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (o.fd < 0) return make_error(errc::io, "cannot create " + p.string() + ": " + std::strerror(errno));
        if (::ftruncate(o.fd, static_cast<off_t>(f.size)) != 0)
            return make_error(errc::io, "cannot size " + p.string() + ": " + std::strerror(errno));
        first_chunk.push_back(total);
        total += f.chunks;
    }
    const unsigned workers = worker_count(threads);
    CUSTOS_TRY(wb, make_worker_buffers(workers));
    auto& ctxs = wb.ctxs;
    auto& bufs = wb.bufs;
    std::optional<chunk_ref> failed;
    std::mutex failed_m;
    auto r = parallel_for(total, workers, [&](std::uint64_t job, unsigned w) -> result<void> {
        const std::size_t fi = static_cast<std::size_t>(
            std::upper_bound(first_chunk.begin(), first_chunk.end(), job) - first_chunk.begin() - 1);
        const auto& f = idx.files[fi];
        const std::uint64_t c = job - first_chunk[fi];
        const std::string in_name = (dir / f.data).string();
        const std::string out_name = (tmp / f.path).string();
        fd_guard in(::open(in_name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (in.fd < 0) return make_error(errc::io, "cannot open " + in_name + ": " + std::strerror(errno));
        fd_guard o(::open(out_name.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
        if (o.fd < 0) return make_error(errc::io, "cannot open " + out_name + ": " + std::strerror(errno));
        const chunk_io io{in.fd, c * (idx.chunk_size + gcm_tag_size), o.fd, c * idx.chunk_size, chunk_len(idx, {fi, c}),
                          &in_name, &out_name};
        auto rr = gcm_chunk(ctxs[w].get(), false, contents.dek, chunk_nonce(static_cast<std::uint32_t>(fi), c),
                            chunk_aad(idx.model_id, f.path, c, f.chunks, idx.model_root), io, bufs[w].data());
        if (!rr.ok() && rr.err().code == errc::signature) {
            std::lock_guard lk(failed_m);
            if (!failed || job < first_chunk[failed->file] + failed->chunk) failed = chunk_ref{fi, c};
        }
        return rr;
    });
    if (!r.ok()) {
        if (r.err().code != errc::signature || !failed) return std::move(r).err();
        const auto& f = idx.files[failed->file];
        return tamper("\"" + f.path + "\" chunk " + std::to_string(failed->chunk) + " of " + std::to_string(f.chunks) +
                      " (" + f.data + ") " + diagnose(dir, idx, contents.dek, *failed));
    }

    // 7. Durable, then into place: a file for a sealed single file, the directory otherwise.
    for (const auto& f : idx.files) CUSTOS_TRY_VOID(fsync_path(tmp / f.path, false));
    fs::path from = tmp;
    if (idx.single_file) {
        from = tmp / idx.files[0].path;
    } else if (::chmod(tmp.c_str(), 0755) != 0) {
        return make_error(errc::io, "cannot chmod " + tmp.string());
    }
    CUSTOS_TRY_VOID(fsync_path(tmp, true));
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) != 0)
        return make_error(errc::io, "cannot rename " + from.string() + " to " + out.string() + ": " + std::strerror(errno));
    if (!idx.single_file) guard.path.clear();
    (void)fsync_path(fs::absolute(out).lexically_normal().parent_path(), true);
    return {};
}

}  // namespace custos::weights
