#include "attest/templates.hpp"

#include <gtest/gtest.h>

#include "crypto/digest.hpp"

namespace custos::attest {
namespace {

// PolicySecret(TPM_RH_ENDORSEMENT) from an all-zero digest, per TPM 2.0 Part 3 §23.4:
// d = H(d || TPM_CC_PolicySecret || authObject.name), then d = H(d || policyRef) with an empty policyRef.
bytes policy_secret_endorsement(hash_alg h) {
    bytes d(digest_size(h), 0);
    bytes buf = d;
    append_u32_be(buf, TPM2_CC_PolicySecret);
    append_u32_be(buf, TPM2_RH_ENDORSEMENT);  // a permanent handle's name is the handle
    d = digest(h, buf);
    return digest(h, d);
}

TEST(EkTemplates, LowRangeAuthPolicyIsPolicySecretEndorsement) {
    const bytes expected = policy_secret_endorsement(hash_alg::sha256);
    for (auto k : {ek_kind::rsa2048, ek_kind::ecc_p256}) {
        auto t = ek_template(k);
        bytes got(t.publicArea.authPolicy.buffer, t.publicArea.authPolicy.buffer + t.publicArea.authPolicy.size);
        EXPECT_EQ(got, expected) << ek_kind_name(k);
        EXPECT_FALSE(t.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
        EXPECT_TRUE(ek_needs_policy_session(k));
    }
}

TEST(EkTemplates, HighRangeP384UsesSha384AndUserAuth) {
    auto t = ek_template(ek_kind::ecc_p384);
    EXPECT_EQ(t.publicArea.nameAlg, TPM2_ALG_SHA384);
    EXPECT_EQ(t.publicArea.authPolicy.size, 48);
    EXPECT_TRUE(t.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
    EXPECT_EQ(t.publicArea.parameters.eccDetail.symmetric.keyBits.aes, 256);
    EXPECT_EQ(t.publicArea.unique.ecc.x.size, 0);
    EXPECT_FALSE(ek_needs_policy_session(ek_kind::ecc_p384));
}

TEST(EkTemplates, NvIndicesAndNames) {
    EXPECT_EQ(ek_cert_nv_index(ek_kind::rsa2048), 0x01c00002u);
    EXPECT_EQ(ek_cert_nv_index(ek_kind::ecc_p256), 0x01c0000au);
    EXPECT_EQ(ek_cert_nv_index(ek_kind::ecc_p384), 0x01c00016u);
    for (auto k : all_ek_kinds) EXPECT_EQ(parse_ek_kind(ek_kind_name(k)), k);
    EXPECT_FALSE(parse_ek_kind("rsa4096").has_value());
}

TEST(AkTemplate, IsARestrictedSigningKey) {
    for (auto alg : {ak_alg::ecc_p256, ak_alg::rsa2048}) {
        auto a = ak_template(alg).publicArea.objectAttributes;
        for (auto bit : {TPMA_OBJECT_RESTRICTED, TPMA_OBJECT_SIGN_ENCRYPT, TPMA_OBJECT_FIXEDTPM,
                         TPMA_OBJECT_FIXEDPARENT, TPMA_OBJECT_SENSITIVEDATAORIGIN})
            EXPECT_TRUE(a & bit);
        EXPECT_FALSE(a & TPMA_OBJECT_DECRYPT);
    }
    EXPECT_EQ(parse_ak_alg("ecc"), ak_alg::ecc_p256);
    EXPECT_EQ(parse_ak_alg("rsa"), ak_alg::rsa2048);
    EXPECT_FALSE(parse_ak_alg("dsa").has_value());
}

}  // namespace
}  // namespace custos::attest
