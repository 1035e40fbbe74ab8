// EK certificates: real swtpm certificates (tests/data/ekcert, made by swtpm_setup with swtpm_localca under a
// test CA) and certificates built here with OpenSSL to reach every refusal.
#include "attest/ek_cert.hpp"

#include <gtest/gtest.h>
#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include <ctime>
#include <string>

#include "attest/templates.hpp"
#include "crypto/file_io.hpp"

namespace custos::attest {
namespace {

const std::string data_dir = std::string(CUSTOS_TEST_DATA_DIR) + "/ekcert/";

bytes read(const std::string& path) {
    auto b = read_file(path);
    EXPECT_TRUE(b.ok()) << path << ": " << (b.ok() ? "" : b.err().message);
    return b.ok() ? *b : bytes{};
}

TPMT_PUBLIC read_public(const std::string& path) {
    const bytes b = read(path);
    TPM2B_PUBLIC pub{};
    std::size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(b.data(), b.size(), &off, &pub), 0u) << path;
    return pub.publicArea;
}

// The swtpm certificates were issued when their TPM was manufactured; verify them at a fixed time after that
// so the test does not depend on this machine's clock.
void verify_at_issue_time(X509_STORE* store, X509* cert) {
    std::tm tm{};
    ASSERT_EQ(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm), 1);
    X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), timegm(&tm) + 86400);
}

// ---- certificates made here ----------------------------------------------------------------------------------

struct issued {
    ossl::pkey_ptr key;
    ossl::x509_ptr cert;
};

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    // The TCG EK profile puts the TPM manufacturer, model and version in a critical SubjectAltName directoryName.
    // OpenSSL drops everything up to the first '.' of a field name in a dirName section (so that a name can
    // repeat), hence the "manufacturer." prefixes in front of the OIDs.
    static const char conf_text[] =
        "[tpm]\nmanufacturer.2.23.133.2.1 = id:00001014\nmodel.2.23.133.2.2 = swtpm\n"
        "version.2.23.133.2.3 = id:20191023\n";
    ossl::bio_ptr bio(BIO_new_mem_buf(conf_text, -1));
    std::unique_ptr<CONF, ossl::deleter<NCONF_free>> conf(NCONF_new(nullptr));
    ASSERT_GT(NCONF_load_bio(conf.get(), bio.get(), nullptr), 0);
    X509V3_set_nconf(&ctx, conf.get());
    std::unique_ptr<X509_EXTENSION, ossl::deleter<X509_EXTENSION_free>> ext(
        X509V3_EXT_nconf_nid(conf.get(), &ctx, nid, value));
    ASSERT_TRUE(ext) << value;
    ASSERT_EQ(X509_add_ext(cert, ext.get(), -1), 1);
}

struct cert_spec {
    std::string subject;  // "CN=..,O=.." in OpenSSL's one-line order; empty: an empty subject, as EK certs have
    long not_before_days = -1;
    long not_after_days = 365;
    bool ca = false;
    bool ek_extensions = false;
};

ossl::x509_ptr make_cert(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
    ossl::x509_ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_days * 86400);
    X509_NAME* name = X509_get_subject_name(cert.get());
    std::string rest = spec.subject;
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string rdn = rest.substr(0, comma);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        const auto eq = rdn.find('=');
        X509_NAME_add_entry_by_txt(name, rdn.substr(0, eq).c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(rdn.c_str() + eq + 1), -1, -1, 0);
    }
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(cert.get(), subject_key);
    X509* iss = issuer ? issuer : cert.get();
    if (spec.ca) {
        add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
    } else {
        add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert.get(), iss, NID_key_usage, "critical,keyEncipherment");
    }
    if (issuer) add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
    if (spec.ek_extensions) {
        add_ext(cert.get(), iss, NID_subject_alt_name, "critical,dirName:tpm");
        add_ext(cert.get(), iss, NID_ext_key_usage, "2.23.133.8.1");
    }
    EXPECT_GT(X509_sign(cert.get(), issuer_key, EVP_sha256()), 0);
    return cert;
}

