// Attested model-key release against a real swtpm: a PCR-bound key, its creation proof, wrap and unwrap, and the
// policy digest cross-checked with the TPM's own and with tpm2-tools.
#include "attest/bound_key.hpp"

#include <gtest/gtest.h>
#include <sodium.h>
#include <tss2/tss2_esys.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "attest/esys.hpp"
#include "attest/tpm_device.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/file_io.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos::attest {
namespace {

using custos::test::run_process;
using custos::test::swtpm;
namespace fs = std::filesystem;

constexpr const char* boot_pcrs = "sha256:0,1,2,3,4,5,6,7";

TPML_PCR_SELECTION sel(const char* text) {
    auto s = parse_pcr_selection(text);
    EXPECT_TRUE(s.ok()) << text;
    return *s;
}

bytes random_bytes(std::size_t n) {
    bytes b(n);
    randombytes_buf(b.data(), b.size());
    return b;
}

void write_bytes(const fs::path& p, byte_view b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

class BoundKeyTpm : public ::testing::Test {
protected:
    void SetUp() override {
        tpm_ = swtpm::start();
        dev_ = std::make_unique<tpm_device>(tpm_->tcti());
        // Boot PCRs that are not all zero, as firmware would leave them.
        extend(0, "11");
        extend(7, "77");
    }
    std::vector<std::pair<std::string, std::string>> env() const { return {{"TPM2TOOLS_TCTI", tpm_->tcti()}}; }
    void extend(unsigned pcr, const std::string& byte) {
        std::string value;
        for (int i = 0; i < 32; ++i) value += byte;
        auto r = run_process({"tpm2_pcrextend", std::to_string(pcr) + ":sha256=" + value}, env());
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    // tpm2_createpolicy 5.4 leaves its trial session loaded, and swtpm has 3 session slots and no resource manager.
    void flush_tool_sessions() {
        auto r = run_process({"tpm2_flushcontext", "-l"}, env());
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    ak_key make_ak(ek_kind parent = ek_kind::rsa2048, ak_alg alg = ak_alg::ecc_p256) {
        auto ak = dev_->create_ak(parent, alg);
        EXPECT_TRUE(ak.ok()) << ak.err().message;
        return *ak;
    }
    bound_key make_key(ek_kind parent = ek_kind::rsa2048) {
        auto k = dev_->create_bound_key(parent, sel(boot_pcrs));
        EXPECT_TRUE(k.ok()) << k.err().message;
        return *k;
    }
    // What the verifier computes from the values it appraised (here: read from the TPM).
    bytes expected_policy() {
        auto values = dev_->pcr_read(sel(boot_pcrs));
        EXPECT_TRUE(values.ok()) << values.err().message;
        auto d = policy_pcr_digest(sel(boot_pcrs), *values);
        EXPECT_TRUE(d.ok()) << d.err().message;
        return *d;
    }
    result<TPMT_PUBLIC> verify(const creation_proof& p, const ak_key& ak, byte_view nonce) {
        auto key = public_to_pkey(ak.pub.publicArea);
        EXPECT_TRUE(key.ok());
        return verify_creation_proof(p, key->get(), nonce, expected_policy());
    }
    std::unique_ptr<swtpm> tpm_;
    std::unique_ptr<tpm_device> dev_;
};

TEST_F(BoundKeyTpm, CreationProofVerifiesForEveryParentAndAk) {
    struct combo {
        ek_kind ak_parent, key_parent;
        ak_alg alg;
    };
    // The last one needs a second EK in the same operation: the AK's EK is flushed before the key's is made.
    for (auto c : {combo{ek_kind::rsa2048, ek_kind::rsa2048, ak_alg::ecc_p256},
                   combo{ek_kind::ecc_p384, ek_kind::ecc_p384, ak_alg::rsa2048},
                   combo{ek_kind::rsa2048, ek_kind::ecc_p384, ak_alg::ecc_p256}}) {
        const ak_key ak = make_ak(c.ak_parent, c.alg);
        const bound_key key = make_key(c.key_parent);
        EXPECT_TRUE(check_bound_key_public(key.pub.publicArea, expected_policy()).ok());
        const bytes nonce = random_bytes(32);
        auto proof = dev_->certify_creation(ak, key, nonce);
        ASSERT_TRUE(proof.ok()) << proof.err().message;
        auto pub = verify(*proof, ak, nonce);
        ASSERT_TRUE(pub.ok()) << ek_kind_name(c.key_parent) << ": " << pub.err().message;
        EXPECT_EQ(marshal_public_area(*pub), marshal_public_area(key.pub.publicArea));

        // Seeds for tests/fuzz/corpus/creation_proof (fuzz_creation_proof's input format).
        if (const char* out = std::getenv("CUSTOS_WRITE_FUZZ_SEEDS")) {
            auto field = [](bytes& to, byte_view b) {
                to.push_back(static_cast<std::uint8_t>(b.size()));
                to.push_back(static_cast<std::uint8_t>(b.size() >> 8));
                append(to, b);
            };
            bytes seed;
            const bytes policy = expected_policy();
            field(seed, marshal_public(ak.pub));
            field(seed, nonce);
            field(seed, policy);
            field(seed, proof->key_public);
            field(seed, proof->creation_data);
            field(seed, proof->attest);
            field(seed, proof->signature);
            append(seed, serialize_bound_key(key));
            write_bytes(fs::path(out) / (std::string("swtpm-") + ek_kind_name(c.key_parent) + "-" +
                                         (c.alg == ak_alg::ecc_p256 ? "ecc" : "rsa") + "-ak"),
                        seed);
        }
    }
}

TEST_F(BoundKeyTpm, ProofForAnotherNonceIsRefused) {
    const ak_key ak = make_ak();
    const bound_key key = make_key();
    auto proof = dev_->certify_creation(ak, key, random_bytes(32));
    ASSERT_TRUE(proof.ok()) << proof.err().message;
    auto r = verify(*proof, ak, random_bytes(32));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message.rfind("creation proof: structure: extraData", 0), 0u) << r.err().message;
}

TEST_F(BoundKeyTpm, ProofOfAnotherKeyIsRefused) {
    const ak_key ak = make_ak();
    const bound_key first = make_key();
    const bound_key second = make_key();  // same PCR policy, another key
    const bytes nonce = random_bytes(16);
    auto p1 = dev_->certify_creation(ak, first, nonce);
    auto p2 = dev_->certify_creation(ak, second, nonce);
    ASSERT_TRUE(p1.ok() && p2.ok());
    creation_proof mixed = *p2;
    mixed.key_public = p1->key_public;  // the second key's certification, claiming to be about the first key
    auto r = verify(mixed, ak, nonce);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("creation proof: structure: the attestation certifies the object"),
              std::string::npos)
        << r.err().message;
    // Two keys made under the same EK in the same PCR state have byte-identical creation data (nothing in it is
    // the key's own: the name binds the key, the creation hash binds the data). Creation data of a key under
    // another EK names another parent, which the certified creation hash does not cover.
    EXPECT_EQ(p1->creation_data, p2->creation_data);
    const bound_key elsewhere = make_key(ek_kind::ecc_p384);
    auto p3 = dev_->certify_creation(ak, elsewhere, nonce);
    ASSERT_TRUE(p3.ok()) << p3.err().message;
    mixed = *p2;
    mixed.creation_data = p3->creation_data;
    r = verify(mixed, ak, nonce);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("creation proof: structure: the attestation's creationHash"), std::string::npos)
        << r.err().message;
}

TEST_F(BoundKeyTpm, ProofSignedByAnotherAkIsRefused) {
    const ak_key ak = make_ak();
    const ak_key other = make_ak();
    const bound_key key = make_key();
    const bytes nonce = random_bytes(32);
    auto proof = dev_->certify_creation(other, key, nonce);
    ASSERT_TRUE(proof.ok()) << proof.err().message;
    ASSERT_TRUE(verify(*proof, other, nonce).ok());
    auto r = verify(*proof, ak, nonce);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message.rfind("creation proof: signature: ", 0), 0u) << r.err().message;
    EXPECT_EQ(r.err().code, errc::signature);
}

