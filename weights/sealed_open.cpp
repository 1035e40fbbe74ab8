// sealed_model: a sealed directory opened with a released data key (no recipient key on the agent), and
// its files decrypted into sealed memfds. The checks are unseal's (sealed_checks.hpp); only the source of
// trust in the key differs: the index's model id and root must be the ones the key was released for.
#include "weights/sealed_open.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "weights/sealed_checks.hpp"
#include "weights/sealed_crypto.hpp"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U  // Linux 6.3; older headers lack it
#endif

namespace custos::weights {

using namespace detail;
namespace fs = std::filesystem;

namespace {
constexpr unsigned memfd_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
constexpr std::size_t max_memfd_name = 240;  // memfd_create allows 249 bytes

error errno_error(const std::string& what, int err) { return make_error(errc::io, what + ": " + std::strerror(err)); }
}  // namespace

result<sealed_key> open_sealed_key(byte_view box, const recipient_private_key& key) {
    if (sodium_init() < 0) return make_error(errc::crypto, "libsodium failed to initialise");
    if (box.size() < crypto_box_SEALBYTES) return make_error(errc::parse, "key.sealed is too short to be a sealed box");
    if (box.size() > max_box_bytes)
        return make_error(errc::parse, "key.sealed is " + std::to_string(box.size()) + " bytes, more than a sealed key can be");
    if (key.secret.size() != x25519_key_size)
        return make_error(errc::invalid_argument, "the recipient private key is not 32 bytes");
    secret_bytes plain(box.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(plain.data(), box.data(), box.size(), key.pub.data(), key.secret.data()) != 0)
        return tamper("key.sealed does not open with this recipient key (sealed to another recipient, or altered)");
    return parse_box_plaintext(plain.view());
}

result<sealed_key> read_sealed_key(const fs::path& dir, const recipient_private_key& key) {
    CUSTOS_TRY(box, read_member(dir, sealed_key_name, max_box_bytes));
    return open_sealed_key(box, key);
}

result<sealed_model> sealed_model::open(const fs::path& dir, const secret_bytes& dek, std::string_view expected_model_id,
                                        const digest& expected_root) {
    if (dek.size() != dek_size)
        return make_error(errc::invalid_argument, "the data key is " + std::to_string(dek.size()) +
                                                      " bytes; a sealed model's key is " + std::to_string(dek_size));
    // 1. Parse, 2. structure.
    CUSTOS_TRY_VOID(check_sealed_dir(dir));
    CUSTOS_TRY(idx, read_index(dir));
    CUSTOS_TRY_VOID(check_layout(dir, idx));
    // 3. Model binding: the key was released for one model; the directory must be that model.
    if (idx.model_id != expected_model_id || idx.model_root != expected_root)
        return make_error(errc::mismatch, "index.json describes model \"" + idx.model_id + "\" (root " + to_hex(idx.model_root) +
                                              "), but the key is for model \"" + std::string(expected_model_id) + "\" (root " +
                                              to_hex(expected_root) + ")");
    // 4. The index MAC: a wrong key and an edited index look alike here.
    CUSTOS_TRY(mac_ok, index_mac_verifies(idx, dek));
    if (!mac_ok)
        return tamper("index.json does not verify under this data key (the index was altered, or the key is not this model's)");
    // 5. Sizes, so a truncated data file is named before any decryption.
    CUSTOS_TRY_VOID(check_data_sizes(dir, idx));
    return sealed_model(fs::absolute(dir).lexically_normal(), std::move(idx), secret_bytes(dek.view()));
}

const sealed_file* sealed_model::find(std::string_view rel_path) const noexcept {
    // Files are sorted bytewise, which is how std::string compares.
    auto it = std::lower_bound(idx_.files.begin(), idx_.files.end(), rel_path,
                               [](const sealed_file& f, std::string_view p) { return std::string_view(f.path) < p; });
    if (it == idx_.files.end() || it->path != rel_path) return nullptr;
    return &*it;
}

result<void> sealed_model::decrypt_file(std::string_view rel_path, int out_fd, unsigned threads) const {
    const sealed_file* f = find(rel_path);
    if (!f) return make_error(errc::invalid_argument, "model \"" + idx_.model_id + "\" has no file \"" + std::string(rel_path) + "\"");
    const std::size_t fi = static_cast<std::size_t>(f - idx_.files.data());
    const std::string in_name = (dir_ / f->data).string();
    const std::string out_name = "the decrypted \"" + f->path + "\"";

    // The descriptor every chunk is read from is the one checked here (the directory may change after open).
    fd_guard in(::open(in_name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (in.fd < 0) return errno_error("cannot open " + in_name, errno);
    struct stat st{};
    if (::fstat(in.fd, &st) != 0) return errno_error("cannot stat " + in_name, errno);
    if (!S_ISREG(st.st_mode)) return make_error(errc::structure, in_name + " is not a regular file");
    CUSTOS_TRY_VOID(check_data_size(*f, static_cast<std::uint64_t>(st.st_size)));
    if (::ftruncate(out_fd, static_cast<off_t>(f->size)) != 0) return errno_error("cannot size " + out_name, errno);

    const unsigned workers = static_cast<unsigned>(std::min<std::uint64_t>(worker_count(threads), f->chunks));
    CUSTOS_TRY(wb, make_worker_buffers(workers));
    std::optional<std::uint64_t> failed;  // lowest chunk whose tag failed
    std::mutex failed_m;
    auto r = parallel_for(f->chunks, workers, [&](std::uint64_t c, unsigned w) -> result<void> {
        auto rr = decrypt_chunk(wb.ctxs[w].get(), idx_, dek_, {fi, c}, in.fd, in_name, out_fd, out_name, wb.bufs[w].data());
        if (!rr.ok() && rr.err().code == errc::signature) {
            std::lock_guard lk(failed_m);
            if (!failed || c < *failed) failed = c;
        }
        return rr;
    });
    if (!r.ok()) {
        if (r.err().code != errc::signature || !failed) return std::move(r).err();
        return chunk_failure(dir_, idx_, dek_, {fi, *failed});
    }
    return {};
}

result<shared_fd> decrypt_to_sealed_memfd(const sealed_model& m, std::string_view rel_path, unsigned threads) {
    const sealed_file* f = m.find(rel_path);
    if (!f)
        return make_error(errc::invalid_argument,
                          "model \"" + m.index().model_id + "\" has no file \"" + std::string(rel_path) + "\"");
    const std::string name = ("custos:" + f->path).substr(0, max_memfd_name);
    int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL) fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return errno_error("memfd_create for \"" + f->path + "\"", errno);
    auto guard = std::make_shared<fd_guard>(fd);
    CUSTOS_TRY_VOID(m.decrypt_file(rel_path, fd, threads));
    if (::fcntl(fd, F_ADD_SEALS, memfd_seals) != 0) return errno_error("cannot seal the memfd of \"" + f->path + "\"", errno);
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (static_cast<unsigned>(seals) & memfd_seals) != memfd_seals)
        return make_error(errc::io, "the memfd of \"" + f->path + "\" did not keep its seals");
    return shared_fd(std::move(guard));
}

}  // namespace custos::weights
