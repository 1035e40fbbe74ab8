// TPM public areas: (un)marshalling, conversion to OpenSSL keys, object names and AK attribute checks.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

// TPM2B_PUBLIC as marshalled by Tss2_MU (size-prefixed); strict, no trailing bytes.
result<TPM2B_PUBLIC> unmarshal_public(byte_view data);
bytes marshal_public(const TPM2B_PUBLIC& pub);
// TPMT_PUBLIC body without the size prefix (what the object name hashes).
bytes marshal_public_area(const TPMT_PUBLIC& pub);

// RSA (any exponent, 0 = 65537) and ECC (P-256, P-384, P-521) public areas to an EVP_PKEY.
result<ossl::pkey_ptr> public_to_pkey(const TPMT_PUBLIC& pub);

// Name = nameAlg (big-endian u16) || H_nameAlg(TPMT_PUBLIC marshalled).
result<bytes> object_name(const TPMT_PUBLIC& pub);

// What an attestation key must be: restricted, sign, fixedTPM, fixedParent, sensitiveDataOrigin, not
// decrypt, an RSA-2048/3072 or ECC P-256/P-384 key with a signing scheme (ECDSA, RSASSA or RSAPSS).
// The error names every attribute that is wrong.
result<void> check_ak_attributes(const TPMT_PUBLIC& pub);

}  // namespace custos::attest
