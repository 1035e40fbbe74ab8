#include "attest/credential.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "attest/tpm_alg.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

namespace {

// Larger requests are never needed (the biggest key custos derives is 512 bits) and would let a caller
// make the KDF loop for a long time.
constexpr std::size_t max_kdf_bits = 1u << 16;

// What the EK's public area says about how to protect a credential to it.
struct ek_profile {
    hash_alg name_alg;
    std::size_t sym_key_bits;  // AES key size from the EK's symmetric definition
    bool is_rsa;
    std::size_t coord_bytes;  // ECC only: field size in bytes
};

std::string hex16(std::uint16_t v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%04x", v);
    return buf;
}

// The EKs custos meets (TCG EK profile templates L-1, L-2, H-3, and RSA-3072 as in H-4) and nothing else: other
// shapes may be valid TPM storage keys, but an unusual "EK" here means something upstream is wrong.
result<ek_profile> check_ek(const TPMT_PUBLIC& ek) {
    const TPMA_OBJECT a = ek.objectAttributes;
    if (!(a & TPMA_OBJECT_RESTRICTED) || !(a & TPMA_OBJECT_DECRYPT) || (a & TPMA_OBJECT_SIGN_ENCRYPT))
        return make_error(errc::structure,
                          "EK is not a restricted decryption key (restricted, decrypt, not sign): a credential "
                          "can only be protected to a storage-type key");
    ek_profile p{};
    auto h = to_hash_alg(ek.nameAlg);
    if (!h || (*h != hash_alg::sha256 && *h != hash_alg::sha384))
        return make_error(errc::unsupported,
                          "EK nameAlg " + tpm_alg_name(ek.nameAlg) + " is not supported (sha256, sha384)");
    p.name_alg = *h;

    const TPMT_SYM_DEF_OBJECT* sym = nullptr;
    if (ek.type == TPM2_ALG_RSA) {
        const auto& r = ek.parameters.rsaDetail;
        if (r.keyBits != 2048 && r.keyBits != 3072)
            return make_error(errc::unsupported,
                              "EK RSA key size " + std::to_string(r.keyBits) + " is not supported (2048, 3072)");
        if (r.scheme.scheme != TPM2_ALG_NULL)
            return make_error(errc::structure, "EK RSA scheme must be null for a restricted decryption key, not " +
                                                   tpm_alg_name(r.scheme.scheme));
        if (r.exponent != 0 && r.exponent != 65537)
            return make_error(errc::unsupported, "EK RSA exponent " + std::to_string(r.exponent) + " is not supported");
        if (ek.unique.rsa.size != r.keyBits / 8)
            return make_error(errc::structure, "EK RSA modulus is " + std::to_string(ek.unique.rsa.size) +
                                                   " bytes, keyBits says " + std::to_string(r.keyBits / 8));
        p.is_rsa = true;
        sym = &r.symmetric;
    } else if (ek.type == TPM2_ALG_ECC) {
        const auto& e = ek.parameters.eccDetail;
        switch (e.curveID) {
            case TPM2_ECC_NIST_P256: p.coord_bytes = 32; break;
            case TPM2_ECC_NIST_P384: p.coord_bytes = 48; break;
            default:
                return make_error(errc::unsupported, "EK curve " + hex16(e.curveID) +
                                                         " is not supported (NIST P-256, P-384)");
        }
        if (e.scheme.scheme != TPM2_ALG_NULL || e.kdf.scheme != TPM2_ALG_NULL)
            return make_error(errc::structure, "EK ECC scheme and kdf must be null for a restricted decryption key");
        const auto& u = ek.unique.ecc;
        if (u.x.size == 0 || u.x.size > p.coord_bytes || u.y.size == 0 || u.y.size > p.coord_bytes)
            return make_error(errc::structure, "EK ECC point has coordinates of " + std::to_string(u.x.size) + " and " +
                                                   std::to_string(u.y.size) + " bytes for a " +
                                                   std::to_string(p.coord_bytes) + "-byte curve");
        p.is_rsa = false;
        sym = &e.symmetric;
    } else {
        return make_error(errc::unsupported, "EK type " + tpm_alg_name(ek.type) + " is not supported (rsa, ecc)");
    }

    if (sym->algorithm != TPM2_ALG_AES)
        return make_error(errc::unsupported, "EK symmetric algorithm " + tpm_alg_name(sym->algorithm) + " is not AES");
    if (sym->mode.aes != TPM2_ALG_CFB)
        return make_error(errc::unsupported,
                          "EK symmetric mode " + tpm_alg_name(sym->mode.aes) + " is not CFB (credentials are AES-CFB)");
    if (sym->keyBits.aes != 128 && sym->keyBits.aes != 256)
        return make_error(errc::unsupported, "EK AES key size " + std::to_string(sym->keyBits.aes) +
                                                 " is not supported (128, 256)");
    p.sym_key_bits = sym->keyBits.aes;
    return p;
}

// A name is nameAlg (big-endian u16) || H_nameAlg(public area); handles (4-byte names) have no public area to
// certify.
result<void> check_name(byte_view name) {
    if (name.size() < 2)
        return make_error(errc::invalid_argument, "AK name is " + std::to_string(name.size()) + " bytes");
    const auto alg = static_cast<TPM2_ALG_ID>(name[0] << 8 | name[1]);
    auto h = to_hash_alg(alg);
    if (!h)
        return make_error(errc::invalid_argument, "AK name starts with algorithm " + tpm_alg_name(alg) +
                                                      ", not a hash (is it a handle, or not a name at all?)");
    if (name.size() != 2 + digest_size(*h))
        return make_error(errc::invalid_argument, "AK name is " + std::to_string(name.size()) + " bytes, a " +
                                                      hash_name(*h) + " name is " +
                                                      std::to_string(2 + digest_size(*h)));
    return {};
}

// One-shot HMAC over the concatenation of `parts`.
template <std::size_t N>
result<void> hmac(hash_alg h, byte_view key, const std::array<byte_view, N>& parts, std::uint8_t* out) {
    ossl::mac_ptr mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
    if (!mac) return ossl::crypto_error("EVP_MAC_fetch(HMAC)");
    ossl::mac_ctx_ptr ctx(EVP_MAC_CTX_new(mac.get()));
    if (!ctx) return ossl::crypto_error("EVP_MAC_CTX_new");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(evp_md(h))), 0),
        OSSL_PARAM_construct_end()};
    // HMAC with an empty key is legal (KDFa over an empty seed); OpenSSL wants a non-null pointer for it.
    static constexpr std::uint8_t empty = 0;
    if (EVP_MAC_init(ctx.get(), key.empty() ? &empty : key.data(), key.size(), params) != 1)
        return ossl::crypto_error("EVP_MAC_init");
    for (auto p : parts)
        if (!p.empty() && EVP_MAC_update(ctx.get(), p.data(), p.size()) != 1)
            return ossl::crypto_error("EVP_MAC_update");
    std::size_t n = 0;
    if (EVP_MAC_final(ctx.get(), out, &n, digest_size(h)) != 1 || n != digest_size(h))
        return ossl::crypto_error("EVP_MAC_final");
    return {};
}

