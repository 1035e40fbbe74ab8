// crypto/x509 and crypto/jwt: the private PKI (CA, server/client certificates, CSRs) and ES256 results.
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include "crypto/base64.hpp"
#include "crypto/jwt.hpp"
#include "crypto/strict_json.hpp"
#include "crypto/x509.hpp"

namespace custos {
namespace {

bool chains(X509* cert, X509* ca) {
    ossl::x509_store_ptr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca);
    ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
    return X509_verify_cert(ctx.get()) == 1;
}

TEST(X509, IssuesCertificatesThatChainAndCarryTheirNames) {
    auto ca_key = x509::generate_p256();
    ASSERT_TRUE(ca_key.ok());
    x509::cert_request ca_req;
    ca_req.subject = {"test CA", "ca"};
    auto ca = x509::make_ca(ca_key->get(), ca_req);
    ASSERT_TRUE(ca.ok()) << ca.err().message;
    auto key = x509::generate_p256();
    x509::cert_request r;
    r.subject = {"gpu-1", "agent"};
    r.kind = x509::cert_kind::client;
    r.uris = {"urn:custos:host:gpu-1", "urn:custos:ak:000b00"};
    auto cert = x509::issue(ca->get(), ca_key->get(), key->get(), r);
    ASSERT_TRUE(cert.ok()) << cert.err().message;
    EXPECT_TRUE(chains(cert->get(), ca->get()));
    const auto id = x509::describe(cert->get());
    EXPECT_EQ(id.subject.cn, "gpu-1");
    EXPECT_EQ(id.subject.ou, "agent");
    EXPECT_EQ(id.subject.o, "custos");
    EXPECT_EQ(id.uris, (std::vector<std::string>{"urn:custos:host:gpu-1", "urn:custos:ak:000b00"}));
    EXPECT_EQ(id.sha256.size(), 64u);
    // PEM round trip keeps the fingerprint; another CA does not verify it.
    auto pem = x509::to_pem(cert->get());
    auto back = x509::load_pem(as_bytes(*pem));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(x509::describe(back->get()).sha256, id.sha256);
    auto other_key = x509::generate_p256();
    auto other = x509::make_ca(other_key->get(), ca_req);
    EXPECT_FALSE(chains(cert->get(), other->get()));
    EXPECT_FALSE(x509::load_pem(as_bytes("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).ok());
}

TEST(X509, CsrsAreCheckedForSignatureAndKeyType) {
    auto key = x509::generate_p256();
    auto csr = x509::make_csr_pem(key->get(), {"gpu-2", "agent"});
    ASSERT_TRUE(csr.ok());
    auto parsed = x509::parse_csr_pem(as_bytes(*csr));
    ASSERT_TRUE(parsed.ok()) << parsed.err().message;
    EXPECT_EQ(parsed->subject.cn, "gpu-2");
    ossl::pkey_ptr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    auto rsa_csr = x509::make_csr_pem(rsa.get(), {"gpu-3", "agent"});
    ASSERT_TRUE(rsa_csr.ok());
    auto refused = x509::parse_csr_pem(as_bytes(*rsa_csr));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.err().message.find("not ECDSA P-256"), std::string::npos) << refused.err().message;
    // A tampered request body: the self-signature no longer verifies (or it no longer parses).
    std::string bad = *csr;
    bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(x509::parse_csr_pem(as_bytes(bad)).ok());
    auto key_pem = x509::private_key_to_pem(key->get());
    auto key_back = x509::load_private_pem(as_bytes(*key_pem));
    ASSERT_TRUE(key_back.ok());
    EXPECT_EQ(EVP_PKEY_eq(key->get(), key_back->get()), 1);
}

TEST(Jwt, SignsAndVerifiesEs256) {
    auto key = x509::generate_p256();
    auto tok = jwt::sign_es256(key->get(), R"({"sub":"gpu-1","ear.status":"affirming"})");
    ASSERT_TRUE(tok.ok()) << tok.err().message;
    EXPECT_EQ(std::count(tok->begin(), tok->end(), '.'), 2);
    EXPECT_EQ(tok->substr(0, tok->find('.')), to_base64url(as_bytes(R"({"alg":"ES256","typ":"JWT"})")));
    auto v = jwt::verify_es256(*tok, key->get());
    ASSERT_TRUE(v.ok()) << v.err().message;
    EXPECT_EQ(v->claims_json, R"({"sub":"gpu-1","ear.status":"affirming"})");
    // The signature part is raw r||s: 64 bytes.
    EXPECT_EQ(from_base64url(tok->substr(tok->rfind('.') + 1))->size(), 64u);
}

TEST(Jwt, RefusesTamperingOtherKeysAndOtherAlgorithms) {
    auto key = x509::generate_p256();
    auto other = x509::generate_p256();
    const std::string tok = *jwt::sign_es256(key->get(), R"({"sub":"gpu-1","ear.status":"affirming"})");
    auto wrong = jwt::verify_es256(tok, other->get());
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.err().code, errc::signature);
    const auto d1 = tok.find('.'), d2 = tok.rfind('.');
    const std::string forged_claims = tok.substr(0, d1 + 1) +
                                      to_base64url(as_bytes(R"({"sub":"gpu-1","ear.status":"contraindicated"})")) +
                                      tok.substr(d2);
    EXPECT_EQ(jwt::verify_es256(forged_claims, key->get()).err().code, errc::signature);
    const std::string none = to_base64url(as_bytes(R"({"alg":"none","typ":"JWT"})")) + tok.substr(d1, d2 - d1) + ".";
    auto n = jwt::verify_es256(none, key->get());
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.err().message.find("\"none\" is not accepted"), std::string::npos) << n.err().message;
    EXPECT_EQ(jwt::verify_es256("a.b", key->get()).err().code, errc::parse);
    EXPECT_EQ(jwt::verify_es256(tok + "x", key->get()).ok(), false);
    EXPECT_FALSE(jwt::sign_es256(key->get(), "[1]").ok());
}

TEST(Base64, StrictInBothAlphabets) {
    EXPECT_EQ(to_base64(as_bytes("hi?")), "aGk/");
    EXPECT_EQ(to_base64url(as_bytes("hi?")), "aGk_");
    EXPECT_EQ(*from_base64("aGk/"), bytes({'h', 'i', '?'}));
    EXPECT_EQ(*from_base64url("aGk_"), bytes({'h', 'i', '?'}));
    EXPECT_FALSE(from_base64("aGk_").ok());
    EXPECT_FALSE(from_base64("aG k/").ok());
    EXPECT_FALSE(from_base64("aGk").ok());  // missing padding
    EXPECT_TRUE(from_base64("").ok());
}

TEST(StrictJson, RefusesDuplicatesAndNamesFields) {
    EXPECT_EQ(sjson::parse(R"({"a":1,"a":2})", "x").err().code, errc::structure);
    EXPECT_EQ(sjson::parse(R"({"a":1,"b":{"c":1,"c":2}})", "x").err().code, errc::structure);
    EXPECT_TRUE(sjson::parse(R"({"a":"x:y","b":[{"c":1},{"c":2}]})", "x").ok());
    EXPECT_EQ(sjson::parse("[[[[1]]]]", "x", 3).err().code, errc::parse);
    auto v = sjson::parse(R"({"n":-1,"s":"zz","h":"0011"})", "msg");
    auto o = sjson::object_reader::of(*v, "msg");
    ASSERT_TRUE(o.ok());
    EXPECT_NE(o->u64("n").err().message.find("msg: field \"n\" must be a non-negative integer"), std::string::npos);
    EXPECT_NE(o->hex("s").err().message.find("not valid hex"), std::string::npos);
    EXPECT_NE(o->hex("h", 3).err().message.find("must be 3 bytes"), std::string::npos);
    EXPECT_NE(o->str("missing").err().message.find("\"missing\" is missing"), std::string::npos);
    EXPECT_NE(o->only({"n", "s"}).err().message.find("unknown field \"h\""), std::string::npos);
}

}  // namespace
}  // namespace custos
