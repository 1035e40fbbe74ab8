#include "crypto/ossl.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace custos::ossl {

std::string last_error(const std::string& what) {
    std::string out = what;
    bool first = true;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += first ? ": " : "; ";
        out += buf;
        first = false;
    }
    return out;
}

error crypto_error(const std::string& what) { return make_error(errc::crypto, last_error(what)); }

result<pkey_ptr> load_public_pem(byte_view pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return crypto_error("BIO_new_mem_buf");
    pkey_ptr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        ERR_clear_error();
        return make_error(errc::parse, "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
    }
    return key;
}

result<std::string> public_to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return crypto_error("PEM_write_bio_PUBKEY");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

result<bytes> public_to_der(EVP_PKEY* key) {
    int n = i2d_PUBKEY(key, nullptr);
    if (n <= 0) return crypto_error("i2d_PUBKEY");
    bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    if (i2d_PUBKEY(key, &p) != n) return crypto_error("i2d_PUBKEY");
    return out;
}

}  // namespace custos::ossl
