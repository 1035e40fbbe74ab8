#include "attest/quote_verify.hpp"

#include <gtest/gtest.h>

#include <set>

#include "attest/pcrs_file.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/file_io.hpp"
#include "tests/attest/soft_quote.hpp"
#include "tests/attest/test_data.hpp"

namespace custos::attest {
namespace {

const bytes nonce = *from_hex("5ca1ab1e0ddba11c0ffeec0ffee15deadbeef0123456789abcdef0123456789a");

// The P-256 and RSA keys are made once: key generation dominates otherwise.
struct keys {
    ossl::pkey_ptr p256 = test::generate_ec_key("P-256");
    ossl::pkey_ptr p256_other = test::generate_ec_key("P-256");
    ossl::pkey_ptr p384 = test::generate_ec_key("P-384");
    ossl::pkey_ptr rsa = test::generate_rsa_key(2048);
};
const keys& k() {
    static const keys ks;
    return ks;
}

quote_result run(EVP_PKEY* key, byte_view qual, const TPML_PCR_SELECTION* expected, const pcr_values* pcrs,
                 byte_view msg, byte_view sig) {
    quote_input in;
    in.attest = msg;
    in.signature = sig;
    in.ak = key;
    in.qualification = qual;
    in.expected_selection = expected;
    in.pcrs = pcrs;
    return verify_quote(in);
}

// Verifies q (or replacement bytes) with its own selection and PCR values.
quote_result verify_soft(const test::soft_quote& q, EVP_PKEY* key, std::optional<bytes> msg = std::nullopt,
                         std::optional<bytes> sig = std::nullopt, byte_view qual = nonce) {
    return run(key, qual, &q.fields.selection, &q.pcrs, msg ? byte_view(*msg) : byte_view(q.attest),
               sig ? byte_view(*sig) : byte_view(q.signature));
}

#define EXPECT_STEP(r, s)                                                                            \
    do {                                                                                             \
        const auto& r_ = (r);                                                                        \
        ASSERT_FALSE(r_.ok());                                                                       \
        EXPECT_EQ(r_.err().step, (s)) << r_.err().message;                                           \
        EXPECT_EQ(r_.err().message.rfind(std::string(quote_step_name(s)) + ": ", 0), 0u) << r_.err().message; \
    } while (0)

const test::soft_quote& p256_quote() {
    static const test::soft_quote q = test::make_soft_quote(k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256,
                                                            sel("sha256:0,1,2,3,4,5,6,7,16"), nonce);
    return q;
}

TEST(QuoteStep, NamesEveryStep) {
    EXPECT_STREQ(quote_step_name(quote_step::parse), "parse");
    EXPECT_STREQ(quote_step_name(quote_step::magic), "magic");
    EXPECT_STREQ(quote_step_name(quote_step::type), "type");
    EXPECT_STREQ(quote_step_name(quote_step::qualification), "qualification");
    EXPECT_STREQ(quote_step_name(quote_step::selection), "selection");
    EXPECT_STREQ(quote_step_name(quote_step::pcr_digest), "pcr-digest");
    EXPECT_STREQ(quote_step_name(quote_step::signature), "signature");
}

TEST(VerifyQuote, AcceptsASoftwareP256QuoteAndReportsItsFields) {
    const auto& q = p256_quote();
    auto r = verify_soft(q, k().p256.get());
    ASSERT_TRUE(r.ok()) << r.err().message;
    const auto& i = r.info();
    EXPECT_EQ(i.clock, 123456789u);
    EXPECT_EQ(i.reset_count, 7u);
    EXPECT_EQ(i.restart_count, 2u);
    EXPECT_TRUE(i.safe);
    EXPECT_EQ(i.firmware_version, 0x2019102300163636ull);
    EXPECT_EQ(i.pcr_digest, q.fields.pcr_digest);
    EXPECT_TRUE(same_selection(i.selection, q.fields.selection));
    EXPECT_EQ(i.qualified_signer.size(), 34u);
    EXPECT_EQ(i.sig_alg, TPM2_ALG_ECDSA);
    EXPECT_EQ(i.sig_hash, TPM2_ALG_SHA256);
    EXPECT_TRUE(i.pcrs_checked);

    // Without PCR values or an expected selection the signature alone is checked.
    auto bare = run(k().p256.get(), nonce, nullptr, nullptr, q.attest, q.signature);
    ASSERT_TRUE(bare.ok()) << bare.err().message;
    EXPECT_FALSE(bare.info().pcrs_checked);
}

TEST(VerifyQuote, AcceptsRsassaRsapssAndP384Sha384) {
    struct variant {
        const char* what;
        EVP_PKEY* key;
        TPMI_ALG_SIG_SCHEME scheme;
        TPMI_ALG_HASH hash;
    };
    const variant vs[] = {
        {"rsassa-sha256", k().rsa.get(), TPM2_ALG_RSASSA, TPM2_ALG_SHA256},
        {"rsapss-sha256", k().rsa.get(), TPM2_ALG_RSAPSS, TPM2_ALG_SHA256},
        {"rsassa-sha384", k().rsa.get(), TPM2_ALG_RSASSA, TPM2_ALG_SHA384},
        {"ecdsa-p384-sha384", k().p384.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA384},
        {"ecdsa-p256-sha1", k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA1},
    };
    for (const auto& v : vs) {
        auto q = test::make_soft_quote(v.key, v.scheme, v.hash, sel("sha1:0,1+sha256:0,1,2,3,4,5,6,7,16"), nonce);
        auto r = verify_soft(q, v.key);
        ASSERT_TRUE(r.ok()) << v.what << ": " << r.err().message;
        EXPECT_EQ(r.info().sig_alg, v.scheme);
        EXPECT_EQ(r.info().sig_hash, v.hash);
        EXPECT_EQ(r.info().pcr_digest.size(), digest_size(*to_hash_alg(v.hash))) << v.what;
    }
}

TEST(VerifyQuote, AcceptsRsapssWithMaximumSalt) {
    // Some TPMs sign PSS with the largest salt that fits: the verifier recovers the salt length.
    auto q = test::make_soft_quote(k().rsa.get(), TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, sel("sha256:0"), nonce);
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    ASSERT_EQ(EVP_DigestSignInit(md.get(), &pctx, EVP_sha256(), nullptr, k().rsa.get()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_MAX), 1);
    TPMT_SIGNATURE sig{};
    sig.sigAlg = TPM2_ALG_RSAPSS;
    sig.signature.rsapss.hash = TPM2_ALG_SHA256;
    std::size_t len = sizeof sig.signature.rsapss.sig.buffer;
    ASSERT_EQ(EVP_DigestSign(md.get(), sig.signature.rsapss.sig.buffer, &len, q.attest.data(), q.attest.size()), 1);
    sig.signature.rsapss.sig.size = static_cast<UINT16>(len);
    auto r = verify_soft(q, k().rsa.get(), std::nullopt, test::marshal_signature(sig));
    EXPECT_TRUE(r.ok()) << r.err().message;
}

TEST(VerifyQuote, WrongQualificationShowsBothValues) {
    const auto& q = p256_quote();
    bytes other = nonce;
    other.back() ^= 1;
    auto r = verify_soft(q, k().p256.get(), std::nullopt, std::nullopt, other);
    EXPECT_STEP(r, quote_step::qualification);
    EXPECT_NE(r.err().message.find(to_hex(nonce)), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find(to_hex(other)), std::string::npos) << r.err().message;

    EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt, std::nullopt, byte_view(nonce).first(31)),
                quote_step::qualification);
    EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt, std::nullopt, byte_view{}), quote_step::qualification);

    // An empty extraData matches only an empty expectation.
    auto empty = test::resign(q, k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256,
                              [](test::quote_fields& f) { f.qualification.clear(); });
    EXPECT_TRUE(verify_soft(empty, k().p256.get(), std::nullopt, std::nullopt, byte_view{}).ok());
    auto r2 = verify_soft(empty, k().p256.get());
    EXPECT_STEP(r2, quote_step::qualification);
    EXPECT_NE(r2.err().message.find("(empty)"), std::string::npos) << r2.err().message;
}

