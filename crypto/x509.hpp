// X.509 for custos' private PKI: P-256 keys, a self-signed CA, server and client certificates, CSRs,
// fingerprints. (EK certificates from TPM vendors are attest/ek_cert's business.)
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"

namespace custos::x509 {

using req_ptr = std::unique_ptr<X509_REQ, ossl::deleter<X509_REQ_free>>;

struct dn {
    std::string cn;  // commonName
    std::string ou;  // organizationalUnitName: the role ("operator", "agent", "server", "ca")
    std::string o = "custos";
};

enum class cert_kind { ca, server, client };

struct cert_request {
    dn subject;
    cert_kind kind = cert_kind::client;
    std::vector<std::string> dns;   // subjectAltName DNS names (server certificates)
    std::vector<std::string> ips;   // subjectAltName IP addresses (server certificates)
    std::vector<std::string> uris;  // subjectAltName URIs (agent certificates: urn:custos:host:..., urn:custos:ak:...)
    std::int64_t not_before = 0;    // Unix seconds; 0 = now - 5 minutes
    std::int64_t valid_days = 365;
};

// A fresh ECDSA P-256 key.
result<ossl::pkey_ptr> generate_p256();
// Unencrypted PKCS#8 PEM (callers write it with mode 0600) and its reader.
result<std::string> private_key_to_pem(EVP_PKEY* key);
result<ossl::pkey_ptr> load_private_pem(byte_view pem);

// Self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign|cRLSign), random 128-bit serial.
result<ossl::x509_ptr> make_ca(EVP_PKEY* key, const cert_request& req);
// A certificate for `subject_key` signed by the CA (ECDSA-SHA256): server → serverAuth, client → clientAuth.
result<ossl::x509_ptr> issue(X509* ca, EVP_PKEY* ca_key, EVP_PKEY* subject_key, const cert_request& req);

result<std::string> to_pem(X509* cert);
result<bytes> to_der(X509* cert);
// One certificate in PEM (the first of a bundle).
result<ossl::x509_ptr> load_pem(byte_view pem);

// A PKCS#10 request (subject only; the issuer decides extensions) and its parser, which verifies the
// request's self-signature and insists on an ECDSA P-256 key (errc::structure / errc::signature).
result<std::string> make_csr_pem(EVP_PKEY* key, const dn& subject);
struct csr_info {
    ossl::pkey_ptr key;
    dn subject;
};
result<csr_info> parse_csr_pem(byte_view pem);

// What a relying party looks at in a certificate.
struct identity {
    dn subject;
    std::vector<std::string> uris;  // subjectAltName URIs in certificate order
    std::string sha256;             // lowercase hex SHA-256 of the DER certificate
};
identity describe(X509* cert);

}  // namespace custos::x509
