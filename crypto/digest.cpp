#include "crypto/digest.hpp"

#include <stdexcept>

namespace custos {

const EVP_MD* evp_md(hash_alg alg) noexcept {
    switch (alg) {
        case hash_alg::sha1: return EVP_sha1();
        case hash_alg::sha256: return EVP_sha256();
        case hash_alg::sha384: return EVP_sha384();
        case hash_alg::sha512: return EVP_sha512();
    }
    return nullptr;
}

std::size_t digest_size(hash_alg alg) noexcept {
    switch (alg) {
        case hash_alg::sha1: return 20;
        case hash_alg::sha256: return 32;
        case hash_alg::sha384: return 48;
        case hash_alg::sha512: return 64;
    }
    return 0;
}

const char* hash_name(hash_alg alg) noexcept {
    switch (alg) {
        case hash_alg::sha1: return "sha1";
        case hash_alg::sha256: return "sha256";
        case hash_alg::sha384: return "sha384";
        case hash_alg::sha512: return "sha512";
    }
    return "unknown";
}

bytes digest(hash_alg alg, byte_view data) { return hasher(alg).update(data).finish(); }

// Digest failures mean OpenSSL is broken (allocation, missing provider): not a recoverable input error.
hasher::hasher(hash_alg alg) : ctx_(EVP_MD_CTX_new()), alg_(alg) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), evp_md(alg), nullptr) != 1)
        throw std::runtime_error(ossl::last_error("EVP_DigestInit_ex"));
}

hasher& hasher::update(byte_view data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1)
        throw std::runtime_error(ossl::last_error("EVP_DigestUpdate"));
    return *this;
}

bytes hasher::finish() {
    bytes out(digest_size(alg_));
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &n) != 1)
        throw std::runtime_error(ossl::last_error("EVP_DigestFinal_ex"));
    out.resize(n);
    return out;
}

}  // namespace custos
