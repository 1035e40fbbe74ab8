// MakeCredential in software: KDF known answers, a software ActivateCredential that recovers the secret from
// our blobs and from tpm2-tools' blobs (fixtures in tests/data/credential), and the EKs make_credential refuses.
#include "attest/credential.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <array>
#include <optional>
#include <string>

#include "attest/templates.hpp"
#include "attest/tpm_alg.hpp"
#include "crypto/file_io.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {
namespace {

const std::string data_dir = std::string(CUSTOS_TEST_DATA_DIR) + "/credential/";

bytes hex(std::string_view h) {
    auto b = from_hex(h);
    EXPECT_TRUE(b.ok()) << h;
    return b.ok() ? *b : bytes{};
}

// ---- KDFs ----------------------------------------------------------------------------------------------------

// The TPM reference implementation's KDFa self-test (KdfTestData.h in the TCG/Microsoft reference code and
// libtpms): key, label "KDFSELFTESTLABEL", two contexts, 160 bits, one answer per hash.
TEST(Kdfa, ReferenceImplementationSelfTest) {
    const bytes key = hex("271fa08bbdc5060ec3dfa928ff9b73123a12da0c");
    const bytes u = hex("ce244f395dca7391"), v = hex("da504031ddf12e83");
    const struct {
        hash_alg h;
        const char* out;
    } cases[] = {
        {hash_alg::sha1, "55b5a7184aa07423c47dae766c26a2377d7cf851"},
        {hash_alg::sha256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4"},
        {hash_alg::sha384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312"},
        {hash_alg::sha512, "8be2c1b85b78569b9fa759f5857c56d684810fd3"},
    };
    for (const auto& c : cases) {
        auto out = kdfa(c.h, key, "KDFSELFTESTLABEL", u, v, 160);
        ASSERT_TRUE(out.ok()) << out.err().message;
        EXPECT_EQ(to_hex(out->view()), c.out) << hash_name(c.h);
    }
}

// github.com/chrisfenner/tpm-test-vectors (generated with go-tpm): bits not a multiple of 8 clear the extra
// leading bits of the first byte.
TEST(Kdfa, GoTpmVectorWithOddBitCount) {
    auto out = kdfa(hash_alg::sha256, hex("aff14e568afc0ea51eea748c8915df067c7700"), "IDENTITY",
                    hex("ce4edfb881540700e300"),
                    hex("68ddb4a0e59d74cd34dfe631d91e1ea3fbc95865440adedff7e9d011890fba"), 116);
    ASSERT_TRUE(out.ok()) << out.err().message;
    EXPECT_EQ(to_hex(out->view()), "019ed5e0956338ddda4413ecee5cf2");
}

TEST(Kdfa, BitCountIsHashedInAndArgumentsAreChecked) {
    const bytes key(32, 0x11);
    auto a = kdfa(hash_alg::sha256, key, "STORAGE", {}, {}, 512);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->size(), 64u);
    // bits is hashed in, so a shorter output is not a prefix of a longer one.
    auto b = kdfa(hash_alg::sha256, key, "STORAGE", {}, {}, 256);
    ASSERT_TRUE(b.ok());
    EXPECT_NE(to_hex(a->view()).substr(0, 64), to_hex(b->view()));

    EXPECT_EQ(kdfa(hash_alg::sha256, key, "STORAGE", {}, {}, 0).err().code, errc::invalid_argument);
    EXPECT_EQ(kdfa(hash_alg::sha256, key, "STORAGE", {}, {}, 1u << 20).err().code, errc::invalid_argument);
    EXPECT_EQ(kdfa(hash_alg::sha256, key, std::string_view("STOR\0AGE", 8), {}, {}, 128).err().code,
              errc::invalid_argument);
}

// github.com/chrisfenner/tpm-test-vectors vectors/kdfe.json (go-tpm): one or two per hash, covering empty
// inputs, odd bit counts and several output blocks.
TEST(Kdfe, GoTpmVectors) {
    const struct {
        const char* name;
        hash_alg h;
        const char* z;
        const char* use;
        const char* u;
        const char* v;
        std::size_t bits;
        const char* out;
    } cases[] = {
        {"02_SHA1_252", hash_alg::sha1, "6a139d0b0d0f", "STORAGE", "ffa447ad80e0e47020a60c19d20533bdf4",
         "00996ffa45a47c067c87183c7711f486d785", 252,
         "0c51610804d2cf7c9ef588a96ae69b1a6e82bc10a67c829b219e37f65f18007b"},
        {"04_SHA1_253", hash_alg::sha1, "", "STORAGE", "", "c0227aff", 253,
         "0f10d821af67e1ec776b390f3b4572bb433efd2b94fa7842d879d24d825ed2f9"},
        {"31_SHA256_13", hash_alg::sha256, "739245447ead0deea5f834f06e043159c6ff", "IDENTITY",
         "ad503e36c2314ec9afa2f4047bf19ce7fbc6fe2def32c58459c0fc828c00",
         "ba6dd80b788034161743c95e8ef7a9486fbd69d3ff", 13, "0956"},
        {"35_SHA256_336", hash_alg::sha256, "8995a6318a0217c7c7bf543f50da29016c4ff2a1ea5daf54ebcb00", "INTEGRITY",
         "8852f14d8e9b68", "74ff", 336,
         "92343ef558feb95fd14838f9ca39c8618598a7eeb31af7fc276030b8c3ff326d4870f190e54abbec9da4"},
        {"37_SHA256_431", hash_alg::sha256, "e89fc5304cf46c1cf7d1f5de5d3d1ec7eddc80b0386700", "SECRET",
         "e602bc959fd97af0405649e0c80e02e9dd64e9d79e698292b043c79dfa9f9261", "", 431,
         "3a8e893b8b76cdddbf87845b2567fa7152577829f6a55b73cb82d4a1f0342a051d6e50e20ec2f96bc4de38d7d0d79a9caf99e1d574"
         "b9"},
        {"55_SHA384_133", hash_alg::sha384, "b53dfac9155409c1479600", "STORAGE",
         "00456e4f18d91cf140fb5aa3c93553aae61e5424e945a94cb77b1747f34d", "00384c4d9f30a334abea3230fcb16c5460819c57fd7c",
         133, "0935e9f44383ba2d6a7b5cb5782b5b6dbf"},
        {"63_SHA384_513", hash_alg::sha384, "aa9efd800a5922f69da9f48851b0a0e74f0d07bd1b4e11682b46e076fec3ff",
         "INTEGRITY", "589aff59ac66ec88acd3f3b96348c39946d2a9ff",
         "ff902de1b4b60fb8f4437da2641ef8549fed0f3b813c4cd7bd825648", 513,
         "006157ddba92b33404534c9f01d722519cd2acaba143ac9f66ed8daa7c527cf4f5531fd9eca105c01005eee21e950222579d9be5190"
         "95e652a563e44bfeedf8d16"},
        {"82_SHA512_362", hash_alg::sha512, "1e96a2a831f31911fe66cc6bb1ee75ff", "IDENTITY",
         "d9c8bc5935890f3a1b87400b2fbe74e00f86f510f76c5cb81a882100d08aae8d633631ad39bc4cf8762c01ea15",
         "ffd57df8b2b81776a91500da46767c", 362,
         "0293d05682dfa66e5f6244c66336a5f52f707e897bfa5663ca0c0b306086d58df95613da2b1508da362e2a05ce73"},
    };
    for (const auto& c : cases) {
        auto out = kdfe(c.h, hex(c.z), c.use, hex(c.u), hex(c.v), c.bits);
        ASSERT_TRUE(out.ok()) << c.name << ": " << out.err().message;
        EXPECT_EQ(to_hex(out->view()), c.out) << c.name;
    }
}

// ---- keys and a software ActivateCredential ------------------------------------------------------------------

std::size_t coord_size(const TPMT_PUBLIC& pub) {
    return pub.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? 48 : 32;
}

bytes bn_param(EVP_PKEY* k, const char* name, std::size_t width) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(k, name, &bn), 1) << name;
    ossl::bn_ptr owned(bn);
    bytes out(width);
    EXPECT_EQ(BN_bn2binpad(bn, out.data(), static_cast<int>(width)), static_cast<int>(width));
    return out;
}

