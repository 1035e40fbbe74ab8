// The FWID extension is read with a few lines of DER walking: OpenSSL has no type for the TCG DICE
// composite-device-id shape NVIDIA uses (SEQUENCE { INTEGER, SubjectPublicKeyInfo, SEQUENCE { OID, OCTET
// STRING } }), and its generic ASN1_item parsers need a template per shape.
#include "attest/gpu_attestation.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cstdio>
#include <set>

#include "crypto/digest.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {
namespace {

// NVIDIA/nvtrust guest_tools/gpu_verifiers/local_gpu_verifier/src/verifier/certs/verifier_device_root.pem
// (commit 028173093d43dbf37364bdc39ad7e696bccbce2e; also DEVICE_ROOT_CERT in NVIDIA/attestation-sdk
// nv-attestation-sdk-cpp/src/internal/certs.h). CN=NVIDIA Device Identity CA, O=NVIDIA, P-384, valid
// 2021-11-05 to 9999-12-31, SHA-256 fingerprint 10:2B:F6:59:D5:41:96:14:C9:D8:E6:AE:CE:BC:80:45:4E:B2:6B:
// 1D:F6:A7:69:AC:72:0B:9A:69:0B:16:7B:48 (checked by a unit test).
constexpr std::string_view nvidia_root = R"(-----BEGIN CERTIFICATE-----
MIICCzCCAZCgAwIBAgIQLTZwscoQBBHB/sDoKgZbVDAKBggqhkjOPQQDAzA1MSIw
IAYDVQQDDBlOVklESUEgRGV2aWNlIElkZW50aXR5IENBMQ8wDQYDVQQKDAZOVklE
SUEwIBcNMjExMTA1MDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMDUxIjAgBgNVBAMM
GU5WSURJQSBEZXZpY2UgSWRlbnRpdHkgQ0ExDzANBgNVBAoMBk5WSURJQTB2MBAG
ByqGSM49AgEGBSuBBAAiA2IABA5MFKM7+KViZljbQSlgfky/RRnEQScW9NDZF8SX
gAW96r6u/Ve8ZggtcYpPi2BS4VFu6KfEIrhN6FcHG7WP05W+oM+hxj7nyA1r1jkB
2Ry70YfThX3Ba1zOryOP+MJ9vaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
Af8EBAMCAQYwHQYDVR0OBBYEFFeF/4PyY8xlfWi3Olv0jUrL+0lfMB8GA1UdIwQY
MBaAFFeF/4PyY8xlfWi3Olv0jUrL+0lfMAoGCCqGSM49BAMDA2kAMGYCMQCPeFM3
TASsKQVaT+8S0sO9u97PVGCpE9d/I42IT7k3UUOLSR/qvJynVOD1vQKVXf0CMQC+
EY55WYoDBvs2wPAH1Gw4LbcwUN8QCff8bFmV4ZxjCRr4WXTLFHBKjbfneGSBWwA=
-----END CERTIFICATE-----
)";

constexpr std::size_t request_size = 37;
constexpr std::size_t signature_size = 96;
constexpr std::size_t max_chain_certs = 8;

error fail(const std::string& step, const std::string& why) {
    const errc code = step == "parse"       ? errc::parse
                      : step == "chain"     ? errc::chain
                      : step == "signature" ? errc::signature
                                            : errc::mismatch;
    return error{code, "GPU attestation report: " + step + ": " + why};
}

