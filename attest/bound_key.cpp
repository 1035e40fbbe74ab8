#include "attest/bound_key.hpp"

#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "attest/esys.hpp"
#include "attest/quote_verify.hpp"
#include "attest/tpm_alg.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/digest.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

namespace {

constexpr std::size_t sha256_size = 32;

std::string hex_or_empty(byte_view b) { return b.empty() ? "(empty)" : to_hex(b); }

template <class T>
byte_view tpm2b_view(const T& b) {
    return {b.buffer, std::min<std::size_t>(b.size, sizeof b.buffer)};
}

// A TPM2B holding plain bytes (TPM2B_DIGEST, TPM2B_PRIVATE): exactly `data`, a size field and that many bytes.
template <class T>
result<T> parse_plain_tpm2b(byte_view data, const char* what) {
    T out{};
    if (data.size() < 2) return make_error(errc::parse, std::string(what) + ": no size field");
    const std::size_t size = static_cast<std::size_t>(data[0]) << 8 | data[1];
    if (size > sizeof out.buffer)
        return make_error(errc::parse, std::string(what) + " declares " + std::to_string(size) + " bytes; at most " +
                                           std::to_string(sizeof out.buffer) + " fit");
    if (data.size() != 2 + size)
        return make_error(errc::parse, std::string(what) + " declares " + std::to_string(size) + " bytes but " +
                                           std::to_string(data.size() - 2) + " follow");
    out.size = static_cast<UINT16>(size);
    std::copy_n(data.begin() + 2, size, out.buffer);
    return out;
}

template <class T>
void append_plain_tpm2b(bytes& out, const T& b) {
    const byte_view v = tpm2b_view(b);
    append_u16_be(out, static_cast<std::uint16_t>(v.size()));
    append(out, v);
}

// The next size-prefixed structure of `rest` (size field included); `rest` moves past it.
result<byte_view> take_tpm2b(byte_view& rest, const char* what) {
    if (rest.size() < 2) return make_error(errc::parse, std::string(what) + ": truncated before its size field");
    const std::size_t len = 2 + (static_cast<std::size_t>(rest[0]) << 8 | rest[1]);
    if (rest.size() < len)
        return make_error(errc::parse, std::string(what) + ": truncated (" + std::to_string(len) + " bytes declared, " +
                                           std::to_string(rest.size()) + " left)");
    byte_view out = rest.first(len);
    rest = rest.subspan(len);
    return out;
}

// TPM2B_CREATION_DATA on its exact slice. The TPMS_CREATION_DATA is unmarshalled on its own slice: tss2-mu
// 3.2's TPM2B-of-structure unmarshallers ignore the inner structure's errors and its declared size.
result<TPM2B_CREATION_DATA> parse_creation_data(byte_view data) {
    if (data.size() < 2) return make_error(errc::parse, "TPM2B_CREATION_DATA: no size field");
    const std::size_t size = static_cast<std::size_t>(data[0]) << 8 | data[1];
    if (size == 0) return make_error(errc::parse, "TPM2B_CREATION_DATA is empty (size 0)");
    if (data.size() != 2 + size)
        return make_error(errc::parse, "TPM2B_CREATION_DATA declares " + std::to_string(size) + " bytes but " +
                                           std::to_string(data.size() - 2) + " follow");
    TPM2B_CREATION_DATA out{};
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMS_CREATION_DATA_Unmarshal(data.data() + 2, size, &off, &out.creationData);
    if (rc != TSS2_RC_SUCCESS) return make_error(errc::parse, "TPM2B_CREATION_DATA: " + rc_text(rc));
    if (off != size)
        return make_error(errc::parse, "TPM2B_CREATION_DATA: " + std::to_string(size - off) +
                                           " bytes left after the creation data");
    out.size = static_cast<UINT16>(size);
    return out;
}

// A selection custos can use in a policy: 1..16 banks of at most 4 select bytes, at least one PCR.
result<void> check_selection_shape(const TPML_PCR_SELECTION& sel) {
    if (sel.count > TPM2_NUM_PCR_BANKS)
        return make_error(errc::structure, "PCR selection has " + std::to_string(sel.count) + " banks; at most 16");
    for (UINT32 b = 0; b < sel.count; ++b)
        if (sel.pcrSelections[b].sizeofSelect > TPM2_PCR_SELECT_MAX)
            return make_error(errc::structure, "PCR selection bank " + std::to_string(b) + " has sizeofSelect " +
                                                   std::to_string(sel.pcrSelections[b].sizeofSelect) + "; at most 4");
    if (selection_count(sel) == 0) return make_error(errc::structure, "PCR selection selects no PCR");
    return {};
}

error proof_error(const char* step, errc code, const std::string& why) {
    return make_error(code, std::string("creation proof: ") + step + ": " + why);
}

}  // namespace

