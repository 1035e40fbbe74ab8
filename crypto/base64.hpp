// Base64 codecs (libsodium): standard with padding for protocol fields, URL-safe unpadded for JWTs.
#pragma once

#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos {

std::string to_base64(byte_view b);     // RFC 4648 §4, with padding
std::string to_base64url(byte_view b);  // RFC 4648 §5, no padding
// Strict: characters outside the alphabet, whitespace, bad padding or trailing bits are errc::parse.
result<bytes> from_base64(std::string_view s);
result<bytes> from_base64url(std::string_view s);

}  // namespace custos
