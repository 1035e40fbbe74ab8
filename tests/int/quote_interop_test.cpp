// `custos quote create|verify` and `custos tpm identity` against swtpm and tpm2-tools 5.4, both ways.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/ek_cert.hpp"
#include "attest/templates.hpp"
#include "attest/tpm_device.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/digest.hpp"
#include "crypto/file_io.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos {
namespace {

using custos::test::process_result;
using custos::test::run_process;
using custos::test::swtpm;
namespace fs = std::filesystem;

constexpr const char* kQual = "0011223344556677";
constexpr const char* kPcrs = "sha256:0,1,2,3,4,5,6,7,16";

class QuoteInterop : public ::testing::Test {
protected:
    void SetUp() override { tpm_ = swtpm::start(); }

    process_result custos(std::vector<std::string> args) {
        args.insert(args.begin(), CUSTOS_CLI_PATH);
        return run_process(args);
    }
    process_result tool(std::vector<std::string> args) {
        return run_process(args, {{"TPM2TOOLS_TCTI", tpm_->tcti()}});
    }
    fs::path dir(const std::string& name) {
        auto p = tpm_->dir() / name;
        fs::create_directories(p);
        return p;
    }
    // tpm2_createek + tpm2_createak + tpm2_quote, as an operator using tpm2-tools would.
    fs::path tpm2_tools_quote(const std::string& alg, const std::string& scheme) {
        auto d = dir("tools-" + alg);
        auto s = [&](const char* f) { return (d / f).string(); };
        // No resource manager in front of swtpm: flush what each tool leaves loaded (3 transient slots).
        auto flush = [&] { EXPECT_EQ(tool({"tpm2_flushcontext", "-t"}).exit_code, 0); };
        auto r = tool({"tpm2_createek", "-c", s("ek.ctx"), "-G", "rsa", "-u", s("ek.pub")});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        flush();
        r = tool({"tpm2_createak", "-C", s("ek.ctx"), "-c", s("ak.ctx"), "-G", alg, "-g", "sha256", "-s", scheme,
                  "-u", s("ak.pub.pem"), "-f", "pem", "-n", s("ak.name")});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        flush();
        r = tool({"tpm2_quote", "-c", s("ak.ctx"), "-l", kPcrs, "-q", kQual, "-m", s("quote.msg"), "-s",
                  s("quote.sig"), "-o", s("quote.pcrs"), "-g", "sha256"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        flush();
        return d;
    }
    process_result verify(const fs::path& d, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"quote",     "verify",          "--public", (d / "ak.pub.pem").string(),
                                      "--message", (d / "quote.msg").string(), "--signature",
                                      (d / "quote.sig").string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return custos(args);
    }
    std::unique_ptr<swtpm> tpm_;
};

TEST_F(QuoteInterop, CustosQuotesPassTpm2Checkquote) {
    for (std::string alg : {"ecc", "rsa"}) {
        auto out = dir("custos-" + alg);
        auto r = custos({"quote", "create", "--tcti", tpm_->tcti(), "--qualification", kQual, "--pcr-list", kPcrs,
                         "--out-dir", out.string(), "--key-alg", alg});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        for (auto f : {"quote.msg", "quote.sig", "quote.pcrs", "ak.pub.pem"}) EXPECT_TRUE(fs::exists(out / f)) << f;
        // quote.pcrs: 132-byte selection, u32 count, two 532-byte TPML_DIGEST blocks for 9 PCRs.
        EXPECT_EQ(fs::file_size(out / "quote.pcrs"), 132u + 4u + 2u * 532u);
        auto chk = run_process({"tpm2_checkquote", "-u", (out / "ak.pub.pem").string(), "-m",
                                (out / "quote.msg").string(), "-s", (out / "quote.sig").string(), "-f",
                                (out / "quote.pcrs").string(), "-g", "sha256", "-q", kQual});
        EXPECT_EQ(chk.exit_code, 0) << alg << ": " << chk.err << chk.out;
        // And tpm2_checkquote refuses it with another qualification, so acceptance means something.
        auto bad = run_process({"tpm2_checkquote", "-u", (out / "ak.pub.pem").string(), "-m",
                                (out / "quote.msg").string(), "-s", (out / "quote.sig").string(), "-f",
                                (out / "quote.pcrs").string(), "-g", "sha256", "-q", "00"});
        EXPECT_NE(bad.exit_code, 0);
        auto self = verify(out, {"--pcrs", (out / "quote.pcrs").string(), "--pcr-list", kPcrs, "--qualification",
                                 kQual});
        EXPECT_EQ(self.exit_code, 0) << self.err;
    }
}

TEST_F(QuoteInterop, Tpm2QuoteOutputPassesCustosVerify) {
    for (auto [alg, scheme] : {std::pair{"ecc", "ecdsa"}, std::pair{"rsa", "rsassa"}}) {
        auto d = tpm2_tools_quote(alg, scheme);
        auto r = verify(d, {"--pcrs", (d / "quote.pcrs").string(), "--pcr-list", kPcrs, "--qualification", kQual,
                            "--json"});
        ASSERT_EQ(r.exit_code, 0) << alg << ": " << r.err;
        auto j = boost::json::parse(r.out).as_object();
        EXPECT_EQ(j.at("valid"), true);
        EXPECT_EQ(j.at("pcrs_checked"), true);
        EXPECT_EQ(j.at("reset_count"), 0);
        EXPECT_EQ(j.at("firmware_version").as_string().size(), 16u);
        EXPECT_EQ(j.at("pcr_digest").as_string().size(), 64u);
        const std::vector<std::string> keys{"valid", "clock", "reset_count", "restart_count", "safe",
                                            "firmware_version", "pcr_digest", "pcrs_checked"};
        std::vector<std::string> got;
        for (auto& kv : j) got.emplace_back(kv.key());
        EXPECT_EQ(got, keys);

        // Without --pcrs everything but the PCR values is checked.
        auto nopcrs = verify(d, {"--qualification", kQual, "--json"});
        ASSERT_EQ(nopcrs.exit_code, 0) << nopcrs.err;
        EXPECT_EQ(boost::json::parse(nopcrs.out).at("pcrs_checked"), false);
    }
}

TEST_F(QuoteInterop, VerifyRefusesWithOneLineReasonAndEmptyStdout) {
    auto d = tpm2_tools_quote("ecc", "ecdsa");
    auto pcrs = (d / "quote.pcrs").string();
    auto expect_refused = [&](const process_result& r, const std::string& needle) {
        EXPECT_NE(r.exit_code, 0);
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_NE(r.err.find(needle), std::string::npos) << "wanted \"" << needle << "\" in: " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    };
    expect_refused(verify(d, {"--pcrs", pcrs, "--qualification", "00112233445566ff"}), "qualification");
    expect_refused(verify(d, {"--pcrs", pcrs, "--pcr-list", "sha256:0,1,2", "--qualification", kQual}),
                   "selection");

    // Altered PCR values: flip one bit of the first digest (after the 132-byte selection, u32, u32, u16).
    auto data = read_file(pcrs);
    ASSERT_TRUE(data.ok());
    (*data)[132 + 4 + 4 + 2] ^= 1;
    ASSERT_TRUE(write_file_atomic(d / "altered.pcrs", *data).ok());
    expect_refused(verify(d, {"--pcrs", (d / "altered.pcrs").string(), "--qualification", kQual}), "pcr");

    // Another AK's key.
    auto other = tpm2_tools_quote("rsa", "rsassa");
    auto r = custos({"quote", "verify", "--public", (other / "ak.pub.pem").string(), "--message",
                     (d / "quote.msg").string(), "--signature", (d / "quote.sig").string(), "--qualification", kQual});
    expect_refused(r, "signature");

    // Truncated message.
    auto msg = read_file(d / "quote.msg");
    msg->resize(msg->size() - 3);
    ASSERT_TRUE(write_file_atomic(d / "quote.msg", *msg).ok());
    expect_refused(verify(d, {"--qualification", kQual}), "parse");
}

TEST_F(QuoteInterop, CertifyAttestationIsNotAQuote) {
    auto d = tpm2_tools_quote("ecc", "ecdsa");
    auto s = [&](const char* f) { return (d / f).string(); };
    // tpm2-tools 5.4's tpm2_certify takes no qualifying data; the type check comes first anyway.
    auto r = tool({"tpm2_certify", "-C", s("ak.ctx"), "-c", s("ak.ctx"), "-g", "sha256", "-o",
              s("certify.msg"), "-s", s("certify.sig")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto v = custos({"quote", "verify", "--public", s("ak.pub.pem"), "--message", s("certify.msg"), "--signature",
                     s("certify.sig"), "--qualification", kQual});
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_NE(v.err.find("type"), std::string::npos) << v.err;
}

TEST_F(QuoteInterop, UsageErrorsExitTwo) {
    auto out = dir("usage");
    auto r = custos({"quote", "create", "--tcti", tpm_->tcti(), "--qualification", "xyz", "--pcr-list", kPcrs,
                     "--out-dir", out.string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--qualification"), std::string::npos) << r.err;
    r = custos({"quote", "create", "--tcti", tpm_->tcti(), "--qualification", kQual, "--pcr-list", "sha999:1",
                "--out-dir", out.string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--pcr-list"), std::string::npos) << r.err;
    r = custos({"quote", "verify", "--public", "/nonexistent.pem", "--message", "/x", "--signature", "/y",
                "--qualification", kQual});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("/nonexistent.pem"), std::string::npos) << r.err;
}

TEST_F(QuoteInterop, TpmIdentityVerifiesChainAndActivation) {
    for (std::string ek : {"auto", "ecc-p384"}) {
        auto r = custos({"tpm", "identity", "--tcti", tpm_->tcti(), "--ek-ca", tpm_->ca_cert().string(), "--ek", ek,
                         "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto j = boost::json::parse(r.out).as_object();
        EXPECT_EQ(j.at("activated"), true);
        EXPECT_NE(j.at("ek_cert_issuer").as_string().find("CN="), std::string::npos);
        EXPECT_EQ(j.at("ak_name").as_string().size(), 68u);  // 000b + SHA-256
        // ek_public_sha256 is the SHA-256 of the certificate's SubjectPublicKeyInfo (DER).
        auto nv = ek == "auto" ? "0x01c00002" : "0x01c00016";
        auto der_path = dir("nv") / (ek + ".der");
        auto rd = tool({"tpm2_nvread", nv, "-o", der_path.string()});
        ASSERT_EQ(rd.exit_code, 0) << rd.err;
        auto cert = attest::parse_certificate(*read_file(der_path));
        ASSERT_TRUE(cert.ok());
        ossl::pkey_ptr key(X509_get_pubkey(cert->get()));
        EXPECT_EQ(j.at("ek_public_sha256").as_string(), to_hex(sha256(*ossl::public_to_der(key.get()))));
    }
    auto rsa_ak = custos({"tpm", "identity", "--tcti", tpm_->tcti(), "--ek-ca", tpm_->ca_cert().string(),
                          "--key-alg", "rsa", "--json"});
    EXPECT_EQ(rsa_ak.exit_code, 0) << rsa_ak.err;
}

// Issues an EK certificate for `ek` signed by the test CA, as a TPM manufacturer would.
bytes issue_ek_certificate(const custos::test::test_ca& ca, EVP_PKEY* ek) {
    ossl::bio_ptr kb(BIO_new_file(ca.key_pem.c_str(), "r")), cb(BIO_new_file(ca.cert_pem.c_str(), "r"));
    ossl::pkey_ptr ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    ossl::x509_ptr ca_cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    EXPECT_TRUE(ca_key && ca_cert);
    ossl::x509_ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 77);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600L * 24 * 365);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("P-256 EK"), -1, -1, 0);
    X509_set_pubkey(cert.get(), ek);
    EXPECT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
    int n = i2d_X509(cert.get(), nullptr);
    bytes der(static_cast<std::size_t>(n));
    unsigned char* p = der.data();
    i2d_X509(cert.get(), &p);
    return der;
}

TEST_F(QuoteInterop, TpmIdentityWithAP256EkCertificate) {
    // swtpm writes no P-256 EK certificate; provision one into NV 0x01c0000a as a manufacturer would.
    attest::tpm_device dev(tpm_->tcti());
    auto ek = dev.ek_public(attest::ek_kind::ecc_p256);
    ASSERT_TRUE(ek.ok()) << ek.err().message;
    auto key = attest::public_to_pkey(ek->publicArea);
    ASSERT_TRUE(key.ok());
    custos::test::test_ca ca{tpm_->ca_cert(), tpm_->ca_key()};
    auto der = issue_ek_certificate(ca, key->get());
    auto path = dir("p256") / "ek.der";
    ASSERT_TRUE(write_file_atomic(path, der).ok());
    auto r = tool({"tpm2_nvdefine", "0x01c0000a", "-C", "o", "-s", std::to_string(der.size()), "-a",
                   "ownerwrite|ownerread|authread|no_da"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = tool({"tpm2_nvwrite", "0x01c0000a", "-C", "o", "-i", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;

    auto id = custos({"tpm", "identity", "--tcti", tpm_->tcti(), "--ek-ca", tpm_->ca_cert().string(), "--ek",
                      "ecc-p256", "--json"});
    ASSERT_EQ(id.exit_code, 0) << id.err;
    auto j = boost::json::parse(id.out).as_object();
    EXPECT_EQ(j.at("ek_kind"), "ecc-p256");
    EXPECT_EQ(j.at("activated"), true);
    EXPECT_NE(j.at("ek_cert_subject").as_string().find("P-256 EK"), std::string::npos);
}

TEST_F(QuoteInterop, TpmIdentityRefusesAnotherCa) {
    auto other = custos::test::make_test_ca(dir("otherca"), "someone else's EK CA");
    auto r = custos({"tpm", "identity", "--tcti", tpm_->tcti(), "--ek-ca", other.cert_pem.string(), "--json"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(r.out.empty());
    EXPECT_NE(r.err.find("chain"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace custos