issued make_ca(const std::string& subject, const issued* parent = nullptr) {
    issued ca;
    ca.key.reset(EVP_EC_gen("P-256"));
    cert_spec spec{.subject = subject, .not_after_days = 3650, .ca = true};
    ca.cert = parent ? make_cert(spec, ca.key.get(), parent->cert.get(), parent->key.get())
                     : make_cert(spec, ca.key.get(), nullptr, ca.key.get());
    return ca;
}

// An EK-like certificate: empty subject, critical SAN directoryName, EKU tcg-kp-EKCertificate.
issued make_ek_cert(const issued& ca, long not_before_days = -1, long not_after_days = 365) {
    issued ek;
    ek.key.reset(EVP_RSA_gen(2048));
    cert_spec spec{.subject = "", .not_before_days = not_before_days, .not_after_days = not_after_days,
                   .ek_extensions = true};
    ek.cert = make_cert(spec, ek.key.get(), ca.cert.get(), ca.key.get());
    return ek;
}

bytes to_der(X509* cert) {
    unsigned char* p = nullptr;
    const int n = i2d_X509(cert, &p);
    bytes out(p, p + (n > 0 ? n : 0));
    OPENSSL_free(p);
    return out;
}

std::string to_pem(X509* cert) {
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

ossl::x509_store_ptr store_of(const std::string& pem) {
    auto s = load_ca_bundle(as_bytes(pem));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.err().message);
    return s.ok() ? std::move(*s) : nullptr;
}

// The RSA EK template around `key`'s modulus.
TPMT_PUBLIC rsa_ek_public(EVP_PKEY* key) {
    TPMT_PUBLIC pub = ek_template(ek_kind::rsa2048).publicArea;
    BIGNUM* n = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    ossl::bn_ptr owned(n);
    pub.unique.rsa.size = 256;
    BN_bn2binpad(n, pub.unique.rsa.buffer, 256);
    return pub;
}

// ---- swtpm fixtures ------------------------------------------------------------------------------------------

TEST(EkCert, SwtpmCertificatesVerifyAndMatchTheirEks) {
    auto store = load_ca_bundle(read(data_dir + "ca.pem"));
    ASSERT_TRUE(store.ok()) << store.err().message;
    const TPMT_PUBLIC rsa_ek = read_public(data_dir + "rsa2048-ek.pub");
    const TPMT_PUBLIC p384_ek = read_public(data_dir + "ecc-p384-ek.pub");
    const struct {
        const char* file;
        const TPMT_PUBLIC& own;
        const TPMT_PUBLIC& other;
    } cases[] = {{"rsa2048-ek-cert.der", rsa_ek, p384_ek}, {"ecc-p384-ek-cert.der", p384_ek, rsa_ek}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        auto cert = parse_certificate(read(data_dir + c.file));
        ASSERT_TRUE(cert.ok()) << cert.err().message;
        verify_at_issue_time(store->get(), cert->get());
        auto chain = verify_certificate_chain(cert->get(), store->get());
        EXPECT_TRUE(chain.ok()) << chain.err().message;
        auto key = check_certificate_key(cert->get(), c.own);
        EXPECT_TRUE(key.ok()) << key.err().message;
        auto wrong = check_certificate_key(cert->get(), c.other);
        ASSERT_FALSE(wrong.ok());
        EXPECT_EQ(wrong.err().code, errc::mismatch);
        EXPECT_EQ(certificate_subject(cert->get()), "CN=unknown");
        EXPECT_EQ(certificate_issuer(cert->get()), "CN=custos test EK CA");
    }
}

