#include "weights/recipient_key.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/file_io.hpp"
#include "crypto/ossl.hpp"

namespace custos::weights {

namespace {

constexpr std::string_view pem_marker = "-----BEGIN";
constexpr std::size_t max_key_file = 64u << 10;

int no_passphrase(char*, int, int, void*) { return -1; }  // never prompt on a terminal

bool looks_like_pem(byte_view data) {
    std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    return text.find(pem_marker) != std::string_view::npos;
}

result<ossl::pkey_ptr> require_x25519(EVP_PKEY* raw, const std::string& name, const char* what) {
    ossl::pkey_ptr key(raw);
    if (!key) return make_error(errc::parse, name + ": not a PEM " + std::string(what) + ": " + ossl::last_error("PEM"));
    if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_X25519) {
        const char* type = EVP_PKEY_get0_type_name(key.get());
        return make_error(errc::unsupported, name + ": holds a " + std::string(type ? type : "non-X25519") +
                                                 " key, not an X25519 recipient key");
    }
    return key;
}

result<x25519_public> raw_public(EVP_PKEY* key, const std::string& name) {
    x25519_public pub{};
    std::size_t len = pub.size();
    if (EVP_PKEY_get_raw_public_key(key, pub.data(), &len) != 1 || len != pub.size())
        return ossl::crypto_error(name + ": reading the X25519 public key");
    return pub;
}

// A PEM string from a memory BIO that cleanses its buffer when freed.
result<secret_bytes> bio_contents(BIO* bio) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    if (n < 0) return ossl::crypto_error("reading PEM output");
    return secret_bytes(byte_view(reinterpret_cast<const std::uint8_t*>(p), static_cast<std::size_t>(n)));
}

result<secret_bytes> read_secret_file(const std::filesystem::path& path) {
    auto data = read_file(path, max_key_file);
    if (!data.ok()) return std::move(data).err();
    secret_bytes s(*data);
    OPENSSL_cleanse(data->data(), data->size());
    return s;
}

error io_error(const std::string& what, const std::filesystem::path& p, int err) {
    return make_error(errc::io, what + " " + p.string() + ": " + std::strerror(err));
}

// Writes `data` to a temp file, then hard-links it to `path`: link() fails when `path` exists, so an
// existing key is never replaced, and `path` never holds a partial file.
result<void> write_new_file(const std::filesystem::path& path, byte_view data, unsigned mode) {
    auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return io_error("cannot create a temporary file in", dir, errno);
    auto fail = [&](const char* what, const std::string& p) {
        int e = errno;
        ::close(fd);
        ::unlink(tmpl.c_str());
        return io_error(what, p, e);
    };
    if (::fchmod(fd, mode) != 0) return fail("cannot chmod", tmpl);
    for (std::size_t off = 0; off < data.size();) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("cannot write", tmpl);
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail("cannot fsync", tmpl);
    if (::link(tmpl.c_str(), path.c_str()) != 0) {
        if (errno == EEXIST) {
            ::close(fd);
            ::unlink(tmpl.c_str());
            return make_error(errc::io, path.string() + " already exists; refusing to overwrite it");
        }
        return fail("cannot create", path.string());
    }
    ::close(fd);
    ::unlink(tmpl.c_str());
    int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        (void)::fsync(d);
        ::close(d);
    }
    return {};
}

}  // namespace

result<recipient_private_key> generate_recipient_key() {
    ossl::pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    if (!key) return ossl::crypto_error("generating an X25519 key");
    recipient_private_key out;
    out.secret = secret_bytes(x25519_key_size);
    std::size_t len = out.secret.size();
    if (EVP_PKEY_get_raw_private_key(key.get(), out.secret.data(), &len) != 1 || len != x25519_key_size)
        return ossl::crypto_error("exporting the X25519 private key");
    CUSTOS_TRY(pub, raw_public(key.get(), "generated key"));
    out.pub = pub;
    return out;
}

result<std::string> recipient_public_pem(const x25519_public& pub) {
    ossl::pkey_ptr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pub.data(), pub.size()));
    if (!key) return ossl::crypto_error("importing an X25519 public key");
    return ossl::public_to_pem(key.get());
}

result<secret_bytes> recipient_private_pem(const recipient_private_key& k) {
    ossl::pkey_ptr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, k.secret.data(), k.secret.size()));
    if (!key) return ossl::crypto_error("importing an X25519 private key");
    ossl::bio_ptr bio(BIO_new(BIO_s_secmem()));
    if (!bio) return ossl::crypto_error("allocating a BIO");
    if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return ossl::crypto_error("writing the PKCS#8 private key");
    return bio_contents(bio.get());
}

result<x25519_public> parse_recipient_public(byte_view pem, const std::string& name) {
    if (!looks_like_pem(pem)) return make_error(errc::parse, name + ": not a PEM file (no \"-----BEGIN\" line)");
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return ossl::crypto_error("allocating a BIO");
    CUSTOS_TRY(key, require_x25519(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr), name,
                                   "public key (SubjectPublicKeyInfo)"));
    return raw_public(key.get(), name);
}

result<recipient_private_key> parse_recipient_private(byte_view pem, const std::string& name) {
    if (!looks_like_pem(pem)) return make_error(errc::parse, name + ": not a PEM file (no \"-----BEGIN\" line)");
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return ossl::crypto_error("allocating a BIO");
    CUSTOS_TRY(key, require_x25519(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), name,
                                   "private key (unencrypted PKCS#8)"));
    recipient_private_key out;
    out.secret = secret_bytes(x25519_key_size);
    std::size_t len = out.secret.size();
    if (EVP_PKEY_get_raw_private_key(key.get(), out.secret.data(), &len) != 1 || len != x25519_key_size)
        return ossl::crypto_error(name + ": reading the X25519 private key");
    CUSTOS_TRY(pub, raw_public(key.get(), name));
    out.pub = pub;
    return out;
}

result<x25519_public> load_recipient_public(const std::filesystem::path& path) {
    CUSTOS_TRY(data, read_file(path, max_key_file));
    return parse_recipient_public(data, path.string());
}

result<recipient_private_key> load_recipient_private(const std::filesystem::path& path) {
    CUSTOS_TRY(data, read_secret_file(path));
    return parse_recipient_private(data.view(), path.string());
}

result<void> write_recipient_keypair(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
    const auto pub_path = dir / "recipient.pub";
    const auto key_path = dir / "recipient.key";
    for (const auto& p : {pub_path, key_path})
        if (std::filesystem::exists(std::filesystem::symlink_status(p)))
            return make_error(errc::io, p.string() + " already exists; refusing to overwrite it");
    CUSTOS_TRY(key, generate_recipient_key());
    CUSTOS_TRY(pub_pem, recipient_public_pem(key.pub));
    CUSTOS_TRY(key_pem, recipient_private_pem(key));
    CUSTOS_TRY_VOID(write_new_file(key_path, key_pem.view(), 0600));
    if (auto w = write_new_file(pub_path, as_bytes(pub_pem), 0644); !w.ok()) {
        ::unlink(key_path.c_str());  // a private key without its public half would only confuse
        return std::move(w).err();
    }
    return {};
}

}  // namespace custos::weights