TEST_F(BoundKeyTpm, ProofAfterAPcrChangeNamesTheStalePolicy) {
    // The key was made for the old state: the verifier's policy from the new values is another policy.
    const ak_key ak = make_ak();
    const bound_key key = make_key();
    extend(4, "44");
    const bytes nonce = random_bytes(32);
    auto proof = dev_->certify_creation(ak, key, nonce);
    ASSERT_TRUE(proof.ok()) << proof.err().message;
    auto r = verify(*proof, ak, nonce);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("authPolicy differs"), std::string::npos) << r.err().message;
}

TEST_F(BoundKeyTpm, WrappedKeyUnwrapsOnlyInTheBootStateOfItsPolicy) {
    const ak_key ak = make_ak();
    const bound_key key = make_key();
    const bytes nonce = random_bytes(32);
    auto proof = dev_->certify_creation(ak, key, nonce);
    ASSERT_TRUE(proof.ok()) << proof.err().message;
    auto pub = verify(*proof, ak, nonce);
    ASSERT_TRUE(pub.ok()) << pub.err().message;
    const bytes dek = random_bytes(32);
    auto wrapped = wrap_to_bound_key(*pub, dek);
    ASSERT_TRUE(wrapped.ok()) << wrapped.err().message;

    // The key file is what the agent keeps: a parsed copy works the same.
    auto reloaded = parse_bound_key(serialize_bound_key(key));
    ASSERT_TRUE(reloaded.ok()) << reloaded.err().message;
    auto got = dev_->unwrap_with_bound_key(*reloaded, *wrapped);
    ASSERT_TRUE(got.ok()) << got.err().message;
    EXPECT_TRUE(equal_ct(got->view(), dek));

    // A PCR outside the policy may move.
    extend(16, "16");
    got = dev_->unwrap_with_bound_key(key, *wrapped);
    ASSERT_TRUE(got.ok()) << got.err().message;
    EXPECT_TRUE(equal_ct(got->view(), dek));

    // Another ciphertext (wrapped for another key) is refused by the TPM.
    const bound_key other = make_key();
    auto other_pub = unmarshal_public(marshal_public(other.pub));
    ASSERT_TRUE(other_pub.ok());
    auto for_other = wrap_to_bound_key(other_pub->publicArea, dek);
    ASSERT_TRUE(for_other.ok());
    EXPECT_FALSE(dev_->unwrap_with_bound_key(key, *for_other).ok());

    // Secure Boot state changes (PCR 7): the TPM refuses the policy.
    extend(7, "e7");
    got = dev_->unwrap_with_bound_key(key, *wrapped);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.err().code, errc::mismatch) << got.err().message;
    EXPECT_NE(got.err().message.find("boot state no longer matches the key's PCR policy"), std::string::npos)
        << got.err().message;
    EXPECT_NE(got.err().message.find("a policy check failed"), std::string::npos) << got.err().message;
}