template <class B>
void set_2b(B& dst, byte_view src) {
    ASSERT_LE(src.size(), sizeof dst.buffer);
    dst.size = static_cast<std::uint16_t>(src.size());
    std::copy(src.begin(), src.end(), dst.buffer);
}

// The EK template of `kind` with the public part of `key` in its unique field.
TPMT_PUBLIC ek_public_for(ek_kind kind, EVP_PKEY* key) {
    TPMT_PUBLIC pub = ek_template(kind).publicArea;
    if (kind == ek_kind::rsa2048) {
        set_2b(pub.unique.rsa, bn_param(key, OSSL_PKEY_PARAM_RSA_N, 256));
    } else {
        const std::size_t w = coord_size(pub);
        set_2b(pub.unique.ecc.x, bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, w));
        set_2b(pub.unique.ecc.y, bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, w));
    }
    return pub;
}

struct test_ek {
    ossl::pkey_ptr priv;
    TPMT_PUBLIC pub{};
};

test_ek generate_ek(ek_kind kind) {
    test_ek ek;
    switch (kind) {
        case ek_kind::rsa2048: ek.priv.reset(EVP_RSA_gen(2048)); break;
        case ek_kind::ecc_p256: ek.priv.reset(EVP_EC_gen("P-256")); break;
        case ek_kind::ecc_p384: ek.priv.reset(EVP_EC_gen("P-384")); break;
    }
    EXPECT_TRUE(ek.priv);
    ek.pub = ek_public_for(kind, ek.priv.get());
    return ek;
}