// Where each field of the software quote's TPMS_ATTEST lies, and the step a changed bit there must fail.
struct region {
    std::size_t begin, end;
    const char* field;
    std::set<quote_step> steps;
};

std::vector<region> attest_regions(const test::soft_quote& q) {
    using s = quote_step;
    std::vector<region> r;
    std::size_t at = 0;
    auto add = [&](std::size_t n, const char* field, std::set<quote_step> steps) {
        r.push_back({at, at + n, field, std::move(steps)});
        at += n;
    };
    // Sizes, counts and selectors change how the rest is read, so the parse fails (no single-bit change
    // of the quote tag is another attestation type whose body fits). Contents map to the step checking them.
    add(4, "magic", {s::magic});
    add(2, "type", {s::parse});
    add(2, "qualifiedSigner.size", {s::parse});
    add(34, "qualifiedSigner.name", {s::signature});
    add(2, "extraData.size", {s::parse});
    add(q.fields.qualification.size(), "extraData", {s::qualification});
    add(8, "clock", {s::signature});
    add(8, "resetCount+restartCount", {s::signature});
    add(1, "safe", {s::signature, s::parse});  // 1 -> 0 is still YES/NO; anything else is not
    add(8, "firmwareVersion", {s::signature});
    add(4, "pcrSelect.count", {s::parse});
    add(2, "pcrSelect.hash", {s::selection});
    add(1, "sizeofSelect", {s::parse});
    add(3, "pcrSelect", {s::selection});
    add(2, "pcrDigest.size", {s::parse});
    add(q.fields.pcr_digest.size(), "pcrDigest", {s::pcr_digest});
    EXPECT_EQ(at, q.attest.size());
    return r;
}

