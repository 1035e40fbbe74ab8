#include "attest/bound_key.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <functional>
#include <string>
#include <vector>

#include "attest/tpm_device.hpp"
#include "attest/tpm_public.hpp"
#include "tests/attest/soft_quote.hpp"
#include "tests/attest/test_data.hpp"

namespace custos::attest {
namespace {

// SHA-256 straight from EVP, not through custos's hasher.
bytes evp_sha256(byte_view data) {
    bytes out(32);
    unsigned int n = 0;
    EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr), 1);
    return out;
}

// TPML_PCR_SELECTION marshalled by hand (Part 2 §10.9.7): u32 count, then per bank u16 hash, u8 sizeofSelect and
// the select bytes, all big-endian.
bytes marshal_selection_by_hand(const TPML_PCR_SELECTION& s) {
    bytes out{0, 0, 0, static_cast<std::uint8_t>(s.count)};
    for (UINT32 b = 0; b < s.count; ++b) {
        const auto& bank = s.pcrSelections[b];
        out.push_back(static_cast<std::uint8_t>(bank.hash >> 8));
        out.push_back(static_cast<std::uint8_t>(bank.hash));
        out.push_back(bank.sizeofSelect);
        out.insert(out.end(), bank.pcrSelect, bank.pcrSelect + bank.sizeofSelect);
    }
    return out;
}

// Part 3 §23.7 (TPM2_PolicyPCR) from a fresh session: H(0^32 || 0x0000017f || pcrs || H(values)).
bytes expected_policy(const TPML_PCR_SELECTION& s, const pcr_values& values) {
    bytes concat;
    for (const auto& v : values) concat.insert(concat.end(), v.digest.begin(), v.digest.end());
    bytes msg(32, 0);
    const bytes cc{0x00, 0x00, 0x01, 0x7f};
    msg.insert(msg.end(), cc.begin(), cc.end());
    const bytes m = marshal_selection_by_hand(s);
    msg.insert(msg.end(), m.begin(), m.end());
    const bytes vd = evp_sha256(concat);
    msg.insert(msg.end(), vd.begin(), vd.end());
    return evp_sha256(msg);
}

TEST(BoundKeyPolicy, MatchesAnIndependentComputation) {
    for (const char* text : {"sha256:0,1,2,3,4,5,6,7", "sha256:7", "sha256:0,7+sha1:0,16", "sha384:23+sha256:0"}) {
        const auto s = sel(text);
        const auto values = test::sample_pcr_values(s);
        auto d = policy_pcr_digest(s, values);
        ASSERT_TRUE(d.ok()) << text << ": " << d.err().message;
        EXPECT_EQ(to_hex(*d), to_hex(expected_policy(s, values))) << text;
    }
}

TEST(BoundKeyPolicy, DependsOnEveryValueAndTheSelection) {
    const auto s = sel("sha256:0,1,2,3,4,5,6,7");
    const auto values = test::sample_pcr_values(s);
    const bytes base = *policy_pcr_digest(s, values);
    for (std::size_t i = 0; i < values.size(); ++i) {
        auto changed = values;
        changed[i].digest[31] ^= 1;
        EXPECT_NE(*policy_pcr_digest(s, changed), base) << i;
    }
    // The same values under PCRs 8..15 are another policy.
    auto other_sel = sel("sha256:8,9,10,11,12,13,14,15");
    auto moved = values;
    for (std::size_t i = 0; i < moved.size(); ++i) moved[i].index = static_cast<unsigned>(8 + i);
    EXPECT_NE(*policy_pcr_digest(other_sel, moved), base);
}

TEST(BoundKeyPolicy, RefusesValuesThatDoNotFitTheSelection) {
    const auto s = sel("sha256:0,1,2");
    auto values = test::sample_pcr_values(s);
    auto fewer = values;
    fewer.pop_back();
    EXPECT_FALSE(policy_pcr_digest(s, fewer).ok());
    auto swapped = values;
    std::swap(swapped[0], swapped[1]);
    EXPECT_FALSE(policy_pcr_digest(s, swapped).ok());
    auto short_digest = values;
    short_digest[2].digest.resize(20);
    EXPECT_FALSE(policy_pcr_digest(s, short_digest).ok());
    TPML_PCR_SELECTION none{};
    EXPECT_FALSE(policy_pcr_digest(none, {}).ok());
    TPML_PCR_SELECTION empty_bank{};
    empty_bank.count = 1;
    empty_bank.pcrSelections[0].hash = TPM2_ALG_SHA256;
    empty_bank.pcrSelections[0].sizeofSelect = 3;
    EXPECT_FALSE(policy_pcr_digest(empty_bank, {}).ok());
}