// A bounded little-endian reader over the report; every read names the field and offset when short.
class reader {
public:
    explicit reader(byte_view b) : b_(b) {}
    std::size_t pos() const { return pos_; }
    std::size_t left() const { return b_.size() - pos_; }
    result<std::uint32_t> le(std::size_t n, const char* field) {
        if (left() < n) return short_of(field, n);
        std::uint32_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint32_t>(b_[pos_ + i]) << (8 * i);
        pos_ += n;
        return v;
    }
    result<bytes> take(std::size_t n, const char* field) {
        if (left() < n) return short_of(field, n);
        bytes out(b_.begin() + static_cast<std::ptrdiff_t>(pos_), b_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
        pos_ += n;
        return out;
    }

private:
    error short_of(const char* field, std::size_t n) const {
        return fail("parse", std::string(field) + " at offset " + std::to_string(pos_) + " needs " + std::to_string(n) +
                                 " bytes, " + std::to_string(left()) + " remain");
    }
    byte_view b_;
    std::size_t pos_ = 0;
};

std::string offset_msg(const char* what, std::size_t at) { return std::string(what) + " at offset " + std::to_string(at); }

// Printable ASCII up to the first NUL; anything else as hex (these strings reach people and finding details).
std::string opaque_text(const bytes& v) {
    std::string s;
    for (auto c : v) {
        if (c == 0) break;
        if (c < 0x20 || c > 0x7e) return to_hex(v);
        s.push_back(static_cast<char>(c));
    }
    return s;
}

// ---- DER, just enough for the FWID extension.
struct der {
    byte_view in;
    // The next TLV's tag and contents; false when malformed.
    bool next(std::uint8_t& tag, byte_view& content) {
        if (in.size() < 2) return false;
        tag = in[0];
        std::size_t len = in[1], h = 2;
        if (len & 0x80) {
            const std::size_t n = len & 0x7f;
            if (n == 0 || n > 2 || in.size() < 2 + n) return false;
            len = 0;
            for (std::size_t i = 0; i < n; ++i) len = (len << 8) | in[2 + i];
            h += n;
        }
        if (in.size() - h < len) return false;
        content = in.subspan(h, len);
        in = in.subspan(h + len);
        return true;
    }
};

// The leaf's FWID extension (2.23.133.5.4.1): SEQUENCE { INTEGER, SubjectPublicKeyInfo, SEQUENCE { OID sha384,
// OCTET STRING fwid } }. Returns the fwid and the SPKI's DER.
result<std::pair<bytes, bytes>> leaf_fwid(X509* leaf) {
    ASN1_OBJECT* oid = OBJ_txt2obj("2.23.133.5.4.1", 1);
    if (!oid) return ossl::crypto_error("OBJ_txt2obj");
    const int at = X509_get_ext_by_OBJ(leaf, oid, -1);
    ASN1_OBJECT_free(oid);
    if (at < 0) return fail("fwid", "the leaf certificate has no FWID extension (2.23.133.5.4.1)");
    const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(leaf, at));
    der outer{byte_view(ASN1_STRING_get0_data(data), static_cast<std::size_t>(ASN1_STRING_length(data)))};
    std::uint8_t tag = 0;
    byte_view seq, version, spki, digest, alg, value;
    if (!outer.next(tag, seq) || tag != 0x30 || !outer.in.empty())
        return fail("fwid", "the leaf certificate's FWID extension is not a DER SEQUENCE");
    der body{seq};
    const std::uint8_t* spki_start = nullptr;
    if (!body.next(tag, version) || tag != 0x02) return fail("fwid", "the FWID extension does not start with a version");
    spki_start = body.in.data();
    if (!body.next(tag, spki) || tag != 0x30) return fail("fwid", "the FWID extension holds no device public key");
    const std::size_t spki_len = static_cast<std::size_t>(body.in.data() - spki_start);
    if (!body.next(tag, digest) || tag != 0x30 || !body.in.empty())
        return fail("fwid", "the FWID extension holds no (hash, FWID) pair");
    der d{digest};
    static const std::uint8_t sha384_oid[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};
    if (!d.next(tag, alg) || tag != 0x06 || alg.size() != sizeof sha384_oid || !std::equal(alg.begin(), alg.end(), sha384_oid))
        return fail("fwid", "the FWID extension's hash is not SHA-384");
    if (!d.next(tag, value) || tag != 0x04 || value.size() != 48 || !d.in.empty())
        return fail("fwid", "the FWID extension's value is not 48 bytes");
    return std::pair<bytes, bytes>{bytes(value.begin(), value.end()), bytes(spki_start, spki_start + spki_len)};
}