TEST(VerifyQuote, EveryFlippedBitOfTheMessageFailsAtItsStep) {
    const auto& q = p256_quote();
    ASSERT_TRUE(verify_soft(q, k().p256.get()).ok());
    std::size_t checked = 0;
    for (const auto& reg : attest_regions(q)) {
        for (std::size_t pos = reg.begin; pos < reg.end; ++pos) {
            for (int bit = 0; bit < 8; ++bit) {
                bytes m = q.attest;
                m[pos] ^= static_cast<std::uint8_t>(1u << bit);
                auto r = verify_soft(q, k().p256.get(), m);
                ASSERT_FALSE(r.ok()) << reg.field << " byte " << pos << " bit " << bit;
                EXPECT_TRUE(reg.steps.count(r.err().step))
                    << reg.field << " byte " << pos << " bit " << bit << ": " << r.err().message;
                // The safe flag's low bit keeps it YES/NO: only the signature can catch that.
                if (std::string(reg.field) == "safe") {
                    EXPECT_EQ(r.err().step, bit == 0 ? quote_step::signature : quote_step::parse);
                }
                ++checked;
            }
        }
    }
    EXPECT_EQ(checked, q.attest.size() * 8);
}

TEST(VerifyQuote, EveryFlippedBitOfTheSignatureFails) {
    const auto& q = p256_quote();
    // TPMT_SIGNATURE for ECDSA: sigAlg(2) hash(2) r.size(2) r(32) s.size(2) s(32).
    ASSERT_EQ(q.signature.size(), 72u);
    for (std::size_t pos = 0; pos < q.signature.size(); ++pos) {
        for (int bit = 0; bit < 8; ++bit) {
            bytes s = q.signature;
            s[pos] ^= static_cast<std::uint8_t>(1u << bit);
            // Without PCR values, so a changed hash algorithm reaches the signature check.
            auto r = run(k().p256.get(), nonce, &q.fields.selection, nullptr, q.attest, s);
            ASSERT_FALSE(r.ok()) << "byte " << pos << " bit " << bit;
            const bool selector_or_size = pos < 2 || pos == 4 || pos == 5 || pos == 38 || pos == 39;
            if (selector_or_size)
                EXPECT_TRUE(r.err().step == quote_step::parse || r.err().step == quote_step::signature)
                    << "byte " << pos << ": " << r.err().message;
            else
                EXPECT_EQ(r.err().step, quote_step::signature) << "byte " << pos << ": " << r.err().message;
        }
    }
}