std::array<std::uint8_t, 4> be32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
            static_cast<std::uint8_t>(v)};
}

result<void> check_kdf_args(std::string_view label, std::size_t bits) {
    if (bits == 0 || bits > max_kdf_bits)
        return make_error(errc::invalid_argument, "KDF output of " + std::to_string(bits) + " bits (1.." +
                                                      std::to_string(max_kdf_bits) + ")");
    if (label.find('\0') != std::string_view::npos)
        return make_error(errc::invalid_argument, "KDF label contains a zero byte (the KDF appends the terminator)");
    return {};
}

// Part 1 §11.4.10.2: when bits is not a multiple of 8 the extra leading bits of the first octet are cleared.
void mask_leading_bits(secret_bytes& out, std::size_t bits) {
    if (bits % 8 != 0) out.data()[0] &= static_cast<std::uint8_t>((1u << (bits % 8)) - 1);
}

// Label bytes with the terminating zero the KDFs hash.
bytes label_z(std::string_view label) {
    bytes l(label.begin(), label.end());
    l.push_back(0);
    return l;
}

result<secret_bytes> random_secret(std::size_t n) {
    secret_bytes s(n);
    if (RAND_priv_bytes(s.data(), static_cast<int>(n)) != 1) return ossl::crypto_error("RAND_priv_bytes");
    return s;
}

struct seed_share {
    secret_bytes seed;
    bytes encrypted;  // TPM2B_ENCRYPTED_SECRET contents (without the size prefix)
};

// Part 1 §B.10.4: RSA-OAEP with the EK nameAlg for both the OAEP hash and MGF1, label "IDENTITY\0".
result<seed_share> share_seed_rsa(EVP_PKEY* ek_key, const ek_profile& p) {
    CUSTOS_TRY(seed, random_secret(digest_size(p.name_alg)));
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek_key, nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1) return ossl::crypto_error("EVP_PKEY_encrypt_init");
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), evp_md(p.name_alg)) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), evp_md(p.name_alg)) != 1)
        return ossl::crypto_error("RSA-OAEP parameters");
    static constexpr char label[] = "IDENTITY";  // sizeof includes the terminating zero, which OAEP hashes
    void* l = OPENSSL_memdup(label, sizeof label);
    if (!l || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), l, sizeof label) != 1) {
        OPENSSL_free(l);
        return ossl::crypto_error("RSA-OAEP label");
    }
    std::size_t n = 0;
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &n, seed.data(), seed.size()) != 1)
        return ossl::crypto_error("EVP_PKEY_encrypt");
    bytes out(n);
    if (EVP_PKEY_encrypt(ctx.get(), out.data(), &n, seed.data(), seed.size()) != 1)
        return ossl::crypto_error("EVP_PKEY_encrypt");
    out.resize(n);
    return seed_share{std::move(seed), std::move(out)};
}

