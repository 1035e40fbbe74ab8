#include "attest/tpm_public.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>

#include "attest/templates.hpp"
#include "crypto/file_io.hpp"
#include "tests/attest/soft_quote.hpp"
#include "tests/attest/test_data.hpp"

namespace custos::attest {
namespace {

bytes der_of(EVP_PKEY* k) {
    auto d = ossl::public_to_der(k);
    EXPECT_TRUE(d.ok());
    return d.ok() ? *d : bytes{};
}

// A TPMT_PUBLIC holding `key` (an OpenSSL EC key) with the AK template's attributes.
TPMT_PUBLIC ecc_public_of(EVP_PKEY* key, TPMI_ECC_CURVE curve) {
    TPMT_PUBLIC p = ak_template(ak_alg::ecc_p256).publicArea;
    p.parameters.eccDetail.curveID = curve;
    std::size_t len = 0;
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &len), 1);
    bytes point(len);
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(), &len), 1);
    EXPECT_EQ(point[0], 0x04);
    const std::size_t field = (len - 1) / 2;
    p.unique.ecc.x.size = p.unique.ecc.y.size = static_cast<UINT16>(field);
    std::copy_n(point.begin() + 1, field, p.unique.ecc.x.buffer);
    std::copy_n(point.begin() + 1 + static_cast<std::ptrdiff_t>(field), field, p.unique.ecc.y.buffer);
    return p;
}

TPMT_PUBLIC rsa_public_of(EVP_PKEY* key) {
    TPMT_PUBLIC p = ak_template(ak_alg::rsa2048).publicArea;
    BIGNUM* n = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    ossl::bn_ptr owned(n);
    p.parameters.rsaDetail.keyBits = static_cast<UINT16>(BN_num_bits(n));
    p.unique.rsa.size = static_cast<UINT16>(BN_num_bytes(n));
    BN_bn2bin(n, p.unique.rsa.buffer);
    return p;
}

TEST(TpmPublic, RealAkFromTpm2ToolsUnmarshalsAndRemarshalsExactly) {
    for (const char* alg : {"ecc", "rsa"}) {
        const bytes file = load(data_dir / alg / "ak.pub");
        auto pub = unmarshal_public(file);
        ASSERT_TRUE(pub.ok()) << alg << ": " << pub.err().message;
        EXPECT_EQ(pub->size + 2u, file.size());
        EXPECT_EQ(pub->publicArea.type, std::string(alg) == "ecc" ? TPM2_ALG_ECC : TPM2_ALG_RSA);
        EXPECT_EQ(marshal_public(*pub), file) << alg;
        EXPECT_EQ(marshal_public_area(pub->publicArea), bytes(file.begin() + 2, file.end())) << alg;
    }
}

TEST(TpmPublic, NameEqualsWhatTpm2CreateakAndReadpublicReport) {
    for (const char* alg : {"ecc", "rsa"}) {
        auto pub = unmarshal_public(load(data_dir / alg / "ak.pub"));
        ASSERT_TRUE(pub.ok());
        auto name = object_name(pub->publicArea);
        ASSERT_TRUE(name.ok()) << name.err().message;
        EXPECT_EQ(*name, load(data_dir / alg / "ak.name")) << alg;
        EXPECT_EQ(name->size(), 34u);
    }
}

TEST(TpmPublic, RealAkConvertsToTheKeyTpm2ToolsWroteAsPem) {
    for (const char* alg : {"ecc", "rsa"}) {
        auto pub = unmarshal_public(load(data_dir / alg / "ak.pub"));
        ASSERT_TRUE(pub.ok());
        auto key = public_to_pkey(pub->publicArea);
        ASSERT_TRUE(key.ok()) << key.err().message;
        auto pem = ossl::load_public_pem(load(data_dir / alg / "ak.pub.pem"));
        ASSERT_TRUE(pem.ok());
        EXPECT_EQ(der_of(key->get()), der_of(pem->get())) << alg;
        EXPECT_TRUE(check_ak_attributes(pub->publicArea).ok()) << alg;
    }
}