const bytes policy_a = *from_hex("0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000");

TEST(BoundKeyTemplate, HasTheAttributesOfAPolicyOnlyDecryptionKey) {
    const TPM2B_PUBLIC t = bound_key_template(policy_a);
    const TPMT_PUBLIC& p = t.publicArea;
    EXPECT_EQ(p.type, TPM2_ALG_RSA);
    EXPECT_EQ(p.nameAlg, TPM2_ALG_SHA256);
    EXPECT_EQ(p.objectAttributes, TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                      TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_DECRYPT);
    EXPECT_FALSE(p.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
    EXPECT_EQ(p.parameters.rsaDetail.keyBits, 2048);
    EXPECT_EQ(p.parameters.rsaDetail.scheme.scheme, TPM2_ALG_NULL);
    EXPECT_EQ(p.parameters.rsaDetail.symmetric.algorithm, TPM2_ALG_NULL);
    EXPECT_EQ(bytes(p.authPolicy.buffer, p.authPolicy.buffer + p.authPolicy.size), policy_a);
    // The template is a well-formed public area: it marshals.
    EXPECT_FALSE(marshal_public(t).empty());
    EXPECT_TRUE(check_bound_key_public(p, policy_a).ok());
}

struct public_case {
    const char* what;
    std::function<void(TPMT_PUBLIC&)> edit;
    const char* message;
};

TEST(BoundKeyPublic, RefusesEachWrongRequirementOnItsOwn) {
    const std::vector<public_case> cases = {
        {"userWithAuth set", [](TPMT_PUBLIC& p) { p.objectAttributes |= TPMA_OBJECT_USERWITHAUTH; },
         "userWithAuth is set: anyone could use it without the PCR policy"},
        {"sign set", [](TPMT_PUBLIC& p) { p.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT; }, "sign is set"},
        {"restricted set", [](TPMT_PUBLIC& p) { p.objectAttributes |= TPMA_OBJECT_RESTRICTED; }, "restricted is set"},
        {"fixedTPM clear", [](TPMT_PUBLIC& p) { p.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM; }, "fixedTPM is clear"},
        {"fixedParent clear", [](TPMT_PUBLIC& p) { p.objectAttributes &= ~TPMA_OBJECT_FIXEDPARENT; },
         "fixedParent is clear"},
        {"sensitiveDataOrigin clear", [](TPMT_PUBLIC& p) { p.objectAttributes &= ~TPMA_OBJECT_SENSITIVEDATAORIGIN; },
         "sensitiveDataOrigin is clear"},
        {"adminWithPolicy clear", [](TPMT_PUBLIC& p) { p.objectAttributes &= ~TPMA_OBJECT_ADMINWITHPOLICY; },
         "adminWithPolicy is clear"},
        {"decrypt clear", [](TPMT_PUBLIC& p) { p.objectAttributes &= ~TPMA_OBJECT_DECRYPT; }, "decrypt is clear"},
        {"wrong policy", [](TPMT_PUBLIC& p) { p.authPolicy.buffer[0] ^= 0xff; },
         "authPolicy differs from the policy computed from the host's appraised PCR values"},
        {"empty policy", [](TPMT_PUBLIC& p) { p.authPolicy.size = 0; }, "authPolicy differs"},
        {"nameAlg sha1", [](TPMT_PUBLIC& p) { p.nameAlg = TPM2_ALG_SHA1; }, "nameAlg is sha1"},
        {"ECC key",
         [](TPMT_PUBLIC& p) {
             p = ak_template(ak_alg::ecc_p256).publicArea;
             p.objectAttributes = bound_key_template(policy_a).publicArea.objectAttributes;
             p.authPolicy = bound_key_template(policy_a).publicArea.authPolicy;
         },
         "type is ecc"},
        {"RSA-3072", [](TPMT_PUBLIC& p) { p.parameters.rsaDetail.keyBits = 3072; }, "RSA key size is 3072"},
        {"RSAES scheme", [](TPMT_PUBLIC& p) { p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAES; },
         "RSA scheme is"},
        {"OAEP-SHA1 scheme",
         [](TPMT_PUBLIC& p) {
             p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_OAEP;
             p.parameters.rsaDetail.scheme.details.oaep.hashAlg = TPM2_ALG_SHA1;
         },
         "RSA scheme is"},
        {"storage symmetric",
         [](TPMT_PUBLIC& p) {
             p.parameters.rsaDetail.symmetric = {TPM2_ALG_AES, {.aes = 128}, {.aes = TPM2_ALG_CFB}};
         },
         "symmetric is 0x0006, not null"},
    };
    for (const auto& c : cases) {
        TPMT_PUBLIC p = bound_key_template(policy_a).publicArea;
        c.edit(p);
        auto r = check_bound_key_public(p, policy_a);
        ASSERT_FALSE(r.ok()) << c.what;
        EXPECT_EQ(r.err().message.rfind("bound key: ", 0), 0u) << r.err().message;
        EXPECT_NE(r.err().message.find(c.message), std::string::npos) << c.what << ": " << r.err().message;
    }
    // An OAEP-SHA256 scheme is as good as null: the wrap uses exactly that.
    TPMT_PUBLIC oaep = bound_key_template(policy_a).publicArea;
    oaep.parameters.rsaDetail.scheme.scheme = TPM2_ALG_OAEP;
    oaep.parameters.rsaDetail.scheme.details.oaep.hashAlg = TPM2_ALG_SHA256;
    EXPECT_TRUE(check_bound_key_public(oaep, policy_a).ok());
}

TEST(BoundKeyPublic, NamesEveryProblemAndUsesMismatchForThePolicyAlone) {
    TPMT_PUBLIC p = bound_key_template(policy_a).publicArea;
    p.authPolicy.buffer[5] ^= 1;
    auto only_policy = check_bound_key_public(p, policy_a);
    ASSERT_FALSE(only_policy.ok());
    EXPECT_EQ(only_policy.err().code, errc::mismatch);
    p.objectAttributes |= TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
    auto several = check_bound_key_public(p, policy_a);
    ASSERT_FALSE(several.ok());
    EXPECT_EQ(several.err().code, errc::structure);
    for (const char* m : {"userWithAuth is set", "sign is set", "authPolicy differs"})
        EXPECT_NE(several.err().message.find(m), std::string::npos) << several.err().message;
    // An expected "policy" that is no SHA-256 digest is the caller's mistake.
    EXPECT_EQ(check_bound_key_public(bound_key_template({}).publicArea, {}).err().code, errc::invalid_argument);
}

// ---- creation proofs made in software ---------------------------------------------------------------------

TPMT_PUBLIC bound_public_of(EVP_PKEY* rsa, byte_view policy) {
    TPMT_PUBLIC p = bound_key_template(policy).publicArea;
    BIGNUM* n = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    ossl::bn_ptr owned(n);
    p.unique.rsa.size = static_cast<UINT16>(BN_num_bytes(n));
    BN_bn2bin(n, p.unique.rsa.buffer);
    return p;
}

bytes mu_public_area(const TPMT_PUBLIC& p) {
    bytes out(sizeof(TPMT_PUBLIC));
    size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMT_PUBLIC_Marshal(&p, out.data(), out.size(), &off), TSS2_RC_SUCCESS);
    out.resize(off);
    return out;
}