result<bytes> policy_pcr_digest(const TPML_PCR_SELECTION& sel, const pcr_values& values) {
    CUSTOS_TRY_VOID(check_selection_shape(sel));
    // PolicyPCR hashes the PCR values with the session's hash (sha256), whatever their banks.
    CUSTOS_TRY(values_digest, pcr_composite_digest(TPM2_ALG_SHA256, sel, values));
    bytes marshalled(sizeof(TPML_PCR_SELECTION));
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, marshalled.data(), marshalled.size(), &off);
    if (rc != TSS2_RC_SUCCESS) return make_error(errc::structure, "marshalling the PCR selection: " + rc_text(rc));
    marshalled.resize(off);
    bytes cc;
    append_u32_be(cc, TPM2_CC_PolicyPCR);
    const std::array<std::uint8_t, sha256_size> zero{};
    hasher h(hash_alg::sha256);
    h.update(zero).update(cc).update(marshalled).update(values_digest);
    return h.finish();
}

TPM2B_PUBLIC bound_key_template(byte_view policy_digest) {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    p.type = TPM2_ALG_RSA;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                         TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_DECRYPT;
    const std::size_t n = std::min(policy_digest.size(), sizeof p.authPolicy.buffer);
    p.authPolicy.size = static_cast<UINT16>(n);
    std::copy_n(policy_digest.begin(), n, p.authPolicy.buffer);
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    p.parameters.rsaDetail.keyBits = 2048;
    p.parameters.rsaDetail.exponent = 0;
    return t;
}