TEST(TpmPublic, UnmarshalIsStrict) {
    const bytes good = load(data_dir / "ecc" / "ak.pub");
    for (std::size_t n = 0; n < good.size(); ++n) {
        auto r = unmarshal_public(byte_view(good.data(), n));
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_EQ(r.err().code, errc::parse);
    }
    bytes trailing = good;
    trailing.push_back(0);
    auto r = unmarshal_public(trailing);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("declares 88 bytes but 89 follow"), std::string::npos) << r.err().message;

    // Size field says one byte more, and that byte is there: the public area leaves it unread.
    bytes inner = trailing;
    inner[1] += 1;
    r = unmarshal_public(inner);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("1 bytes left after the public area"), std::string::npos) << r.err().message;

    // Size field one byte short: the area itself is cut.
    bytes cut = good;
    cut[1] -= 1;
    cut.pop_back();
    EXPECT_FALSE(unmarshal_public(cut).ok());

    bytes empty{0, 0};
    EXPECT_FALSE(unmarshal_public(empty).ok());

    bytes bad_type = good;
    bad_type[3] = 0x99;  // type 0x0099
    EXPECT_FALSE(unmarshal_public(bad_type).ok());
}

TEST(TpmPublic, EccKeysOfEveryCurveConvert) {
    const std::pair<const char*, TPMI_ECC_CURVE> curves[] = {
        {"P-256", TPM2_ECC_NIST_P256}, {"P-384", TPM2_ECC_NIST_P384}, {"P-521", TPM2_ECC_NIST_P521}};
    for (const auto& [name, id] : curves) {
        auto k = test::generate_ec_key(name);
        auto pub = ecc_public_of(k.get(), id);
        auto back = public_to_pkey(pub);
        ASSERT_TRUE(back.ok()) << name << ": " << back.err().message;
        EXPECT_EQ(der_of(back->get()), der_of(k.get())) << name;
    }
}

TEST(TpmPublic, EccShortCoordinatesAreLeftPadded) {
    // About one P-256 key in 256 has an x coordinate with a leading zero byte; a TPM may send it short.
    for (int tries = 0; tries < 5000; ++tries) {
        auto k = test::generate_ec_key("P-256");
        auto pub = ecc_public_of(k.get(), TPM2_ECC_NIST_P256);
        if (pub.unique.ecc.x.buffer[0] != 0) continue;
        auto& x = pub.unique.ecc.x;
        std::copy(x.buffer + 1, x.buffer + 32, x.buffer);
        x.size = 31;
        auto back = public_to_pkey(pub);
        ASSERT_TRUE(back.ok()) << back.err().message;
        EXPECT_EQ(der_of(back->get()), der_of(k.get()));
        return;
    }
    FAIL() << "no key with a leading zero in 5000 tries";
}

TEST(TpmPublic, EccRejectsBadPointsAndCurves) {
    auto k = test::generate_ec_key("P-256");
    auto pub = ecc_public_of(k.get(), TPM2_ECC_NIST_P256);

    auto off_curve = pub;
    off_curve.unique.ecc.y.buffer[31] ^= 1;
    auto r = public_to_pkey(off_curve);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::structure);

    auto too_long = pub;
    too_long.unique.ecc.x.size = 33;
    EXPECT_FALSE(public_to_pkey(too_long).ok());

    auto empty = pub;
    empty.unique.ecc.y.size = 0;
    EXPECT_FALSE(public_to_pkey(empty).ok());

    auto bn = pub;
    bn.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
    r = public_to_pkey(bn);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::unsupported);

    auto wrong_curve = pub;  // a P-256 point read as P-384
    wrong_curve.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
    EXPECT_FALSE(public_to_pkey(wrong_curve).ok());
}