bytes size_prefixed(const bytes& body) {
    bytes out{static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

// Name of a sha256 object, computed here: 0x000b || SHA-256(TPMT_PUBLIC).
bytes name_of(const TPMT_PUBLIC& p) {
    bytes name{0x00, 0x0b};
    const bytes h = evp_sha256(mu_public_area(p));
    name.insert(name.end(), h.begin(), h.end());
    return name;
}

struct soft_proof_fields {
    TPMT_PUBLIC key{};
    bytes creation_body;  // TPMS_CREATION_DATA marshalled
    bytes nonce;
    bytes certified_name;  // empty: name_of(key)
    bytes certified_hash;  // empty: SHA-256(creation_body)
    TPM2_GENERATED magic = TPM2_GENERATED_VALUE;
    TPMI_ST_ATTEST type = TPM2_ST_ATTEST_CREATION;
};

bytes creation_body(const TPML_PCR_SELECTION& s, std::uint8_t outside) {
    TPMS_CREATION_DATA cd{};
    cd.pcrSelect = s;
    cd.pcrDigest.size = 32;
    for (int i = 0; i < 32; ++i) cd.pcrDigest.buffer[i] = static_cast<BYTE>(i * 7);
    cd.locality = TPMA_LOCALITY_TPM2_LOC_ZERO;
    cd.parentNameAlg = TPM2_ALG_SHA256;
    cd.parentName.size = 34;
    cd.parentName.name[1] = 0x0b;
    cd.outsideInfo.size = 1;
    cd.outsideInfo.buffer[0] = outside;
    bytes out(sizeof cd);
    size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_CREATION_DATA_Marshal(&cd, out.data(), out.size(), &off), TSS2_RC_SUCCESS);
    out.resize(off);
    return out;
}

bytes creation_attest(const soft_proof_fields& f) {
    TPMS_ATTEST a{};
    a.magic = f.magic;
    a.type = f.type;
    a.qualifiedSigner.size = 34;
    a.qualifiedSigner.name[1] = 0x0b;
    a.extraData.size = static_cast<UINT16>(f.nonce.size());
    std::copy(f.nonce.begin(), f.nonce.end(), a.extraData.buffer);
    a.clockInfo.clock = 42;
    a.clockInfo.safe = TPM2_YES;
    a.firmwareVersion = 0x20191023;
    const bytes name = f.certified_name.empty() ? name_of(f.key) : f.certified_name;
    const bytes hash = f.certified_hash.empty() ? evp_sha256(f.creation_body) : f.certified_hash;
    if (f.type == TPM2_ST_ATTEST_CREATION) {
        a.attested.creation.objectName.size = static_cast<UINT16>(name.size());
        std::copy(name.begin(), name.end(), a.attested.creation.objectName.name);
        a.attested.creation.creationHash.size = static_cast<UINT16>(hash.size());
        std::copy(hash.begin(), hash.end(), a.attested.creation.creationHash.buffer);
    } else {
        a.attested.quote.pcrSelect = sel("sha256:0");
        a.attested.quote.pcrDigest.size = static_cast<UINT16>(hash.size());
        std::copy(hash.begin(), hash.end(), a.attested.quote.pcrDigest.buffer);
    }
    bytes out(sizeof a);
    size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_ATTEST_Marshal(&a, out.data(), out.size(), &off), TSS2_RC_SUCCESS);
    out.resize(off);
    return out;
}