result<void> check_bound_key_public(const TPMT_PUBLIC& pub, byte_view expected_policy) {
    if (expected_policy.size() != sha256_size)
        return make_error(errc::invalid_argument, "bound key: the expected policy is " +
                                                      std::to_string(expected_policy.size()) +
                                                      " bytes, not a SHA-256 policy digest");
    std::vector<std::string> problems;
    if (pub.type != TPM2_ALG_RSA) {
        problems.push_back("type is " + tpm_alg_name(pub.type) + ", not rsa");
    } else {
        const auto& d = pub.parameters.rsaDetail;
        if (d.keyBits != 2048) problems.push_back("RSA key size is " + std::to_string(d.keyBits) + " bits, not 2048");
        const bool oaep256 = d.scheme.scheme == TPM2_ALG_OAEP && d.scheme.details.oaep.hashAlg == TPM2_ALG_SHA256;
        if (d.scheme.scheme != TPM2_ALG_NULL && !oaep256)
            problems.push_back("RSA scheme is " + tpm_alg_name(d.scheme.scheme) +
                               " (null or oaep-sha256 expected: the model key is wrapped with OAEP-SHA256)");
        if (d.symmetric.algorithm != TPM2_ALG_NULL)
            problems.push_back("symmetric is " + tpm_alg_name(d.symmetric.algorithm) +
                               ", not null (only a storage key has one)");
    }
    if (pub.nameAlg != TPM2_ALG_SHA256)
        problems.push_back("nameAlg is " + tpm_alg_name(pub.nameAlg) +
                           ", not sha256 (the policy and the key's name are computed with sha256)");
    const TPMA_OBJECT a = pub.objectAttributes;
    struct attr {
        TPMA_OBJECT bit;
        bool want;
        const char* problem;
    };
    static constexpr attr attrs[] = {
        {TPMA_OBJECT_FIXEDTPM, true, "fixedTPM is clear: the key could be duplicated out of this TPM"},
        {TPMA_OBJECT_FIXEDPARENT, true, "fixedParent is clear: the key could be duplicated to another parent"},
        {TPMA_OBJECT_SENSITIVEDATAORIGIN, true,
         "sensitiveDataOrigin is clear: the private key was chosen outside the TPM"},
        {TPMA_OBJECT_USERWITHAUTH, false, "userWithAuth is set: anyone could use it without the PCR policy"},
        {TPMA_OBJECT_ADMINWITHPOLICY, true,
         "adminWithPolicy is clear: its auth value alone would allow admin actions such as changing it"},
        {TPMA_OBJECT_DECRYPT, true, "decrypt is clear: it cannot decrypt a wrapped model key"},
        {TPMA_OBJECT_SIGN_ENCRYPT, false, "sign is set: a key that decrypts model keys must not also sign"},
        {TPMA_OBJECT_RESTRICTED, false, "restricted is set: a restricted key cannot TPM2_RSA_Decrypt"},
    };
    for (const auto& r : attrs)
        if (((a & r.bit) != 0) != r.want) problems.emplace_back(r.problem);
    const bool structural = !problems.empty();
    const byte_view policy = tpm2b_view(pub.authPolicy);
    if (!equal_ct(policy, expected_policy))
        problems.push_back("authPolicy differs from the policy computed from the host's appraised PCR values (key: " +
                           hex_or_empty(policy) + ", expected: " + to_hex(expected_policy) + ")");
    if (problems.empty()) return {};
    std::string msg = "bound key: ";
    for (std::size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    return make_error(structural ? errc::structure : errc::mismatch, msg);
}

result<TPMT_PUBLIC> verify_creation_proof(const creation_proof& p, EVP_PKEY* ak, byte_view nonce,
                                          byte_view expected_policy) {
    // 1. parse: every blob exactly.
    auto pub = unmarshal_public(p.key_public);
    if (!pub.ok()) return proof_error("parse", errc::parse, "key public: " + pub.err().message);
    auto cd = parse_creation_data(p.creation_data);
    if (!cd.ok()) return proof_error("parse", errc::parse, cd.err().message);
    TPMS_ATTEST attest{};
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(p.attest.data(), p.attest.size(), &off, &attest);
    if (rc != TSS2_RC_SUCCESS || p.attest.empty())
        return proof_error("parse", errc::parse,
                           "TPMS_ATTEST (" + std::to_string(p.attest.size()) + " bytes): " + rc_text(rc));
    if (off != p.attest.size())
        return proof_error("parse", errc::parse,
                           "TPMS_ATTEST: " + std::to_string(p.attest.size() - off) + " trailing bytes");
    TPMT_SIGNATURE sig{};
    off = 0;
    rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(p.signature.data(), p.signature.size(), &off, &sig);
    if (rc != TSS2_RC_SUCCESS || p.signature.empty())
        return proof_error("parse", errc::parse,
                           "TPMT_SIGNATURE (" + std::to_string(p.signature.size()) + " bytes): " + rc_text(rc));
    if (off != p.signature.size())
        return proof_error("parse", errc::parse,
                           "TPMT_SIGNATURE: " + std::to_string(p.signature.size() - off) + " trailing bytes");

    // 2. structure: the key is a bound key with our policy, and the attestation certifies its creation.
    const TPMT_PUBLIC& area = pub->publicArea;
    if (auto c = check_bound_key_public(area, expected_policy); !c.ok())
        return proof_error("structure", c.err().code, c.err().message);
    if (attest.magic != TPM2_GENERATED_VALUE)
        return proof_error("structure", errc::structure,
                           "the attestation's magic is not TPM_GENERATED_VALUE (not a structure the TPM produced)");
    if (attest.type != TPM2_ST_ATTEST_CREATION)
        return proof_error("structure", errc::structure,
                           "the attestation is of type " + std::to_string(attest.type) +
                               ", not a creation certification (TPM_ST_ATTEST_CREATION)");
    const byte_view extra = tpm2b_view(attest.extraData);
    if (!equal_ct(extra, nonce))
        return proof_error("structure", errc::mismatch,
                           "extraData is " + hex_or_empty(extra) + ", expected the nonce " + hex_or_empty(nonce) +
                               " (a replayed proof, or one made for another challenge)");
    auto name = object_name(area);
    if (!name.ok()) return proof_error("structure", name.err().code, name.err().message);
    const TPMS_CREATION_INFO& info = attest.attested.creation;
    const byte_view certified_name(info.objectName.name,
                                   std::min<std::size_t>(info.objectName.size, sizeof info.objectName.name));
    if (!equal_ct(certified_name, *name))
        return proof_error("structure", errc::mismatch,
                           "the attestation certifies the object " + hex_or_empty(certified_name) +
                               ", not the key sent with it (" + to_hex(*name) + ")");
    const bytes data_hash = sha256(byte_view(p.creation_data).subspan(2));
    const byte_view certified_hash = tpm2b_view(info.creationHash);
    if (!equal_ct(certified_hash, data_hash))
        return proof_error("structure", errc::mismatch,
                           "the attestation's creationHash " + hex_or_empty(certified_hash) +
                               " is not the SHA-256 of the creation data sent with it (" + to_hex(data_hash) + ")");

    // 3. signature by the AK over the exact attestation bytes.
    if (auto v = verify_attest_signature(sig, p.attest, ak); !v.ok())
        return proof_error("signature", v.err().code, v.err().message);
    return area;
}

result<bytes> wrap_to_bound_key(const TPMT_PUBLIC& pub, byte_view secret) {
    if (pub.type != TPM2_ALG_RSA) return make_error(errc::unsupported, "wrapping to a bound key: it is not an RSA key");
    if (!(pub.objectAttributes & TPMA_OBJECT_DECRYPT) || (pub.objectAttributes & TPMA_OBJECT_RESTRICTED))
        return make_error(errc::structure,
                          "wrapping to a bound key: it is not an unrestricted decryption key (decrypt set, restricted "
                          "clear)");
    CUSTOS_TRY(key, public_to_pkey(pub));
    const std::size_t overhead = 2 * sha256_size + 2;  // RFC 8017 §7.1.1
    const std::size_t max = pub.unique.rsa.size > overhead ? pub.unique.rsa.size - overhead : 0;
    if (secret.empty() || secret.size() > max)
        return make_error(errc::invalid_argument, "wrapping to a bound key: the secret is " +
                                                      std::to_string(secret.size()) + " bytes; 1 to " +
                                                      std::to_string(max) + " fit in RSA-OAEP-SHA256");
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1) return ossl::crypto_error("EVP_PKEY_encrypt_init");
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1)
        return ossl::crypto_error("RSA-OAEP parameters");
    const byte_view label = bound_key_label();
    void* l = OPENSSL_memdup(label.data(), label.size());
    if (!l || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), l, static_cast<int>(label.size())) != 1) {
        OPENSSL_free(l);
        return ossl::crypto_error("RSA-OAEP label");
    }
    std::size_t n = 0;
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &n, secret.data(), secret.size()) != 1)
        return ossl::crypto_error("EVP_PKEY_encrypt");
    bytes out(n);
    if (EVP_PKEY_encrypt(ctx.get(), out.data(), &n, secret.data(), secret.size()) != 1)
        return ossl::crypto_error("EVP_PKEY_encrypt");
    out.resize(n);
    return out;
}

