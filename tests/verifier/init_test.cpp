// verifier/init: the files `custos-verifier init` makes, their modes, that they fit together, and that
// a second init (with or without --force) never loses data.
#include "verifier/init.hpp"

#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "crypto/file_io.hpp"
#include "crypto/jwt.hpp"
#include "crypto/x509.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"
#include "verifier/config.hpp"
#include "verifier/store.hpp"
#include "weights/recipient_key.hpp"

namespace custos::verifier {
namespace {

namespace fs = std::filesystem;
using custos::test::read_text;
using custos::test::temp_dir;

unsigned mode_of(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

ossl::x509_ptr cert_at(const fs::path& p) {
    auto c = x509::load_pem(as_bytes(read_text(p)));
    EXPECT_TRUE(c.ok()) << p;
    return c.ok() ? std::move(c).value() : nullptr;
}

bool chains(X509* cert, X509* ca, int purpose) {
    ossl::x509_store_ptr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca);
    ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
    X509_STORE_CTX_set_purpose(ctx.get(), purpose);
    return X509_verify_cert(ctx.get()) == 1;
}

// Every regular file under dir: contents and modification time to the nanosecond.
struct snapshot_entry {
    std::string content;
    std::int64_t mtime_ns = 0;
    bool operator==(const snapshot_entry&) const = default;
};
std::map<std::string, snapshot_entry> snapshot(const fs::path& dir) {
    std::map<std::string, snapshot_entry> out;
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        struct stat st{};
        ::stat(e.path().c_str(), &st);
        out[fs::relative(e.path(), dir).string()] = {read_text(e.path()),
                                                     std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
    }
    return out;
}

std::string ca_bundle_pem() {
    auto key = x509::generate_p256();
    x509::cert_request r;
    r.subject = {"TPM vendor root", "", "vendor"};
    return *x509::to_pem(x509::make_ca(key->get(), r)->get());
}

class VerifierInit : public ::testing::Test {
protected:
    temp_dir tmp_{"custos-init"};
    init_options o_ = [this] {
        init_options o;
        o.dir = tmp_.path() / "v";
        return o;
    }();
    fs::path at(const char* rel) const { return o_.dir / rel; }
};

TEST_F(VerifierInit, WritesEveryFileWithPrivateModes) {
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    for (const char* d : {"", "ca", "keys", "tls", "operator", "auditor"}) EXPECT_EQ(mode_of(at(d)), 0700u) << d;
    for (const char* f : {"ca/ca.key", "tls/server.key", "keys/result.key", "keys/recipient.key", "keys/log.key",
                          "operator/key.pem", "auditor/key.pem", "verifier.toml"})
        EXPECT_EQ(mode_of(at(f)), 0600u) << f;
    for (const char* f : {"ca/ca.pem", "tls/server.pem", "keys/result.pub.pem", "keys/recipient.pub", "keys/log.pub",
                          "operator/cert.pem", "operator/ca.pem", "auditor/cert.pem", "auditor/ca.pem"})
        EXPECT_EQ(mode_of(at(f)), 0644u) << f;
    EXPECT_TRUE(fs::is_regular_file(at("verifier.db")));
    EXPECT_FALSE(fs::exists(at("ek-ca.pem")));  // only when --ek-ca is given
    // Nothing else: no temporary files left behind.
    std::size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(o_.dir))
        if (e.is_regular_file() && e.path().filename().string().rfind("verifier.db", 0) != 0) ++files;
    EXPECT_EQ(files, 17u);
    auto cfg = load_verifier_config(at("verifier.toml"));
    ASSERT_TRUE(cfg.ok()) << cfg.err().message;
    EXPECT_EQ(cfg->listen, "127.0.0.1:8443");
    EXPECT_EQ(cfg->resolve(cfg->tls_cert), at("tls/server.pem"));
    EXPECT_EQ(cfg->resolve(cfg->database), at("verifier.db"));
    EXPECT_EQ(read_text(at("operator/ca.pem")), read_text(at("ca/ca.pem")));
}

TEST_F(VerifierInit, CertificatesChainToTheCaWithTheirRoles) {
    o_.server_names = {"verifier.example", "10.1.2.3", "fd00::7"};
    o_.operator_name = "alice";
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    auto ca = cert_at(at("ca/ca.pem"));
    auto server = cert_at(at("tls/server.pem"));
    auto op = cert_at(at("operator/cert.pem"));
    const auto ca_id = x509::describe(ca.get());
    EXPECT_EQ(ca_id.subject.cn, "custos verifier CA");
    EXPECT_EQ(ca_id.subject.ou, "ca");
    EXPECT_EQ(X509_check_ca(ca.get()), 1);
    EXPECT_TRUE(chains(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER));
    EXPECT_TRUE(chains(op.get(), ca.get(), X509_PURPOSE_SSL_CLIENT));
    EXPECT_FALSE(chains(op.get(), ca.get(), X509_PURPOSE_SSL_SERVER));  // the operator cert is client-only
    auto au = cert_at(at("auditor/cert.pem"));
    EXPECT_TRUE(chains(au.get(), ca.get(), X509_PURPOSE_SSL_CLIENT));
    EXPECT_EQ(x509::describe(au.get()).subject.ou, "auditor");
    // The log key is named after the first server name (a C2SP origin).
    EXPECT_EQ(read_text(at("keys/log.pub")).rfind("verifier.example/custos-log+", 0), 0u) << read_text(at("keys/log.pub"));
    const auto srv_id = x509::describe(server.get());
    EXPECT_EQ(srv_id.subject.cn, "custos-verifier");
    EXPECT_EQ(srv_id.subject.ou, "server");
    EXPECT_EQ(X509_check_host(server.get(), "verifier.example", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 0);  // the defaults were replaced
    EXPECT_EQ(X509_check_ip_asc(server.get(), "10.1.2.3", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(server.get(), "fd00::7", 0), 1);
    const auto op_id = x509::describe(op.get());
    EXPECT_EQ(op_id.subject.cn, "alice");
    EXPECT_EQ(op_id.subject.ou, "operator");
    EXPECT_EQ(op_id.subject.o, "custos");
    // Validity periods: CA 10 years, server 825 days, operator 2 years.
    auto days = [](X509* c) {
        int d = 0, s = 0;
        ASN1_TIME_diff(&d, &s, X509_get0_notBefore(c), X509_get0_notAfter(c));
        return d;
    };
    EXPECT_EQ(days(ca.get()), 3650);
    EXPECT_EQ(days(server.get()), 825);
    EXPECT_EQ(days(op.get()), 730);
    // Each certificate belongs to the key written beside it.
    auto server_key = x509::load_private_pem(as_bytes(read_text(at("tls/server.key"))));
    auto op_key = x509::load_private_pem(as_bytes(read_text(at("operator/key.pem"))));
    auto ca_key = x509::load_private_pem(as_bytes(read_text(at("ca/ca.key"))));
    ASSERT_TRUE(server_key.ok() && op_key.ok() && ca_key.ok());
    EXPECT_EQ(X509_check_private_key(server.get(), server_key->get()), 1);
    EXPECT_EQ(X509_check_private_key(op.get(), op_key->get()), 1);
    EXPECT_EQ(X509_check_private_key(ca.get(), ca_key->get()), 1);
}

TEST_F(VerifierInit, DefaultServerNamesCoverLocalhost) {
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    auto server = cert_at(at("tls/server.pem"));
    EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
    EXPECT_EQ(X509_check_host(server.get(), "127.0.0.1", 0, 0, nullptr), 0);  // an IP is not a DNS name here
}

TEST_F(VerifierInit, ResultAndRecipientKeysAreUsable) {
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    auto key = x509::load_private_pem(as_bytes(read_text(at("keys/result.key"))));
    auto pub = ossl::load_public_pem(as_bytes(read_text(at("keys/result.pub.pem"))));
    ASSERT_TRUE(key.ok() && pub.ok());
    auto tok = jwt::sign_es256(key->get(), R"({"sub":"h1","ear.status":"affirming"})");
    ASSERT_TRUE(tok.ok()) << tok.err().message;
    auto v = jwt::verify_es256(*tok, pub->get());
    ASSERT_TRUE(v.ok()) << v.err().message;
    EXPECT_EQ(v->claims_json, R"({"sub":"h1","ear.status":"affirming"})");
    // The recipient pair is what `custos weights keygen` writes: the weights loaders take it.
    auto rpriv = weights::load_recipient_private(at("keys/recipient.key"));
    auto rpub = weights::load_recipient_public(at("keys/recipient.pub"));
    ASSERT_TRUE(rpriv.ok()) << rpriv.err().message;
    ASSERT_TRUE(rpub.ok()) << rpub.err().message;
    EXPECT_EQ(rpriv->pub, *rpub);
}

TEST_F(VerifierInit, ListenAndEkCaAreWrittenIntoTheDirectory) {
    const fs::path ek = tmp_.path() / "vendor-cas.pem";
    const std::string bundle = ca_bundle_pem() + ca_bundle_pem();
    std::ofstream(ek) << bundle;
    o_.ek_ca_file = ek;
    o_.listen = "[::1]:9443";
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    EXPECT_EQ(read_text(at("ek-ca.pem")), bundle);
    auto cfg = load_verifier_config(at("verifier.toml"));
    ASSERT_TRUE(cfg.ok()) << cfg.err().message;
    EXPECT_EQ(cfg->listen, "[::1]:9443");
    EXPECT_EQ(cfg->resolve(cfg->ek_ca_file), at("ek-ca.pem"));
}

TEST_F(VerifierInit, SecondInitWithoutForceChangesNothing) {
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    const auto before = snapshot(o_.dir);
    ASSERT_EQ(before.count("verifier.toml"), 1u);
    auto again = init_verifier_dir(o_);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.err().code, errc::invalid_argument);
    EXPECT_EQ(again.err().message, o_.dir.string() +
                                       " is already initialised (verifier.toml exists); use --force to replace "
                                       "its keys and certificates");
    EXPECT_EQ(snapshot(o_.dir), before);
    // Also when the second attempt brings other settings.
    o_.listen = "0.0.0.0:1";
    o_.server_names = {"other"};
    EXPECT_FALSE(init_verifier_dir(o_).ok());
    EXPECT_EQ(snapshot(o_.dir), before);
}

TEST_F(VerifierInit, ForceReplacesKeysButKeepsTheDatabase) {
    const fs::path ek = tmp_.path() / "vendor-cas.pem";
    std::ofstream(ek) << ca_bundle_pem();
    o_.ek_ca_file = ek;
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    {
        auto db = open_sqlite_store(at("verifier.db"));
        ASSERT_TRUE(db.ok()) << db.err().message;
        auto tx = (*db)->begin();
        ASSERT_TRUE(tx.ok());
        ASSERT_TRUE((*tx)->put_entity({"marker-entity", "DE", "uveu"}).ok());
        ASSERT_TRUE((*tx)->commit().ok());
    }
    const auto before = snapshot(o_.dir);
    init_options again = o_;
    again.force = true;
    again.ek_ca_file.clear();  // no new bundle: the old one stays
    auto r = init_verifier_dir(again);
    ASSERT_TRUE(r.ok()) << r.err().message;
    const auto after = snapshot(o_.dir);
    for (const char* f : {"ca/ca.key", "ca/ca.pem", "tls/server.key", "tls/server.pem", "keys/result.key",
                          "keys/result.pub.pem", "keys/recipient.key", "keys/recipient.pub", "operator/key.pem",
                          "operator/cert.pem"})
        EXPECT_NE(after.at(f).content, before.at(f).content) << f << " was not replaced";
    EXPECT_EQ(after.at("ek-ca.pem"), before.at("ek-ca.pem"));
    // The transparency log keeps its key: auditors hold its public half.
    EXPECT_EQ(after.at("keys/log.key"), before.at("keys/log.key"));
    EXPECT_EQ(after.at("keys/log.pub"), before.at("keys/log.pub"));
    // The new server certificate chains to the new CA only.
    auto ca = cert_at(at("ca/ca.pem"));
    auto old_ca = x509::load_pem(as_bytes(before.at("ca/ca.pem").content));
    auto server = cert_at(at("tls/server.pem"));
    EXPECT_TRUE(chains(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER));
    EXPECT_FALSE(chains(server.get(), old_ca->get(), X509_PURPOSE_SSL_SERVER));
    // The data survived.
    auto db = open_sqlite_store(at("verifier.db"));
    ASSERT_TRUE(db.ok()) << db.err().message;
    auto tx = (*db)->begin();
    ASSERT_TRUE(tx.ok());
    auto e = (*tx)->get_entity("marker-entity");
    ASSERT_TRUE(e.ok()) << e.err().message;
    ASSERT_TRUE(e->has_value()) << "--force lost the database";
    EXPECT_EQ((*e)->hq, "DE");
}

TEST_F(VerifierInit, BadInputsAbortBeforeAnythingIsWritten) {
    const fs::path bad = tmp_.path() / "not-a-bundle.pem";
    std::ofstream(bad) << "this is not PEM\n";
    o_.ek_ca_file = bad;
    auto r = init_verifier_dir(o_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_EQ(r.err().message.rfind("--ek-ca " + bad.string() + " is not a PEM certificate bundle: ", 0), 0u)
        << r.err().message;
    EXPECT_FALSE(fs::exists(o_.dir));
    o_.ek_ca_file = tmp_.path() / "missing.pem";
    r = init_verifier_dir(o_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("missing.pem"), std::string::npos) << r.err().message;
    EXPECT_FALSE(fs::exists(o_.dir));
    o_.ek_ca_file.clear();
    o_.listen = "::1:8443";
    r = init_verifier_dir(o_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("--listen"), std::string::npos) << r.err().message;
    EXPECT_FALSE(fs::exists(o_.dir));
    o_.listen = "127.0.0.1:8443";
    o_.server_names = {"not a name"};
    r = init_verifier_dir(o_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("bad DNS name \"not a name\""), std::string::npos) << r.err().message;
    EXPECT_FALSE(fs::exists(o_.dir));

    // With --force on an initialised directory, a bad bundle leaves every file as it was.
    o_.server_names = {"localhost"};
    ASSERT_TRUE(init_verifier_dir(o_).ok());
    const auto before = snapshot(o_.dir);
    o_.force = true;
    o_.ek_ca_file = bad;
    EXPECT_FALSE(init_verifier_dir(o_).ok());
    EXPECT_EQ(snapshot(o_.dir), before);
}

}  // namespace
}  // namespace custos::verifier