TEST(VerifyQuote, AlteredPcrValuesFailThePcrDigest) {
    const auto& q = p256_quote();
    for (std::size_t v = 0; v < q.pcrs.size(); ++v) {
        auto pcrs = q.pcrs;
        pcrs[v].digest[5] ^= 0x40;
        auto r = run(k().p256.get(), nonce, &q.fields.selection, &pcrs, q.attest, q.signature);
        EXPECT_STEP(r, quote_step::pcr_digest);
        EXPECT_NE(r.err().message.find(to_hex(q.fields.pcr_digest)), std::string::npos) << r.err().message;
    }
    // Values that do not cover exactly the quoted selection.
    auto fewer = q.pcrs;
    fewer.pop_back();
    auto r = run(k().p256.get(), nonce, nullptr, &fewer, q.attest, q.signature);
    EXPECT_STEP(r, quote_step::pcr_digest);
    EXPECT_NE(r.err().message.find("no value for selected PCR sha256:16"), std::string::npos) << r.err().message;
    auto more = q.pcrs;
    more.push_back({TPM2_ALG_SHA256, 17, bytes(32, 0)});
    EXPECT_STEP(run(k().p256.get(), nonce, nullptr, &more, q.attest, q.signature), quote_step::pcr_digest);
    auto other_bank = test::sample_pcr_values(sel("sha1:0,1,2,3,4,5,6,7,16"));
    EXPECT_STEP(run(k().p256.get(), nonce, nullptr, &other_bank, q.attest, q.signature), quote_step::pcr_digest);
}

TEST(VerifyQuote, OtherSelectionThanExpectedFails) {
    const auto& q = p256_quote();
    for (const char* other : {"sha256:0,1,2,3,4,5,6,7", "sha256:0,1,2,3,4,5,6,7,16,17", "sha1:0,1,2,3,4,5,6,7,16",
                              "sha256:0,1,2,3,4,5,6,7,16+sha1:0"}) {
        auto expected = sel(other);
        auto r = run(k().p256.get(), nonce, &expected, &q.pcrs, q.attest, q.signature);
        EXPECT_STEP(r, quote_step::selection);
        EXPECT_NE(r.err().message.find(std::string("expected ") + other), std::string::npos) << r.err().message;
    }
    // A quote over fewer PCRs than policy asks, honestly signed and with matching values.
    auto narrow = test::make_soft_quote(k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256, sel("sha256:0"), nonce);
    auto policy = sel("sha256:0,1,2,3,4,5,6,7,16");
    EXPECT_STEP(run(k().p256.get(), nonce, &policy, &narrow.pcrs, narrow.attest, narrow.signature),
                quote_step::selection);
}

TEST(VerifyQuote, AnotherAksKeyFailsTheSignature) {
    const auto& q = p256_quote();
    auto r = verify_soft(q, k().p256_other.get());
    EXPECT_STEP(r, quote_step::signature);
    EXPECT_NE(r.err().message.find("does not verify"), std::string::npos) << r.err().message;
    EXPECT_STEP(verify_soft(q, k().p384.get()), quote_step::signature);
    EXPECT_STEP(verify_soft(q, nullptr), quote_step::signature);
}

TEST(VerifyQuote, EveryTruncationFailsToParse) {
    const auto& q = p256_quote();
    for (std::size_t n = 0; n < q.attest.size(); ++n)
        EXPECT_STEP(verify_soft(q, k().p256.get(), bytes(q.attest.begin(), q.attest.begin() + static_cast<std::ptrdiff_t>(n))),
                    quote_step::parse);
    for (std::size_t n = 0; n < q.signature.size(); ++n)
        EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt,
                                bytes(q.signature.begin(), q.signature.begin() + static_cast<std::ptrdiff_t>(n))),
                    quote_step::parse);
}

TEST(VerifyQuote, TrailingGarbageFailsToParse) {
    const auto& q = p256_quote();
    for (std::uint8_t extra : {0x00, 0xff}) {
        bytes m = q.attest;
        m.push_back(extra);
        auto r = verify_soft(q, k().p256.get(), m);
        EXPECT_STEP(r, quote_step::parse);
        EXPECT_NE(r.err().message.find("1 trailing bytes"), std::string::npos) << r.err().message;
        bytes s = q.signature;
        s.push_back(extra);
        EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt, s), quote_step::parse);
    }
}