result<std::vector<ossl::x509_ptr>> read_chain(std::string_view pem) {
    if (pem.size() > max_gpu_chain_size * 2) return fail("chain", "the certificate chain is larger than 10240 bytes");
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return ossl::crypto_error("BIO_new_mem_buf");
    std::vector<ossl::x509_ptr> out;
    for (;;) {
        ERR_clear_error();
        ossl::x509_ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!c) break;
        out.push_back(std::move(c));
        if (out.size() > max_chain_certs) return fail("chain", "more than 8 certificates");
    }
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (out.empty()) return fail("chain", "no PEM certificate");
    if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
        return fail("chain", "certificate " + std::to_string(out.size() + 1) + " is not a valid PEM certificate");
    return out;
}

// A certificate's serial number in lowercase hex, or in decimal.
std::string serial_text(X509* c, bool decimal) {
    ossl::bn_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), nullptr));
    if (!bn) return "";
    char* t = decimal ? BN_bn2dec(bn.get()) : BN_bn2hex(bn.get());
    std::string s = t ? t : "";
    OPENSSL_free(t);
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

std::string common_name(X509* c) {
    char buf[256] = {};
    const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, buf, sizeof buf);
    return n > 0 ? opaque_text(bytes(buf, buf + n)) : "";
}

result<bytes> spki_der(X509* c) {
    EVP_PKEY* k = X509_get0_pubkey(c);
    if (!k) return fail("chain", "a certificate's public key cannot be read");
    return ossl::public_to_der(k);
}

}  // namespace

const spdm_opaque_field* spdm_measurements::opaque_of(std::uint16_t type) const {
    for (const auto& f : opaque)
        if (f.type == type) return &f;
    return nullptr;
}

std::string_view nvidia_device_root_pem() { return nvidia_root; }

