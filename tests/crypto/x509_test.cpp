// crypto/x509: the private PKI — CA and leaf extensions, names, chains, CSRs, key and certificate PEM.
#include "crypto/x509.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "crypto/digest.hpp"

namespace custos {
namespace {

bool chains(X509* cert, X509* ca) {
    ossl::x509_store_ptr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca);
    ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
    return X509_verify_cert(ctx.get()) == 1;
}

bool critical(X509* cert, int nid) {
    const int idx = X509_get_ext_by_NID(cert, nid, -1);
    return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

struct test_ca {
    ossl::pkey_ptr key;
    ossl::x509_ptr cert;
};

test_ca make_test_ca(const std::string& cn = "test CA") {
    test_ca ca;
    ca.key = std::move(x509::generate_p256()).value();
    x509::cert_request r;
    r.subject = {cn, "ca"};
    auto c = x509::make_ca(ca.key.get(), r);
    EXPECT_TRUE(c.ok()) << c.err().message;
    ca.cert = std::move(c).value();
    return ca;
}

std::vector<std::uint8_t> serial_bytes(X509* cert) {
    ossl::bn_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    std::vector<std::uint8_t> out(static_cast<std::size_t>(BN_num_bytes(bn.get())));
    BN_bn2bin(bn.get(), out.data());
    return out;
}

TEST(X509, IssuesCertificatesThatChainAndCarryTheirNames) {
    auto ca = make_test_ca();
    auto key = x509::generate_p256();
    x509::cert_request r;
    r.subject = {"gpu-1", "agent"};
    r.kind = x509::cert_kind::client;
    r.uris = {"urn:custos:host:gpu-1", "urn:custos:ak:000b00"};
    auto cert = x509::issue(ca.cert.get(), ca.key.get(), key->get(), r);
    ASSERT_TRUE(cert.ok()) << cert.err().message;
    EXPECT_TRUE(chains(cert->get(), ca.cert.get()));
    const auto id = x509::describe(cert->get());
    EXPECT_EQ(id.subject.cn, "gpu-1");
    EXPECT_EQ(id.subject.ou, "agent");
    EXPECT_EQ(id.subject.o, "custos");
    EXPECT_EQ(id.uris, (std::vector<std::string>{"urn:custos:host:gpu-1", "urn:custos:ak:000b00"}));
    EXPECT_EQ(id.sha256, to_hex(sha256(*x509::to_der(cert->get()))));
    // PEM round trip keeps the fingerprint; another CA does not verify it.
    auto pem = x509::to_pem(cert->get());
    ASSERT_TRUE(pem.ok());
    EXPECT_EQ(pem->rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
    auto back = x509::load_pem(as_bytes(*pem));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(x509::describe(back->get()).sha256, id.sha256);
    auto other = make_test_ca();
    EXPECT_FALSE(chains(cert->get(), other.cert.get()));
}

TEST(X509, CaIsSelfSignedWithCriticalConstraintsAndCertSignUsage) {
    auto ca = make_test_ca("custos verifier CA");
    X509* c = ca.cert.get();
    EXPECT_EQ(X509_get_version(c), X509_VERSION_3);
    EXPECT_EQ(X509_check_ca(c), 1);
    EXPECT_TRUE(critical(c, NID_basic_constraints));
    EXPECT_TRUE(critical(c, NID_key_usage));
    EXPECT_EQ(X509_get_key_usage(c), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    EXPECT_NE(X509_get0_subject_key_id(c), nullptr);
    EXPECT_EQ(X509_verify(c, ca.key.get()), 1);  // self-signed with its own key
    EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
    EXPECT_TRUE(chains(c, c));
    // Random positive 128-bit-class serials: 16 bytes, top bit clear, different every time.
    const auto s1 = serial_bytes(c);
    EXPECT_EQ(s1.size(), 16u);
    EXPECT_EQ(s1[0] & 0x80, 0);
    EXPECT_NE(serial_bytes(make_test_ca().cert.get()), s1);
    // issue() does not make CAs.
    x509::cert_request r;
    r.kind = x509::cert_kind::ca;
    auto refused = x509::issue(c, ca.key.get(), ca.key.get(), r);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.err().code, errc::invalid_argument);
}

TEST(X509, ServerCertificateHasServerAuthAndItsNames) {
    auto ca = make_test_ca();
    auto key = x509::generate_p256();
    x509::cert_request r;
    r.subject = {"custos-verifier", "server"};
    r.kind = x509::cert_kind::server;
    r.dns = {"localhost", "verifier.example"};
    r.ips = {"127.0.0.1", "::1"};
    r.not_before = 1'700'000'000;
    r.valid_days = 825;
    auto cert = x509::issue(ca.cert.get(), ca.key.get(), key->get(), r);
    ASSERT_TRUE(cert.ok()) << cert.err().message;
    X509* c = cert->get();
    EXPECT_EQ(X509_check_ca(c), 0);
    EXPECT_TRUE(critical(c, NID_basic_constraints));
    EXPECT_EQ(X509_get_key_usage(c), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
    EXPECT_EQ(X509_get_extended_key_usage(c), static_cast<std::uint32_t>(XKU_SSL_SERVER));
    EXPECT_EQ(X509_check_host(c, "verifier.example", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(c, "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(c, "other.example", 0, 0, nullptr), 0);
    EXPECT_EQ(X509_check_ip_asc(c, "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(c, "::1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(c, "10.0.0.1", 0), 0);
    ASSERT_NE(X509_get0_authority_key_id(c), nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c), X509_get0_subject_key_id(ca.cert.get())), 0);
    // Validity: from not_before for exactly valid_days.
    int days = 0, secs = 0;
    ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(c), X509_get0_notAfter(c)), 1);
    EXPECT_EQ(days, 825);
    EXPECT_EQ(secs, 0);
    EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(c), 1'700'000'000), 0);
    EXPECT_TRUE(x509::describe(c).uris.empty());  // DNS and IP names are not URIs
}

TEST(X509, ClientCertificateHasClientAuthAndOmitsEmptyNameFields) {
    auto ca = make_test_ca();
    auto key = x509::generate_p256();
    x509::cert_request r;
    r.subject = {"alice", "operator", ""};
    r.kind = x509::cert_kind::client;
    auto cert = x509::issue(ca.cert.get(), ca.key.get(), key->get(), r);
    ASSERT_TRUE(cert.ok()) << cert.err().message;
    EXPECT_EQ(X509_get_extended_key_usage(cert->get()), static_cast<std::uint32_t>(XKU_SSL_CLIENT));
    EXPECT_EQ(X509_get_key_usage(cert->get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
    X509_NAME* name = X509_get_subject_name(cert->get());
    EXPECT_EQ(X509_NAME_entry_count(name), 2);  // CN and OU; the empty O is left out
    EXPECT_EQ(X509_NAME_get_index_by_NID(name, NID_organizationName, -1), -1);
    char text[256];
    X509_NAME_oneline(name, text, sizeof text);
    EXPECT_STREQ(text, "/OU=operator/CN=alice");
    const auto id = x509::describe(cert->get());
    EXPECT_EQ(id.subject.cn, "alice");
    EXPECT_EQ(id.subject.ou, "operator");
    EXPECT_EQ(id.subject.o, "");
}

TEST(X509, RefusesMalformedSubjectAltNames) {
    auto ca = make_test_ca();
    auto key = x509::generate_p256();
    x509::cert_request r;
    r.kind = x509::cert_kind::server;
    r.subject = {"s", "server"};
    r.dns = {"bad name"};
    auto e = x509::issue(ca.cert.get(), ca.key.get(), key->get(), r);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.err().code, errc::invalid_argument);
    EXPECT_NE(e.err().message.find("bad DNS name \"bad name\""), std::string::npos) << e.err().message;
    r.dns.clear();
    r.ips = {"999.1.1.1"};
    e = x509::issue(ca.cert.get(), ca.key.get(), key->get(), r);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().message.find("bad IP address \"999.1.1.1\""), std::string::npos) << e.err().message;
}

TEST(X509, PrivateKeysRoundTripAsUnencryptedPkcs8) {
    auto key = x509::generate_p256();
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 256);
    auto pem = x509::private_key_to_pem(key->get());
    ASSERT_TRUE(pem.ok());
    EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);  // PKCS#8, not "EC PRIVATE KEY"
    auto back = x509::load_private_pem(as_bytes(*pem));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(EVP_PKEY_eq(key->get(), back->get()), 1);
    auto bad = x509::load_private_pem(as_bytes("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.err().code, errc::parse);
    EXPECT_NE(bad.err().message.find("not a PEM private key"), std::string::npos) << bad.err().message;
    // An encrypted key is refused without prompting for a passphrase.
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key->get(), EVP_aes_128_cbc(), nullptr, 0, nullptr,
                                            const_cast<char*>("pass")),
              1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    EXPECT_EQ(x509::load_private_pem(byte_view(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(n)))
                  .err()
                  .code,
              errc::parse);
}

TEST(X509, LoadPemRefusesGarbageAndTakesTheFirstOfABundle) {
    for (const char* garbage : {"", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}) {
        auto e = x509::load_pem(as_bytes(garbage));
        ASSERT_FALSE(e.ok()) << garbage;
        EXPECT_EQ(e.err().code, errc::parse);
        EXPECT_NE(e.err().message.find("not a PEM certificate"), std::string::npos) << e.err().message;
    }
    auto a = make_test_ca("first");
    auto b = make_test_ca("second");
    const std::string bundle = *x509::to_pem(a.cert.get()) + *x509::to_pem(b.cert.get());
    auto first = x509::load_pem(as_bytes(bundle));
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(x509::describe(first->get()).subject.cn, "first");
}

TEST(X509, CsrsCarryTheSubjectAndTheKey) {
    auto key = x509::generate_p256();
    auto csr = x509::make_csr_pem(key->get(), {"gpu-2", "agent"});
    ASSERT_TRUE(csr.ok());
    EXPECT_EQ(csr->rfind("-----BEGIN CERTIFICATE REQUEST-----\n", 0), 0u);
    auto parsed = x509::parse_csr_pem(as_bytes(*csr));
    ASSERT_TRUE(parsed.ok()) << parsed.err().message;
    EXPECT_EQ(parsed->subject.cn, "gpu-2");
    EXPECT_EQ(parsed->subject.ou, "agent");
    EXPECT_EQ(parsed->subject.o, "custos");
    EXPECT_EQ(EVP_PKEY_eq(parsed->key.get(), key->get()), 1);
}

TEST(X509, CsrsWithOtherKeysAreRefusedNamingTheKey) {
    ossl::pkey_ptr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    auto rsa_csr = x509::make_csr_pem(rsa.get(), {"gpu-3", "agent"});
    ASSERT_TRUE(rsa_csr.ok());
    auto refused = x509::parse_csr_pem(as_bytes(*rsa_csr));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.err().code, errc::structure);
    EXPECT_EQ(refused.err().message, "the certificate request's key is rsaEncryption, not ECDSA P-256");
    ossl::pkey_ptr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    auto p384_csr = x509::make_csr_pem(p384.get(), {"gpu-3", "agent"});
    ASSERT_TRUE(p384_csr.ok());
    refused = x509::parse_csr_pem(as_bytes(*p384_csr));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.err().code, errc::structure);
    EXPECT_EQ(refused.err().message, "the certificate request's key is EC secp384r1, not ECDSA P-256");
}

TEST(X509, CsrWhoseSelfSignatureDoesNotVerifyIsASignatureError) {
    // The request carries key A but is signed with key B: only the signature check can tell.
    auto a = x509::generate_p256();
    auto b = x509::generate_p256();
    x509::req_ptr req(X509_REQ_new());
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("gpu-4"), -1, -1, 0);
    ASSERT_EQ(X509_REQ_set_pubkey(req.get(), a->get()), 1);
    ASSERT_GT(X509_REQ_sign(req.get(), b->get(), EVP_sha256()), 0);
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_X509_REQ(bio.get(), req.get()), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    auto e = x509::parse_csr_pem(byte_view(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(n)));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.err().code, errc::signature);
    EXPECT_NE(e.err().message.find("self-signature does not verify"), std::string::npos) << e.err().message;
    auto garbage = x509::parse_csr_pem(as_bytes("not a csr"));
    ASSERT_FALSE(garbage.ok());
    EXPECT_EQ(garbage.err().code, errc::parse);
    EXPECT_NE(garbage.err().message.find("not a PEM certificate request"), std::string::npos);
}

}  // namespace
}  // namespace custos