TEST(TpmPublic, RsaExponentZeroMeans65537) {
    auto k = test::generate_rsa_key(2048);
    auto pub = rsa_public_of(k.get());
    pub.parameters.rsaDetail.exponent = 0;
    auto back = public_to_pkey(pub);
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(der_of(back->get()), der_of(k.get()));

    pub.parameters.rsaDetail.exponent = 3;
    back = public_to_pkey(pub);
    ASSERT_TRUE(back.ok()) << back.err().message;
    BIGNUM* e = nullptr;
    ASSERT_EQ(EVP_PKEY_get_bn_param(back->get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
    ossl::bn_ptr owned(e);
    EXPECT_EQ(BN_get_word(e), 3u);
}

TEST(TpmPublic, RsaRejectsInconsistentModulus) {
    auto k = test::generate_rsa_key(2048);
    auto pub = rsa_public_of(k.get());
    auto wrong_bits = pub;
    wrong_bits.parameters.rsaDetail.keyBits = 3072;
    EXPECT_FALSE(public_to_pkey(wrong_bits).ok());
    auto empty = pub;
    empty.unique.rsa.size = 0;
    EXPECT_FALSE(public_to_pkey(empty).ok());
    auto leading_zero = pub;
    leading_zero.unique.rsa.buffer[0] = 0;
    EXPECT_FALSE(public_to_pkey(leading_zero).ok());

    TPMT_PUBLIC keyed{};
    keyed.type = TPM2_ALG_KEYEDHASH;
    auto r = public_to_pkey(keyed);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::unsupported);
}

TEST(TpmPublic, ObjectNameUsesNameAlg) {
    auto pub = unmarshal_public(load(data_dir / "ecc" / "ak.pub"));
    ASSERT_TRUE(pub.ok());
    for (auto h : {hash_alg::sha1, hash_alg::sha256, hash_alg::sha384, hash_alg::sha512}) {
        TPMT_PUBLIC p = pub->publicArea;
        p.nameAlg = to_tpm_alg(h);
        auto name = object_name(p);
        ASSERT_TRUE(name.ok());
        bytes expect;
        append_u16_be(expect, p.nameAlg);
        append(expect, digest(h, marshal_public_area(p)));
        EXPECT_EQ(*name, expect);
    }
    TPMT_PUBLIC p = pub->publicArea;
    p.nameAlg = TPM2_ALG_NULL;
    EXPECT_FALSE(object_name(p).ok());
}

TEST(AkAttributes, TheAkTemplatesPass) {
    EXPECT_TRUE(check_ak_attributes(ak_template(ak_alg::ecc_p256).publicArea).ok());
    EXPECT_TRUE(check_ak_attributes(ak_template(ak_alg::rsa2048).publicArea).ok());
}

TEST(AkAttributes, WithoutRestrictedIsRefusedByName) {
    auto t = ak_template(ak_alg::ecc_p256).publicArea;
    t.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
    auto r = check_ak_attributes(t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::structure);
    EXPECT_EQ(r.err().message, "AK attributes: restricted is clear");
}

TEST(AkAttributes, NamesEveryWrongAttribute) {
    auto t = ak_template(ak_alg::rsa2048).publicArea;
    t.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
    t.objectAttributes |= TPMA_OBJECT_DECRYPT;
    auto r = check_ak_attributes(t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message, "AK attributes: restricted is clear; decrypt is set");

    t = ak_template(ak_alg::ecc_p256).publicArea;
    t.objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_USERWITHAUTH;
    r = check_ak_attributes(t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message,
              "AK attributes: restricted is clear; sign is clear; fixedTPM is clear; fixedParent is clear; "
              "sensitiveDataOrigin is clear; decrypt is set");

    const std::pair<TPMA_OBJECT, const char*> each[] = {
        {TPMA_OBJECT_SIGN_ENCRYPT, "sign is clear"},
        {TPMA_OBJECT_FIXEDTPM, "fixedTPM is clear"},
        {TPMA_OBJECT_FIXEDPARENT, "fixedParent is clear"},
        {TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin is clear"},
    };
    for (const auto& [bit, text] : each) {
        auto u = ak_template(ak_alg::ecc_p256).publicArea;
        u.objectAttributes &= ~bit;
        r = check_ak_attributes(u);
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_EQ(r.err().message, std::string("AK attributes: ") + text);
    }
}

TEST(AkAttributes, RefusesWeakOrUnsignableKeys) {
    auto rsa = ak_template(ak_alg::rsa2048).publicArea;
    rsa.parameters.rsaDetail.keyBits = 1024;
    rsa.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    auto r = check_ak_attributes(rsa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message,
              "AK attributes: RSA key size is 1024 bits (2048 or 3072 expected); RSA scheme is null (rsassa or "
              "rsapss expected)");

    auto pss = ak_template(ak_alg::rsa2048).publicArea;
    pss.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAPSS;
    EXPECT_TRUE(check_ak_attributes(pss).ok());

    auto ecc = ak_template(ak_alg::ecc_p256).publicArea;
    ecc.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
    ecc.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDAA;
    r = check_ak_attributes(ecc);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("ECC curve is 0x0010"), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("ECC scheme is"), std::string::npos) << r.err().message;

    auto hash = ak_template(ak_alg::ecc_p256).publicArea;
    hash.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SM3_256;
    r = check_ak_attributes(hash);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("scheme hash is"), std::string::npos) << r.err().message;

    TPMT_PUBLIC keyed = ak_template(ak_alg::ecc_p256).publicArea;
    keyed.type = TPM2_ALG_KEYEDHASH;
    r = check_ak_attributes(keyed);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("type is"), std::string::npos) << r.err().message;
}

}  // namespace
}  // namespace custos::attest
