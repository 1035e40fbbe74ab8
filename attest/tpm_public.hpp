// TPM public areas: (un)marshalling, conversion to OpenSSL keys, object names and AK attribute checks.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

// TPM2B_PUBLIC as marshalled by Tss2_MU (size-prefixed); strict: the size field covers exactly the public
// area and nothing follows. (The TPMT_PUBLIC is unmarshalled on its own: tss2-mu 3.2's
// Tss2_MU_TPM2B_PUBLIC_Unmarshal ignores errors inside the structure.)
result<TPM2B_PUBLIC> unmarshal_public(byte_view data);
// Both return an empty byte string if Tss2_MU cannot marshal the area (an unknown type or scheme).
// marshal_public writes the size field from the marshalled area, not from pub.size.
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
