// Fuzz target: JWT structure checks (crypto::jwt::verify_es256) on arbitrary tokens with a fixed key;
// nothing but a token this key signed may verify.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "crypto/jwt.hpp"
#include "crypto/x509.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto key = custos::x509::generate_p256();
    const std::string_view token(reinterpret_cast<const char*>(data), size);
    auto v = custos::jwt::verify_es256(token, key->get());
    if (v.ok()) std::abort();  // the fuzzer cannot forge an ES256 signature
    return 0;
}