TEST_F(BoundKeyTpm, ARebootIntoTheSameBootStateUnwrapsAgain) {
    const bound_key key = make_key(ek_kind::ecc_p384);  // the session salt goes through the ECC EK here
    const bytes dek = random_bytes(32);
    auto wrapped = wrap_to_bound_key(key.pub.publicArea, dek);
    ASSERT_TRUE(wrapped.ok()) << wrapped.err().message;
    extend(7, "e7");
    ASSERT_FALSE(dev_->unwrap_with_bound_key(key, *wrapped).ok());
    // Reset clears the PCRs; "firmware" measures the same boot again.
    tpm_->restart();
    dev_ = std::make_unique<tpm_device>(tpm_->tcti());
    extend(0, "11");
    extend(7, "77");
    auto got = dev_->unwrap_with_bound_key(key, *wrapped);
    ASSERT_TRUE(got.ok()) << got.err().message;
    EXPECT_TRUE(equal_ct(got->view(), dek));
}

// The TPM's own PolicyPCR digest, from a trial or a real policy session.
bytes tpm_policy_digest(const std::string& tcti, TPM2_SE type, const TPML_PCR_SELECTION& s) {
    auto ctx = esys_context::open(tcti);
    EXPECT_TRUE(ctx.ok());
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    ESYS_TR session = ESYS_TR_NONE;
    EXPECT_EQ(Esys_StartAuthSession(ctx->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    nullptr, type, &sym, TPM2_ALG_SHA256, &session),
              TSS2_RC_SUCCESS);
    esys_handle h(ctx->get(), session);
    TPM2B_DIGEST empty{};
    EXPECT_EQ(Esys_PolicyPCR(ctx->get(), session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &s),
              TSS2_RC_SUCCESS);
    esys_out<TPM2B_DIGEST> d;
    EXPECT_EQ(Esys_PolicyGetDigest(ctx->get(), session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d),
              TSS2_RC_SUCCESS);
    return d.p ? bytes(d->buffer, d->buffer + d->size) : bytes{};
}

TEST_F(BoundKeyTpm, PolicyDigestEqualsTheTpmsAndTpm2Tools) {
    for (const char* text : {boot_pcrs, "sha256:7", "sha1:0,1+sha256:7,16"}) {
        const auto s = sel(text);
        auto values = dev_->pcr_read(s);
        ASSERT_TRUE(values.ok()) << values.err().message;
        auto ours = policy_pcr_digest(s, *values);
        ASSERT_TRUE(ours.ok()) << ours.err().message;
        EXPECT_EQ(to_hex(tpm_policy_digest(tpm_->tcti(), TPM2_SE_TRIAL, s)), to_hex(*ours)) << text;
        EXPECT_EQ(to_hex(tpm_policy_digest(tpm_->tcti(), TPM2_SE_POLICY, s)), to_hex(*ours)) << text;

        // tpm2_createpolicy from a PCR values file (the values concatenated in selection order) ...
        const fs::path d = tpm_->dir();
        bytes concat;
        for (const auto& v : *values) append(concat, v.digest);
        write_bytes(d / "pcrs.bin", concat);
        auto r = run_process({"tpm2_createpolicy", "--policy-pcr", "-l", text, "-f", (d / "pcrs.bin").string(), "-L",
                              (d / "policy.dat").string()},
                             env());
        ASSERT_EQ(r.exit_code, 0) << r.err;
        flush_tool_sessions();
        auto tools = read_file(d / "policy.dat");
        ASSERT_TRUE(tools.ok());
        EXPECT_EQ(to_hex(*tools), to_hex(*ours)) << text;
        // ... and from the TPM's current values.
        r = run_process({"tpm2_createpolicy", "--policy-pcr", "-l", text, "-L", (d / "policy2.dat").string()}, env());
        ASSERT_EQ(r.exit_code, 0) << r.err;
        flush_tool_sessions();
        tools = read_file(d / "policy2.dat");
        ASSERT_TRUE(tools.ok());
        EXPECT_EQ(to_hex(*tools), to_hex(*ours)) << text;
    }
    // The key's authPolicy is that digest.
    const bound_key key = make_key();
    EXPECT_EQ(to_hex(byte_view(key.pub.publicArea.authPolicy.buffer, key.pub.publicArea.authPolicy.size)),
              to_hex(expected_policy()));
}