result<spdm_measurements> parse_spdm_measurements(byte_view report) {
    if (report.size() > max_gpu_report_size)
        return fail("parse", "the report is " + std::to_string(report.size()) + " bytes, more than NVML's 8192");
    if (report.size() < request_size + signature_size)
        return fail("parse", "the report is " + std::to_string(report.size()) + " bytes, too short for a request and a signature");
    spdm_measurements m;
    reader r(report);
    // Request.
    CUSTOS_TRY(rv, r.le(1, "request version"));
    if (rv != 0x11) return fail("parse", "request version is 0x" + to_hex(bytes{static_cast<std::uint8_t>(rv)}) + ", not SPDM 1.1 (0x11)");
    CUSTOS_TRY(rc, r.le(1, "request code"));
    if (rc != 0xE0) return fail("parse", "request code is not GET_MEASUREMENTS (0xe0)");
    CUSTOS_TRY(p1, r.le(1, "request param1"));
    if (!(p1 & 1)) return fail("parse", "the request did not ask for a signature (param1 bit 0)");
    CUSTOS_TRY(p2, r.le(1, "request param2"));
    if (p2 != 0xFF) return fail("parse", "the request did not ask for all measurement blocks (param2 is not 0xff)");
    CUSTOS_TRY(nonce, r.take(gpu_nonce_size, "request nonce"));
    m.request_nonce = std::move(nonce);
    CUSTOS_TRY(slot, r.le(1, "request slot"));
    m.slot = static_cast<std::uint8_t>(slot);
    // Response header.
    CUSTOS_TRY(sv, r.le(1, "response version"));
    if (sv != 0x11) return fail("parse", offset_msg("response version", r.pos() - 1) + " is not SPDM 1.1 (0x11)");
    CUSTOS_TRY(sc, r.le(1, "response code"));
    if (sc != 0x60) return fail("parse", offset_msg("response code", r.pos() - 1) + " is not MEASUREMENTS (0x60)");
    CUSTOS_TRY(sp1, r.le(1, "response param1"));
    CUSTOS_TRY(sp2, r.le(1, "response param2"));
    (void)sp1;
    (void)sp2;
    CUSTOS_TRY(count, r.le(1, "block count"));
    if (count == 0) return fail("parse", "the response holds no measurement blocks");
    CUSTOS_TRY(record_len, r.le(3, "measurement record length"));
    const std::size_t record_start = r.pos();
    if (r.left() < record_len) return fail("parse", offset_msg("measurement record", record_start) + " is longer than the report");
    int last_index = -1;
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t at = r.pos();
        if (at - record_start >= record_len) return fail("parse", "the measurement record ends before block " + std::to_string(i + 1) + " of " + std::to_string(count));
        CUSTOS_TRY(index, r.le(1, "block index"));
        CUSTOS_TRY(spec, r.le(1, "block specification"));
        if (spec != 0x01) return fail("parse", offset_msg("block", at) + " is not a DMTF measurement (specification 0x01)");
        CUSTOS_TRY(size, r.le(2, "block size"));
        if (size < 3) return fail("parse", offset_msg("block", at) + " is shorter than its DMTF header");
        CUSTOS_TRY(vtype, r.le(1, "block value type"));
        CUSTOS_TRY(vsize, r.le(2, "block value size"));
        if (vsize + 3 != size) return fail("parse", offset_msg("block", at) + ": value size " + std::to_string(vsize) + " and block size " + std::to_string(size) + " disagree");
        if (static_cast<int>(index) <= last_index) return fail("parse", offset_msg("block", at) + ": index " + std::to_string(index) + " is not after " + std::to_string(last_index));
        last_index = static_cast<int>(index);
        CUSTOS_TRY(value, r.take(vsize, "block value"));
        m.blocks.push_back({static_cast<std::uint8_t>(index), static_cast<std::uint8_t>(vtype), std::move(value)});
    }
    if (r.pos() - record_start != record_len)
        return fail("parse", "the measurement record length " + std::to_string(record_len) + " is not what its " + std::to_string(count) + " blocks take (" + std::to_string(r.pos() - record_start) + ")");
    CUSTOS_TRY(rn, r.take(gpu_nonce_size, "responder nonce"));
    m.responder_nonce = std::move(rn);
    CUSTOS_TRY(opaque_len, r.le(2, "opaque data length"));
    const std::size_t opaque_start = r.pos();
    if (r.left() < opaque_len) return fail("parse", offset_msg("opaque data", opaque_start) + " is longer than the report");
    std::set<std::uint16_t> types;
    while (r.pos() - opaque_start < opaque_len) {
        const std::size_t at = r.pos();
        if (opaque_len - (at - opaque_start) < 4) return fail("parse", offset_msg("opaque field", at) + " is cut short");
        CUSTOS_TRY(type, r.le(2, "opaque field type"));
        CUSTOS_TRY(size, r.le(2, "opaque field size"));
        if (size > opaque_len - (r.pos() - opaque_start)) return fail("parse", offset_msg("opaque field", at) + " runs past the opaque data");
        if (!types.insert(static_cast<std::uint16_t>(type)).second) return fail("parse", offset_msg("opaque field", at) + ": type " + std::to_string(type) + " appears twice");
        CUSTOS_TRY(value, r.take(size, "opaque field value"));
        m.opaque.push_back({static_cast<std::uint16_t>(type), std::move(value)});
    }
    m.signed_size = r.pos();
    CUSTOS_TRY(sig, r.take(signature_size, "signature"));
    m.signature = std::move(sig);
    if (r.left() != 0) return fail("parse", std::to_string(r.left()) + " bytes follow the signature");
    return m;
}

struct gpu_chain::state {
    ossl::x509_ptr leaf;
    ossl::pkey_ptr leaf_key;
    bytes leaf_fwid;
    gpu_attestation identity;  // device_id, device_serial, hw_model, ueid
};