TEST(VerifyQuote, AnotherAttestationTypeIsNotAQuote) {
    auto certify = test::resign(p256_quote(), k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256,
                                [](test::quote_fields& f) { f.type = TPM2_ST_ATTEST_CERTIFY; });
    auto r = verify_soft(certify, k().p256.get());
    EXPECT_STEP(r, quote_step::type);
    EXPECT_NE(r.err().message.find("certify"), std::string::npos) << r.err().message;
}

TEST(VerifyQuote, WrongMagicIsNotFromATpm) {
    // Signed by the AK's key but not TPM-generated: e.g. a TPM2_Sign over a forged structure.
    auto forged = test::resign(p256_quote(), k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256,
                               [](test::quote_fields& f) { f.magic = 0x00544347; });
    auto r = verify_soft(forged, k().p256.get());
    EXPECT_STEP(r, quote_step::magic);
    EXPECT_NE(r.err().message.find("0x00544347"), std::string::npos) << r.err().message;
}

TEST(VerifyQuote, UnsafeFlagValuesAreRejectedButNoIsAccepted) {
    auto no = test::resign(p256_quote(), k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256,
                           [](test::quote_fields& f) { f.safe = TPM2_NO; });
    auto r = verify_soft(no, k().p256.get());
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_FALSE(r.info().safe);
    auto two = test::resign(p256_quote(), k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256,
                            [](test::quote_fields& f) { f.safe = 2; });
    EXPECT_STEP(verify_soft(two, k().p256.get()), quote_step::parse);
}

TEST(VerifyQuote, SchemeMustFitTheKeyType) {
    const auto& q = p256_quote();
    auto r = verify_soft(q, k().rsa.get());
    EXPECT_STEP(r, quote_step::signature);
    EXPECT_NE(r.err().message.find("an ECDSA signature cannot be made by an RSA key"), std::string::npos)
        << r.err().message;

    for (auto scheme : {TPM2_ALG_RSASSA, TPM2_ALG_RSAPSS}) {
        auto rq = test::make_soft_quote(k().rsa.get(), scheme, TPM2_ALG_SHA256, sel("sha256:0"), nonce);
        auto rr = verify_soft(rq, k().p256.get());
        EXPECT_STEP(rr, quote_step::signature);
        EXPECT_NE(rr.err().message.find("cannot be made by an EC key"), std::string::npos) << rr.err().message;
    }
    // An RSASSA signature relabelled RSAPSS does not verify.
    auto rq = test::make_soft_quote(k().rsa.get(), TPM2_ALG_RSASSA, TPM2_ALG_SHA256, sel("sha256:0"), nonce);
    bytes relabelled = rq.signature;
    relabelled[1] = static_cast<std::uint8_t>(TPM2_ALG_RSAPSS);
    EXPECT_STEP(verify_soft(rq, k().rsa.get(), std::nullopt, relabelled), quote_step::signature);
}

TEST(VerifyQuote, UnsupportedSchemesFailTheSignature) {
    const auto& q = p256_quote();
    TPMT_SIGNATURE hmac{};
    hmac.sigAlg = TPM2_ALG_HMAC;
    hmac.signature.hmac.hashAlg = TPM2_ALG_SHA256;
    auto r = run(k().p256.get(), nonce, nullptr, nullptr, q.attest, test::marshal_signature(hmac));
    EXPECT_STEP(r, quote_step::signature);
    EXPECT_NE(r.err().message.find("0x0005 is not supported"), std::string::npos) << r.err().message;

    TPMT_SIGNATURE null_sig{};
    null_sig.sigAlg = TPM2_ALG_NULL;
    const bytes ns = test::marshal_signature(null_sig);
    EXPECT_STEP(run(k().p256.get(), nonce, nullptr, nullptr, q.attest, ns), quote_step::signature);
    // With PCR values the null signature names no hash to recompute the digest with.
    EXPECT_STEP(run(k().p256.get(), nonce, nullptr, &q.pcrs, q.attest, ns), quote_step::pcr_digest);

    // ECDAA has ECDSA's layout but is not something custos verifies.
    bytes ecdaa = q.signature;
    ecdaa[1] = static_cast<std::uint8_t>(TPM2_ALG_ECDAA);
    EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt, ecdaa), quote_step::signature);
}

