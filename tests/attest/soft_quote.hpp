// Quotes made in software: a TPMS_ATTEST filled by hand, signed by an OpenSSL key standing in for the AK,
// both marshalled with Tss2_MU exactly as a TPM would return them. Shared by the unit tests and the bench.
#pragma once

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <stdexcept>
#include <string>

#include "attest/pcr_selection.hpp"
#include "attest/tpm_alg.hpp"
#include "crypto/digest.hpp"
#include "crypto/ossl.hpp"

namespace custos::test {

inline void check_ossl(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(ossl::last_error(what));
}

inline ossl::pkey_ptr generate_ec_key(const char* curve = "P-256") {
    ossl::pkey_ptr k(EVP_EC_gen(curve));
    check_ossl(k != nullptr, "EVP_EC_gen");
    return k;
}

inline ossl::pkey_ptr generate_rsa_key(unsigned bits = 2048) {
    ossl::pkey_ptr k(EVP_RSA_gen(bits));
    check_ossl(k != nullptr, "EVP_RSA_gen");
    return k;
}

// PCR values that differ per bank and index, in selection order.
inline attest::pcr_values sample_pcr_values(const TPML_PCR_SELECTION& sel, std::uint8_t salt = 0) {
    attest::pcr_values out;
    for (UINT32 b = 0; b < sel.count; ++b) {
        const auto& bank = sel.pcrSelections[b];
        auto h = attest::to_hash_alg(bank.hash);
        if (!h) throw std::runtime_error("sample_pcr_values: unknown bank");
        for (unsigned i = 0; i < bank.sizeofSelect * 8u; ++i) {
            if (!(bank.pcrSelect[i / 8] & (1u << (i % 8)))) continue;
            bytes seed{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(b), salt};
            out.push_back({bank.hash, i, digest(*h, seed)});
        }
    }
    return out;
}

struct quote_fields {
    bytes qualification;
    TPML_PCR_SELECTION selection{};
    bytes pcr_digest;
    TPM2_GENERATED magic = TPM2_GENERATED_VALUE;
    TPMI_ST_ATTEST type = TPM2_ST_ATTEST_QUOTE;
    std::uint64_t clock = 123456789;
    std::uint32_t reset_count = 7;
    std::uint32_t restart_count = 2;
    TPMI_YES_NO safe = TPM2_YES;
    std::uint64_t firmware_version = 0x2019102300163636ull;
};

inline bytes marshal_attest(const quote_fields& f) {
    TPMS_ATTEST a{};
    a.magic = f.magic;
    a.type = f.type;
    // A plausible qualifiedSigner: sha256 name of some key.
    a.qualifiedSigner.size = 34;
    a.qualifiedSigner.name[0] = 0x00;
    a.qualifiedSigner.name[1] = 0x0b;
    for (int i = 2; i < 34; ++i) a.qualifiedSigner.name[i] = static_cast<BYTE>(0xa0 + i);
    a.extraData.size = static_cast<UINT16>(f.qualification.size());
    std::copy(f.qualification.begin(), f.qualification.end(), a.extraData.buffer);
    a.clockInfo.clock = f.clock;
    a.clockInfo.resetCount = f.reset_count;
    a.clockInfo.restartCount = f.restart_count;
    a.clockInfo.safe = f.safe;
    a.firmwareVersion = f.firmware_version;
    if (f.type == TPM2_ST_ATTEST_CERTIFY) {
        a.attested.certify.name = a.qualifiedSigner;
        a.attested.certify.qualifiedName = a.qualifiedSigner;
    } else {
        a.attested.quote.pcrSelect = f.selection;
        a.attested.quote.pcrDigest.size = static_cast<UINT16>(f.pcr_digest.size());
        std::copy(f.pcr_digest.begin(), f.pcr_digest.end(), a.attested.quote.pcrDigest.buffer);
    }
    bytes out(sizeof(TPMS_ATTEST));
    size_t off = 0;
    if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out.data(), out.size(), &off) != TSS2_RC_SUCCESS)
        throw std::runtime_error("Tss2_MU_TPMS_ATTEST_Marshal");
    out.resize(off);
    return out;
}