// A plausible AK name: nameAlg sha256 || SHA-256 of a label.
bytes ak_name(std::string_view label) {
    bytes n{0x00, 0x0b};
    append(n, sha256(as_bytes(label)));
    return n;
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// Recovers the seed as the TPM does: RSA-OAEP decryption, or ECDH with the ephemeral point and KDFe.
result<secret_bytes> recover_seed(const TPMT_PUBLIC& ek, EVP_PKEY* priv, byte_view enc) {
    const hash_alg h = *to_hash_alg(ek.nameAlg);
    if (enc.size() < 2 || be16(enc.data()) != enc.size() - 2)
        return make_error(errc::parse, "bad TPM2B_ENCRYPTED_SECRET");
    enc = enc.subspan(2);
    if (ek.type == TPM2_ALG_RSA) {
        ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, priv, nullptr));
        static constexpr char label[] = "IDENTITY";
        void* l = OPENSSL_memdup(label, sizeof label);
        if (EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), evp_md(h)) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), evp_md(h)) != 1 ||
            EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), l, sizeof label) != 1)
            return ossl::crypto_error("OAEP setup");
        secret_bytes seed(enc.size());
        std::size_t n = seed.size();
        if (EVP_PKEY_decrypt(ctx.get(), seed.data(), &n, enc.data(), enc.size()) != 1)
            return ossl::crypto_error("OAEP decrypt");
        return secret_bytes(byte_view(seed.data(), n));
    }
    // TPMS_ECC_POINT: x and y, each size-prefixed.
    if (enc.size() < 2 || be16(enc.data()) + 2u > enc.size()) return make_error(errc::parse, "bad point x");
    const byte_view x = enc.subspan(2, be16(enc.data()));
    const byte_view rest = enc.subspan(2 + x.size());
    if (rest.size() < 2 || be16(rest.data()) + 2u != rest.size()) return make_error(errc::parse, "bad point y");
    const byte_view y = rest.subspan(2);
    bytes point{0x04};
    append(point, x);
    append(point, y);
    ossl::pkey_ptr eph(EVP_PKEY_new());
    if (EVP_PKEY_copy_parameters(eph.get(), priv) != 1 ||
        EVP_PKEY_set1_encoded_public_key(eph.get(), point.data(), point.size()) != 1)
        return ossl::crypto_error("ephemeral point");
    ossl::pkey_ctx_ptr dh(EVP_PKEY_CTX_new_from_pkey(nullptr, priv, nullptr));
    std::size_t zlen = 0;
    if (EVP_PKEY_derive_init(dh.get()) != 1 || EVP_PKEY_derive_set_peer(dh.get(), eph.get()) != 1 ||
        EVP_PKEY_derive(dh.get(), nullptr, &zlen) != 1)
        return ossl::crypto_error("ECDH");
    secret_bytes z(zlen);
    if (EVP_PKEY_derive(dh.get(), z.data(), &zlen) != 1) return ossl::crypto_error("ECDH");
    return kdfe(h, z.view(), "IDENTITY", x, byte_view(ek.unique.ecc.x.buffer, ek.unique.ecc.x.size),
                8 * digest_size(h));
}