result<gpu_chain> gpu_chain::verify(std::string_view chain_pem, std::string_view root_pem) {
    CUSTOS_TRY(certs, read_chain(chain_pem));
    ossl::bio_ptr rbio(BIO_new_mem_buf(root_pem.data(), static_cast<int>(root_pem.size())));
    ossl::x509_ptr root(rbio ? PEM_read_bio_X509(rbio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!root) return fail("chain", "the pinned root is not a PEM certificate");
    ossl::x509_store_ptr store(X509_STORE_new());
    if (!store || X509_STORE_add_cert(store.get(), root.get()) != 1) return ossl::crypto_error("X509_STORE_add_cert");
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    if (!untrusted) return ossl::crypto_error("sk_X509_new_null");
    for (std::size_t i = 1; i < certs.size(); ++i) sk_X509_push(untrusted, certs[i].get());
    ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), certs[0].get(), untrusted) != 1) {
        sk_X509_free(untrusted);
        return ossl::crypto_error("X509_STORE_CTX_init");
    }
    const int ok = X509_verify_cert(ctx.get());
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    STACK_OF(X509)* verified = ok == 1 ? X509_STORE_CTX_get1_chain(ctx.get()) : nullptr;
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (ok != 1)
        return fail("chain", std::string("does not lead to the trusted device identity root: ") +
                                 X509_verify_cert_error_string(err) + " (certificate " + std::to_string(depth) + ")");
    const int chain_len = verified ? sk_X509_num(verified) : 0;
    ossl::x509_ptr device_cert(chain_len >= 3 ? X509_dup(sk_X509_value(verified, 1)) : nullptr);
    sk_X509_pop_free(verified, X509_free);
    if (!device_cert)
        return fail("chain", "holds no DeviceID certificate between the leaf and the root (" + std::to_string(chain_len) +
                                 " certificates)");
    EVP_PKEY* leaf_key = X509_get0_pubkey(certs[0].get());
    char group[64] = {};
    std::size_t glen = 0;
    if (!leaf_key || EVP_PKEY_get_base_id(leaf_key) != EVP_PKEY_EC ||
        EVP_PKEY_get_group_name(leaf_key, group, sizeof group, &glen) != 1 || std::string_view(group) != "secp384r1")
        return fail("chain", "the leaf certificate's key is not ECDSA P-384");
    CUSTOS_TRY(ext, leaf_fwid(certs[0].get()));
    CUSTOS_TRY(device_spki, spki_der(device_cert.get()));
    if (!equal_ct(ext.second, device_spki))
        return fail("fwid", "the leaf certificate's FWID extension names another device key than its issuer's");
    auto st = std::make_shared<state>();
    EVP_PKEY_up_ref(leaf_key);
    st->leaf_key.reset(leaf_key);
    st->leaf_fwid = std::move(ext.first);
    st->identity.device_id = to_hex(sha256(device_spki));
    st->identity.device_serial = serial_text(device_cert.get(), false);
    st->identity.hw_model = common_name(device_cert.get());
    st->identity.ueid = serial_text(certs[0].get(), true);
    st->leaf = std::move(certs[0]);
    gpu_chain c;
    c.s_ = std::move(st);
    return c;
}

