// RAII handles for OpenSSL objects and the one place OpenSSL's error queue is turned into text.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::ossl {

template <auto Fn>
struct deleter {
    template <class T>
    void operator()(T* p) const noexcept { Fn(p); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX_free>>;
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, deleter<EVP_CIPHER_CTX_free>>;
using mac_ptr = std::unique_ptr<EVP_MAC, deleter<EVP_MAC_free>>;
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, deleter<EVP_MAC_CTX_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, deleter<X509_STORE_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, deleter<ECDSA_SIG_free>>;
using ec_point_ptr = std::unique_ptr<EC_POINT, deleter<EC_POINT_free>>;
using ec_group_ptr = std::unique_ptr<EC_GROUP, deleter<EC_GROUP_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, deleter<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, deleter<OSSL_PARAM_free>>;

// Drains OpenSSL's error queue into one line ("what: reason; reason").
std::string last_error(const std::string& what);
// Shorthand for a crypto-step failure carrying OpenSSL's reasons.
error crypto_error(const std::string& what);

// PEM public keys (SubjectPublicKeyInfo).
result<pkey_ptr> load_public_pem(byte_view pem);
result<std::string> public_to_pem(EVP_PKEY* key);
// DER SubjectPublicKeyInfo of a key: the canonical form to compare two public keys.
result<bytes> public_to_der(EVP_PKEY* key);

}  // namespace custos::ossl