bytes marshal_creation_data(const TPM2B_CREATION_DATA& cd) {
    bytes body(sizeof(TPMS_CREATION_DATA));
    size_t off = 0;
    if (Tss2_MU_TPMS_CREATION_DATA_Marshal(&cd.creationData, body.data(), body.size(), &off) != TSS2_RC_SUCCESS)
        return {};
    bytes out;
    out.reserve(2 + off);
    append_u16_be(out, static_cast<std::uint16_t>(off));
    out.insert(out.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(off));
    return out;
}

bytes serialize_bound_key(const bound_key& key) {
    bytes out{'C', 'B', 'K', '1', static_cast<std::uint8_t>(key.parent)};
    append(out, marshal_public(key.pub));
    append_plain_tpm2b(out, key.priv);
    append(out, marshal_creation_data(key.creation_data));
    append_plain_tpm2b(out, key.creation_hash);
    std::array<std::uint8_t, sizeof(TPMT_TK_CREATION) + sizeof(TPML_PCR_SELECTION)> tail{};
    size_t off = 0;
    (void)Tss2_MU_TPMT_TK_CREATION_Marshal(&key.ticket, tail.data(), tail.size(), &off);
    (void)Tss2_MU_TPML_PCR_SELECTION_Marshal(&key.selection, tail.data(), tail.size(), &off);
    out.insert(out.end(), tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(off));
    return out;
}