// libtpms refuses an OAEP label whose last byte is not zero (TPM_RC_VALUE) rather than appending one: the wrap
// and unwrap must both use the 20-byte label with its terminator.
TEST_F(BoundKeyTpm, TpmRefusesALabelWithoutItsZeroByte) {
    const fs::path d = tpm_->dir();
    auto s = [&](const char* f) { return (d / f).string(); };
    for (std::vector<std::string> cmd :
         {std::vector<std::string>{"tpm2_createprimary", "-C", "o", "-c", s("p.ctx")},
          {"tpm2_flushcontext", "-t"},
          {"tpm2_create", "-C", s("p.ctx"), "-G", "rsa2048", "-a",
           "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt", "-u", s("k.pub"), "-r", s("k.priv")},
          {"tpm2_flushcontext", "-t"},
          {"tpm2_load", "-C", s("p.ctx"), "-u", s("k.pub"), "-r", s("k.priv"), "-c", s("k.ctx")},
          {"tpm2_flushcontext", "-t"},
          {"tpm2_evictcontrol", "-C", "o", "-c", s("k.ctx"), "0x81000010"},
          {"tpm2_flushcontext", "-t"}}) {
        auto r = run_process(cmd, env());
        ASSERT_EQ(r.exit_code, 0) << cmd[0] << ": " << r.err;
    }
    auto pub_bytes = read_file(d / "k.pub");
    ASSERT_TRUE(pub_bytes.ok());
    auto pub = unmarshal_public(*pub_bytes);
    ASSERT_TRUE(pub.ok()) << pub.err().message;
    const bytes secret = random_bytes(32);
    auto wrapped = wrap_to_bound_key(pub->publicArea, secret);
    ASSERT_TRUE(wrapped.ok()) << wrapped.err().message;

    auto ctx = esys_context::open(tpm_->tcti());
    ASSERT_TRUE(ctx.ok());
    ESYS_TR key = ESYS_TR_NONE;
    ASSERT_EQ(Esys_TR_FromTPMPublic(ctx->get(), 0x81000010, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &key),
              TSS2_RC_SUCCESS);
    esys_tr_ref key_ref(ctx->get(), key);
    auto decrypt = [&](std::size_t label_len, TPM2B_PUBLIC_KEY_RSA** out) {
        TPM2B_PUBLIC_KEY_RSA ct{};
        ct.size = static_cast<UINT16>(wrapped->size());
        std::copy(wrapped->begin(), wrapped->end(), ct.buffer);
        TPMT_RSA_DECRYPT scheme{};
        scheme.scheme = TPM2_ALG_OAEP;
        scheme.details.oaep.hashAlg = TPM2_ALG_SHA256;
        TPM2B_DATA label{};
        label.size = static_cast<UINT16>(label_len);
        std::copy_n(bound_key_label().begin(), label_len, label.buffer);
        return Esys_RSA_Decrypt(ctx->get(), key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &ct, &scheme, &label,
                                out);
    };
    esys_out<TPM2B_PUBLIC_KEY_RSA> plain;
    ASSERT_EQ(decrypt(bound_key_label().size(), &plain), TSS2_RC_SUCCESS);
    EXPECT_TRUE(equal_ct(byte_view(plain->buffer, plain->size), secret));
    esys_out<TPM2B_PUBLIC_KEY_RSA> refused;
    const TSS2_RC rc = decrypt(bound_key_label().size() - 1, &refused);
    EXPECT_EQ(rc & 0x3f, TPM2_RC_VALUE & 0x3f) << rc_text(rc);
    EXPECT_NE(rc & TPM2_RC_FMT1, 0u) << rc_text(rc);
}

}  // namespace
}  // namespace custos::attest