creation_proof make_proof(const soft_proof_fields& f, EVP_PKEY* ak, TPMI_ALG_SIG_SCHEME scheme = TPM2_ALG_ECDSA) {
    creation_proof p;
    p.key_public = size_prefixed(mu_public_area(f.key));
    p.creation_data = size_prefixed(f.creation_body);
    p.attest = creation_attest(f);
    p.signature = test::marshal_signature(test::sign_attest(ak, scheme, TPM2_ALG_SHA256, p.attest));
    return p;
}

struct proof_keys {
    ossl::pkey_ptr ak = test::generate_ec_key("P-256");
    ossl::pkey_ptr other_ak = test::generate_ec_key("P-256");
    ossl::pkey_ptr rsa_ak = test::generate_rsa_key(2048);
    ossl::pkey_ptr bound = test::generate_rsa_key(2048);
    ossl::pkey_ptr other_bound = test::generate_rsa_key(2048);
};
const proof_keys& pk() {
    static const proof_keys k;
    return k;
}

const bytes nonce = *from_hex("c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc");

soft_proof_fields good_fields() {
    soft_proof_fields f;
    f.key = bound_public_of(pk().bound.get(), policy_a);
    f.creation_body = creation_body(sel("sha256:0,1,2,3,4,5,6,7"), 0x11);
    f.nonce = nonce;
    return f;
}

void expect_step(const result<TPMT_PUBLIC>& r, const char* step, const char* contains = "") {
    ASSERT_FALSE(r.ok()) << step;
    EXPECT_EQ(r.err().message.rfind(std::string("creation proof: ") + step + ": ", 0), 0u) << r.err().message;
    EXPECT_NE(r.err().message.find(contains), std::string::npos) << r.err().message;
}