result<bound_key> parse_bound_key(byte_view data) {
    auto fail = [](const std::string& why) { return make_error(errc::parse, "bound key file: " + why); };
    if (data.size() < 5 || std::memcmp(data.data(), "CBK1", 4) != 0)
        return make_error(errc::parse, "not a custos bound key file (missing CBK1 header)");
    if (data[4] > static_cast<std::uint8_t>(ek_kind::ecc_p384)) return fail("it names an unknown parent EK kind");
    bound_key key;
    key.parent = static_cast<ek_kind>(data[4]);
    byte_view rest = data.subspan(5);

    auto pub_slice = take_tpm2b(rest, "public area");
    if (!pub_slice.ok()) return fail(pub_slice.err().message);
    auto pub = unmarshal_public(*pub_slice);
    if (!pub.ok()) return fail(pub.err().message);
    key.pub = *pub;

    auto priv_slice = take_tpm2b(rest, "private area");
    if (!priv_slice.ok()) return fail(priv_slice.err().message);
    auto priv = parse_plain_tpm2b<TPM2B_PRIVATE>(*priv_slice, "TPM2B_PRIVATE");
    if (!priv.ok()) return fail(priv.err().message);
    key.priv = *priv;

    auto cd_slice = take_tpm2b(rest, "creation data");
    if (!cd_slice.ok()) return fail(cd_slice.err().message);
    auto cd = parse_creation_data(*cd_slice);
    if (!cd.ok()) return fail(cd.err().message);
    key.creation_data = *cd;

    auto hash_slice = take_tpm2b(rest, "creation hash");
    if (!hash_slice.ok()) return fail(hash_slice.err().message);
    auto hash = parse_plain_tpm2b<TPM2B_DIGEST>(*hash_slice, "TPM2B_DIGEST");
    if (!hash.ok()) return fail(hash.err().message);
    key.creation_hash = *hash;

    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_TK_CREATION_Unmarshal(rest.data(), rest.size(), &off, &key.ticket);
    if (rc != TSS2_RC_SUCCESS) return fail("TPMT_TK_CREATION: " + rc_text(rc));
    if (key.ticket.tag != TPM2_ST_CREATION) return fail("the creation ticket's tag is not TPM_ST_CREATION");
    rc = Tss2_MU_TPML_PCR_SELECTION_Unmarshal(rest.data(), rest.size(), &off, &key.selection);
    if (rc != TSS2_RC_SUCCESS) return fail("TPML_PCR_SELECTION: " + rc_text(rc));
    if (auto s = check_selection_shape(key.selection); !s.ok()) return fail(s.err().message);
    if (off != rest.size()) return fail(std::to_string(rest.size() - off) + " trailing bytes");
    return key;
}

}  // namespace custos::attest
