#include "attest/tpm_public.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "attest/esys.hpp"
#include "attest/tpm_alg.hpp"
#include "crypto/digest.hpp"

namespace custos::attest {

namespace {

struct curve_info {
    TPMI_ECC_CURVE id;
    const char* ossl_name;
    std::size_t field_bytes;
};
constexpr curve_info curves[] = {
    {TPM2_ECC_NIST_P256, "P-256", 32},
    {TPM2_ECC_NIST_P384, "P-384", 48},
    {TPM2_ECC_NIST_P521, "P-521", 66},
};

const curve_info* find_curve(TPMI_ECC_CURVE id) {
    for (const auto& c : curves)
        if (c.id == id) return &c;
    return nullptr;
}

std::string hex16(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%04x", v & 0xffffu);
    return buf;
}

result<ossl::pkey_ptr> pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
    ossl::params_ptr params(OSSL_PARAM_BLD_to_param(bld));
    if (!params) return ossl::crypto_error("OSSL_PARAM_BLD_to_param");
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return ossl::crypto_error("EVP_PKEY_fromdata_init");
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || !key) {
        auto e = ossl::last_error(std::string("the TPM public area is not a valid ") + type + " public key");
        return make_error(errc::structure, e);
    }
    return ossl::pkey_ptr(key);
}

result<ossl::pkey_ptr> rsa_to_pkey(const TPMT_PUBLIC& pub) {
    const auto& n = pub.unique.rsa;
    if (n.size == 0) return make_error(errc::structure, "RSA public area has an empty modulus");
    if (n.size * 8u != pub.parameters.rsaDetail.keyBits)
        return make_error(errc::structure, "RSA public area: keyBits " + std::to_string(pub.parameters.rsaDetail.keyBits) +
                                               " but a " + std::to_string(n.size * 8u) + "-bit modulus");
    if (!(n.buffer[0] & 0x80)) return make_error(errc::structure, "RSA public area: the modulus has a leading zero bit");
    const std::uint32_t e = pub.parameters.rsaDetail.exponent ? pub.parameters.rsaDetail.exponent : 65537u;
    ossl::bn_ptr bn_n(BN_bin2bn(n.buffer, n.size, nullptr));
    ossl::bn_ptr bn_e(BN_new());
    if (!bn_n || !bn_e || BN_set_word(bn_e.get(), e) != 1) return ossl::crypto_error("BN_bin2bn");
    ossl::param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
        return ossl::crypto_error("OSSL_PARAM_BLD_push_BN");
    return pkey_from_params("RSA", bld.get());
}

result<ossl::pkey_ptr> ecc_to_pkey(const TPMT_PUBLIC& pub) {
    const curve_info* curve = find_curve(pub.parameters.eccDetail.curveID);
    if (!curve)
        return make_error(errc::unsupported, "ECC curve " + hex16(pub.parameters.eccDetail.curveID) +
                                                 " is not supported (NIST P-256, P-384, P-521)");
    const auto& x = pub.unique.ecc.x;
    const auto& y = pub.unique.ecc.y;
    if (x.size == 0 || y.size == 0 || x.size > curve->field_bytes || y.size > curve->field_bytes)
        return make_error(errc::structure, std::string("ECC public area: point coordinates of ") +
                                               std::to_string(x.size) + " and " + std::to_string(y.size) +
                                               " bytes on " + curve->ossl_name);
    // Uncompressed point 04 || X || Y, coordinates left-padded to the field size.
    std::array<std::uint8_t, 1 + 2 * 66> point{};
    point[0] = 0x04;
    std::copy_n(x.buffer, x.size, point.begin() + 1 + static_cast<std::ptrdiff_t>(curve->field_bytes - x.size));
    std::copy_n(y.buffer, y.size,
                point.begin() + 1 + static_cast<std::ptrdiff_t>(2 * curve->field_bytes - y.size));
    ossl::param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->ossl_name, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         1 + 2 * curve->field_bytes) != 1)
        return ossl::crypto_error("OSSL_PARAM_BLD_push");
    return pkey_from_params("EC", bld.get());
}

}  // namespace

result<TPM2B_PUBLIC> unmarshal_public(byte_view data) {
    if (data.size() < 2)
        return make_error(errc::parse, "TPM2B_PUBLIC: " + std::to_string(data.size()) + " bytes, no size field");
    const std::size_t size = static_cast<std::size_t>(data[0]) << 8 | data[1];
    if (size == 0) return make_error(errc::parse, "TPM2B_PUBLIC is empty (size 0)");
    if (data.size() != 2 + size)
        return make_error(errc::parse, "TPM2B_PUBLIC declares " + std::to_string(size) + " bytes but " +
                                           std::to_string(data.size() - 2) + " follow");
    // The TPMT_PUBLIC is unmarshalled on its own slice: tss2-mu 3.2's TPM2B_PUBLIC unmarshaller ignores
    // errors of the inner structure and may read past the declared size.
    TPM2B_PUBLIC out{};
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(data.data() + 2, size, &off, &out.publicArea);
    if (rc != TSS2_RC_SUCCESS) return make_error(errc::parse, "TPM2B_PUBLIC: " + rc_text(rc));
    if (off != size)
        return make_error(errc::parse, "TPM2B_PUBLIC: " + std::to_string(size - off) +
                                           " bytes left after the public area");
    out.size = static_cast<UINT16>(size);
    return out;
}

