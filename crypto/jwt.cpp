#include "crypto/jwt.hpp"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

#include <boost/json.hpp>

#include "crypto/base64.hpp"
#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"
#include "crypto/strict_json.hpp"

namespace custos::jwt {
namespace {

constexpr std::string_view header = R"({"alg":"ES256","typ":"JWT"})";
constexpr std::size_t coord = 32;

bool is_p256(EVP_PKEY* key) {
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
    char group[64] = {};
    std::size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
           std::string(group) == "prime256v1";
}

}  // namespace

result<std::string> sign_es256(EVP_PKEY* key, std::string_view claims_json) {
    if (!is_p256(key)) return make_error(errc::invalid_argument, "ES256 needs a P-256 key");
    CUSTOS_TRY(claims, sjson::parse(claims_json, "JWT claims"));
    if (!claims.is_object()) return make_error(errc::invalid_argument, "JWT claims must be a JSON object");
    const std::string input = to_base64url(as_bytes(header)) + "." + to_base64url(as_bytes(claims_json));
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    std::size_t der_len = 0;
    if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        return ossl::crypto_error("ES256 signing");
    bytes der(der_len);
    if (EVP_DigestSign(md.get(), der.data(), &der_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        return ossl::crypto_error("ES256 signing");
    const unsigned char* p = der.data();
    ossl::ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
    if (!sig) return ossl::crypto_error("ES256 signature decoding");
    bytes raw(2 * coord);
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), coord) != coord ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + coord, coord) != coord)
        return ossl::crypto_error("ES256 signature encoding");
    return input + "." + to_base64url(raw);
}

result<verified> verify_es256(std::string_view token, EVP_PKEY* pub) {
    const auto d1 = token.find('.');
    const auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    if (d1 == std::string_view::npos || d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return make_error(errc::parse, "a JWT has three base64url parts separated by '.'");
    auto h = from_base64url(token.substr(0, d1));
    auto c = from_base64url(token.substr(d1 + 1, d2 - d1 - 1));
    auto s = from_base64url(token.substr(d2 + 1));
    if (!h || !c || !s) return make_error(errc::parse, "a JWT part is not valid base64url");
    verified out{std::string(h->begin(), h->end()), std::string(c->begin(), c->end())};
    CUSTOS_TRY(hv, sjson::parse(out.header_json, "JWT header"));
    CUSTOS_TRY(ho, sjson::object_reader::of(hv, "JWT header"));
    CUSTOS_TRY(alg, ho.str("alg"));
    if (alg != "ES256")
        return make_error(errc::structure, "JWT header: algorithm \"" + alg + "\" is not accepted (only ES256)");
    // No other header parameters: "crit", "jwk", "x5u" and friends would ask for processing (or keys) this
    // verifier does not take from a token.
    CUSTOS_TRY_VOID(ho.only({"alg", "typ"}));
    if (ho.has("typ")) {
        CUSTOS_TRY(typ, ho.str("typ"));
        if (typ != "JWT") return make_error(errc::structure, "JWT header: typ \"" + typ + "\" is not \"JWT\"");
    }
    CUSTOS_TRY(cv, sjson::parse(out.claims_json, "JWT claims"));
    if (!cv.is_object()) return make_error(errc::structure, "JWT claims must be a JSON object");
    if (s->size() != 2 * coord)
        return make_error(errc::structure, "ES256 signature is " + std::to_string(s->size()) + " bytes, not 64");
    if (!is_p256(pub)) return make_error(errc::invalid_argument, "the verifier key is not a P-256 public key");
    ossl::ecdsa_sig_ptr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(s->data(), coord, nullptr);
    BIGNUM* sv = BN_bin2bn(s->data() + coord, coord, nullptr);
    if (!sig || !r || !sv || ECDSA_SIG_set0(sig.get(), r, sv) != 1) {
        BN_free(r);
        BN_free(sv);
        return ossl::crypto_error("ES256 signature");
    }
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_len <= 0) return ossl::crypto_error("ES256 signature");
    const std::string_view input = token.substr(0, d2);
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    const int ok = md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, pub) == 1
                       ? EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_len),
                                          reinterpret_cast<const unsigned char*>(input.data()), input.size())
                       : -1;
    OPENSSL_free(der);
    ERR_clear_error();
    if (ok != 1) return make_error(errc::signature, "the JWT signature does not verify with the verifier's key");
    return out;
}

}  // namespace custos::jwt
