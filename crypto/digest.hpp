// One-shot and streaming message digests (SHA-1, SHA-256, SHA-384, SHA-512) over OpenSSL EVP.
#pragma once

#include <openssl/evp.h>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"

namespace custos {

enum class hash_alg { sha1, sha256, sha384, sha512 };

const EVP_MD* evp_md(hash_alg alg) noexcept;
std::size_t digest_size(hash_alg alg) noexcept;
const char* hash_name(hash_alg alg) noexcept;

bytes digest(hash_alg alg, byte_view data);
inline bytes sha256(byte_view data) { return digest(hash_alg::sha256, data); }

class hasher {
public:
    explicit hasher(hash_alg alg);
    hasher& update(byte_view data);
    bytes finish();

private:
    ossl::md_ctx_ptr ctx_;
    hash_alg alg_;
};

}  // namespace custos