// TPM2_ActivateCredential in software (Part 3 §12.5, Part 1 §24): check the outer HMAC over
// encIdentity || name, then decrypt the credential with the key derived over the name.
result<bytes> activate(const TPMT_PUBLIC& ek, EVP_PKEY* priv, byte_view name, const credential_blob& blob) {
    const hash_alg h = *to_hash_alg(ek.nameAlg);
    const std::size_t dsize = digest_size(h);
    CUSTOS_TRY(seed, recover_seed(ek, priv, blob.encrypted_secret));

    const byte_view id = blob.id_object;
    if (id.size() < 4 || be16(id.data()) != id.size() - 2) return make_error(errc::parse, "bad TPM2B_ID_OBJECT");
    const std::size_t hmac_size = be16(id.data() + 2);
    if (hmac_size != dsize || id.size() < 4 + hmac_size + 2) return make_error(errc::parse, "bad integrityHMAC");
    const byte_view outer = id.subspan(4, hmac_size);
    const byte_view enc_identity = id.subspan(4 + hmac_size);

    CUSTOS_TRY(hmac_key, kdfa(h, seed.view(), "INTEGRITY", {}, {}, 8 * dsize));
    bytes msg(enc_identity.begin(), enc_identity.end());
    append(msg, name);
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    if (!HMAC(evp_md(h), hmac_key.data(), static_cast<int>(hmac_key.size()), msg.data(), msg.size(), mac.data(),
              &mac_len))
        return ossl::crypto_error("HMAC");
    if (!equal_ct(outer, byte_view(mac.data(), mac_len)))
        return make_error(errc::signature, "integrity HMAC does not match (wrong name, EK or damaged blob)");

    const std::size_t sym_bits = ek.type == TPM2_ALG_RSA ? ek.parameters.rsaDetail.symmetric.keyBits.aes
                                                         : ek.parameters.eccDetail.symmetric.keyBits.aes;
    CUSTOS_TRY(sym_key, kdfa(h, seed.view(), "STORAGE", name, {}, sym_bits));
    ossl::cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    const std::array<std::uint8_t, 16> iv{};
    bytes plain(enc_identity.size() + 16);
    int n1 = 0, n2 = 0;
    if (EVP_DecryptInit_ex(ctx.get(), sym_bits == 128 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(), nullptr,
                           sym_key.data(), iv.data()) != 1 ||
        EVP_DecryptUpdate(ctx.get(), plain.data(), &n1, enc_identity.data(), static_cast<int>(enc_identity.size())) !=
            1 ||
        EVP_DecryptFinal_ex(ctx.get(), plain.data() + n1, &n2) != 1)
        return ossl::crypto_error("AES-CFB");
    plain.resize(static_cast<std::size_t>(n1 + n2));
    if (plain.size() < 2 || be16(plain.data()) != plain.size() - 2)
        return make_error(errc::parse, "decrypted credential is not a TPM2B_DIGEST");
    return bytes(plain.begin() + 2, plain.end());
}

// tpm2_makecredential's output file: 0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
credential_blob parse_tpm2_tools_blob(byte_view f) {
    credential_blob b;
    EXPECT_GE(f.size(), 12u);
    if (f.size() < 12) return b;
    EXPECT_EQ(to_hex(f.subspan(0, 8)), "badcc0de00000001");
    const std::size_t id_len = 2 + be16(f.data() + 8);
    EXPECT_GE(f.size(), 8 + id_len + 2);
    if (f.size() < 8 + id_len + 2) return b;
    b.id_object.assign(f.begin() + 8, f.begin() + 8 + static_cast<std::ptrdiff_t>(id_len));
    const byte_view rest = f.subspan(8 + id_len);
    EXPECT_EQ(rest.size(), 2u + be16(rest.data()));
    b.encrypted_secret.assign(rest.begin(), rest.end());
    return b;
}

bytes read(const std::string& path) {
    auto b = read_file(path);
    EXPECT_TRUE(b.ok()) << path << ": " << (b.ok() ? "" : b.err().message);
    return b.ok() ? *b : bytes{};
}

bytes marshal(const TPMT_PUBLIC& pub) {
    bytes out(sizeof pub);
    std::size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMT_PUBLIC_Marshal(&pub, out.data(), out.size(), &off), 0u);
    out.resize(off);
    return out;
}

const ek_kind kinds[] = {ek_kind::rsa2048, ek_kind::ecc_p256, ek_kind::ecc_p384};