TEST(CreationProof, AcceptsASoftwareProofAndReturnsTheKey) {
    const auto f = good_fields();
    for (auto [key, scheme] : {std::pair{pk().ak.get(), TPM2_ALG_ECDSA}, std::pair{pk().rsa_ak.get(), TPM2_ALG_RSASSA},
                               std::pair{pk().rsa_ak.get(), TPM2_ALG_RSAPSS}}) {
        auto r = verify_creation_proof(make_proof(f, key, scheme), key, nonce, policy_a);
        ASSERT_TRUE(r.ok()) << r.err().message;
        EXPECT_EQ(mu_public_area(*r), mu_public_area(f.key));
    }
}

TEST(CreationProof, RefusesAnotherNonce) {
    auto p = make_proof(good_fields(), pk().ak.get());
    bytes other = nonce;
    other[0] ^= 1;
    expect_step(verify_creation_proof(p, pk().ak.get(), other, policy_a), "structure", "extraData");
    expect_step(verify_creation_proof(p, pk().ak.get(), {}, policy_a), "structure", "extraData");
}

TEST(CreationProof, RefusesTheCertificationOfAnotherKey) {
    // A genuine certification of key B, sent with key A's public area.
    auto b = good_fields();
    b.key = bound_public_of(pk().other_bound.get(), policy_a);
    auto p = make_proof(b, pk().ak.get());
    p.key_public = size_prefixed(mu_public_area(good_fields().key));
    expect_step(verify_creation_proof(p, pk().ak.get(), nonce, policy_a), "structure", "certifies the object");
}

TEST(CreationProof, RefusesCreationDataTheAttestationDoesNotCover) {
    auto f = good_fields();
    auto p = make_proof(f, pk().ak.get());
    p.creation_data = size_prefixed(creation_body(sel("sha256:0,1,2,3,4,5,6,7"), 0x12));
    expect_step(verify_creation_proof(p, pk().ak.get(), nonce, policy_a), "structure", "creationHash");
}

TEST(CreationProof, RefusesASignatureByAnotherAk) {
    auto p = make_proof(good_fields(), pk().other_ak.get());
    expect_step(verify_creation_proof(p, pk().ak.get(), nonce, policy_a), "signature", "does not verify");
    expect_step(verify_creation_proof(p, pk().rsa_ak.get(), nonce, policy_a), "signature", "cannot be made by");
    expect_step(verify_creation_proof(p, nullptr, nonce, policy_a), "signature", "no AK");
    // A flipped byte in the signed attestation (clock) passes structure but not the signature.
    auto q = make_proof(good_fields(), pk().ak.get());
    bytes tampered = q.attest;
    const std::size_t clock_at = 4 + 2 + 2 + 34 + 2 + nonce.size();  // magic, type, signer, extraData
    tampered[clock_at + 7] ^= 1;
    q.attest = tampered;
    expect_step(verify_creation_proof(q, pk().ak.get(), nonce, policy_a), "signature");
}

TEST(CreationProof, RefusesAKeyThatIsNotABoundKeyForThisPolicy) {
    auto f = good_fields();
    f.key.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    expect_step(verify_creation_proof(make_proof(f, pk().ak.get()), pk().ak.get(), nonce, policy_a), "structure",
                "userWithAuth is set");
    bytes other_policy = policy_a;
    other_policy[31] ^= 1;
    expect_step(verify_creation_proof(make_proof(good_fields(), pk().ak.get()), pk().ak.get(), nonce, other_policy),
                "structure", "authPolicy differs");
}

TEST(CreationProof, RefusesOtherAttestations) {
    auto f = good_fields();
    f.magic = 0x01020304;
    expect_step(verify_creation_proof(make_proof(f, pk().ak.get()), pk().ak.get(), nonce, policy_a), "structure",
                "TPM_GENERATED_VALUE");
    f = good_fields();
    f.type = TPM2_ST_ATTEST_QUOTE;
    expect_step(verify_creation_proof(make_proof(f, pk().ak.get()), pk().ak.get(), nonce, policy_a), "structure",
                "creation certification");
}

TEST(CreationProof, ParsesEveryBlobExactly) {
    const auto good = make_proof(good_fields(), pk().ak.get());
    ASSERT_TRUE(verify_creation_proof(good, pk().ak.get(), nonce, policy_a).ok());
    for (bytes creation_proof::*field : {&creation_proof::key_public, &creation_proof::creation_data,
                                         &creation_proof::attest, &creation_proof::signature}) {
        auto p = good;
        (p.*field).push_back(0);
        expect_step(verify_creation_proof(p, pk().ak.get(), nonce, policy_a), "parse");
        for (std::size_t n = 0; n < (good.*field).size(); n += 5) {
            p = good;
            (p.*field).resize(n);
            expect_step(verify_creation_proof(p, pk().ak.get(), nonce, policy_a), "parse");
        }
    }
}

