#include "attest/quote_verify.hpp"

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "attest/esys.hpp"
#include "attest/tpm_alg.hpp"
#include "crypto/digest.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

const char* quote_step_name(quote_step s) noexcept {
    switch (s) {
        case quote_step::parse: return "parse";
        case quote_step::magic: return "magic";
        case quote_step::type: return "type";
        case quote_step::qualification: return "qualification";
        case quote_step::selection: return "selection";
        case quote_step::pcr_digest: return "pcr-digest";
        case quote_step::signature: return "signature";
    }
    return "unknown";
}

namespace {

quote_error fail(quote_step s, const std::string& why) {
    return quote_error{s, std::string(quote_step_name(s)) + ": " + why};
}

std::string hex_or_empty(byte_view b) { return b.empty() ? "(empty)" : to_hex(b); }

std::string hex32(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

const char* attest_type_name(TPM2_ST t) {
    switch (t) {
        case TPM2_ST_ATTEST_NV: return "nv";
        case TPM2_ST_ATTEST_COMMAND_AUDIT: return "command audit";
        case TPM2_ST_ATTEST_SESSION_AUDIT: return "session audit";
        case TPM2_ST_ATTEST_CERTIFY: return "certify";
        case TPM2_ST_ATTEST_QUOTE: return "quote";
        case TPM2_ST_ATTEST_TIME: return "time";
        case TPM2_ST_ATTEST_CREATION: return "creation";
        default: return "unknown";
    }
}

// DER of ECDSA-Sig-Value { r INTEGER, s INTEGER } from the TPM's big-endian r and s, written into a
// fixed buffer: the verifier's hot path allocates nothing here. TPM2B_ECC_PARAMETER holds at most
// 128 bytes, so the whole encoding fits in 3 + 2 * (3 + 129) bytes.
class ecdsa_der {
public:
    ecdsa_der(const TPM2B_ECC_PARAMETER& r, const TPM2B_ECC_PARAMETER& s) {
        std::array<std::uint8_t, 2 * (3 + 129)> body{};
        std::size_t n = put_integer(body.data(), r);
        n += put_integer(body.data() + n, s);
        std::size_t h = 0;
        buf_[h++] = 0x30;
        if (n >= 0x80) buf_[h++] = 0x81 + (n > 0xff ? 1 : 0);
        if (n > 0xff) buf_[h++] = static_cast<std::uint8_t>(n >> 8);
        buf_[h++] = static_cast<std::uint8_t>(n);
        std::copy_n(body.begin(), n, buf_.begin() + static_cast<std::ptrdiff_t>(h));
        size_ = h + n;
    }
    const std::uint8_t* data() const noexcept { return buf_.data(); }
    std::size_t size() const noexcept { return size_; }

private:
    static std::size_t put_integer(std::uint8_t* out, const TPM2B_ECC_PARAMETER& v) {
        std::size_t first = 0;
        const std::size_t len = std::min<std::size_t>(v.size, sizeof v.buffer);
        while (first < len && v.buffer[first] == 0) ++first;
        const std::size_t digits = len - first;
        const bool pad = digits == 0 || (v.buffer[first] & 0x80) != 0;  // zero, or keep it positive
        const std::size_t content = digits + (pad ? 1 : 0);
        std::size_t h = 0;
        out[h++] = 0x02;
        if (content >= 0x80) out[h++] = 0x81;
        out[h++] = static_cast<std::uint8_t>(content);
        if (pad) out[h++] = 0x00;
        std::copy_n(v.buffer + first, digits, out + h);
        return h + digits;
    }
    std::array<std::uint8_t, 4 + 2 * (3 + 129)> buf_{};
    std::size_t size_ = 0;
};

const char* key_kind(int base_id) {
    switch (base_id) {
        case EVP_PKEY_EC: return "an EC key";
        case EVP_PKEY_RSA: return "an RSA key";
        case EVP_PKEY_RSA_PSS: return "an RSA-PSS key";
        default: return "a key of another type";
    }
}

}  // namespace

result<void> verify_attest_signature(const TPMT_SIGNATURE& sig, byte_view attest, EVP_PKEY* ak) {
    if (!ak) return make_error(errc::invalid_argument, "no AK public key given");
    const int key_type = EVP_PKEY_get_base_id(ak);
    const bool is_ecdsa = sig.sigAlg == TPM2_ALG_ECDSA;
    const bool is_rsa = sig.sigAlg == TPM2_ALG_RSASSA || sig.sigAlg == TPM2_ALG_RSAPSS;
    if (!is_ecdsa && !is_rsa)
        return make_error(errc::unsupported, "signature scheme " + tpm_alg_name(sig.sigAlg) +
                                                 " is not supported (ecdsa, rsassa, rsapss)");
    if (is_ecdsa && key_type != EVP_PKEY_EC)
        return make_error(errc::signature, "an ECDSA signature cannot be made by " +
                                               std::string(key_kind(key_type)) + " (the AK's type)");
    if (is_rsa && key_type != EVP_PKEY_RSA && !(sig.sigAlg == TPM2_ALG_RSAPSS && key_type == EVP_PKEY_RSA_PSS))
        return make_error(errc::signature, "an " + std::string(sig.sigAlg == TPM2_ALG_RSASSA ? "RSASSA" : "RSAPSS") +
                                               " signature cannot be made by " + key_kind(key_type) +
                                               " (the AK's type)");
    const TPMI_ALG_HASH hash_id = sig.signature.any.hashAlg;
    auto h = to_hash_alg(hash_id);
    if (!h) return make_error(errc::unsupported, "signature hash " + tpm_alg_name(hash_id) + " is not supported");

    const EVP_MD* md = evp_md(*h);
    std::array<unsigned char, EVP_MAX_MD_SIZE> dgst{};
    unsigned int dlen = 0;
    if (EVP_Digest(attest.data(), attest.size(), dgst.data(), &dlen, md, nullptr) != 1)
        return ossl::crypto_error("hashing the attestation");
    ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ak, nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return ossl::crypto_error("EVP_PKEY_verify_init");

    int ok = 0;
    if (is_ecdsa) {
        const ecdsa_der der(sig.signature.ecdsa.signatureR, sig.signature.ecdsa.signatureS);
        ok = EVP_PKEY_verify(ctx.get(), der.data(), der.size(), dgst.data(), dlen);
    } else {
        const bool pss = sig.sigAlg == TPM2_ALG_RSAPSS;
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1 ||
            (pss && (EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_AUTO) != 1 ||
                     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1)))
            return ossl::crypto_error("setting up RSA verification");
        const auto& rs = sig.signature.rsassa.sig;  // rsapss has the same layout
        ok = EVP_PKEY_verify(ctx.get(), rs.buffer, rs.size, dgst.data(), dlen);
    }
    if (ok != 1) {
        ERR_clear_error();  // a bad signature leaves decoding errors behind; they say nothing more
        std::string what = (is_ecdsa ? "ECDSA" : sig.sigAlg == TPM2_ALG_RSASSA ? "RSASSA" : "RSAPSS");
        return make_error(errc::signature, "the " + what + "-" + tpm_alg_name(hash_id) +
                                               " signature over the attestation does not verify with the given AK");
    }
    return {};
}