// ---- make_credential -----------------------------------------------------------------------------------------

TEST(MakeCredential, SoftwareActivationRecoversTheSecretForEveryEkKind) {
    for (auto kind : kinds) {
        SCOPED_TRACE(ek_kind_name(kind));
        auto ek = generate_ek(kind);
        const std::size_t dsize = kind == ek_kind::ecc_p384 ? 48 : 32;
        const bytes name = ak_name("ak");
        for (std::size_t len : {std::size_t{1}, std::size_t{16}, dsize}) {
            bytes secret(len);
            for (std::size_t i = 0; i < len; ++i) secret[i] = static_cast<std::uint8_t>(i * 7 + 1);
            auto blob = make_credential(ek.pub, name, secret);
            ASSERT_TRUE(blob.ok()) << blob.err().message;
            auto got = activate(ek.pub, ek.priv.get(), name, *blob);
            ASSERT_TRUE(got.ok()) << got.err().message;
            EXPECT_EQ(*got, secret);
        }
    }
}

TEST(MakeCredential, BlobLayoutMatchesTheTpmStructures) {
    for (auto kind : kinds) {
        SCOPED_TRACE(ek_kind_name(kind));
        auto ek = generate_ek(kind);
        const std::size_t dsize = kind == ek_kind::ecc_p384 ? 48 : 32;
        auto blob = make_credential(ek.pub, ak_name("ak"), bytes(20, 0x5a));
        ASSERT_TRUE(blob.ok()) << blob.err().message;
        // TPM2B_ID_OBJECT: size, then TPM2B integrityHMAC, then encIdentity (CFB keeps the length: 2 + 20).
        ASSERT_EQ(blob->id_object.size(), 2 + 2 + dsize + 2 + 20);
        EXPECT_EQ(be16(blob->id_object.data()), blob->id_object.size() - 2);
        EXPECT_EQ(be16(blob->id_object.data() + 2), dsize);
        // TPM2B_ENCRYPTED_SECRET: an RSA-2048 ciphertext or a TPMS_ECC_POINT with full-width coordinates.
        const std::size_t secret_len = kind == ek_kind::rsa2048 ? 256 : 2 * (2 + coord_size(ek.pub));
        ASSERT_EQ(blob->encrypted_secret.size(), 2 + secret_len);
        EXPECT_EQ(be16(blob->encrypted_secret.data()), secret_len);
        // Both structures unmarshal with the TSS, as tpm_device::activate_credential will do.
        TPM2B_ID_OBJECT id{};
        std::size_t off = 0;
        EXPECT_EQ(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob->id_object.data(), blob->id_object.size(), &off, &id), 0u);
        EXPECT_EQ(off, blob->id_object.size());
        TPM2B_ENCRYPTED_SECRET es{};
        off = 0;
        EXPECT_EQ(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(blob->encrypted_secret.data(),
                                                           blob->encrypted_secret.size(), &off, &es),
                  0u);
        EXPECT_EQ(off, blob->encrypted_secret.size());
    }
}

TEST(MakeCredential, EachBlobUsesAFreshSeed) {
    auto ek = generate_ek(ek_kind::ecc_p256);
    auto a = make_credential(ek.pub, ak_name("ak"), bytes(32, 1));
    auto b = make_credential(ek.pub, ak_name("ak"), bytes(32, 1));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->encrypted_secret, b->encrypted_secret);
    EXPECT_NE(a->id_object, b->id_object);
}

TEST(MakeCredential, ActivationFailsForAnotherNameADamagedBlobOrAnotherEk) {
    for (auto kind : kinds) {
        SCOPED_TRACE(ek_kind_name(kind));
        auto ek = generate_ek(kind);
        const bytes name = ak_name("ak"), secret(32, 0x42);
        auto blob = make_credential(ek.pub, name, secret);
        ASSERT_TRUE(blob.ok()) << blob.err().message;

        auto wrong_name = activate(ek.pub, ek.priv.get(), ak_name("another ak"), *blob);
        ASSERT_FALSE(wrong_name.ok());
        EXPECT_EQ(wrong_name.err().code, errc::signature);

        // Every byte of the ID object after its size fields is covered by the HMAC.
        for (std::size_t i = 4; i < blob->id_object.size(); i += 7) {
            credential_blob bad = *blob;
            bad.id_object[i] ^= 0x01;
            EXPECT_FALSE(activate(ek.pub, ek.priv.get(), name, bad).ok()) << "id_object byte " << i;
        }
        // A different seed (or, for ECC, a point off the curve) cannot produce the HMAC key.
        credential_blob bad = *blob;
        bad.encrypted_secret[bad.encrypted_secret.size() - 5] ^= 0x20;
        EXPECT_FALSE(activate(ek.pub, ek.priv.get(), name, bad).ok());

        auto other = generate_ek(kind);
        EXPECT_FALSE(activate(other.pub, other.priv.get(), name, *blob).ok());
    }
}