TEST(EkCert, SwtpmCertificateFromAnotherCaIsRefused) {
    auto other = make_ca("CN=custos test EK CA");  // same name, different key
    auto store = store_of(to_pem(other.cert.get()));
    auto cert = parse_certificate(read(data_dir + "rsa2048-ek-cert.der"));
    ASSERT_TRUE(cert.ok());
    verify_at_issue_time(store.get(), cert->get());
    auto r = verify_certificate_chain(cert->get(), store.get());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::chain);
    // The certificate's authority key identifier names the real CA's key, so OpenSSL finds no issuer at all.
    EXPECT_NE(r.err().message.find("unable to get local issuer certificate"), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("depth 0"), std::string::npos) << r.err().message;
}

// ---- chains --------------------------------------------------------------------------------------------------

TEST(EkCert, EkStyleCertificateWithCriticalSanAndTcgEkuVerifies) {
    auto ca = make_ca("CN=Test EK Root,O=custos");
    auto ek = make_ek_cert(ca);
    auto store = store_of(to_pem(ca.cert.get()));
    auto r = verify_certificate_chain(ek.cert.get(), store.get());
    EXPECT_TRUE(r.ok()) << r.err().message;
    EXPECT_TRUE(check_certificate_key(ek.cert.get(), rsa_ek_public(ek.key.get())).ok());
    EXPECT_EQ(certificate_subject(ek.cert.get()), "");
    EXPECT_EQ(certificate_issuer(ek.cert.get()), "O=custos,CN=Test EK Root");  // RFC 2253: last RDN first
}

TEST(EkCert, ChainThroughAnIntermediateNeedsItInTheBundle) {
    auto root = make_ca("CN=Root");
    auto mid = make_ca("CN=Intermediate", &root);
    auto ek = make_ek_cert(mid);
    auto full = store_of(to_pem(root.cert.get()) + to_pem(mid.cert.get()));
    auto ok = verify_certificate_chain(ek.cert.get(), full.get());
    EXPECT_TRUE(ok.ok()) << ok.err().message;

    auto root_only = store_of(to_pem(root.cert.get()));
    auto r = verify_certificate_chain(ek.cert.get(), root_only.get());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::chain);
    EXPECT_NE(r.err().message.find("unable to get local issuer certificate"), std::string::npos) << r.err().message;

    // An intermediate alone is not a trust anchor.
    auto mid_only = store_of(to_pem(mid.cert.get()));
    EXPECT_FALSE(verify_certificate_chain(ek.cert.get(), mid_only.get()).ok());
}

TEST(EkCert, CertificateFromAnotherCaIsRefusedWithReasonAndDepth) {
    auto ca = make_ca("CN=Vendor CA");
    auto stranger = make_ca("CN=Stranger CA");
    auto ek = make_ek_cert(stranger);
    auto store = store_of(to_pem(ca.cert.get()));
    auto r = verify_certificate_chain(ek.cert.get(), store.get());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::chain);
    EXPECT_NE(r.err().message.find("unable to get local issuer certificate"), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("depth 0"), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("CN=Stranger CA"), std::string::npos) << r.err().message;
}

TEST(EkCert, ExpiredAndNotYetValidCertificatesAreRefused) {
    auto ca = make_ca("CN=Vendor CA");
    auto store = store_of(to_pem(ca.cert.get()));
    auto expired = make_ek_cert(ca, -30, -1);
    auto r = verify_certificate_chain(expired.cert.get(), store.get());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::chain);
    EXPECT_NE(r.err().message.find("certificate has expired"), std::string::npos) << r.err().message;

    auto future = make_ek_cert(ca, 1, 30);
    r = verify_certificate_chain(future.cert.get(), store.get());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::chain);
    EXPECT_NE(r.err().message.find("certificate is not yet valid"), std::string::npos) << r.err().message;
}