quote_result verify_quote(const quote_input& in) {
    // 1. parse: both structures exactly, nothing left over.
    if (in.attest.empty()) return fail(quote_step::parse, "TPMS_ATTEST is empty");
    if (in.signature.empty()) return fail(quote_step::parse, "TPMT_SIGNATURE is empty");
    TPMS_ATTEST attest{};
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(in.attest.data(), in.attest.size(), &off, &attest);
    if (rc != TSS2_RC_SUCCESS)
        return fail(quote_step::parse,
                    "TPMS_ATTEST (" + std::to_string(in.attest.size()) + " bytes): " + rc_text(rc));
    if (off != in.attest.size())
        return fail(quote_step::parse, "TPMS_ATTEST: " + std::to_string(in.attest.size() - off) +
                                           " trailing bytes after " + std::to_string(off));
    if (attest.clockInfo.safe > 1)
        return fail(quote_step::parse, "TPMS_ATTEST: clockInfo.safe is " + std::to_string(attest.clockInfo.safe) +
                                           ", not YES (1) or NO (0)");
    TPMT_SIGNATURE sig{};
    off = 0;
    rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(in.signature.data(), in.signature.size(), &off, &sig);
    if (rc != TSS2_RC_SUCCESS)
        return fail(quote_step::parse,
                    "TPMT_SIGNATURE (" + std::to_string(in.signature.size()) + " bytes): " + rc_text(rc));
    if (off != in.signature.size())
        return fail(quote_step::parse, "TPMT_SIGNATURE: " + std::to_string(in.signature.size() - off) +
                                           " trailing bytes after " + std::to_string(off));

    // 2. structure: a TPM-generated quote.
    if (attest.magic != TPM2_GENERATED_VALUE)
        return fail(quote_step::magic, "magic is " + hex32(attest.magic) + ", not TPM_GENERATED_VALUE " +
                                           hex32(TPM2_GENERATED_VALUE) + " (not a structure the TPM produced)");
    if (attest.type != TPM2_ST_ATTEST_QUOTE)
        return fail(quote_step::type, std::string("the attestation is of type ") + attest_type_name(attest.type) + " (" +
                                          hex32(attest.type) + "), not a quote (" + hex32(TPM2_ST_ATTEST_QUOTE) + ")");

    // 3. freshness and scope: our nonce, our PCRs, these values.
    const byte_view extra(attest.extraData.buffer, attest.extraData.size);
    if (!equal_ct(extra, in.qualification))
        return fail(quote_step::qualification, "the quote's extraData is " + hex_or_empty(extra) + ", expected " +
                                                   hex_or_empty(in.qualification) +
                                                   " (a replayed quote, or one made for another challenge)");
    const TPMS_QUOTE_INFO& q = attest.attested.quote;
    if (in.expected_selection && !same_selection(q.pcrSelect, *in.expected_selection))
        return fail(quote_step::selection, "the quote covers PCRs " + format_pcr_selection(q.pcrSelect) +
                                               ", expected " + format_pcr_selection(*in.expected_selection));
    const byte_view quoted_digest(q.pcrDigest.buffer, q.pcrDigest.size);
    const TPMI_ALG_HASH sig_hash = sig.signature.any.hashAlg;
    if (in.pcrs) {
        if (sig.sigAlg == TPM2_ALG_NULL)
            return fail(quote_step::pcr_digest, "the signature is null and names no hash to recompute the PCR digest");
        auto d = pcr_composite_digest(sig_hash, q.pcrSelect, *in.pcrs);
        if (!d.ok()) return fail(quote_step::pcr_digest, d.err().message);
        if (!equal_ct(*d, quoted_digest))
            return fail(quote_step::pcr_digest, "the PCR values hash to " + to_hex(*d) + " (" + tpm_alg_name(sig_hash) +
                                                    ") but the quote signed " + hex_or_empty(quoted_digest));
    }

    // 4. signature by the AK over the exact bytes parsed above.
    if (auto v = verify_attest_signature(sig, in.attest, in.ak); !v.ok())
        return fail(quote_step::signature, v.err().message);

    quote_info info;
    info.clock = attest.clockInfo.clock;
    info.reset_count = attest.clockInfo.resetCount;
    info.restart_count = attest.clockInfo.restartCount;
    info.safe = attest.clockInfo.safe == TPM2_YES;
    info.firmware_version = attest.firmwareVersion;
    info.pcr_digest.assign(quoted_digest.begin(), quoted_digest.end());
    info.selection = q.pcrSelect;
    info.qualified_signer.assign(attest.qualifiedSigner.name, attest.qualifiedSigner.name + attest.qualifiedSigner.size);
    info.sig_alg = sig.sigAlg;
    info.sig_hash = sig_hash;
    info.pcrs_checked = in.pcrs != nullptr;
    return info;
}

}  // namespace custos::attest
