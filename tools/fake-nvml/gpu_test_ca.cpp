#include "tools/fake-nvml/gpu_test_ca.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace custos::gpu_test_ca {
namespace {

result<ossl::pkey_ptr> p384() {
    ossl::pkey_ptr k(EVP_EC_gen("P-384"));
    if (!k) return ossl::crypto_error("EVP_EC_gen(P-384)");
    return k;
}

bytes spki(EVP_PKEY* k) {
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(k, &der);
    bytes out(der, der + (n > 0 ? n : 0));
    OPENSSL_free(der);
    return out;
}

// DER length prefix.
void put_len(bytes& out, std::size_t n) {
    if (n < 0x80) {
        out.push_back(static_cast<std::uint8_t>(n));
    } else if (n < 0x100) {
        out.push_back(0x81);
        out.push_back(static_cast<std::uint8_t>(n));
    } else {
        out.push_back(0x82);
        out.push_back(static_cast<std::uint8_t>(n >> 8));
        out.push_back(static_cast<std::uint8_t>(n));
    }
}

bytes tlv(std::uint8_t tag, const bytes& body) {
    bytes out{tag};
    put_len(out, body.size());
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

bytes fwid_extension_value(EVP_PKEY* device_key, const bytes& fwid) {
    const bytes oid = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};  // sha384
    bytes pair = oid;
    const bytes octets = tlv(0x04, fwid);
    pair.insert(pair.end(), octets.begin(), octets.end());
    bytes body = {0x02, 0x01, 0x01};  // INTEGER 1
    const bytes key = spki(device_key);
    body.insert(body.end(), key.begin(), key.end());
    const bytes seq = tlv(0x30, pair);
    body.insert(body.end(), seq.begin(), seq.end());
    return tlv(0x30, body);
}

result<ossl::x509_ptr> cert(const std::string& cn, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                            const bytes* fwid_ext) {
    ossl::x509_ptr c(X509_new());
    if (!c) return ossl::crypto_error("X509_new");
    X509_set_version(c.get(), 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    ossl::bn_ptr bn(BN_bin2bn(serial, sizeof serial, nullptr));
    BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c.get()));
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
    ASN1_TIME_set_string(X509_getm_notAfter(c.get()), "99991231235959Z");
    X509_NAME* name = X509_get_subject_name(c.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("custos test"), -1, -1, 0);
    X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c.get(), subject_key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer ? issuer : c.get(), c.get(), nullptr, nullptr, 0);
    auto add = [&](int nid, const char* value) {
        X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
        if (!e) return false;
        X509_add_ext(c.get(), e, -1);
        X509_EXTENSION_free(e);
        return true;
    };
    if (!add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
        !add(NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"))
        return ossl::crypto_error("X509V3_EXT_conf_nid");
    if (fwid_ext) {
        ASN1_OBJECT* oid = OBJ_txt2obj("2.23.133.5.4.1", 1);
        ASN1_OCTET_STRING* data = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(data, fwid_ext->data(), static_cast<int>(fwid_ext->size()));
        X509_EXTENSION* e = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, data);
        ASN1_OBJECT_free(oid);
        ASN1_OCTET_STRING_free(data);
        if (!e) return ossl::crypto_error("X509_EXTENSION_create_by_OBJ");
        X509_add_ext(c.get(), e, -1);
        X509_EXTENSION_free(e);
    }
    if (X509_sign(c.get(), issuer_key, EVP_sha384()) <= 0) return ossl::crypto_error("X509_sign");
    return c;
}


void le(bytes& out, std::uint32_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void opaque(bytes& out, std::uint16_t type, const bytes& v) {
    le(out, type, 2);
    le(out, static_cast<std::uint32_t>(v.size()), 2);
    out.insert(out.end(), v.begin(), v.end());
}

bytes text(const std::string& s, std::size_t pad) {
    bytes b(s.begin(), s.end());
    b.resize(std::max(pad, b.size() + 1), 0);
    return b;
}

}  // namespace

result<authority> make_root(const std::string& cn) {
    CUSTOS_TRY(k, p384());
    CUSTOS_TRY(c, cert(cn, k.get(), nullptr, k.get(), true, nullptr));
    return authority{std::move(k), std::move(c)};
}

