// unseal_model: parse, then check the directory's structure, then open key.sealed, then the index MAC,
// then every chunk's tag while decrypting into a temporary sibling of the output; each step says what failed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "crypto/file_io.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_checks.hpp"
#include "weights/sealed_crypto.hpp"
#include "weights/sealed_open.hpp"

namespace custos::weights {

using namespace detail;
namespace fs = std::filesystem;

namespace {

// Removes the temporary output unless it was renamed into place.
struct temp_dir_guard {
    fs::path path;
    ~temp_dir_guard() {
        if (!path.empty()) {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
};

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
    std::error_code ec;
    CUSTOS_TRY_VOID(check_sealed_dir(dir));
    if (fs::exists(fs::symlink_status(out, ec)))
        return make_error(errc::io, out.string() + " already exists; unseal writes a new file or directory");

    // 1. Parse, 2. structure.
    CUSTOS_TRY(idx, read_index(dir));
    CUSTOS_TRY_VOID(check_layout(dir, idx));

    // 3. The data key, and whose model it is.
    CUSTOS_TRY(contents, read_sealed_key(dir, key));
    if (contents.model_id != idx.model_id || contents.model_root != idx.model_root)
        return make_error(errc::mismatch, "key.sealed is the key of model \"" + contents.model_id + "\" (root " +
                                              to_hex(contents.model_root) + "), but index.json describes model \"" +
                                              idx.model_id + "\" (root " + to_hex(idx.model_root) + ")");

    // 4. The index MAC.
    CUSTOS_TRY(mac_ok, index_mac_verifies(idx, contents.dek));
    if (!mac_ok) return tamper("index.json was altered: its MAC does not verify under the model's key");

    // 5. Data file sizes: a truncated or extended file is named before any decryption.
    CUSTOS_TRY_VOID(check_data_sizes(dir, idx));

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
        auto rr = decrypt_chunk(ctxs[w].get(), idx, contents.dek, {fi, c}, in.fd, in_name, o.fd, out_name, bufs[w].data());
        if (!rr.ok() && rr.err().code == errc::signature) {
            std::lock_guard lk(failed_m);
            if (!failed || job < first_chunk[failed->file] + failed->chunk) failed = chunk_ref{fi, c};
        }
        return rr;
    });
    if (!r.ok()) {
        if (r.err().code != errc::signature || !failed) return std::move(r).err();
        return chunk_failure(dir, idx, contents.dek, *failed);
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
