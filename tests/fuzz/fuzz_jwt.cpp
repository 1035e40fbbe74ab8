// Fuzz target: JWT parsing and checks (jwt::verify_es256) on arbitrary tokens, and sign/verify round trips
// of arbitrary claims. Nothing the fuzzer makes may verify with a key it does not hold.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "crypto/jwt.hpp"
#include "crypto/x509.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto key = custos::x509::generate_p256();
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // As a token: the fuzzer cannot forge an ES256 signature with this key.
    if (custos::jwt::verify_es256(input, key->get()).ok()) std::abort();
    // As claims: whatever sign_es256 accepts verifies, and comes back byte for byte.
    if (size <= 4096) {
        auto tok = custos::jwt::sign_es256(key->get(), input);
        if (tok.ok()) {
            auto v = custos::jwt::verify_es256(*tok, key->get());
            if (!v.ok() || v->claims_json != input || v->header_json != R"({"alg":"ES256","typ":"JWT"})") std::abort();
        }
    }
    return 0;
}
