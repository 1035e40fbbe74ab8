#include "crypto/x509.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace custos::x509 {
namespace {

using name_ptr = std::unique_ptr<X509_NAME, ossl::deleter<X509_NAME_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, ossl::deleter<X509_EXTENSION_free>>;
using gens_ptr = std::unique_ptr<GENERAL_NAMES, ossl::deleter<GENERAL_NAMES_free>>;

result<name_ptr> make_name(const dn& d) {
    name_ptr n(X509_NAME_new());
    if (!n) return ossl::crypto_error("X509_NAME_new");
    auto add = [&](const char* field, const std::string& v) {
        return v.empty() || X509_NAME_add_entry_by_txt(n.get(), field, MBSTRING_UTF8,
                                                       reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0) == 1;
    };
    if (!add("O", d.o) || !add("OU", d.ou) || !add("CN", d.cn)) return ossl::crypto_error("building a subject name");
    return n;
}

std::string name_entry(X509_NAME* name, int nid) {
    if (!name) return {};
    const int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0) return {};
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (len < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return out;
}

dn read_dn(X509_NAME* name) {
    return dn{name_entry(name, NID_commonName), name_entry(name, NID_organizationalUnitName),
              name_entry(name, NID_organizationName)};
}

result<void> add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
        return ossl::crypto_error("adding extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
    return {};
}

// DNS names as RFC 5280 allows them in a SAN: letters, digits, '-', '.', and a leading "*." wildcard.
bool is_dns_name(const std::string& d) {
    if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
    for (std::size_t i = 0; i < d.size(); ++i) {
        const char c = d[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '.' || (c == '*' && i == 0 && d.size() > 2 && d[1] == '.');
        if (!ok) return false;
    }
    return d.find("..") == std::string::npos;
}

result<void> add_san(X509* cert, const cert_request& req) {
    if (req.dns.empty() && req.ips.empty() && req.uris.empty()) return {};
    gens_ptr gens(sk_GENERAL_NAME_new_null());
    if (!gens) return ossl::crypto_error("subjectAltName");
    // Each GENERAL_NAME is owned by `gens` as soon as it is pushed, and freed here when pushing fails.
    auto push = [&](int type, const std::string& v) -> bool {
        std::unique_ptr<GENERAL_NAME, ossl::deleter<GENERAL_NAME_free>> gn(GENERAL_NAME_new());
        if (!gn) return false;
        if (type == GEN_IPADD) {
            ASN1_OCTET_STRING* ip = a2i_IPADDRESS(v.c_str());
            if (!ip) return false;
            GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip);
        } else {
            ASN1_IA5STRING* s = ASN1_IA5STRING_new();
            if (!s) return false;
            GENERAL_NAME_set0_value(gn.get(), type, s);
            if (ASN1_STRING_set(s, v.data(), static_cast<int>(v.size())) != 1) return false;
        }
        if (sk_GENERAL_NAME_push(gens.get(), gn.get()) <= 0) return false;
        gn.release();
        return true;
    };
    for (const auto& d : req.dns)
        if (!is_dns_name(d) || !push(GEN_DNS, d)) return make_error(errc::invalid_argument, "bad DNS name \"" + d + "\"");
    for (const auto& i : req.ips)
        if (!push(GEN_IPADD, i)) return make_error(errc::invalid_argument, "bad IP address \"" + i + "\"");
    for (const auto& u : req.uris)
        if (u.find(':') == std::string::npos || !push(GEN_URI, u))
            return make_error(errc::invalid_argument, "bad URI \"" + u + "\"");
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1)
        return ossl::crypto_error("adding subjectAltName");
    return {};
}

result<ossl::x509_ptr> build(X509* issuer, X509_NAME* issuer_name, EVP_PKEY* signer, EVP_PKEY* subject_key,
                             const cert_request& req) {
    ossl::x509_ptr cert(X509_new());
    if (!cert) return ossl::crypto_error("X509_new");
    if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return ossl::crypto_error("X509_set_version");
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return ossl::crypto_error("serial");
    // Positive (top bit clear) with the next bit set, so every serial is 16 DER content bytes long.
    serial[0] = static_cast<unsigned char>((serial[0] & 0x7f) | 0x40);
    ossl::bn_ptr bn(BN_bin2bn(serial, sizeof serial, nullptr));
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) return ossl::crypto_error("serial");
    const std::time_t nb = req.not_before ? static_cast<std::time_t>(req.not_before) : std::time(nullptr) - 300;
    if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), nb) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert.get()), nb + static_cast<std::time_t>(req.valid_days) * 86400))
        return ossl::crypto_error("validity");
    CUSTOS_TRY(subject, make_name(req.subject));
    if (X509_set_subject_name(cert.get(), subject.get()) != 1 ||
        X509_set_issuer_name(cert.get(), issuer_name ? issuer_name : subject.get()) != 1 ||
        X509_set_pubkey(cert.get(), subject_key) != 1)
        return ossl::crypto_error("names and key");
    X509* iss = issuer ? issuer : cert.get();
    switch (req.kind) {
    case cert_kind::ca:
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE"));
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign"));
        break;
    case cert_kind::server:
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE"));
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature"));
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth"));
        break;
    case cert_kind::client:
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE"));
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature"));
        CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_ext_key_usage, "clientAuth"));
        break;
    }
    CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_subject_key_identifier, "hash"));
    if (issuer) CUSTOS_TRY_VOID(add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always"));
    CUSTOS_TRY_VOID(add_san(cert.get(), req));
    if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return ossl::crypto_error("signing the certificate");
    return cert;
}

