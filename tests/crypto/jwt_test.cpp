// crypto/jwt: ES256 compact JWS — RFC 7515 A.3 interop, raw r||s signatures, and every refusal with its step.
#include "crypto/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/ecdsa.h>
#include <openssl/x509.h>

#include <algorithm>

#include "crypto/base64.hpp"
#include "crypto/x509.hpp"

namespace custos {
namespace {

const std::string claims = R"({"iss":"custos-verifier","sub":"gpu-1","iat":1764000000,"ear.status":"affirming"})";
const std::string es256_header = R"({"alg":"ES256","typ":"JWT"})";

std::string b64u(std::string_view s) { return to_base64url(as_bytes(s)); }

// A compact token from raw parts (header and claims JSON, signature bytes).
std::string assemble(std::string_view header, std::string_view body, byte_view sig) {
    return b64u(header) + "." + b64u(body) + "." + to_base64url(sig);
}

ossl::pkey_ptr p256_public_from_xy(std::string_view x_b64u, std::string_view y_b64u) {
    // SubjectPublicKeyInfo DER for id-ecPublicKey / prime256v1, followed by the uncompressed point 04||x||y.
    bytes der = *from_hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    der.push_back(0x04);
    const bytes x = *from_base64url(x_b64u), y = *from_base64url(y_b64u);
    der.insert(der.end(), x.begin(), x.end());
    der.insert(der.end(), y.begin(), y.end());
    const unsigned char* p = der.data();
    return ossl::pkey_ptr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

struct keys {
    ossl::pkey_ptr key = std::move(x509::generate_p256()).value();
    ossl::pkey_ptr other = std::move(x509::generate_p256()).value();
};

TEST(Jwt, SignsAndVerifiesEs256) {
    keys k;
    auto tok = jwt::sign_es256(k.key.get(), claims);
    ASSERT_TRUE(tok.ok()) << tok.err().message;
    EXPECT_EQ(std::count(tok->begin(), tok->end(), '.'), 2);
    // The header is exactly {"alg":"ES256","typ":"JWT"}, base64url without padding; the claims are as given.
    EXPECT_EQ(tok->substr(0, tok->find('.')), "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9");
    EXPECT_EQ(tok->find('='), std::string::npos);
    auto v = jwt::verify_es256(*tok, k.key.get());
    ASSERT_TRUE(v.ok()) << v.err().message;
    EXPECT_EQ(v->header_json, es256_header);
    EXPECT_EQ(v->claims_json, claims);
    EXPECT_EQ(from_base64url(tok->substr(tok->rfind('.') + 1))->size(), 64u);  // raw r||s
}

TEST(Jwt, VerifiesTheRfc7515AppendixA3Example) {
    // RFC 7515 A.3: a token another implementation made (header {"alg":"ES256"}, claims with CR LF).
    auto pub = p256_public_from_xy("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    ASSERT_TRUE(pub);
    const std::string token =
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    auto v = jwt::verify_es256(token, pub.get());
    ASSERT_TRUE(v.ok()) << v.err().message;
    EXPECT_EQ(v->header_json, R"({"alg":"ES256"})");
    EXPECT_EQ(v->claims_json, "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
    std::string flipped = token;
    flipped.back() = flipped.back() == 'Q' ? 'R' : 'Q';
    EXPECT_FALSE(jwt::verify_es256(flipped, pub.get()).ok());
}

TEST(Jwt, SignatureIsLeftPaddedRAndS) {
    // About one signature in 128 has r or s below 2^248; its raw form must still be 32+32 bytes and verify.
    keys k;
    bool padded = false;
    for (int i = 0; i < 5000 && !padded; ++i) {
        const std::string body = R"({"i":)" + std::to_string(i) + "}";
        auto tok = jwt::sign_es256(k.key.get(), body);
        ASSERT_TRUE(tok.ok());
        const bytes sig = *from_base64url(tok->substr(tok->rfind('.') + 1));
        ASSERT_EQ(sig.size(), 64u);
        if (sig[0] != 0 && sig[32] != 0) continue;
        padded = true;
        auto v = jwt::verify_es256(*tok, k.key.get());
        ASSERT_TRUE(v.ok()) << v.err().message;
        EXPECT_EQ(v->claims_json, body);
    }
    EXPECT_TRUE(padded);
}

TEST(Jwt, RefusesTamperingAndOtherKeys) {
    keys k;
    const std::string tok = *jwt::sign_es256(k.key.get(), claims);
    auto wrong = jwt::verify_es256(tok, k.other.get());
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.err().code, errc::signature);
    EXPECT_EQ(wrong.err().message, "the JWT signature does not verify with the verifier's key");
    const auto d1 = tok.find('.'), d2 = tok.rfind('.');
    std::string forged = claims;
    forged.replace(forged.find("affirming"), 9, "warning");
    EXPECT_EQ(jwt::verify_es256(tok.substr(0, d1 + 1) + b64u(forged) + tok.substr(d2), k.key.get()).err().code,
              errc::signature);
    // r = s = 0 and r = s = n-ish (all ones) are not signatures.
    const std::string input = tok.substr(0, d2 + 1);
    EXPECT_EQ(jwt::verify_es256(input + to_base64url(bytes(64, 0)), k.key.get()).err().code, errc::signature);
    EXPECT_EQ(jwt::verify_es256(input + to_base64url(bytes(64, 0xff)), k.key.get()).err().code, errc::signature);
    // A DER signature (what OpenSSL makes) is not the JWS form.
    bytes der(72, 0x30);
    auto e = jwt::verify_es256(input + to_base64url(der), k.key.get());
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.err().code, errc::structure);
    EXPECT_EQ(e.err().message, "ES256 signature is 72 bytes, not 64");
}

TEST(Jwt, NeverAcceptsAlgNoneOrAnotherAlgorithm) {
    keys k;
    const std::string tok = *jwt::sign_es256(k.key.get(), claims);
    const std::string body = tok.substr(tok.find('.'), tok.rfind('.') - tok.find('.'));
    for (const std::string alg : {"none", "None", "HS256", "RS256", "ES384", "es256", ""}) {
        const std::string header = R"({"alg":")" + alg + R"(","typ":"JWT"})";
        for (const std::string& sig : {std::string(), tok.substr(tok.rfind('.') + 1)}) {
            auto e = jwt::verify_es256(b64u(header) + body + "." + sig, k.key.get());
            ASSERT_FALSE(e.ok()) << alg;
            EXPECT_EQ(e.err().code, errc::structure) << alg;
            EXPECT_EQ(e.err().message, "JWT header: algorithm \"" + alg + "\" is not accepted (only ES256)");
        }
    }
    auto no_alg = jwt::verify_es256(b64u(R"({"typ":"JWT"})") + body + ".", k.key.get());
    ASSERT_FALSE(no_alg.ok());
    EXPECT_NE(no_alg.err().message.find("\"alg\" is missing"), std::string::npos) << no_alg.err().message;
    auto alg_number = jwt::verify_es256(b64u(R"({"alg":256})") + body + ".", k.key.get());
    EXPECT_NE(alg_number.err().message.find("\"alg\" must be a string"), std::string::npos);
}

TEST(Jwt, RefusesHeadersAskingForMore) {
    keys k;
    const bytes sig(64, 1);
    auto crit = jwt::verify_es256(assemble(R"({"alg":"ES256","crit":["exp"],"exp":1})", claims, sig), k.key.get());
    ASSERT_FALSE(crit.ok());
    EXPECT_EQ(crit.err().code, errc::structure);
    EXPECT_NE(crit.err().message.find("unknown field \"crit\""), std::string::npos) << crit.err().message;
    auto jwk = jwt::verify_es256(assemble(R"({"alg":"ES256","jwk":{}})", claims, sig), k.key.get());
    EXPECT_NE(jwk.err().message.find("unknown field \"jwk\""), std::string::npos) << jwk.err().message;
    auto typ = jwt::verify_es256(assemble(R"({"alg":"ES256","typ":"JOSE+JSON"})", claims, sig), k.key.get());
    EXPECT_EQ(typ.err().message, "JWT header: typ \"JOSE+JSON\" is not \"JWT\"");
    auto dup = jwt::verify_es256(assemble(R"({"alg":"ES256","alg":"none"})", claims, sig), k.key.get());
    EXPECT_EQ(dup.err().code, errc::structure);
    EXPECT_EQ(jwt::verify_es256(assemble("[]", claims, sig), k.key.get()).err().code, errc::structure);
    EXPECT_EQ(jwt::verify_es256(assemble("{", claims, sig), k.key.get()).err().code, errc::parse);
}

TEST(Jwt, StructureIsCheckedBeforeTheSignature) {
    keys k;
    const bytes sig(64, 1);
    for (const char* body : {"[1,2]", "\"s\"", "3", "null"}) {
        auto e = jwt::verify_es256(assemble(es256_header, body, sig), k.key.get());
        ASSERT_FALSE(e.ok()) << body;
        EXPECT_EQ(e.err().code, errc::structure) << body;
        EXPECT_EQ(e.err().message, "JWT claims must be a JSON object");
    }
    EXPECT_EQ(jwt::verify_es256(assemble(es256_header, R"({"a":1,"a":2})", sig), k.key.get()).err().code,
              errc::structure);
    EXPECT_EQ(jwt::verify_es256(assemble(es256_header, "{oops", sig), k.key.get()).err().code, errc::parse);
    const std::string good = *jwt::sign_es256(k.key.get(), claims);
    for (const std::string& bad : {std::string(), std::string("a.b"), std::string(".."), good + ".x", good + "=",
                                  "ey J." + good.substr(good.find('.') + 1), std::string("a.b.c.d")}) {
        auto e = jwt::verify_es256(bad, k.key.get());
        ASSERT_FALSE(e.ok()) << bad;
        EXPECT_EQ(e.err().code, errc::parse) << bad;
    }
    EXPECT_EQ(jwt::verify_es256("a.b", k.key.get()).err().message,
              "a JWT has three base64url parts separated by '.'");
    EXPECT_EQ(jwt::verify_es256(good + "=", k.key.get()).err().message, "a JWT part is not valid base64url");
}

TEST(Jwt, KeysMustBeP256) {
    keys k;
    ossl::pkey_ptr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    ossl::pkey_ptr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    auto s = jwt::sign_es256(p384.get(), claims);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.err().code, errc::invalid_argument);
    EXPECT_EQ(s.err().message, "ES256 needs a P-256 key");
    EXPECT_FALSE(jwt::sign_es256(ed.get(), claims).ok());
    EXPECT_FALSE(jwt::sign_es256(nullptr, claims).ok());
    const std::string tok = *jwt::sign_es256(k.key.get(), claims);
    for (EVP_PKEY* bad : {p384.get(), ed.get(), static_cast<EVP_PKEY*>(nullptr)}) {
        auto v = jwt::verify_es256(tok, bad);
        ASSERT_FALSE(v.ok());
        EXPECT_EQ(v.err().code, errc::invalid_argument);
        EXPECT_EQ(v.err().message, "the verifier key is not a P-256 public key");
    }
    // sign_es256 takes only a JSON object as claims.
    EXPECT_EQ(jwt::sign_es256(k.key.get(), "[1]").err().code, errc::invalid_argument);
    EXPECT_FALSE(jwt::sign_es256(k.key.get(), R"({"a":1,"a":2})").ok());
    EXPECT_FALSE(jwt::sign_es256(k.key.get(), "{").ok());
}

}  // namespace
}  // namespace custos