result<bytes> bn_param(EVP_PKEY* key, const char* name, std::size_t width) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return ossl::crypto_error(std::string("reading ") + name);
    ossl::bn_ptr bn(raw);
    bytes out(width);
    if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(width)) != static_cast<int>(width))
        return ossl::crypto_error("BN_bn2binpad");
    return out;
}

// Part 1 §C.6.4 (one-pass Diffie-Hellman, C(1e,1s)): an ephemeral key on the EK's curve; Z is the x-coordinate
// of the shared point; seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, ek.x, digest bits). The TPM hashes the
// coordinates exactly as they appear in the marshalled points, so the EK's x is taken from its public area.
result<seed_share> share_seed_ecc(EVP_PKEY* ek_key, const TPMT_PUBLIC& ek, const ek_profile& p) {
    ossl::pkey_ctx_ptr gen(EVP_PKEY_CTX_new_from_pkey(nullptr, ek_key, nullptr));
    if (!gen || EVP_PKEY_keygen_init(gen.get()) != 1) return ossl::crypto_error("EVP_PKEY_keygen_init");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_keygen(gen.get(), &raw) != 1) return ossl::crypto_error("ephemeral ECC key");
    ossl::pkey_ptr eph(raw);

    ossl::pkey_ctx_ptr dh(EVP_PKEY_CTX_new_from_pkey(nullptr, eph.get(), nullptr));
    if (!dh || EVP_PKEY_derive_init(dh.get()) != 1 || EVP_PKEY_derive_set_peer(dh.get(), ek_key) != 1)
        return ossl::crypto_error("ECDH with the EK");
    std::size_t zlen = 0;
    if (EVP_PKEY_derive(dh.get(), nullptr, &zlen) != 1 || zlen != p.coord_bytes)
        return ossl::crypto_error("ECDH output size");
    secret_bytes z(zlen);
    if (EVP_PKEY_derive(dh.get(), z.data(), &zlen) != 1 || zlen != p.coord_bytes) return ossl::crypto_error("ECDH");

    CUSTOS_TRY(ex, bn_param(eph.get(), OSSL_PKEY_PARAM_EC_PUB_X, p.coord_bytes));
    CUSTOS_TRY(ey, bn_param(eph.get(), OSSL_PKEY_PARAM_EC_PUB_Y, p.coord_bytes));
    const byte_view ek_x(ek.unique.ecc.x.buffer, ek.unique.ecc.x.size);
    CUSTOS_TRY(seed, kdfe(p.name_alg, z.view(), "IDENTITY", ex, ek_x, 8 * digest_size(p.name_alg)));

    bytes point;  // TPMS_ECC_POINT
    append_u16_be(point, static_cast<std::uint16_t>(ex.size()));
    append(point, ex);
    append_u16_be(point, static_cast<std::uint16_t>(ey.size()));
    append(point, ey);
    return seed_share{std::move(seed), std::move(point)};
}

result<bytes> aes_cfb_encrypt(byte_view key, byte_view plain) {
    const EVP_CIPHER* c = key.size() == 16 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128();
    ossl::cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    static constexpr std::uint8_t iv[16] = {};  // Part 1 §24.4: the credential is encrypted with a zero IV
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), c, nullptr, key.data(), iv) != 1)
        return ossl::crypto_error("AES-CFB init");
    bytes out(plain.size() + 16);
    int n1 = 0, n2 = 0;
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &n1, plain.data(), static_cast<int>(plain.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out.data() + n1, &n2) != 1)
        return ossl::crypto_error("AES-CFB");
    out.resize(static_cast<std::size_t>(n1 + n2));
    return out;
}

}  // namespace

