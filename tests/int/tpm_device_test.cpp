// attest::tpm_device against a real swtpm: EKs, AKs, quotes, PCR reads, credential activation, reboots.
#include "attest/tpm_device.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "attest/credential.hpp"
#include "attest/ek_cert.hpp"
#include "attest/quote_verify.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/file_io.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos::attest {
namespace {

using custos::test::run_process;
using custos::test::swtpm;

TPML_PCR_SELECTION sel(const char* text) {
    auto s = parse_pcr_selection(text);
    EXPECT_TRUE(s.ok()) << text;
    return *s;
}

quote_result verify(const quote_output& q, const ak_key& ak, byte_view qual, const pcr_values* pcrs) {
    auto key = public_to_pkey(ak.pub.publicArea);
    EXPECT_TRUE(key.ok());
    quote_input in;
    in.attest = q.attest;
    in.signature = q.signature;
    in.ak = key->get();
    in.qualification = qual;
    in.expected_selection = &q.selection;
    in.pcrs = pcrs;
    return verify_quote(in);
}

class TpmDevice : public ::testing::Test {
protected:
    void SetUp() override {
        tpm_ = swtpm::start();
        dev_ = std::make_unique<tpm_device>(tpm_->tcti());
    }
    // Extends a PCR through tpm2-tools, as another process on the host would.
    void extend(unsigned pcr) {
        auto r = run_process({"tpm2_pcrextend", std::to_string(pcr) +
                                                    ":sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
                             {{"TPM2TOOLS_TCTI", tpm_->tcti()}});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    std::unique_ptr<swtpm> tpm_;
    std::unique_ptr<tpm_device> dev_;
};

TEST_F(TpmDevice, ReportsASoftwareTpm) {
    auto v = dev_->vendor();
    ASSERT_TRUE(v.ok()) << v.err().message;
    EXPECT_TRUE(v->software);
    EXPECT_EQ(v->manufacturer, "IBM");
}

TEST_F(TpmDevice, RecreatedEksMatchTheirCertificates) {
    auto ca = read_file(tpm_->ca_cert());
    ASSERT_TRUE(ca.ok());
    auto store = load_ca_bundle(*ca);
    ASSERT_TRUE(store.ok()) << store.err().message;
    for (auto kind : {ek_kind::rsa2048, ek_kind::ecc_p384}) {
        auto der = dev_->read_ek_certificate(kind);
        ASSERT_TRUE(der.ok()) << der.err().message;
        ASSERT_TRUE(der->has_value()) << ek_kind_name(kind);
        auto cert = parse_certificate(**der);
        ASSERT_TRUE(cert.ok()) << cert.err().message;
        EXPECT_TRUE(verify_certificate_chain(cert->get(), store->get()).ok());
        auto ek = dev_->ek_public(kind);
        ASSERT_TRUE(ek.ok()) << ek.err().message;
        auto match = check_certificate_key(cert->get(), ek->publicArea);
        EXPECT_TRUE(match.ok()) << ek_kind_name(kind) << ": " << match.err().message;
    }
    // The RSA certificate does not certify the P-384 EK.
    auto rsa_cert = dev_->read_ek_certificate(ek_kind::rsa2048);
    auto cert = parse_certificate(**rsa_cert);
    auto p384 = dev_->ek_public(ek_kind::ecc_p384);
    auto mismatch = check_certificate_key(cert->get(), p384->publicArea);
    ASSERT_FALSE(mismatch.ok());
    EXPECT_EQ(mismatch.err().code, errc::mismatch);
}

TEST_F(TpmDevice, AbsentEkCertificateIsNotAnError) {
    auto c = dev_->read_ek_certificate(ek_kind::ecc_p256);  // swtpm 0.7 writes no P-256 EK certificate
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_FALSE(c->has_value());
}

TEST_F(TpmDevice, QuotesVerifyForEveryAkAndParent) {
    const bytes qual{0xde, 0xad, 0xbe, 0xef};
    for (auto parent : {ek_kind::rsa2048, ek_kind::ecc_p384}) {
        for (auto alg : {ak_alg::ecc_p256, ak_alg::rsa2048}) {
            auto ak = dev_->create_ak(parent, alg);
            ASSERT_TRUE(ak.ok()) << ak.err().message;
            EXPECT_TRUE(check_ak_attributes(ak->pub.publicArea).ok());
            auto q = dev_->quote(*ak, qual, sel("sha256:0,1,2,3,4,5,6,7,16+sha1:0"));
            ASSERT_TRUE(q.ok()) << q.err().message;
            ASSERT_EQ(q->pcrs.size(), 10u);
            auto r = verify(*q, *ak, qual, &q->pcrs);
            ASSERT_TRUE(r.ok()) << ek_kind_name(parent) << ": " << r.err().message;
            EXPECT_TRUE(r.info().pcrs_checked);
            EXPECT_EQ(r.info().reset_count, 0u);
            EXPECT_TRUE(r.info().safe);
            auto name = object_name(ak->pub.publicArea);
            EXPECT_EQ(r.info().qualified_signer.size(), name->size());
        }
    }
}

TEST_F(TpmDevice, QuoteCoversPcrChanges) {
    const bytes qual{1, 2, 3};
    auto ak = dev_->create_ak(ek_kind::rsa2048, ak_alg::ecc_p256);
    ASSERT_TRUE(ak.ok()) << ak.err().message;
    auto before = dev_->quote(*ak, qual, sel("sha256:16"));
    ASSERT_TRUE(before.ok()) << before.err().message;
    extend(16);
    auto after = dev_->quote(*ak, qual, sel("sha256:16"));
    ASSERT_TRUE(after.ok()) << after.err().message;
    EXPECT_NE(before->pcrs[0].digest, after->pcrs[0].digest);
    // Old values against the new quote: the PCR digest step fails.
    auto r = verify(*after, *ak, qual, &before->pcrs);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().step, quote_step::pcr_digest);
    // pcr_read agrees with what the quote reported.
    auto now = dev_->pcr_read(sel("sha256:16"));
    ASSERT_TRUE(now.ok());
    EXPECT_EQ((*now)[0].digest, after->pcrs[0].digest);
}

TEST_F(TpmDevice, RebootMovesResetCount) {
    const bytes qual{7};
    auto ak = dev_->create_ak(ek_kind::rsa2048, ak_alg::ecc_p256);
    ASSERT_TRUE(ak.ok()) << ak.err().message;
    auto q1 = dev_->quote(*ak, qual, sel("sha256:0"));
    ASSERT_TRUE(q1.ok());
    tpm_->restart();
    auto q2 = dev_->quote(*ak, qual, sel("sha256:0"));  // the AK blob loads again after a reboot
    ASSERT_TRUE(q2.ok()) << q2.err().message;
    auto r1 = verify(*q1, *ak, qual, nullptr), r2 = verify(*q2, *ak, qual, nullptr);
    ASSERT_TRUE(r1.ok() && r2.ok());
    EXPECT_EQ(r2.info().reset_count, r1.info().reset_count + 1);
}

TEST_F(TpmDevice, ActivateCredentialReturnsTheSecretOnlyForTheRightAk) {
    for (auto parent : {ek_kind::rsa2048, ek_kind::ecc_p384}) {
        auto ek = dev_->ek_public(parent);
        ASSERT_TRUE(ek.ok());
        auto ak = dev_->create_ak(parent, ak_alg::ecc_p256);
        auto other = dev_->create_ak(parent, ak_alg::ecc_p256);
        ASSERT_TRUE(ak.ok() && other.ok());
        auto name = object_name(ak->pub.publicArea);
        bytes secret(32);
        randombytes_buf(secret.data(), secret.size());
        auto blob = make_credential(ek->publicArea, *name, secret);
        ASSERT_TRUE(blob.ok()) << blob.err().message;
        auto got = dev_->activate_credential(*ak, *blob);
        ASSERT_TRUE(got.ok()) << ek_kind_name(parent) << ": " << got.err().message;
        EXPECT_TRUE(equal_ct(got->view(), secret));
        // The blob names the first AK: activating with another AK fails its integrity check.
        auto wrong = dev_->activate_credential(*other, *blob);
        ASSERT_FALSE(wrong.ok());
        EXPECT_EQ(wrong.err().code, errc::tpm);
    }
}

TEST(TpmDeviceOther, CredentialForAnotherTpmsEkDoesNotActivate) {
    auto a = swtpm::start(), b = swtpm::start();
    tpm_device da(a->tcti()), db(b->tcti());
    auto ek_b = db.ek_public(ek_kind::rsa2048);
    auto ak_a = da.create_ak(ek_kind::rsa2048, ak_alg::ecc_p256);
    ASSERT_TRUE(ek_b.ok() && ak_a.ok());
    auto blob = make_credential(ek_b->publicArea, *object_name(ak_a->pub.publicArea), bytes(32, 0x42));
    ASSERT_TRUE(blob.ok());
    auto got = da.activate_credential(*ak_a, *blob);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.err().code, errc::tpm);
}

TEST_F(TpmDevice, AkKeyFileRoundTripsAndLoadsAgain) {
    auto ak = dev_->create_ak(ek_kind::ecc_p384, ak_alg::rsa2048);
    ASSERT_TRUE(ak.ok());
    auto data = serialize_ak_key(*ak);
    auto back = parse_ak_key(data);
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->parent, ek_kind::ecc_p384);
    auto q = dev_->quote(*back, bytes{9}, sel("sha256:0"));
    ASSERT_TRUE(q.ok()) << q.err().message;
    for (std::size_t n = 0; n < data.size(); n += 7)
        EXPECT_FALSE(parse_ak_key(byte_view(data.data(), n)).ok()) << n;
    data.push_back(0);
    EXPECT_FALSE(parse_ak_key(data).ok());
}

