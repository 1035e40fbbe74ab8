#include "verifier/init.hpp"

#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "attest/ek_cert.hpp"
#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "verifier/config.hpp"
#include "verifier/store.hpp"
#include "verifier/transparency_log.hpp"
#include "weights/recipient_key.hpp"

namespace custos::verifier {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t ca_days = 3650;
constexpr std::int64_t server_days = 825;  // the most browsers and TLS stacks accept for a leaf
constexpr std::int64_t operator_days = 730;

bool is_ip(const std::string& s) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(s.c_str());
    if (!ip) return false;
    ASN1_OCTET_STRING_free(ip);
    return true;
}

// Creates p (and missing parents) and makes p itself private, also when it already existed with wider modes.
result<void> make_private_dir(const fs::path& p) {
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) return make_error(errc::io, "creating " + p.string() + ": " + ec.message());
    if (::chmod(p.c_str(), 0700) != 0) return make_error(errc::io, "chmod 0700 " + p.string() + ": " + std::strerror(errno));
    return {};
}

result<void> write_key(const fs::path& p, EVP_PKEY* key) {
    CUSTOS_TRY(pem, x509::private_key_to_pem(key));
    return write_file_atomic(p, pem, 0600);
}

result<void> write_cert(const fs::path& p, X509* cert) {
    CUSTOS_TRY(pem, x509::to_pem(cert));
    return write_file_atomic(p, pem, 0644);
}

// Everything init writes, made in memory first so that a failure leaves the directory as it was.
struct material {
    ossl::pkey_ptr ca_key, server_key, operator_key, auditor_key, result_key;
    ossl::x509_ptr ca, server, operator_cert, auditor_cert;
    std::string result_pub, recipient_pub;
    secret_bytes recipient_key;
};

result<material> make_material(const init_options& o) {
    material m;
    CUSTOS_TRY(ca_key, x509::generate_p256());
    x509::cert_request ca_req;
    ca_req.subject = {"custos verifier CA", "ca", "custos"};
    ca_req.kind = x509::cert_kind::ca;
    ca_req.valid_days = ca_days;
    CUSTOS_TRY(ca, x509::make_ca(ca_key.get(), ca_req));

    CUSTOS_TRY(server_key, x509::generate_p256());
    x509::cert_request srv;
    srv.subject = {"custos-verifier", "server", "custos"};
    srv.kind = x509::cert_kind::server;
    srv.valid_days = server_days;
    for (const auto& n : o.server_names) (is_ip(n) ? srv.ips : srv.dns).push_back(n);
    auto server = x509::issue(ca.get(), ca_key.get(), server_key.get(), srv);
    if (!server) return with_context(std::move(server).err(), "server certificate (--server-name)");

    CUSTOS_TRY(operator_key, x509::generate_p256());
    x509::cert_request op;
    op.subject = {o.operator_name, "operator", "custos"};
    op.kind = x509::cert_kind::client;
    op.valid_days = operator_days;
    CUSTOS_TRY(operator_cert, x509::issue(ca.get(), ca_key.get(), operator_key.get(), op));
    // A read-only credential for auditors: the transparency log and evidence export, nothing else.
    CUSTOS_TRY(auditor_key, x509::generate_p256());
    x509::cert_request au = op;
    au.subject = {"auditor", "auditor", "custos"};
    CUSTOS_TRY(auditor_cert, x509::issue(ca.get(), ca_key.get(), auditor_key.get(), au));

    CUSTOS_TRY(result_key, x509::generate_p256());
    CUSTOS_TRY(result_pub, ossl::public_to_pem(result_key.get()));
    // The recipient key pair in exactly the form `custos weights keygen` writes.
    CUSTOS_TRY(recipient, weights::generate_recipient_key());
    CUSTOS_TRY(recipient_pub, weights::recipient_public_pem(recipient.pub));
    CUSTOS_TRY(recipient_priv, weights::recipient_private_pem(recipient));

    m.ca_key = std::move(ca_key);
    m.ca = std::move(ca);
    m.server_key = std::move(server_key);
    m.server = std::move(server).value();
    m.operator_key = std::move(operator_key);
    m.operator_cert = std::move(operator_cert);
    m.auditor_key = std::move(auditor_key);
    m.auditor_cert = std::move(auditor_cert);
    m.result_key = std::move(result_key);
    m.result_pub = std::move(result_pub);
    m.recipient_pub = std::move(recipient_pub);
    m.recipient_key = std::move(recipient_priv);
    return m;
}

}  // namespace

