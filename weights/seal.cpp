// seal_model: manifest first (the model root goes into every chunk's AAD), then every chunk encrypted in
// parallel into a temporary directory that is renamed into place only once complete.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/file_io.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_crypto.hpp"

namespace custos::weights {

using namespace detail;
namespace fs = std::filesystem;

namespace {

// Removes the temporary directory unless the seal completed.
struct temp_dir_guard {
    fs::path path;
    bool keep = false;
    ~temp_dir_guard() {
        if (!keep && !path.empty()) {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    }
};

// Index of the file holding global chunk number `job`, from the running totals of chunk counts.
std::size_t file_of(const std::vector<std::uint64_t>& first_chunk, std::uint64_t job) {
    return static_cast<std::size_t>(std::upper_bound(first_chunk.begin(), first_chunk.end(), job) - first_chunk.begin()) - 1;
}

}  // namespace

result<manifest> seal_model(const fs::path& src, std::string_view model_id, const x25519_public& recipient,
                            const fs::path& out_dir, const seal_options& opts) {
    CUSTOS_TRY_VOID(check_model_id(model_id));
    CUSTOS_TRY_VOID(check_chunk_size(opts.chunk_size));
    if (sodium_init() < 0) return make_error(errc::crypto, "libsodium failed to initialise");
    std::error_code ec;
    if (fs::exists(fs::symlink_status(out_dir, ec)))
        return make_error(errc::io, out_dir.string() + " already exists; seal writes a new directory");
    const auto src_status = fs::symlink_status(src, ec);
    if (fs::is_symlink(src_status)) return make_error(errc::invalid_argument, src.string() + " is a symlink; refusing it");
    if (!fs::exists(src_status)) return make_error(errc::io, src.string() + " does not exist");
    const bool single_file = fs::is_regular_file(src_status);

    CUSTOS_TRY(files, list_model_files(src));
    for (const auto& f : files)
        if (auto c = check_model_path(f.relative); !c.ok()) return with_context(std::move(c).err(), f.absolute.string());
    CUSTOS_TRY(man, build_manifest(src, model_id, opts.chunk_size, opts.threads));
    if (man.files.size() != files.size()) return make_error(errc::io, src.string() + " changed while being sealed");
    for (std::size_t i = 0; i < files.size(); ++i)
        if (man.files[i].path != files[i].relative) return make_error(errc::io, src.string() + " changed while being sealed");

    CUSTOS_TRY(tmp, make_temp_sibling(out_dir, "sealing"));
    temp_dir_guard guard{tmp};
    fs::create_directory(tmp / sealed_data_dir, ec);
    if (ec) return make_error(errc::io, "cannot create " + (tmp / sealed_data_dir).string() + ": " + ec.message());

    secret_bytes dek(dek_size);
    randombytes_buf(dek.data(), dek.size());
    CUSTOS_TRY(keys, derive_keys(dek, man.model_root));

    sealed_index idx;
    idx.model_id = std::string(model_id);
    idx.model_root = man.model_root;
    idx.chunk_size = opts.chunk_size;
    idx.single_file = single_file;
    std::vector<std::uint64_t> first_chunk;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < man.files.size(); ++i) {
        const auto& mf = man.files[i];
        sealed_file f;
        f.path = mf.path;
        f.size = mf.size;
        f.chunks = chunk_count(mf.size, opts.chunk_size);
        f.data = sealed_data_name(i);
        f.keyed_root = keyed_file_root(keys.file_mac, f.path, f.size, mf.root);
        const auto data_path = tmp / f.data;
        fd_guard out(::open(data_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (out.fd < 0) return make_error(errc::io, "cannot create " + data_path.string() + ": " + std::strerror(errno));
        if (::ftruncate(out.fd, static_cast<off_t>(sealed_data_size(f))) != 0)
            return make_error(errc::io, "cannot size " + data_path.string() + ": " + std::strerror(errno));
        first_chunk.push_back(total);
        total += f.chunks;
        idx.files.push_back(std::move(f));
    }

    // Each worker streams its chunk through one reusable context and a 1 MiB buffer.
    const unsigned workers = worker_count(opts.threads);
    CUSTOS_TRY(wb, make_worker_buffers(workers));
    auto& ctxs = wb.ctxs;
    auto& bufs = wb.bufs;
    auto r = parallel_for(total, workers, [&](std::uint64_t job, unsigned w) -> result<void> {
        const std::size_t fi = file_of(first_chunk, job);
        const auto& f = idx.files[fi];
        const std::uint64_t c = job - first_chunk[fi];
        const std::string in_name = files[fi].absolute.string();
        const std::string out_name = (tmp / f.data).string();
        fd_guard in(::open(files[fi].absolute.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (in.fd < 0) return make_error(errc::io, "cannot open " + in_name + ": " + std::strerror(errno));
        struct stat st{};
        if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != f.size)
            return make_error(errc::io, in_name + " changed while being sealed");
        fd_guard out(::open(out_name.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
        if (out.fd < 0) return make_error(errc::io, "cannot open " + out_name + ": " + std::strerror(errno));
        const std::uint64_t off = c * idx.chunk_size;
        const std::uint64_t len = std::min<std::uint64_t>(idx.chunk_size, f.size - std::min(f.size, off));
        const chunk_io io{in.fd, off, out.fd, c * (idx.chunk_size + gcm_tag_size), len, &in_name, &out_name};
        return gcm_chunk(ctxs[w].get(), true, dek, chunk_nonce(static_cast<std::uint32_t>(fi), c),
                         chunk_aad(idx.model_id, f.path, c, f.chunks, idx.model_root), io, bufs[w].data());
    });
    if (!r.ok()) return with_context(std::move(r).err(), "sealing " + src.string());
    for (const auto& f : idx.files) CUSTOS_TRY_VOID(fsync_path(tmp / f.data, false));
    CUSTOS_TRY_VOID(fsync_path(tmp / sealed_data_dir, true));

    const secret_bytes plain = box_plaintext(dek, idx.model_id, idx.model_root);
    bytes box(plain.size() + crypto_box_SEALBYTES);
    if (crypto_box_seal(box.data(), plain.data(), plain.size(), recipient.data()) != 0)
        return make_error(errc::crypto, "crypto_box_seal failed (is the recipient key a valid X25519 key?)");
    CUSTOS_TRY_VOID(write_file_atomic(tmp / sealed_key_name, box));

    const bytes mac_in = index_mac_input(idx);
    idx.index_mac = hmac_sha256(keys.index_mac, mac_in);
    // The index goes last: a directory with an index.json is one whose every other part was written.
    CUSTOS_TRY_VOID(write_file_atomic(tmp / sealed_index_name, sealed_index_to_json(idx)));
    if (::chmod(tmp.c_str(), 0755) != 0) return make_error(errc::io, "cannot chmod " + tmp.string());
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out_dir.c_str(), RENAME_NOREPLACE) != 0)
        return make_error(errc::io, "cannot rename " + tmp.string() + " to " + out_dir.string() + ": " + std::strerror(errno));
    guard.keep = true;
    (void)fsync_path(fs::absolute(out_dir).lexically_normal().parent_path(), true);
    return man;
}

}  // namespace custos::weights
