#include "attest/ek_cert.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <string_view>

#include "attest/tpm_public.hpp"

namespace custos::attest {

namespace {

constexpr std::string_view pem_cert_begin = "-----BEGIN CERTIFICATE-----";
// EK certificates are a few KiB and distribution CA bundles a few hundred; the caps keep sizes within OpenSSL's
// int lengths and refuse a wrong file early.
constexpr std::size_t max_certificate_size = 1u << 20;
constexpr std::size_t max_bundle_size = 16u << 20;

std::string key_type(EVP_PKEY* key) {
    switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_RSA: return "RSA";
        case EVP_PKEY_EC: return "ECC";
        default: return OBJ_nid2sn(EVP_PKEY_get_base_id(key));
    }
}

bool is_space(std::uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The input from its first non-blank byte: OpenSSL only sees a PEM header at the start of a line.
byte_view skip_blanks(byte_view data) {
    auto it = std::find_if_not(data.begin(), data.end(), is_space);
    return data.subspan(static_cast<std::size_t>(it - data.begin()));
}

bool looks_like_pem(byte_view data) {
    const byte_view rest = skip_blanks(data);
    return rest.size() >= pem_cert_begin.size() &&
           std::equal(pem_cert_begin.begin(), pem_cert_begin.end(), rest.begin());
}

std::string name_rfc2253(const X509_NAME* name) {
    if (!name) return {};
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
        ERR_clear_error();
        return {};
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

result<ossl::x509_ptr> parse_pem(byte_view data) {
    ossl::bio_ptr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) return ossl::crypto_error("BIO_new_mem_buf");
    ossl::x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return make_error(errc::parse, ossl::last_error("PEM certificate does not decode"));
    // One certificate: a second one after it means the caller handed over a chain or a bundle by mistake.
    ossl::x509_ptr second(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (second)
        return make_error(errc::structure, "PEM holds more than one certificate; expected the EK certificate only");
    return cert;
}

result<ossl::x509_ptr> parse_der(byte_view data) {
    if (data.empty()) return make_error(errc::parse, "certificate is empty");
    if (data[0] != 0x30) return make_error(errc::parse, "certificate is neither DER (no SEQUENCE tag) nor PEM");
    const unsigned char* p = data.data();
    ossl::x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(data.size())));
    if (!cert) return make_error(errc::parse, ossl::last_error("DER certificate does not decode"));
    const auto used = static_cast<std::size_t>(p - data.data());
    // TPM NV indices are often larger than the certificate; vendors fill the rest with 0x00 or 0xff.
    auto junk = std::find_if(data.begin() + static_cast<std::ptrdiff_t>(used), data.end(),
                             [](std::uint8_t c) { return c != 0x00 && c != 0xff; });
    if (junk != data.end())
        return make_error(errc::parse, "unexpected data at offset " + std::to_string(junk - data.begin()) +
                                           " after the " + std::to_string(used) +
                                           "-byte DER certificate (only 0x00/0xff padding is allowed)");
    return cert;
}

}  // namespace

result<ossl::x509_ptr> parse_certificate(byte_view data) {
    ERR_clear_error();  // messages below carry OpenSSL's queue: it must hold this call's reasons only
    if (data.size() > max_certificate_size)
        return make_error(errc::parse, "certificate input is " + std::to_string(data.size()) + " bytes (at most " +
                                           std::to_string(max_certificate_size) + ")");
    return looks_like_pem(data) ? parse_pem(skip_blanks(data)) : parse_der(data);
}

result<ossl::x509_store_ptr> load_ca_bundle(byte_view pem) {
    ERR_clear_error();
    if (pem.size() > max_bundle_size)
        return make_error(errc::parse, "CA bundle is " + std::to_string(pem.size()) + " bytes (at most " +
                                           std::to_string(max_bundle_size) + ")");
    ossl::x509_store_ptr store(X509_STORE_new());
    if (!store) return ossl::crypto_error("X509_STORE_new");
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return ossl::crypto_error("BIO_new_mem_buf");
    std::size_t count = 0;
    for (;;) {
        ossl::x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) {
            // The loop ends with "no start line" once the input holds no further PEM block; any other error
            // is a damaged certificate in the bundle.
            const unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            return make_error(errc::parse, ossl::last_error("CA bundle certificate " + std::to_string(count + 1) +
                                                            " does not decode"));
        }
        // OpenSSL 3 accepts the same certificate twice without complaint; a failure here is not the input's fault.
        if (X509_STORE_add_cert(store.get(), cert.get()) != 1) return ossl::crypto_error("X509_STORE_add_cert");
        ++count;
    }
    if (count == 0) return make_error(errc::parse, "CA bundle holds no PEM certificate");
    return store;
}

result<void> verify_certificate_chain(X509* cert, X509_STORE* store) {
    if (!cert || !store) return make_error(errc::invalid_argument, "no certificate or no CA store");
    ERR_clear_error();
    ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store, cert, nullptr) != 1)
        return ossl::crypto_error("X509_STORE_CTX_init");
    const int rc = X509_verify_cert(ctx.get());
    if (rc == 1) return {};
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    std::string msg = "EK certificate chain does not verify: ";
    msg += X509_verify_cert_error_string(err);
    msg += " (at depth " + std::to_string(depth);
    if (X509* at = X509_STORE_CTX_get_current_cert(ctx.get())) {
        msg += ", subject \"" + name_rfc2253(X509_get_subject_name(at)) + "\"";
        msg += ", issuer \"" + name_rfc2253(X509_get_issuer_name(at)) + "\"";
    }
    msg += ")";
    ERR_clear_error();
    if (rc < 0 && err == X509_V_OK) return ossl::crypto_error("X509_verify_cert");
    return make_error(errc::chain, msg);
}

result<void> check_certificate_key(X509* cert, const TPMT_PUBLIC& ek) {
    if (!cert) return make_error(errc::invalid_argument, "no certificate");
    ERR_clear_error();
    EVP_PKEY* cert_key = X509_get0_pubkey(cert);
    if (!cert_key) return make_error(errc::parse, ossl::last_error("certificate public key does not decode"));
    auto ek_key = public_to_pkey(ek);
    if (!ek_key) return with_context(std::move(ek_key).err(), "EK public area");
    if (EVP_PKEY_get_base_id(cert_key) != EVP_PKEY_get_base_id(ek_key->get()))
        return make_error(errc::mismatch, "EK certificate holds an " + key_type(cert_key) + " key, the EK is " +
                                              key_type(ek_key->get()));
    CUSTOS_TRY(cert_der, ossl::public_to_der(cert_key));
    CUSTOS_TRY(ek_der, ossl::public_to_der(ek_key->get()));
    // The DER SubjectPublicKeyInfo is canonical for the encodings TPM vendors use; EVP_PKEY_eq also accepts a
    // certificate that carries the same EC point compressed.
    if (equal_ct(cert_der, ek_der) || EVP_PKEY_eq(cert_key, ek_key->get()) == 1) return {};
    ERR_clear_error();
    return make_error(errc::mismatch, "EK certificate public key differs from the EK the TPM holds");
}

std::string certificate_subject(X509* cert) { return cert ? name_rfc2253(X509_get_subject_name(cert)) : std::string(); }
std::string certificate_issuer(X509* cert) { return cert ? name_rfc2253(X509_get_issuer_name(cert)) : std::string(); }

}  // namespace custos::attest
