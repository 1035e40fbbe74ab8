// Compact JWS/JWT with ES256 (RFC 7515/7518/7519) for signed attestation results.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "crypto/result.hpp"

namespace custos::jwt {

// header {"alg":"ES256","typ":"JWT"} . claims (as given, must be a JSON object) . raw r||s signature.
result<std::string> sign_es256(EVP_PKEY* key, std::string_view claims_json);

struct verified {
    std::string header_json;
    std::string claims_json;
};
// Structure first (three base64url parts, header JSON with alg ES256 exactly, claims a JSON object), then
// the signature (64 bytes r||s, each < n). errc::parse / errc::structure / errc::signature.
result<verified> verify_es256(std::string_view token, EVP_PKEY* pub);

}  // namespace custos::jwt