// tpm2-tools 5.4 `tpm2_makecredential -T none` made these blobs for keys OpenSSL generated: the software
// activation recovering their secrets shows the activator (and so the round-trip tests) agree with tpm2-tools.
TEST(MakeCredential, ActivatorRecoversTpm2ToolsBlobs) {
    for (const char* dir : {"rsa2048", "ecc-p256", "ecc-p384"}) {
        SCOPED_TRACE(dir);
        const std::string base = data_dir + dir + "/";
        const bytes pub_file = read(base + "ek.pub");
        TPM2B_PUBLIC pub{};
        std::size_t off = 0;
        ASSERT_EQ(Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub_file.data(), pub_file.size(), &off, &pub), 0u);
        const bytes pem = read(base + "ek-priv.pem");
        ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        ossl::pkey_ptr priv(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
        ASSERT_TRUE(priv);
        auto kind = parse_ek_kind(dir);
        ASSERT_TRUE(kind.has_value());
        // The fixture's EK public area is the TCG template around this private key.
        EXPECT_EQ(marshal(ek_public_for(*kind, priv.get())), marshal(pub.publicArea));

        const bytes name_hex = read(base + "ak-name.hex");
        const bytes name = hex(std::string_view(reinterpret_cast<const char*>(name_hex.data()), name_hex.size()));
        const bytes secret = read(base + "secret.bin");
        const credential_blob blob = parse_tpm2_tools_blob(read(base + "cred.out"));

        auto got = activate(pub.publicArea, priv.get(), name, blob);
        ASSERT_TRUE(got.ok()) << got.err().message;
        EXPECT_EQ(*got, secret);
        EXPECT_FALSE(activate(pub.publicArea, priv.get(), ak_name("not the AK"), blob).ok());

        // And our blob for the same EK, name and secret activates the same way.
        auto ours = make_credential(pub.publicArea, name, secret);
        ASSERT_TRUE(ours.ok()) << ours.err().message;
        EXPECT_EQ(ours->id_object.size(), blob.id_object.size());
        EXPECT_EQ(ours->encrypted_secret.size(), blob.encrypted_secret.size());
        auto again = activate(pub.publicArea, priv.get(), name, *ours);
        ASSERT_TRUE(again.ok()) << again.err().message;
        EXPECT_EQ(*again, secret);
    }
}