TEST(VerifyQuote, EcdsaIntegersWithLeadingZerosAndHighBits) {
    // r and s of every shape: the DER encoder strips zeros and adds a sign byte where needed.
    int with_zero = 0, with_high = 0;
    // A leading zero byte in r or s turns up about once in 128 signatures: 4000 tries miss it with p < 1e-13.
    for (int i = 0; i < 4000 && (with_zero == 0 || with_high == 0); ++i) {
        auto q = test::make_soft_quote(k().p256.get(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256, sel("sha256:0"),
                                       bytes{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)});
        auto r = verify_soft(q, k().p256.get(), std::nullopt, std::nullopt, q.fields.qualification);
        ASSERT_TRUE(r.ok()) << r.err().message;
        with_zero += q.signature[6] == 0 || q.signature[40] == 0;
        with_high += q.signature[6] >= 0x80 || q.signature[40] >= 0x80;
    }
    EXPECT_GT(with_zero, 0);
    EXPECT_GT(with_high, 0);

    // A TPM that sends r and s unpadded (shorter than the field) is still verified.
    const auto& q = p256_quote();
    TPMT_SIGNATURE sig{};
    size_t off = 0;
    ASSERT_EQ(Tss2_MU_TPMT_SIGNATURE_Unmarshal(q.signature.data(), q.signature.size(), &off, &sig), TSS2_RC_SUCCESS);
    auto& r = sig.signature.ecdsa.signatureR;
    bytes padded(r.buffer, r.buffer + r.size);
    padded.insert(padded.begin(), 0);
    r.size = static_cast<UINT16>(padded.size());
    std::copy(padded.begin(), padded.end(), r.buffer);
    EXPECT_TRUE(verify_soft(q, k().p256.get(), std::nullopt, test::marshal_signature(sig)).ok());

    // Zero r is encoded, and rejected by the math rather than by the encoder.
    r.size = 1;
    r.buffer[0] = 0;
    EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt, test::marshal_signature(sig)), quote_step::signature);
    r.size = 128;
    std::fill_n(r.buffer, 128, 0xff);
    EXPECT_STEP(verify_soft(q, k().p256.get(), std::nullopt, test::marshal_signature(sig)), quote_step::signature);
}

// Real quotes made by tpm2_quote on swtpm (see tests/data/tpm2-tools/generate.sh).
struct real_quote {
    bytes msg, sig, pcrs_bytes;
    pcrs_file pcrs;
    ossl::pkey_ptr key;
    bytes qualification;
};

real_quote load_real(const char* alg, const char* name) {
    real_quote r;
    const auto dir = data_dir / alg;
    r.msg = load(dir / (std::string(name) + ".msg"));
    r.sig = load(dir / (std::string(name) + ".sig"));
    r.pcrs_bytes = load(dir / (std::string(name) + ".pcrs"));
    auto p = parse_pcrs_file(r.pcrs_bytes);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.err().message);
    if (p.ok()) r.pcrs = std::move(*p);
    auto key = ossl::load_public_pem(load(dir / "ak.pub.pem"));
    EXPECT_TRUE(key.ok());
    if (key.ok()) r.key = std::move(*key);
    const bytes hex = load(dir / "qualification.hex");
    r.qualification = *from_hex(std::string(hex.begin(), hex.end()));
    return r;
}

quote_result verify_real(const real_quote& r, EVP_PKEY* key = nullptr, const pcr_values* pcrs = nullptr,
                         std::optional<bytes> msg = std::nullopt) {
    quote_input in;
    in.attest = msg ? byte_view(*msg) : byte_view(r.msg);
    in.signature = r.sig;
    in.ak = key ? key : r.key.get();
    in.qualification = r.qualification;
    in.expected_selection = &r.pcrs.selection;
    in.pcrs = pcrs ? pcrs : &r.pcrs.values;
    return verify_quote(in);
}