result<secret_bytes> kdfa(hash_alg h, byte_view key, std::string_view label, byte_view context_u,
                          byte_view context_v, std::size_t bits) {
    CUSTOS_TRY_VOID(check_kdf_args(label, bits));
    const bytes l = label_z(label);
    const auto bits_be = be32(static_cast<std::uint32_t>(bits));
    const std::size_t hlen = digest_size(h);
    secret_bytes out((bits + 7) / 8);
    secret_bytes block(hlen);
    std::size_t done = 0;
    for (std::uint32_t i = 1; done < out.size(); ++i) {
        const auto counter = be32(i);
        CUSTOS_TRY_VOID(hmac<5>(h, key, {counter, l, context_u, context_v, bits_be}, block.data()));
        const std::size_t n = std::min(hlen, out.size() - done);
        std::copy_n(block.data(), n, out.data() + done);
        done += n;
    }
    mask_leading_bits(out, bits);
    return out;
}

result<secret_bytes> kdfe(hash_alg h, byte_view z, std::string_view label, byte_view party_u, byte_view party_v,
                          std::size_t bits) {
    CUSTOS_TRY_VOID(check_kdf_args(label, bits));
    const bytes l = label_z(label);
    const std::size_t hlen = digest_size(h);
    secret_bytes out((bits + 7) / 8);
    secret_bytes block(hlen);
    std::size_t done = 0;
    for (std::uint32_t i = 1; done < out.size(); ++i) {
        const auto counter = be32(i);
        ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
        unsigned int n = 0;
        if (!ctx || EVP_DigestInit_ex(ctx.get(), evp_md(h), nullptr) != 1 ||
            EVP_DigestUpdate(ctx.get(), counter.data(), counter.size()) != 1 ||
            EVP_DigestUpdate(ctx.get(), z.data(), z.size()) != 1 ||
            EVP_DigestUpdate(ctx.get(), l.data(), l.size()) != 1 ||
            EVP_DigestUpdate(ctx.get(), party_u.data(), party_u.size()) != 1 ||
            EVP_DigestUpdate(ctx.get(), party_v.data(), party_v.size()) != 1 ||
            EVP_DigestFinal_ex(ctx.get(), block.data(), &n) != 1 || n != hlen)
            return ossl::crypto_error("KDFe digest");
        const std::size_t take = std::min(hlen, out.size() - done);
        std::copy_n(block.data(), take, out.data() + done);
        done += take;
    }
    mask_leading_bits(out, bits);
    return out;
}

result<credential_blob> make_credential(const TPMT_PUBLIC& ek, byte_view ak_name, byte_view secret) {
    CUSTOS_TRY(p, check_ek(ek));
    CUSTOS_TRY_VOID(check_name(ak_name));
    const std::size_t dsize = digest_size(p.name_alg);
    if (secret.empty() || secret.size() > dsize)
        return make_error(errc::invalid_argument, "credential secret is " + std::to_string(secret.size()) +
                                                      " bytes; it must be 1.." + std::to_string(dsize) +
                                                      " (the EK nameAlg's digest size)");
    auto key = public_to_pkey(ek);
    if (!key) return with_context(std::move(key).err(), "EK public area");

    seed_share share;
    if (p.is_rsa) {
        CUSTOS_TRY(s, share_seed_rsa(key->get(), p));
        share = std::move(s);
    } else {
        CUSTOS_TRY(s, share_seed_ecc(key->get(), ek, p));
        share = std::move(s);
    }

    // Part 1 §24.4: symKey over the AK name, then the credential (as a TPM2B_DIGEST, size included) in CFB.
    CUSTOS_TRY(sym_key, kdfa(p.name_alg, share.seed.view(), "STORAGE", ak_name, {}, p.sym_key_bits));
    secret_bytes plain(2 + secret.size());
    plain.data()[0] = static_cast<std::uint8_t>(secret.size() >> 8);
    plain.data()[1] = static_cast<std::uint8_t>(secret.size());
    std::copy(secret.begin(), secret.end(), plain.data() + 2);
    CUSTOS_TRY(enc_identity, aes_cfb_encrypt(sym_key.view(), plain.view()));

    // Part 1 §24.5: outer HMAC over encIdentity || name, keyed by KDFa("INTEGRITY").
    CUSTOS_TRY(hmac_key, kdfa(p.name_alg, share.seed.view(), "INTEGRITY", {}, {}, 8 * dsize));
    bytes outer(dsize);
    CUSTOS_TRY_VOID(hmac<2>(p.name_alg, hmac_key.view(), {byte_view(enc_identity), ak_name}, outer.data()));

    credential_blob blob;
    const std::size_t id_size = 2 + outer.size() + enc_identity.size();
    append_u16_be(blob.id_object, static_cast<std::uint16_t>(id_size));
    append_u16_be(blob.id_object, static_cast<std::uint16_t>(outer.size()));
    append(blob.id_object, outer);
    append(blob.id_object, enc_identity);
    append_u16_be(blob.encrypted_secret, static_cast<std::uint16_t>(share.encrypted.size()));
    append(blob.encrypted_secret, share.encrypted);
    return blob;
}

}  // namespace custos::attest
