// EK certificates: parse (DER as stored in TPM NV, or PEM), verify the chain against a CA bundle with
// OpenSSL's X509_STORE, and check that the certified key is the EK the TPM recreated.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <string>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

// One certificate, DER or PEM. NV-stored certificates are often padded with trailing zero or 0xff
// bytes after the DER: those are tolerated, anything else after the certificate is an error.
result<ossl::x509_ptr> parse_certificate(byte_view data);

// A PEM bundle of one or more CA certificates (roots and intermediates). An empty bundle is an error.
result<ossl::x509_store_ptr> load_ca_bundle(byte_view pem);

// Verifies `cert` up to a root in `store` (intermediates may be in the store too). The error carries
// OpenSSL's verification reason and the depth where it failed.
result<void> verify_certificate_chain(X509* cert, X509_STORE* store);

// The certificate's SubjectPublicKeyInfo equals the EK's public area (RSA modulus+exponent, or ECC point).
result<void> check_certificate_key(X509* cert, const TPMT_PUBLIC& ek);

// One-line RFC 2253 forms for display and JSON.
std::string certificate_subject(X509* cert);
std::string certificate_issuer(X509* cert);

}  // namespace custos::attest