TEST(EkCert, KeyMismatchIsReported) {
    auto ca = make_ca("CN=Vendor CA");
    auto ek = make_ek_cert(ca);
    ossl::pkey_ptr other(EVP_RSA_gen(2048));
    auto r = check_certificate_key(ek.cert.get(), rsa_ek_public(other.get()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::mismatch);
    // An ECC EK against an RSA certificate names both types.
    auto ecc = check_certificate_key(ek.cert.get(), read_public(data_dir + "ecc-p384-ek.pub"));
    ASSERT_FALSE(ecc.ok());
    EXPECT_EQ(ecc.err().code, errc::mismatch);
    EXPECT_NE(ecc.err().message.find("RSA"), std::string::npos) << ecc.err().message;
}

// ---- parsing -------------------------------------------------------------------------------------------------

TEST(EkCert, NvPaddingIsToleratedOtherTrailingBytesAreNot) {
    const bytes der = read(data_dir + "rsa2048-ek-cert.der");
    ASSERT_FALSE(der.empty());
    for (std::uint8_t pad : {std::uint8_t{0x00}, std::uint8_t{0xff}}) {
        bytes padded = der;
        padded.resize(der.size() + 300, pad);
        auto c = parse_certificate(padded);
        EXPECT_TRUE(c.ok()) << int(pad) << ": " << c.err().message;
    }
    bytes mixed = der;
    mixed.insert(mixed.end(), {0x00, 0xff, 0x00, 0x00, 0xff});
    EXPECT_TRUE(parse_certificate(mixed).ok());

    bytes junk = der;
    junk.insert(junk.end(), {0x00, 0x00, 0x01, 0x00});
    auto j = parse_certificate(junk);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.err().code, errc::parse);
    EXPECT_NE(j.err().message.find("offset " + std::to_string(der.size() + 2)), std::string::npos)
        << j.err().message;

    bytes twice = der;
    append(twice, der);
    EXPECT_EQ(parse_certificate(twice).err().code, errc::parse);
}

TEST(EkCert, TruncatedEmptyOrForeignInputIsAParseError) {
    const bytes der = read(data_dir + "ecc-p384-ek-cert.der");
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4}, der.size() / 2, der.size() - 1}) {
        auto r = parse_certificate(byte_view(der).first(n));
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_EQ(r.err().code, errc::parse) << n;
    }
    EXPECT_EQ(parse_certificate(as_bytes("hello")).err().code, errc::parse);
    EXPECT_EQ(parse_certificate(as_bytes("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).err().code,
              errc::parse);
}

TEST(EkCert, PemCertificateIsAcceptedButNotABundle) {
    auto ca = make_ca("CN=Vendor CA");
    auto ek = make_ek_cert(ca);
    const std::string pem = to_pem(ek.cert.get());
    auto c = parse_certificate(as_bytes("\n  " + pem));
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_EQ(to_der(c->get()), to_der(ek.cert.get()));
    auto two = parse_certificate(as_bytes(pem + to_pem(ca.cert.get())));
    ASSERT_FALSE(two.ok());
    EXPECT_EQ(two.err().code, errc::structure);
}

TEST(EkCert, CaBundleMustHoldCertificates) {
    for (const std::string s :
         {"", "\n", "not a certificate\n", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}) {
        auto r = load_ca_bundle(as_bytes(s));
        ASSERT_FALSE(r.ok()) << s;
        EXPECT_EQ(r.err().code, errc::parse) << s;
    }
    auto ca = make_ca("CN=Vendor CA");
    // A damaged certificate after a good one spoils the bundle rather than being skipped.
    auto broken = load_ca_bundle(as_bytes(to_pem(ca.cert.get()) +
                                          "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"));
    ASSERT_FALSE(broken.ok());
    EXPECT_EQ(broken.err().code, errc::parse);
    EXPECT_NE(broken.err().message.find("certificate 2"), std::string::npos) << broken.err().message;
    // Comments between PEM blocks, as in distribution bundles, are fine; so is the same CA twice.
    auto commented = load_ca_bundle(as_bytes("# vendor roots\n" + to_pem(ca.cert.get()) + "# again\n" +
                                             to_pem(ca.cert.get())));
    EXPECT_TRUE(commented.ok()) << commented.err().message;
}

}  // namespace
}  // namespace custos::attest