inline bytes marshal_signature(const TPMT_SIGNATURE& sig) {
    bytes out(sizeof(TPMT_SIGNATURE));
    size_t off = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out.data(), out.size(), &off) != TSS2_RC_SUCCESS)
        throw std::runtime_error("Tss2_MU_TPMT_SIGNATURE_Marshal");
    out.resize(off);
    return out;
}

// Signs `msg` as the TPM signs an attestation: hash with `hash`, then ECDSA (r, s padded to the
// curve size), RSASSA-PKCS1-v1_5 or RSAPSS (salt length = digest length, as TPMs do).
inline TPMT_SIGNATURE sign_attest(EVP_PKEY* key, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash, byte_view msg) {
    auto h = attest::to_hash_alg(hash);
    if (!h) throw std::runtime_error("sign_attest: unknown hash");
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    check_ossl(md && EVP_DigestSignInit(md.get(), &pctx, evp_md(*h), nullptr, key) == 1, "EVP_DigestSignInit");
    if (scheme == TPM2_ALG_RSAPSS) {
        check_ossl(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1,
                   "PSS parameters");
    } else if (scheme == TPM2_ALG_RSASSA) {
        check_ossl(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1, "PKCS1 padding");
    }
    std::size_t len = 0;
    check_ossl(EVP_DigestSign(md.get(), nullptr, &len, msg.data(), msg.size()) == 1, "EVP_DigestSign");
    bytes raw(len);
    check_ossl(EVP_DigestSign(md.get(), raw.data(), &len, msg.data(), msg.size()) == 1, "EVP_DigestSign");
    raw.resize(len);

    TPMT_SIGNATURE sig{};
    sig.sigAlg = scheme;
    sig.signature.any.hashAlg = hash;
    if (scheme == TPM2_ALG_ECDSA) {
        const unsigned char* p = raw.data();
        ossl::ecdsa_sig_ptr es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(raw.size())));
        check_ossl(es != nullptr, "d2i_ECDSA_SIG");
        const int field = (EVP_PKEY_get_bits(key) + 7) / 8;
        auto& r = sig.signature.ecdsa.signatureR;
        auto& s = sig.signature.ecdsa.signatureS;
        check_ossl(BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), r.buffer, field) == field &&
                       BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), s.buffer, field) == field,
                   "BN_bn2binpad");
        r.size = s.size = static_cast<UINT16>(field);
    } else {
        auto& out = sig.signature.rsassa.sig;
        out.size = static_cast<UINT16>(raw.size());
        std::copy(raw.begin(), raw.end(), out.buffer);
    }
    return sig;
}

// A complete quote: the marshalled attestation and signature plus what a verifier is given with it.
struct soft_quote {
    quote_fields fields;
    attest::pcr_values pcrs;
    bytes attest;
    bytes signature;
};

inline soft_quote make_soft_quote(EVP_PKEY* key, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash,
                                  const TPML_PCR_SELECTION& sel, bytes qualification) {
    soft_quote q;
    q.fields.qualification = std::move(qualification);
    q.fields.selection = sel;
    q.pcrs = sample_pcr_values(sel);
    auto d = attest::pcr_composite_digest(hash, sel, q.pcrs);
    if (!d.ok()) throw std::runtime_error(d.err().message);
    q.fields.pcr_digest = *d;
    q.attest = marshal_attest(q.fields);
    q.signature = marshal_signature(sign_attest(key, scheme, hash, q.attest));
    return q;
}

// Re-marshals and re-signs after `edit` changed the fields: a well-signed quote with other contents.
template <class Edit>
inline soft_quote resign(soft_quote q, EVP_PKEY* key, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash, Edit edit) {
    edit(q.fields);
    q.attest = marshal_attest(q.fields);
    q.signature = marshal_signature(sign_attest(key, scheme, hash, q.attest));
    return q;
}

}  // namespace custos::test