// ---- wrapping -----------------------------------------------------------------------------------------------

bytes rsa_oaep_decrypt(EVP_PKEY* key, byte_view ct, byte_view label) {
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    EXPECT_EQ(EVP_PKEY_decrypt_init(ctx.get()), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()), 1);
    void* l = OPENSSL_memdup(label.data(), label.size());
    EXPECT_EQ(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), l, static_cast<int>(label.size())), 1);
    bytes out(512);
    std::size_t n = out.size();
    if (EVP_PKEY_decrypt(ctx.get(), out.data(), &n, ct.data(), ct.size()) != 1) {
        ERR_clear_error();
        return {};
    }
    out.resize(n);
    return out;
}

TEST(BoundKeyWrap, OaepSha256WithTheZeroTerminatedLabel) {
    const TPMT_PUBLIC pub = bound_public_of(pk().bound.get(), policy_a);
    const bytes secret = *from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    auto w = wrap_to_bound_key(pub, secret);
    ASSERT_TRUE(w.ok()) << w.err().message;
    EXPECT_EQ(w->size(), 256u);
    const std::string label_text = "custos-model-key-v1";
    bytes with_nul(label_text.begin(), label_text.end());
    with_nul.push_back(0);
    ASSERT_EQ(bound_key_label().size(), 20u);
    EXPECT_EQ(bytes(bound_key_label().begin(), bound_key_label().end()), with_nul);
    EXPECT_EQ(rsa_oaep_decrypt(pk().bound.get(), *w, with_nul), secret);
    // OAEP hashes the label: without its zero byte it is another label, and decryption fails.
    EXPECT_TRUE(rsa_oaep_decrypt(pk().bound.get(), *w, as_bytes(label_text)).empty());
    EXPECT_TRUE(rsa_oaep_decrypt(pk().other_bound.get(), *w, with_nul).empty());
    // Fresh randomness every call.
    EXPECT_NE(*wrap_to_bound_key(pub, secret), *w);
}

TEST(BoundKeyWrap, RefusesWhatCannotBeWrapped) {
    const TPMT_PUBLIC pub = bound_public_of(pk().bound.get(), policy_a);
    EXPECT_EQ(wrap_to_bound_key(pub, {}).err().code, errc::invalid_argument);
    EXPECT_TRUE(wrap_to_bound_key(pub, bytes(190, 1)).ok());
    EXPECT_EQ(wrap_to_bound_key(pub, bytes(191, 1)).err().code, errc::invalid_argument);
    TPMT_PUBLIC sign_only = pub;
    sign_only.objectAttributes &= ~TPMA_OBJECT_DECRYPT;
    EXPECT_FALSE(wrap_to_bound_key(sign_only, bytes(32, 1)).ok());
    TPMT_PUBLIC restricted = pub;
    restricted.objectAttributes |= TPMA_OBJECT_RESTRICTED;
    EXPECT_FALSE(wrap_to_bound_key(restricted, bytes(32, 1)).ok());
    EXPECT_FALSE(wrap_to_bound_key(ak_template(ak_alg::ecc_p256).publicArea, bytes(32, 1)).ok());
}

// ---- the agent's key file -----------------------------------------------------------------------------------

bound_key sample_bound_key() {
    bound_key k;
    k.parent = ek_kind::ecc_p384;
    k.pub.publicArea = bound_public_of(pk().bound.get(), policy_a);
    k.priv.size = 222;
    for (int i = 0; i < 222; ++i) k.priv.buffer[i] = static_cast<BYTE>(i);
    const bytes body = creation_body(sel("sha256:0,1,2,3,4,5,6,7"), 0x33);
    size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_CREATION_DATA_Unmarshal(body.data(), body.size(), &off, &k.creation_data.creationData),
              TSS2_RC_SUCCESS);
    k.creation_data.size = static_cast<UINT16>(body.size());
    const bytes h = evp_sha256(body);
    k.creation_hash.size = 32;
    std::copy(h.begin(), h.end(), k.creation_hash.buffer);
    k.ticket.tag = TPM2_ST_CREATION;
    k.ticket.hierarchy = TPM2_RH_ENDORSEMENT;
    k.ticket.digest.size = 32;
    std::fill_n(k.ticket.digest.buffer, 32, 0x5a);
    k.selection = sel("sha256:0,1,2,3,4,5,6,7");
    return k;
}

