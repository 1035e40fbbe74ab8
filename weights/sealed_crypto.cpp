#include "weights/sealed_crypto.hpp"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace custos::weights::detail {

namespace {
void append_lp(bytes& out, std::string_view s) {
    append_u32_be(out, static_cast<std::uint32_t>(s.size()));
    append(out, as_bytes(s));
}

error errno_error(const std::string& what, const std::string& name, int err) {
    return make_error(errc::io, what + " " + name + ": " + std::strerror(err));
}

result<secret_bytes> hkdf(const secret_bytes& ikm, const digest& salt, std::string_view info) {
    ossl::deleter<EVP_KDF_free> kdf_free;
    std::unique_ptr<EVP_KDF, decltype(kdf_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    if (!kdf) return ossl::crypto_error("fetching HKDF");
    std::unique_ptr<EVP_KDF_CTX, ossl::deleter<EVP_KDF_CTX_free>> ctx(EVP_KDF_CTX_new(kdf.get()));
    if (!ctx) return ossl::crypto_error("allocating HKDF");
    char md[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()), ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
        OSSL_PARAM_construct_end(),
    };
    secret_bytes out(32);
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return ossl::crypto_error("HKDF");
    return out;
}
}  // namespace

result<derived_keys> derive_keys(const secret_bytes& dek, const digest& model_root) {
    CUSTOS_TRY(index_key, hkdf(dek, model_root, hkdf_info_index));
    CUSTOS_TRY(file_key, hkdf(dek, model_root, hkdf_info_file));
    return derived_keys{std::move(index_key), std::move(file_key)};
}

digest hmac_sha256(const secret_bytes& key, byte_view data) {
    digest d{};
    unsigned len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), d.data(), &len);
    return d;
}

digest keyed_file_root(const secret_bytes& key, const std::string& path, std::uint64_t size, const digest& root) {
    bytes in;
    append_lp(in, path);
    append_u64_be(in, size);
    append(in, root);
    return hmac_sha256(key, in);
}

bytes index_mac_input(const sealed_index& idx) {
    bytes in;
    append_lp(in, sealed_format);
    append_u32_be(in, static_cast<std::uint32_t>(idx.version));
    append_lp(in, sealed_cipher);
    append_lp(in, idx.model_id);
    append(in, idx.model_root);
    append_u64_be(in, idx.chunk_size);
    in.push_back(idx.single_file ? 1 : 0);
    append_u64_be(in, idx.files.size());
    for (const auto& f : idx.files) {
        append_lp(in, f.path);
        append_u64_be(in, f.size);
        append_u64_be(in, f.chunks);
        append_lp(in, f.data);
        append(in, f.keyed_root);
    }
    return in;
}

std::array<std::uint8_t, nonce_size> chunk_nonce(std::uint32_t file_index, std::uint64_t chunk) {
    std::array<std::uint8_t, nonce_size> n{};
    for (int i = 0; i < 4; ++i) n[i] = static_cast<std::uint8_t>(file_index >> (24 - 8 * i));
    for (int i = 0; i < 8; ++i) n[4 + i] = static_cast<std::uint8_t>(chunk >> (56 - 8 * i));
    return n;
}

bytes chunk_aad(std::string_view model_id, std::string_view path, std::uint64_t chunk, std::uint64_t chunk_count,
                const digest& model_root) {
    bytes a;
    append_lp(a, aad_label);
    append_lp(a, model_id);
    append_lp(a, path);
    append_u64_be(a, chunk);
    append_u64_be(a, chunk_count);
    append(a, model_root);
    return a;
}

secret_bytes box_plaintext(const secret_bytes& dek, std::string_view model_id, const digest& root) {
    secret_bytes p(dek.size() + 1 + model_id.size() + root.size());
    std::uint8_t* o = p.data();
    std::memcpy(o, dek.data(), dek.size());
    o += dek.size();
    *o++ = static_cast<std::uint8_t>(model_id.size());
    std::memcpy(o, model_id.data(), model_id.size());
    o += model_id.size();
    std::memcpy(o, root.data(), root.size());
    return p;
}

result<box_contents> parse_box_plaintext(byte_view plain) {
    if (plain.size() < dek_size + 1 + 32)
        return make_error(errc::parse, "key.sealed: the sealed key is " + std::to_string(plain.size()) + " bytes, too short");
    const std::size_t id_len = plain[dek_size];
    if (plain.size() != dek_size + 1 + id_len + 32)
        return make_error(errc::parse, "key.sealed: the sealed key's length does not match its model id length");
    box_contents c;
    c.dek = secret_bytes(plain.first(dek_size));
    c.model_id.assign(reinterpret_cast<const char*>(plain.data() + dek_size + 1), id_len);
    std::copy_n(plain.data() + dek_size + 1 + id_len, 32, c.model_root.begin());
    return c;
}

result<void> pread_full(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t off, const std::string& name) {
    while (n > 0) {
        ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_error("cannot read", name, errno);
        }
        if (r == 0) return make_error(errc::io, name + " ended early (changed while being read?)");
        buf += r;
        n -= static_cast<std::size_t>(r);
        off += static_cast<std::uint64_t>(r);
    }
    return {};
}