// Part 1 §C.6 secret sharing for ActivateCredential, vectors validated by their author against a TPM simulator
// with TPM2_ActivateCredential (chrisfenner/tpm-test-vectors ecc_labeled_encaps.json, 12_P256_SHA256_256 and
// 55_P384_SHA384_256): given the ephemeral private key, the point we would send and the seed KDFe gives.
TEST(MakeCredential, EccSeedDerivationMatchesValidatedVectors) {
    const struct {
        const char* name;
        const char* d;
        const char* pub;
        const char* seed;
        const char* ciphertext;
    } cases[] = {
        {"12_P256_SHA256_256_restricted", "9efafbaf83563f8ac5a27815eae1017ca78c92f9cde976b1a2e0ad95b8a19bc1",
         "0023000b0003046000000006010000430010000300100020fe4cf1f3e8f583c19e1af6190a7c20751658914a93cd77efb871cb155"
         "7377560002007b6b7c55bea1d17b1a9d96f367cf315b2942d517fd8642e9d9157036831c4d5",
         "2a03ff2b874e44d36a567e67a0bf08227b9e65a0e9ca5215d4a9e573c23159a1",
         "002017ca41bd94c7f12436cf135ff1852408ef6a1ee1989e4e6250ef73c348dd6fa90020346f6016d6f6a2ef8e07df6d7b53b3620"
         "05fc21cda1e1ab25e61f38a87e017b8"},
        {"55_P384_SHA384_256_restricted",
         "831d5d1b087ca69230a5c9bf8b2778b5464462a40fd47dba43d445945840320526bd97639b73228e412a26c31a18d32c",
         "0023000c0003046000000006010000430010000400100030460ab9b0744c7c90b1243b1fd38f09a724edbab83336f36c56f8b241b"
         "83f4e24930b7dbc5a90f2a5d29bbb30aed4782f0030d791757c8585dbfd1832126a14bd9a807fae3f9c7f3239f20e632f70018f1ee"
         "fab5f1cd8506a2675a48661f7696d35f2",
         "18b9e98482ea6aa0ed73f5e91dea69e33700858d819cc08986fbb277411378caebd45e302161d8b097974b6b8f03bc5c",
         "003092512628468bf96172119916c801609ef4c529627634a1452ccd42446b0df37ab297ac97d8fd3cd377f272f1c562747a00308cd1"
         "02d4ef0c85ccf5a975ee6f2f1d247f3c9bfab6628174fed18b320c9d9a7bbf1d54efe30a3de88a91f8c58000ed71"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const bytes pub_bytes = hex(c.pub);
        TPMT_PUBLIC ek{};
        std::size_t off = 0;
        ASSERT_EQ(Tss2_MU_TPMT_PUBLIC_Unmarshal(pub_bytes.data(), pub_bytes.size(), &off, &ek), 0u);
        const hash_alg h = *to_hash_alg(ek.nameAlg);
        const bool p384 = ek.parameters.eccDetail.curveID == TPM2_ECC_NIST_P384;

        // The ephemeral key from its private scalar, and the EK's public key, via OpenSSL.
        const bytes d = hex(c.d);
        ossl::bn_ptr priv(BN_bin2bn(d.data(), static_cast<int>(d.size()), nullptr));
        ossl::ec_group_ptr group(EC_GROUP_new_by_curve_name(p384 ? NID_secp384r1 : NID_X9_62_prime256v1));
        ossl::ec_point_ptr q(EC_POINT_new(group.get()));
        ASSERT_EQ(EC_POINT_mul(group.get(), q.get(), priv.get(), nullptr, nullptr, nullptr), 1);
        const std::size_t w = coord_size(ek);
        ossl::bn_ptr qx(BN_new()), qy(BN_new());
        ASSERT_EQ(EC_POINT_get_affine_coordinates(group.get(), q.get(), qx.get(), qy.get(), nullptr), 1);
        bytes ex(w), ey(w);
        BN_bn2binpad(qx.get(), ex.data(), static_cast<int>(w));
        BN_bn2binpad(qy.get(), ey.data(), static_cast<int>(w));
        bytes point;
        append_u16_be(point, static_cast<std::uint16_t>(w));
        append(point, ex);
        append_u16_be(point, static_cast<std::uint16_t>(w));
        append(point, ey);
        EXPECT_EQ(to_hex(point), c.ciphertext);

        ossl::ec_point_ptr ekp(EC_POINT_new(group.get()));
        ossl::bn_ptr kx(BN_bin2bn(ek.unique.ecc.x.buffer, ek.unique.ecc.x.size, nullptr));
        ossl::bn_ptr ky(BN_bin2bn(ek.unique.ecc.y.buffer, ek.unique.ecc.y.size, nullptr));
        ASSERT_EQ(EC_POINT_set_affine_coordinates(group.get(), ekp.get(), kx.get(), ky.get(), nullptr), 1);
        ossl::ec_point_ptr shared(EC_POINT_new(group.get()));
        ASSERT_EQ(EC_POINT_mul(group.get(), shared.get(), nullptr, ekp.get(), priv.get(), nullptr), 1);
        ossl::bn_ptr zx(BN_new());
        ASSERT_EQ(EC_POINT_get_affine_coordinates(group.get(), shared.get(), zx.get(), nullptr, nullptr), 1);
        secret_bytes z(w);
        BN_bn2binpad(zx.get(), z.data(), static_cast<int>(w));

        auto seed = kdfe(h, z.view(), "IDENTITY", ex, byte_view(ek.unique.ecc.x.buffer, ek.unique.ecc.x.size),
                         8 * digest_size(h));
        ASSERT_TRUE(seed.ok()) << seed.err().message;
        EXPECT_EQ(to_hex(seed->view()), c.seed);
    }
}

// ---- refusals ------------------------------------------------------------------------------------------------

TEST(MakeCredential, RefusesEksItCannotOrMustNotUse) {
    auto ek = generate_ek(ek_kind::rsa2048);
    const bytes name = ak_name("ak"), secret(32, 1);
    auto code_of = [&](const TPMT_PUBLIC& pub) {
        auto r = make_credential(pub, name, secret);
        return r.ok() ? std::optional<errc>() : std::optional<errc>(r.err().code);
    };

    TPMT_PUBLIC p = ek.pub;
    p.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
    EXPECT_EQ(code_of(p), errc::structure);
    p = ek.pub;
    p.objectAttributes &= ~TPMA_OBJECT_DECRYPT;
    EXPECT_EQ(code_of(p), errc::structure);
    p = ek.pub;
    p.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
    EXPECT_EQ(code_of(p), errc::structure);

    p = ek.pub;
    p.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CBC;
    auto cbc = make_credential(p, name, secret);
    ASSERT_FALSE(cbc.ok());
    EXPECT_EQ(cbc.err().code, errc::unsupported);
    EXPECT_NE(cbc.err().message.find("CFB"), std::string::npos) << cbc.err().message;
    p = ek.pub;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    EXPECT_EQ(code_of(p), errc::unsupported);
    p = ek.pub;
    p.parameters.rsaDetail.symmetric.keyBits.aes = 192;
    EXPECT_EQ(code_of(p), errc::unsupported);
    p = ek.pub;
    p.nameAlg = TPM2_ALG_SHA1;
    EXPECT_EQ(code_of(p), errc::unsupported);
    p = ek.pub;
    p.parameters.rsaDetail.keyBits = 1024;
    EXPECT_EQ(code_of(p), errc::unsupported);
    p = ek.pub;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_OAEP;
    EXPECT_EQ(code_of(p), errc::structure);
    p = ek.pub;
    p.unique.rsa.size = 128;  // modulus shorter than keyBits says
    EXPECT_EQ(code_of(p), errc::structure);
    p = ek.pub;
    p.type = TPM2_ALG_KEYEDHASH;
    EXPECT_EQ(code_of(p), errc::unsupported);

    auto ecc = generate_ek(ek_kind::ecc_p256);
    p = ecc.pub;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P521;
    EXPECT_EQ(code_of(p), errc::unsupported);
    p = ecc.pub;
    p.unique.ecc.y.size = 0;
    EXPECT_EQ(code_of(p), errc::structure);
    p = ecc.pub;
    p.unique.ecc.y.buffer[31] ^= 1;  // no longer on the curve
    EXPECT_TRUE(code_of(p).has_value());
}

TEST(MakeCredential, RefusesMalformedNamesAndSecrets) {
    auto ek = generate_ek(ek_kind::ecc_p256);
    const bytes secret(32, 1);
    bytes ecc_alg_name = hex("0023");  // TPM_ALG_ECC is not a hash
    ecc_alg_name.resize(34);
    bytes long_name = ak_name("x");
    long_name.push_back(0);
    for (const bytes& name : {bytes{}, bytes{0x00}, hex("81000001"), hex("000b0102"), ecc_alg_name, long_name}) {
        auto r = make_credential(ek.pub, name, secret);
        ASSERT_FALSE(r.ok()) << to_hex(name);
        EXPECT_EQ(r.err().code, errc::invalid_argument) << to_hex(name);
    }
    // A sha384 name is fine under a sha256 EK: the name is hashed in as bytes.
    bytes n384{0x00, 0x0c};
    append(n384, digest(hash_alg::sha384, as_bytes("ak")));
    EXPECT_TRUE(make_credential(ek.pub, n384, secret).ok());

    auto big = make_credential(ek.pub, ak_name("ak"), bytes(33, 1));
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.err().code, errc::invalid_argument);
    EXPECT_NE(big.err().message.find("digest size"), std::string::npos) << big.err().message;
    EXPECT_FALSE(make_credential(ek.pub, ak_name("ak"), {}).ok());
    // The P-384 EK (sha384) takes 48 bytes.
    auto ek384 = generate_ek(ek_kind::ecc_p384);
    EXPECT_TRUE(make_credential(ek384.pub, ak_name("ak"), bytes(48, 1)).ok());
    EXPECT_FALSE(make_credential(ek384.pub, ak_name("ak"), bytes(49, 1)).ok());
}

}  // namespace
}  // namespace custos::attest
