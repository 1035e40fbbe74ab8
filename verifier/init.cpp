#include "verifier/init.hpp"

#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "attest/ek_cert.hpp"
#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "verifier/config.hpp"
#include "verifier/store.hpp"
#include "weights/recipient_key.hpp"

namespace custos::verifier {
namespace {

namespace fs = std::filesystem;

bool is_ip(const std::string& s) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(s.c_str());
    if (!ip) return false;
    ASN1_OCTET_STRING_free(ip);
    return true;
}

result<void> make_dir(const fs::path& p) {
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) return make_error(errc::io, "creating " + p.string() + ": " + ec.message());
    if (::chmod(p.c_str(), 0700) != 0) return make_error(errc::io, "chmod 0700 " + p.string());
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

}  // namespace

result<void> init_verifier_dir(const init_options& o) {
    const fs::path dir = fs::absolute(o.dir);
    if (fs::exists(dir / "verifier.toml") && !o.force)
        return make_error(errc::invalid_argument, dir.string() +
                                                      " is already initialised (verifier.toml exists); use --force "
                                                      "to replace its keys and certificates");
    // Check the inputs before writing anything.
    bytes ek_ca;
    if (!o.ek_ca_file.empty()) {
        CUSTOS_TRY(b, read_file(o.ek_ca_file, 4 << 20));
        if (auto s = attest::load_ca_bundle(b); !s) return with_context(std::move(s).err(), o.ek_ca_file.string());
        ek_ca = std::move(b);
    }
    if (auto c = load_verifier_config(dir / "verifier.toml"); !c && fs::exists(dir / "verifier.toml") && !o.force)
        return std::move(c).err();

    verifier_config cfg;
    cfg.dir = dir;
    cfg.listen = o.listen;
    for (const char* sub : {"", "ca", "keys", "tls", "operator"}) CUSTOS_TRY_VOID(make_dir(dir / sub));

    CUSTOS_TRY(ca_key, x509::generate_p256());
    x509::cert_request ca_req;
    ca_req.subject = {"custos verifier CA", "ca", "custos"};
    ca_req.kind = x509::cert_kind::ca;
    ca_req.valid_days = 3650;
    CUSTOS_TRY(ca, x509::make_ca(ca_key.get(), ca_req));

    CUSTOS_TRY(server_key, x509::generate_p256());
    x509::cert_request srv;
    srv.subject = {"custos-verifier", "server", "custos"};
    srv.kind = x509::cert_kind::server;
    srv.valid_days = 825;
    for (const auto& n : o.server_names) (is_ip(n) ? srv.ips : srv.dns).push_back(n);
    CUSTOS_TRY(server, x509::issue(ca.get(), ca_key.get(), server_key.get(), srv));

    CUSTOS_TRY(op_key, x509::generate_p256());
    x509::cert_request op;
    op.subject = {o.operator_name, "operator", "custos"};
    op.kind = x509::cert_kind::client;
    op.valid_days = 730;
    CUSTOS_TRY(op_cert, x509::issue(ca.get(), ca_key.get(), op_key.get(), op));

    CUSTOS_TRY(result_key, x509::generate_p256());
    CUSTOS_TRY(result_pub, ossl::public_to_pem(result_key.get()));
    CUSTOS_TRY(recipient, weights::generate_recipient_key());
    CUSTOS_TRY(recipient_pub, weights::recipient_public_pem(recipient.pub));
    CUSTOS_TRY(recipient_priv, weights::recipient_private_pem(recipient));

    CUSTOS_TRY_VOID(write_key(cfg.resolve(cfg.ca_key), ca_key.get()));
    CUSTOS_TRY_VOID(write_cert(cfg.resolve(cfg.ca_cert), ca.get()));
    CUSTOS_TRY_VOID(write_key(cfg.resolve(cfg.tls_key), server_key.get()));
    CUSTOS_TRY_VOID(write_cert(cfg.resolve(cfg.tls_cert), server.get()));
    CUSTOS_TRY_VOID(write_key(dir / "operator/key.pem", op_key.get()));
    CUSTOS_TRY_VOID(write_cert(dir / "operator/cert.pem", op_cert.get()));
    CUSTOS_TRY_VOID(write_cert(dir / "operator/ca.pem", ca.get()));
    CUSTOS_TRY_VOID(write_key(cfg.resolve(cfg.result_key), result_key.get()));
    CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.result_pub), result_pub, 0644));
    CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.recipient_key), recipient_priv.view(), 0600));
    CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.recipient_pub), recipient_pub, 0644));
    if (!ek_ca.empty()) CUSTOS_TRY_VOID(write_file_atomic(cfg.resolve(cfg.ek_ca_file), ek_ca, 0644));
    // The database is created (and migrated) once and never replaced.
    CUSTOS_TRY(db, open_sqlite_store(cfg.resolve(cfg.database), cfg.sqlite_synchronous_full));
    (void)db;
    // verifier.toml last: its presence marks a complete initialisation.
    CUSTOS_TRY_VOID(write_file_atomic(dir / "verifier.toml", render_verifier_config(cfg), 0600));
    return {};
}

}  // namespace custos::verifier