result<gpu> make_gpu(const authority& root, const std::string& name, const bytes& fwid) {
    gpu g;
    CUSTOS_TRY(dk, p384());
    g.device_key = std::move(dk);
    CUSTOS_TRY(dc, cert("custos test GPU " + name + " DeviceID", g.device_key.get(), root.cert.get(), root.key.get(), true, nullptr));
    g.device_cert = std::move(dc);
    return reissue_leaf(root, std::move(g), fwid);
}

result<gpu> reissue_leaf(const authority&, gpu g, const bytes& fwid) {
    CUSTOS_TRY(lk, p384());
    g.leaf_key = std::move(lk);
    const bytes ext = fwid_extension_value(g.device_key.get(), fwid);
    CUSTOS_TRY(lc, cert("custos test GPU attestation key", g.leaf_key.get(), g.device_cert.get(), g.device_key.get(), false, &ext));
    g.leaf_cert = std::move(lc);
    g.fwid = fwid;
    return g;
}

std::string cert_pem(X509* c) {
    ossl::bio_ptr b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(b.get(), c);
    char* p = nullptr;
    const long n = BIO_get_mem_data(b.get(), &p);
    return std::string(p, static_cast<std::size_t>(n));
}

std::string key_pem(EVP_PKEY* k) {
    ossl::bio_ptr b(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
    char* p = nullptr;
    const long n = BIO_get_mem_data(b.get(), &p);
    return std::string(p, static_cast<std::size_t>(n));
}

result<std::string> chain_pem(const gpu& g, const authority& root) {
    return cert_pem(g.leaf_cert.get()) + cert_pem(g.device_cert.get()) + cert_pem(root.cert.get());
}

result<bytes> make_report(EVP_PKEY* leaf_key, const report_fields& f) {
    if (f.nonce.size() != 32) return make_error(errc::invalid_argument, "the nonce must be 32 bytes");
    bytes r = {0x11, 0xE0, 0x01, 0xFF};
    r.insert(r.end(), f.nonce.begin(), f.nonce.end());
    r.push_back(0x00);  // slot
    r.insert(r.end(), {0x11, 0x60, 0x00, 0x00});
    r.push_back(static_cast<std::uint8_t>(f.measurements.size()));
    bytes record;
    for (std::size_t i = 0; i < f.measurements.size(); ++i) {
        const bytes& v = f.measurements[i];
        record.push_back(static_cast<std::uint8_t>(i + 1));
        record.push_back(0x01);
        le(record, static_cast<std::uint32_t>(v.size() + 3), 2);
        record.push_back(0x01);
        le(record, static_cast<std::uint32_t>(v.size()), 2);
        record.insert(record.end(), v.begin(), v.end());
    }
    le(r, static_cast<std::uint32_t>(record.size()), 3);
    r.insert(r.end(), record.begin(), record.end());
    bytes responder(32);
    RAND_bytes(responder.data(), 32);
    r.insert(r.end(), responder.begin(), responder.end());
    bytes op;
    opaque(op, 6, f.vbios);
    opaque(op, 15, text(f.chip_sku, 8));
    opaque(op, 17, text(f.project, 8));
    opaque(op, 18, text(f.project_sku, 8));
    opaque(op, 3, text(f.driver_version, 0));
    if (!f.fwid.empty()) opaque(op, 20, f.fwid);
    opaque(op, 36, bytes{0, 0, 0, 0});
    le(r, static_cast<std::uint32_t>(op.size()), 2);
    r.insert(r.end(), op.begin(), op.end());
    // ECDSA P-384 over SHA-384, DER from OpenSSL, written as raw r ‖ s.
    ossl::md_ctx_ptr md(EVP_MD_CTX_new());
    std::size_t len = 0;
    if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha384(), nullptr, leaf_key) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &len, r.data(), r.size()) != 1)
        return ossl::crypto_error("EVP_DigestSign");
    bytes der(len);
    if (EVP_DigestSign(md.get(), der.data(), &len, r.data(), r.size()) != 1) return ossl::crypto_error("EVP_DigestSign");
    const unsigned char* p = der.data();
    ossl::ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
    if (!sig) return ossl::crypto_error("d2i_ECDSA_SIG");
    bytes rs(96);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), rs.data(), 48);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), rs.data() + 48, 48);
    r.insert(r.end(), rs.begin(), rs.end());
    return r;
}

}  // namespace custos::gpu_test_ca