TEST(VerifyQuoteTpm2Tools, AcceptsRealQuotesOfBothAkKinds) {
    for (const char* alg : {"ecc", "rsa"}) {
        for (const char* name : {"quote", "quote2"}) {
            auto q = load_real(alg, name);
            auto r = verify_real(q);
            ASSERT_TRUE(r.ok()) << alg << "/" << name << ": " << r.err().message;
            EXPECT_TRUE(r.info().pcrs_checked);
            EXPECT_EQ(r.info().sig_alg, std::string(alg) == "ecc" ? TPM2_ALG_ECDSA : TPM2_ALG_RSASSA);
            EXPECT_EQ(r.info().sig_hash, TPM2_ALG_SHA256);
            EXPECT_EQ(r.info().reset_count, 1u);
            EXPECT_TRUE(r.info().safe);
            EXPECT_EQ(r.info().firmware_version, 0x2019102300163636ull);  // libtpms' firmware version
            EXPECT_EQ(r.info().qualified_signer.size(), 34u);
            EXPECT_GT(r.info().clock, 0u);
        }
    }
    auto q = load_real("ecc", "quote");
    EXPECT_EQ(to_hex(verify_real(q).info().pcr_digest),
              "3b4114d00e0600347fc77c7b7b148050c0e91ac70b68a81c7e55f2c26d59d84d");
}

TEST(VerifyQuoteTpm2Tools, AcceptsTheAkGivenAsTpm2bPublic) {
    for (const char* alg : {"ecc", "rsa"}) {
        auto q = load_real(alg, "quote");
        auto pub = unmarshal_public(load(data_dir / alg / "ak.pub"));
        ASSERT_TRUE(pub.ok());
        auto key = public_to_pkey(pub->publicArea);
        ASSERT_TRUE(key.ok());
        EXPECT_TRUE(verify_real(q, key->get()).ok()) << alg;
    }
}

TEST(VerifyQuoteTpm2Tools, RejectsAlteredCopies) {
    for (const char* alg : {"ecc", "rsa"}) {
        auto q = load_real(alg, "quote");
        SCOPED_TRACE(alg);
        // A clock that moved: only the signature covers it.
        bytes m = q.msg;
        m[62] ^= 1;
        EXPECT_STEP(verify_real(q, nullptr, nullptr, m), quote_step::signature);
        // The signed PCR digest itself.
        m = q.msg;
        m.back() ^= 1;
        EXPECT_STEP(verify_real(q, nullptr, nullptr, m), quote_step::pcr_digest);
        // The nonce.
        m = q.msg;
        m[44] ^= 1;
        EXPECT_STEP(verify_real(q, nullptr, nullptr, m), quote_step::qualification);
        // A PCR value in quote.pcrs.
        bytes f = q.pcrs_bytes;
        f[136 + 4 + 2] ^= 1;  // first byte of PCR 0
        auto altered = parse_pcrs_file(f);
        ASSERT_TRUE(altered.ok());
        EXPECT_STEP(verify_real(q, nullptr, &altered->values), quote_step::pcr_digest);
        // Truncated and padded messages.
        EXPECT_STEP(verify_real(q, nullptr, nullptr, bytes(q.msg.begin(), q.msg.end() - 1)), quote_step::parse);
        m = q.msg;
        m.push_back(0);
        EXPECT_STEP(verify_real(q, nullptr, nullptr, m), quote_step::parse);
    }
    // Each AK's quote with the other AK's key.
    auto ecc = load_real("ecc", "quote");
    auto rsa = load_real("rsa", "quote");
    EXPECT_STEP(verify_real(ecc, rsa.key.get()), quote_step::signature);
    EXPECT_STEP(verify_real(rsa, ecc.key.get()), quote_step::signature);
    // quote2's values (another selection) against quote.
    auto ecc2 = load_real("ecc", "quote2");
    EXPECT_STEP(verify_real(ecc, nullptr, &ecc2.pcrs.values), quote_step::pcr_digest);
}

}  // namespace
}  // namespace custos::attest