TEST_F(TpmDevice, NonRestrictedSigningKeyIsRefusedAsAk) {
    // A plain signing key under the endorsement hierarchy could sign forged "quotes".
    auto dir = tpm_->dir();
    const std::vector<std::pair<std::string, std::string>> env{{"TPM2TOOLS_TCTI", tpm_->tcti()}};
    auto r = run_process({"tpm2_createprimary", "-C", "o", "-c", (dir / "p.ctx").string()}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_process({"tpm2_create", "-C", (dir / "p.ctx").string(), "-G", "ecc", "-a",
                     "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-u", (dir / "k.pub").string(),
                     "-r", (dir / "k.priv").string()},
                    env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto pub_bytes = read_file(dir / "k.pub");
    ASSERT_TRUE(pub_bytes.ok());
    auto pub = unmarshal_public(*pub_bytes);
    ASSERT_TRUE(pub.ok()) << pub.err().message;
    auto chk = check_ak_attributes(pub->publicArea);
    ASSERT_FALSE(chk.ok());
    EXPECT_NE(chk.err().message.find("restricted"), std::string::npos) << chk.err().message;
}

TEST(TpmDeviceUnreachable, ErrorNamesTheTcti) {
    tpm_device dev("swtpm:host=127.0.0.1,port=1");
    auto v = dev.vendor();
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.err().code, errc::tpm);
    EXPECT_NE(v.err().message.find("port=1"), std::string::npos) << v.err().message;
}

}  // namespace
}  // namespace custos::attest