result<void> pwrite_full(int fd, const std::uint8_t* buf, std::size_t n, std::uint64_t off, const std::string& name) {
    while (n > 0) {
        ssize_t r = ::pwrite(fd, buf, n, static_cast<off_t>(off));
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_error("cannot write", name, errno);
        }
        buf += r;
        n -= static_cast<std::size_t>(r);
        off += static_cast<std::uint64_t>(r);
    }
    return {};
}

result<void> fsync_path(const std::filesystem::path& p, bool directory) {
    fd_guard g(::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW));
    if (g.fd < 0) return errno_error("cannot open", p.string(), errno);
    if (::fsync(g.fd) != 0 && errno != EINVAL) return errno_error("cannot fsync", p.string(), errno);
    return {};
}

result<void> gcm_chunk(EVP_CIPHER_CTX* ctx, bool encrypt, const secret_bytes& key,
                       const std::array<std::uint8_t, nonce_size>& nonce, byte_view aad, const chunk_io& io,
                       std::uint8_t* buf) {
    const int enc = encrypt ? 1 : 0;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, nonce_size, nullptr) != 1 ||
        EVP_CipherInit_ex(ctx, nullptr, nullptr, key.data(), nonce.data(), enc) != 1)
        return ossl::crypto_error("AES-256-GCM init");
    int outl = 0;
    if (EVP_CipherUpdate(ctx, nullptr, &outl, aad.data(), static_cast<int>(aad.size())) != 1)
        return ossl::crypto_error("AES-256-GCM associated data");
    // On encrypt the output (ciphertext) sits at out_off; on decrypt the input (ciphertext) sits at in_off,
    // its tag right after it.
    for (std::uint64_t done = 0; done < io.len;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(io_piece, io.len - done));
        CUSTOS_TRY_VOID(pread_full(io.in_fd, buf, n, io.in_off + done, *io.in_name));
        if (EVP_CipherUpdate(ctx, buf, &outl, buf, static_cast<int>(n)) != 1 || static_cast<std::size_t>(outl) != n)
            return ossl::crypto_error("AES-256-GCM");
        if (io.out_fd >= 0) CUSTOS_TRY_VOID(pwrite_full(io.out_fd, buf, n, io.out_off + done, *io.out_name));
        done += n;
    }
    std::uint8_t tag[gcm_tag_size];
    if (encrypt) {
        if (EVP_CipherFinal_ex(ctx, buf, &outl) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, gcm_tag_size, tag) != 1)
            return ossl::crypto_error("AES-256-GCM final");
        return pwrite_full(io.out_fd, tag, gcm_tag_size, io.out_off + io.len, *io.out_name);
    }
    CUSTOS_TRY_VOID(pread_full(io.in_fd, tag, gcm_tag_size, io.in_off + io.len, *io.in_name));
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, gcm_tag_size, tag) != 1)
        return ossl::crypto_error("AES-256-GCM set tag");
    if (EVP_CipherFinal_ex(ctx, buf, &outl) != 1) {
        ERR_clear_error();
        return make_error(errc::signature, "authentication tag does not verify");
    }
    return {};
}

result<worker_buffers> make_worker_buffers(unsigned workers) {
    worker_buffers wb;
    for (unsigned w = 0; w < workers; ++w) {
        wb.ctxs.emplace_back(EVP_CIPHER_CTX_new());
        if (!wb.ctxs.back()) return ossl::crypto_error("allocating a cipher context");
        wb.bufs.emplace_back(io_piece);
    }
    return wb;
}

unsigned worker_count(unsigned requested) {
    const unsigned hw = std::thread::hardware_concurrency();
    const unsigned n = requested != 0 ? requested : (hw == 0 ? 1 : hw);
    return std::min(n, max_workers);
}

result<void> parallel_for(std::uint64_t n, unsigned threads,
                          const std::function<result<void>(std::uint64_t, unsigned)>& job) {
    const unsigned workers = static_cast<unsigned>(std::min<std::uint64_t>(worker_count(threads), std::max<std::uint64_t>(n, 1)));
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex m;
    std::uint64_t failed_at = UINT64_MAX;
    std::optional<error> first;
    auto loop = [&](unsigned w) {
        while (!stop.load(std::memory_order_relaxed)) {
            const std::uint64_t i = next.fetch_add(1);
            if (i >= n) return;
            auto r = job(i, w);
            if (!r.ok()) {
                std::lock_guard lk(m);
                if (i < failed_at) {
                    failed_at = i;
                    first = std::move(r).err();
                }
                stop = true;
            }
        }
    };
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < workers; ++w) pool.emplace_back(loop, w);
    loop(0);
    for (auto& t : pool) t.join();
    if (first) return std::move(*first);
    return {};
}

result<std::filesystem::path> make_temp_sibling(const std::filesystem::path& target, const char* what) {
    auto abs = std::filesystem::absolute(target).lexically_normal();
    if (abs.filename().empty()) abs = abs.parent_path();
    std::string tmpl = (abs.parent_path() / ("." + abs.filename().string() + "." + what + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) return errno_error("cannot create a temporary directory next to", abs.string(), errno);
    return std::filesystem::path(tmpl);
}

}  // namespace custos::weights::detail