TEST(BoundKeyFile, RoundTrips) {
    const bound_key k = sample_bound_key();
    const bytes data = serialize_bound_key(k);
    ASSERT_EQ(std::string(data.begin(), data.begin() + 4), "CBK1");
    EXPECT_EQ(data[4], static_cast<std::uint8_t>(ek_kind::ecc_p384));
    auto back = parse_bound_key(data);
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->parent, k.parent);
    EXPECT_EQ(marshal_public(back->pub), marshal_public(k.pub));
    EXPECT_EQ(bytes(back->priv.buffer, back->priv.buffer + back->priv.size),
              bytes(k.priv.buffer, k.priv.buffer + k.priv.size));
    EXPECT_EQ(marshal_creation_data(back->creation_data), marshal_creation_data(k.creation_data));
    EXPECT_EQ(bytes(back->creation_hash.buffer, back->creation_hash.buffer + back->creation_hash.size),
              bytes(k.creation_hash.buffer, k.creation_hash.buffer + 32));
    EXPECT_EQ(back->ticket.tag, TPM2_ST_CREATION);
    EXPECT_EQ(back->ticket.hierarchy, TPM2_RH_ENDORSEMENT);
    EXPECT_EQ(back->ticket.digest.size, 32);
    EXPECT_TRUE(same_selection(back->selection, k.selection));
    EXPECT_EQ(serialize_bound_key(*back), data);
    // The creation data is written as the TPM marshals it: its hash is the creation hash.
    const bytes cd = marshal_creation_data(k.creation_data);
    EXPECT_EQ(evp_sha256(byte_view(cd).subspan(2)), bytes(k.creation_hash.buffer, k.creation_hash.buffer + 32));
}

TEST(BoundKeyFile, RefusesTruncationTrailingBytesAndWrongHeaders) {
    const bytes data = serialize_bound_key(sample_bound_key());
    for (std::size_t n = 0; n < data.size(); ++n)
        EXPECT_FALSE(parse_bound_key(byte_view(data.data(), n)).ok()) << n;
    bytes longer = data;
    longer.push_back(0);
    auto trailing = parse_bound_key(longer);
    ASSERT_FALSE(trailing.ok());
    EXPECT_NE(trailing.err().message.find("trailing"), std::string::npos) << trailing.err().message;
    bytes magic = data;
    magic[3] = '2';
    EXPECT_FALSE(parse_bound_key(magic).ok());
    bytes kind = data;
    kind[4] = 3;
    EXPECT_FALSE(parse_bound_key(kind).ok());
    // An AK key file is not a bound key file.
    ak_key ak;
    ak.pub = bound_key_template(policy_a);
    EXPECT_FALSE(parse_bound_key(serialize_ak_key(ak)).ok());
}

TEST(BoundKeyFile, RefusesAWrongTicketTagAndAnEmptySelection) {
    bound_key k = sample_bound_key();
    k.ticket.tag = TPM2_ST_VERIFIED;
    EXPECT_FALSE(parse_bound_key(serialize_bound_key(k)).ok());
    k = sample_bound_key();
    k.selection = TPML_PCR_SELECTION{};
    EXPECT_FALSE(parse_bound_key(serialize_bound_key(k)).ok());
    // A TPM2B_CREATION_DATA whose size field claims more than its structure: the slice is enforced.
    k = sample_bound_key();
    bytes data = serialize_bound_key(k);
    const std::size_t pub_len = 2 + (static_cast<std::size_t>(data[5]) << 8 | data[6]);
    const std::size_t priv_at = 5 + pub_len;
    const std::size_t cd_at = priv_at + 2 + (static_cast<std::size_t>(data[priv_at]) << 8 | data[priv_at + 1]);
    data[cd_at + 1] = static_cast<std::uint8_t>(data[cd_at + 1] + 1);
    EXPECT_FALSE(parse_bound_key(data).ok());
}

}  // namespace
}  // namespace custos::attest