result<void> init_verifier_dir(const init_options& o) {
    if (o.dir.empty()) return make_error(errc::invalid_argument, "no directory to initialise");
    const fs::path dir = fs::absolute(o.dir).lexically_normal();
    const fs::path toml = dir / "verifier.toml";
    std::error_code ec;
    if (fs::exists(toml, ec) && !o.force)
        return make_error(errc::invalid_argument, dir.string() +
                                                      " is already initialised (verifier.toml exists); use --force "
                                                      "to replace its keys and certificates");
    // Every input is checked, and every key and certificate made, before the first write.
    if (auto l = check_listen_address(o.listen); !l) return with_context(std::move(l).err(), "--listen");
    if (o.server_names.empty()) return make_error(errc::invalid_argument, "--server-name: at least one name is needed");
    if (o.operator_name.empty()) return make_error(errc::invalid_argument, "the operator name is empty");
    bytes ek_ca;
    if (!o.ek_ca_file.empty()) {
        auto b = read_file(o.ek_ca_file, 4u << 20);
        if (!b) return with_context(std::move(b).err(), "--ek-ca " + o.ek_ca_file.string());
        if (auto s = attest::load_ca_bundle(*b); !s)
            return make_error(errc::invalid_argument, "--ek-ca " + o.ek_ca_file.string() +
                                                          " is not a PEM certificate bundle: " + s.err().message);
        ek_ca = std::move(b).value();
    }
    CUSTOS_TRY(m, make_material(o));

    verifier_config cfg;
    cfg.dir = dir;
    cfg.listen = o.listen;
    for (const char* sub : {"", "ca", "keys", "tls", "operator", "auditor"}) CUSTOS_TRY_VOID(make_private_dir(dir / sub));
    CUSTOS_TRY_VOID(write_key(cfg.resolve(cfg.ca_key), m.ca_key.get()));
    CUSTOS_TRY_VOID(write_cert(cfg.resolve(cfg.ca_cert), m.ca.get()));
    CUSTOS_TRY_VOID(write_key(cfg.resolve(cfg.tls_key), m.server_key.get()));
    CUSTOS_TRY_VOID(write_cert(cfg.resolve(cfg.tls_cert), m.server.get()));
    CUSTOS_TRY_VOID(write_key(dir / "operator/key.pem", m.operator_key.get()));
    CUSTOS_TRY_VOID(write_cert(dir / "operator/cert.pem", m.operator_cert.get()));
    CUSTOS_TRY_VOID(write_cert(dir / "operator/ca.pem", m.ca.get()));
    CUSTOS_TRY_VOID(write_key(dir / "auditor/key.pem", m.auditor_key.get()));
    CUSTOS_TRY_VOID(write_cert(dir / "auditor/cert.pem", m.auditor_cert.get()));
    CUSTOS_TRY_VOID(write_cert(dir / "auditor/ca.pem", m.ca.get()));
    CUSTOS_TRY_VOID(write_key(cfg.resolve(cfg.result_key), m.result_key.get()));
    CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.result_pub), m.result_pub, 0644));
    CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.recipient_key), m.recipient_key.view(), 0600));
    CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.recipient_pub), m.recipient_pub, 0644));
    if (!ek_ca.empty()) CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.ek_ca_file), ek_ca, 0644));
    // The log key is kept across --force (auditors hold its public half; a new key would look like a new
    // log): made only when missing, named after the verifier's first server name.
    {
        auto key = load_or_create_log_key(cfg.resolve(cfg.log_key), cfg.resolve(cfg.log_pub),
                                          o.server_names.front() + "/custos-log");
        if (!key) return with_context(std::move(key).err(), "the transparency log key");
    }
    // The database is created (and migrated) when missing and otherwise opened as it is: --force replaces
    // credentials, never data.
    {
        CUSTOS_TRY(db, open_configured_store(cfg));
        (void)db;
    }
    // verifier.toml last: its presence marks a complete initialisation.
    CUSTOS_TRY_VOID(write_file_atomic(toml, render_verifier_config(cfg), 0600));
    return {};
}

}  // namespace custos::verifier