result<gpu_attestation> gpu_chain::check(byte_view report, byte_view nonce) const {
    CUSTOS_TRY(m, parse_spdm_measurements(report));
    if (nonce.size() != gpu_nonce_size) return fail("nonce", "the expected nonce is not 32 bytes");
    if (!equal_ct(m.request_nonce, nonce))
        return fail("nonce", "the report answers nonce " + short_hex(m.request_nonce) + ", not " + short_hex(nonce));
    // The signature, by the leaf's P-384 key, over exactly the signed bytes (raw r ‖ s → DER for OpenSSL).
    ossl::ecdsa_sig_ptr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(m.signature.data(), 48, nullptr);
    BIGNUM* s = BN_bin2bn(m.signature.data() + 48, 48, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return ossl::crypto_error("ECDSA_SIG_set0");
    }
    unsigned char* der_sig = nullptr;
    const int der_len = i2d_ECDSA_SIG(sig.get(), &der_sig);
    if (der_len <= 0) return ossl::crypto_error("i2d_ECDSA_SIG");
    const bytes der_copy(der_sig, der_sig + der_len);
    OPENSSL_free(der_sig);
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha384(), nullptr, s_->leaf_key.get()) != 1)
        return ossl::crypto_error("EVP_DigestVerifyInit");
    const int v = EVP_DigestVerify(md.get(), der_copy.data(), der_copy.size(), report.data(), m.signed_size);
    ERR_clear_error();
    if (v != 1) return fail("signature", "ECDSA P-384/SHA-384 signature does not verify with the leaf certificate's key");
    // FWID: the report's (where its firmware writes one) against the leaf certificate's.
    const spdm_opaque_field* fwid = m.opaque_of(opaque_fwid);
    if (fwid && !equal_ct(fwid->value, s_->leaf_fwid))
        return fail("fwid", "the report's FWID " + short_hex(fwid->value) + " is not the leaf certificate's " + short_hex(s_->leaf_fwid));

    gpu_attestation out = s_->identity;
    out.fwid = to_hex(s_->leaf_fwid);
    out.fwid_in_report = fwid != nullptr;
    auto text_of = [&](std::uint16_t t) {
        const spdm_opaque_field* f = m.opaque_of(t);
        return f ? opaque_text(f->value) : std::string();
    };
    out.driver_version = text_of(opaque_driver_version);
    out.project = text_of(opaque_project);
    out.project_sku = text_of(opaque_project_sku);
    out.chip_sku = text_of(opaque_chip_sku);
    if (const auto* vb = m.opaque_of(opaque_vbios_version); vb && vb->value.size() >= 5) {
        char buf[32];
        const auto& b = vb->value;
        std::snprintf(buf, sizeof buf, "%02X.%02X.%02X.%02X.%02X", b[3], b[2], b[1], b[0], b[4]);
        out.vbios_version = buf;
    }
    if (const auto* ff = m.opaque_of(opaque_feature_flag); ff && !ff->value.empty()) {
        const unsigned flag = ff->value[0];
        out.mode = flag == 0 ? "spt" : flag == 1 ? "mpt" : flag == 2 ? "ppcie" : "flag " + std::to_string(flag);
    }
    hasher h(hash_alg::sha256);
    for (const auto& b : m.blocks) {
        out.measurements.emplace_back(b.index, to_hex(b.value));
        const std::uint8_t head[3] = {b.index, static_cast<std::uint8_t>(b.value.size() >> 8), static_cast<std::uint8_t>(b.value.size())};
        h.update(byte_view(head, 3));
        h.update(b.value);
    }
    out.measurements_digest = to_hex(h.finish());
    return out;
}

result<gpu_attestation> verify_gpu_attestation(byte_view report, std::string_view chain_pem, byte_view nonce,
                                               std::string_view root_pem) {
    // Structure and freshness before any certificate or signature is looked at.
    CUSTOS_TRY(m, parse_spdm_measurements(report));
    if (nonce.size() != gpu_nonce_size) return fail("nonce", "the expected nonce is not 32 bytes");
    if (!equal_ct(m.request_nonce, nonce))
        return fail("nonce", "the report answers nonce " + short_hex(m.request_nonce) + ", not " + short_hex(nonce));
    CUSTOS_TRY(chain, gpu_chain::verify(chain_pem, root_pem));
    return chain.check(report, nonce);
}

bytes gpu_round_nonce(byte_view round_nonce, std::string_view serial) {
    static constexpr char tag[] = "custos gpu attestation v1";  // with its NUL as the separator
    hasher h(hash_alg::sha256);
    h.update(byte_view(reinterpret_cast<const std::uint8_t*>(tag), sizeof tag));
    h.update(round_nonce);
    h.update(byte_view(reinterpret_cast<const std::uint8_t*>(serial.data()), serial.size()));
    return h.finish();
}

result<bytes> decode_gpu_report(byte_view content) {
    std::string hex;
    bool text = !content.empty();
    for (auto c : content) {
        if (std::isxdigit(c)) hex.push_back(static_cast<char>(c));
        else if (!std::isspace(c)) {
            text = false;
            break;
        }
    }
    if (text && !hex.empty()) {
        if (hex.size() % 2) return make_error(errc::parse, "GPU attestation report: hex text of odd length");
        return from_hex(hex);
    }
    return bytes(content.begin(), content.end());
}

}  // namespace custos::attest