bool is_p256(EVP_PKEY* key) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
    char group[64] = {};
    std::size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
           std::string(group) == "prime256v1";
}

// "RSA", "EC secp384r1", … for error messages about a key that is not P-256.
std::string key_kind(EVP_PKEY* key) {
    const int id = EVP_PKEY_get_base_id(key);
    const char* name = id == EVP_PKEY_EC ? "EC" : (id != NID_undef ? OBJ_nid2sn(id) : EVP_PKEY_get0_type_name(key));
    std::string out = name ? name : "an unknown key type";
    char group[64] = {};
    std::size_t len = 0;
    if (id == EVP_PKEY_EC && EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1)
        out += std::string(" ") + group;
    return out;
}

// Never prompt for a passphrase (OpenSSL's default callback reads the terminal): custos keys are unencrypted.
int no_passphrase(char*, int, int, void*) { return -1; }

result<std::string> bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n <= 0) return ossl::crypto_error("PEM output");
    return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

result<ossl::pkey_ptr> generate_p256() {
    ossl::pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!k) return ossl::crypto_error("generating a P-256 key");
    return k;
}

result<std::string> private_key_to_pem(EVP_PKEY* key) {
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return ossl::crypto_error("writing a private key");
    return bio_text(bio.get());
}

result<ossl::pkey_ptr> load_private_pem(byte_view pem) {
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ossl::pkey_ptr k(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    if (!k) return make_error(errc::parse, ossl::last_error("not a PEM private key"));
    return k;
}

result<ossl::x509_ptr> make_ca(EVP_PKEY* key, const cert_request& req) {
    cert_request r = req;
    r.kind = cert_kind::ca;
    return build(nullptr, nullptr, key, key, r);
}

result<ossl::x509_ptr> issue(X509* ca, EVP_PKEY* ca_key, EVP_PKEY* subject_key, const cert_request& req) {
    if (req.kind == cert_kind::ca) return make_error(errc::invalid_argument, "issue() makes leaf certificates only");
    return build(ca, X509_get_subject_name(ca), ca_key, subject_key, req);
}

result<std::string> to_pem(X509* cert) {
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return ossl::crypto_error("writing a certificate");
    return bio_text(bio.get());
}

result<bytes> to_der(X509* cert) {
    const int n = i2d_X509(cert, nullptr);
    if (n <= 0) return ossl::crypto_error("encoding a certificate");
    bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    i2d_X509(cert, &p);
    return out;
}

result<ossl::x509_ptr> load_pem(byte_view pem) {
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ossl::x509_ptr c(bio ? PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    if (!c) return make_error(errc::parse, ossl::last_error("not a PEM certificate"));
    return c;
}

result<std::string> make_csr_pem(EVP_PKEY* key, const dn& subject) {
    req_ptr req(X509_REQ_new());
    CUSTOS_TRY(name, make_name(subject));
    if (!req || X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
        X509_REQ_set_pubkey(req.get(), key) != 1 || X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0)
        return ossl::crypto_error("making a CSR");
    ossl::bio_ptr bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) return ossl::crypto_error("writing a CSR");
    return bio_text(bio.get());
}

result<csr_info> parse_csr_pem(byte_view pem) {
    ossl::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    req_ptr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    if (!req) return make_error(errc::parse, ossl::last_error("not a PEM certificate request"));
    EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
    if (!key) return make_error(errc::structure, "the certificate request carries no usable public key");
    if (!is_p256(key))
        return make_error(errc::structure, "the certificate request's key is " + key_kind(key) + ", not ECDSA P-256");
    if (X509_REQ_verify(req.get(), key) != 1)
        return make_error(errc::signature, ossl::last_error("the certificate request's self-signature does not verify"));
    csr_info out;
    EVP_PKEY_up_ref(key);
    out.key.reset(key);
    out.subject = read_dn(X509_REQ_get_subject_name(req.get()));
    return out;
}

identity describe(X509* cert) {
    identity id;
    id.subject = read_dn(X509_get_subject_name(cert));
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
            if (gn->type != GEN_URI) continue;
            const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
            id.uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<std::size_t>(ASN1_STRING_length(s)));
        }
        GENERAL_NAMES_free(names);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) == 1) id.sha256 = to_hex({md, len});
    return id;
}

}  // namespace custos::x509