bytes marshal_public_area(const TPMT_PUBLIC& pub) {
    bytes out(sizeof(TPMT_PUBLIC));
    size_t off = 0;
    if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub, out.data(), out.size(), &off) != TSS2_RC_SUCCESS) return {};
    out.resize(off);
    return out;
}

bytes marshal_public(const TPM2B_PUBLIC& pub) {
    bytes area = marshal_public_area(pub.publicArea);
    if (area.empty()) return {};
    bytes out;
    out.reserve(2 + area.size());
    append_u16_be(out, static_cast<std::uint16_t>(area.size()));
    append(out, area);
    return out;
}

result<ossl::pkey_ptr> public_to_pkey(const TPMT_PUBLIC& pub) {
    switch (pub.type) {
        case TPM2_ALG_RSA: return rsa_to_pkey(pub);
        case TPM2_ALG_ECC: return ecc_to_pkey(pub);
        default:
            return make_error(errc::unsupported,
                              "public area of type " + tpm_alg_name(pub.type) + " is not an RSA or ECC key");
    }
}

result<bytes> object_name(const TPMT_PUBLIC& pub) {
    auto h = to_hash_alg(pub.nameAlg);
    if (!h)
        return make_error(errc::unsupported,
                          "nameAlg " + tpm_alg_name(pub.nameAlg) + " is not supported (sha1, sha256, sha384, sha512)");
    bytes area = marshal_public_area(pub);
    if (area.empty()) return make_error(errc::structure, "public area of type " + tpm_alg_name(pub.type) +
                                                             " cannot be marshalled");
    bytes name;
    name.reserve(2 + digest_size(*h));
    append_u16_be(name, pub.nameAlg);
    append(name, digest(*h, area));
    return name;
}

result<void> check_ak_attributes(const TPMT_PUBLIC& pub) {
    std::string problems;
    auto add = [&](const std::string& p) {
        if (!problems.empty()) problems += "; ";
        problems += p;
    };
    struct attr {
        TPMA_OBJECT bit;
        const char* name;
    };
    static constexpr attr required[] = {
        {TPMA_OBJECT_RESTRICTED, "restricted"},   {TPMA_OBJECT_SIGN_ENCRYPT, "sign"},
        {TPMA_OBJECT_FIXEDTPM, "fixedTPM"},       {TPMA_OBJECT_FIXEDPARENT, "fixedParent"},
        {TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin"},
    };
    for (const auto& a : required)
        if (!(pub.objectAttributes & a.bit)) add(std::string(a.name) + " is clear");
    if (pub.objectAttributes & TPMA_OBJECT_DECRYPT) add("decrypt is set");
    if (!to_hash_alg(pub.nameAlg)) add("nameAlg is " + tpm_alg_name(pub.nameAlg));

    TPMI_ALG_HASH scheme_hash = TPM2_ALG_NULL;
    if (pub.type == TPM2_ALG_RSA) {
        const auto& d = pub.parameters.rsaDetail;
        if (d.keyBits != 2048 && d.keyBits != 3072)
            add("RSA key size is " + std::to_string(d.keyBits) + " bits (2048 or 3072 expected)");
        if (d.scheme.scheme != TPM2_ALG_RSASSA && d.scheme.scheme != TPM2_ALG_RSAPSS)
            add("RSA scheme is " + tpm_alg_name(d.scheme.scheme) + " (rsassa or rsapss expected)");
        else
            scheme_hash = d.scheme.details.anySig.hashAlg;
    } else if (pub.type == TPM2_ALG_ECC) {
        const auto& d = pub.parameters.eccDetail;
        if (d.curveID != TPM2_ECC_NIST_P256 && d.curveID != TPM2_ECC_NIST_P384)
            add("ECC curve is " + hex16(d.curveID) + " (NIST P-256 or P-384 expected)");
        if (d.scheme.scheme != TPM2_ALG_ECDSA)
            add("ECC scheme is " + tpm_alg_name(d.scheme.scheme) + " (ecdsa expected)");
        else
            scheme_hash = d.scheme.details.anySig.hashAlg;
    } else {
        add("type is " + tpm_alg_name(pub.type) + " (rsa or ecc expected)");
    }
    if (scheme_hash != TPM2_ALG_NULL && !to_hash_alg(scheme_hash))
        add("scheme hash is " + tpm_alg_name(scheme_hash));
    if (problems.empty()) return {};
    return make_error(errc::structure, "AK attributes: " + problems);
}

}  // namespace custos::attest
