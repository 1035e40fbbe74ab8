#include "crypto/base64.hpp"

#include <sodium.h>

namespace custos {
namespace {

std::string encode(byte_view b, int variant) {
    std::string out(sodium_base64_encoded_len(b.size(), variant), '\0');
    sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), variant);
    out.resize(out.size() - 1);  // the terminating NUL sodium writes
    return out;
}

result<bytes> decode(std::string_view s, int variant, const char* what) {
    // libsodium classifies characters with arithmetic meant for 0..127: a byte past 0x7f (a negative char)
    // can come out as an alphabet character. None is one, so they are refused before it looks.
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return make_error(errc::parse, std::string("not valid ") + what);
    bytes out(s.size() / 4 * 3 + 3);
    std::size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end, variant) != 0 ||
        end != s.data() + s.size())
        return make_error(errc::parse, std::string("not valid ") + what);
    out.resize(len);
    return out;
}

}  // namespace

std::string to_base64(byte_view b) { return encode(b, sodium_base64_VARIANT_ORIGINAL); }
std::string to_base64url(byte_view b) { return encode(b, sodium_base64_VARIANT_URLSAFE_NO_PADDING); }
result<bytes> from_base64(std::string_view s) { return decode(s, sodium_base64_VARIANT_ORIGINAL, "base64"); }
result<bytes> from_base64url(std::string_view s) {
    return decode(s, sodium_base64_VARIANT_URLSAFE_NO_PADDING, "base64url");
}

}  // namespace custos
