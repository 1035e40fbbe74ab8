// The test fixture itself: run_process, temp_dir, make_test_ca and swtpm, checked with tpm2-tools and OpenSSL.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "crypto/ossl.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos::test {
namespace {

namespace fs = std::filesystem;

ossl::x509_ptr load_cert(const fs::path& p, bool der) {
    ossl::bio_ptr in(BIO_new_file(p.c_str(), "rb"));
    if (!in) return nullptr;
    return ossl::x509_ptr(der ? d2i_X509_bio(in.get(), nullptr) : PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
}

// Verifies cert against the single trust anchor in ca_pem; returns "" or OpenSSL's reason.
std::string verify_with(X509* cert, const fs::path& ca_pem) {
    auto ca = load_cert(ca_pem, false);
    if (!ca) return "cannot load " + ca_pem.string();
    ossl::x509_store_ptr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca.get());
    ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
    if (X509_verify_cert(ctx.get()) == 1) return "";
    return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

ossl::x509_ptr read_ek_cert(const swtpm& tpm, const char* index) {
    auto out = tpm.dir() / (std::string("ek-") + index + ".der");
    auto r = run_process({"tpm2_nvread", index, "-o", out.string()}, tpm.tools_env());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto cert = load_cert(out, true);
    EXPECT_TRUE(cert) << "not a DER certificate: " << index;
    return cert;
}

bytes public_der(X509* cert) {
    ossl::pkey_ptr key(X509_get_pubkey(cert));
    auto der = ossl::public_to_der(key.get());
    return der.ok() ? *der : bytes{};
}

long reset_count(const swtpm& tpm) {
    auto r = run_process({"tpm2_readclock"}, tpm.tools_env());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // No std::regex: GCC 12 warns inside <regex> under sanitizers (-Wmaybe-uninitialized), and CI uses -Werror.
    const std::string key = "reset_count:";
    auto at = r.out.find(key);
    if (at == std::string::npos) {
        ADD_FAILURE() << "no reset_count in: " << r.out;
        return -1;
    }
    return std::stol(r.out.substr(at + key.size()));
}

TEST(RunProcess, CapturesStdoutStderrAndExitCodeSeparately) {
    auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    EXPECT_FALSE(r.timed_out);
}

TEST(RunProcess, NoShellAddedEnvironmentAndStdin) {
    // An argument with shell syntax reaches the program as it is.
    auto echo = run_process({"echo", "$HOME; *"});
    EXPECT_EQ(echo.out, "$HOME; *\n");
    auto env = run_process({"sh", "-c", "printf '%s/%s' \"$CUSTOS_A\" \"$PATH\""}, {{"CUSTOS_A", "x y"}});
    EXPECT_EQ(env.out, std::string("x y/") + std::getenv("PATH"));
    std::string big(1 << 20, 'z');  // more than a pipe holds: stdin and stdout must be pumped together
    auto cat = run_process({"cat"}, {}, std::chrono::seconds(20), big);
    EXPECT_EQ(cat.exit_code, 0);
    EXPECT_EQ(cat.out.size(), big.size());
    auto no_stdin = run_process({"cat"}, {}, std::chrono::seconds(5));
    EXPECT_EQ(no_stdin.exit_code, 0);
    EXPECT_FALSE(no_stdin.timed_out);
}

TEST(RunProcess, TimeoutKillsAndSaysSo) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_process({"sleep", "30"}, {}, std::chrono::seconds(1));
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.exit_code, -1);
    EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(RunProcess, MissingProgramAndSignals) {
    auto r = run_process({"custos-no-such-program"});
    EXPECT_EQ(r.exit_code, 127);
    EXPECT_NE(r.err.find("custos-no-such-program"), std::string::npos);
    auto killed = run_process({"sh", "-c", "kill -TERM $$"});
    EXPECT_EQ(killed.exit_code, 128 + SIGTERM);
    // A background child that keeps stdout open does not hold the caller until it ends.
    auto t0 = std::chrono::steady_clock::now();
    auto bg = run_process({"sh", "-c", "sleep 3 & echo started"}, {}, std::chrono::seconds(20));
    EXPECT_EQ(bg.exit_code, 0);
    EXPECT_EQ(bg.out, "started\n");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(TempDir, IsAbsoluteAndRemovedWithItsContents) {
    fs::path p;
    {
        temp_dir d;
        p = d.path();
        EXPECT_TRUE(p.is_absolute());
        fs::create_directories(p / "a" / "b");
        std::ofstream(p / "a" / "b" / "f") << "x";
        temp_dir moved(std::move(d));
        EXPECT_EQ(moved.path(), p);
    }
    EXPECT_FALSE(fs::exists(p));
}

TEST(TestCa, CertificateFromAnotherCaDoesNotVerify) {
    temp_dir d;
    auto a = make_test_ca(d.path() / "a", "same name CA");
    auto b = make_test_ca(d.path() / "b", "same name CA", test_ca_key::p256);
    auto ca_a = load_cert(a.cert_pem, false), ca_b = load_cert(b.cert_pem, false);
    ASSERT_TRUE(ca_a && ca_b);
    EXPECT_EQ(verify_with(ca_a.get(), a.cert_pem), "");
    EXPECT_EQ(verify_with(ca_b.get(), b.cert_pem), "");
    // Same subject name, so only the signature (and key identifier) tells them apart.
    EXPECT_NE(verify_with(ca_b.get(), a.cert_pem), "");
    EXPECT_NE(verify_with(ca_a.get(), b.cert_pem), "");
    // The key file is the CA's private key, readable by the owner only.
    ossl::bio_ptr in(BIO_new_file(b.key_pem.c_str(), "r"));
    ossl::pkey_ptr key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(key);
    EXPECT_EQ(X509_check_private_key(ca_b.get(), key.get()), 1);
    EXPECT_EQ(fs::status(b.key_pem).permissions() & fs::perms::others_read, fs::perms::none);
}

TEST(Swtpm, EkCertificatesVerifyAgainstTheTestCaOnly) {
    auto tpm = swtpm::start();
    EXPECT_TRUE(tpm->dir().is_absolute());
    EXPECT_EQ(tpm->tcti(), "swtpm:host=127.0.0.1,port=" + std::to_string(tpm->port()));
    auto banks = run_process({"tpm2_getcap", "pcrs"}, tpm->tools_env());
    EXPECT_NE(banks.out.find("sha1: [ 0, 1,"), std::string::npos) << banks.out;
    EXPECT_NE(banks.out.find("sha256: [ 0, 1,"), std::string::npos) << banks.out;

    auto rsa = read_ek_cert(*tpm, "0x01c00002");
    ASSERT_TRUE(rsa);
    EXPECT_EQ(verify_with(rsa.get(), tpm->ca_cert()), "");
    ossl::pkey_ptr rsa_key(X509_get_pubkey(rsa.get()));
    EXPECT_EQ(EVP_PKEY_get_base_id(rsa_key.get()), EVP_PKEY_RSA);
    EXPECT_EQ(EVP_PKEY_get_bits(rsa_key.get()), 2048);

    auto ecc = read_ek_cert(*tpm, "0x01c00016");
    ASSERT_TRUE(ecc);
    EXPECT_EQ(verify_with(ecc.get(), tpm->ca_cert()), "");
    ossl::pkey_ptr ecc_key(X509_get_pubkey(ecc.get()));
    char curve[64] = {};
    ASSERT_EQ(EVP_PKEY_get_utf8_string_param(ecc_key.get(), "group", curve, sizeof curve, nullptr), 1);
    EXPECT_STREQ(curve, "secp384r1");

    // The system's swtpm-localca or any other CA does not vouch for this TPM.
    auto other = make_test_ca(tpm->dir() / "other-ca", "another EK CA");
    EXPECT_NE(verify_with(rsa.get(), other.cert_pem), "");
    EXPECT_NE(verify_with(ecc.get(), other.cert_pem), "");
    // openssl's CLI agrees with the C API.
    auto pem = tpm->dir() / "ek-rsa.pem";
    {
        ossl::bio_ptr out(BIO_new_file(pem.c_str(), "w"));
        PEM_write_bio_X509(out.get(), rsa.get());
    }
    auto cli = run_process({"openssl", "verify", "-CAfile", tpm->ca_cert().string(), pem.string()});
    EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
    cli = run_process({"openssl", "verify", "-CAfile", other.cert_pem.string(), pem.string()});
    EXPECT_NE(cli.exit_code, 0);
}

TEST(Swtpm, TwoInstancesHaveTheirOwnPortsEksAndCas) {
    auto a = swtpm::start();
    auto b = swtpm::start({.ca_key = test_ca_key::p256});
    EXPECT_NE(a->port(), b->port());
    EXPECT_NE(a->port() + 1, b->port());
    EXPECT_NE(a->port(), b->port() + 1);
    EXPECT_NE(a->tcti(), b->tcti());
    EXPECT_NE(a->dir(), b->dir());
    auto ea = read_ek_cert(*a, "0x01c00002"), eb = read_ek_cert(*b, "0x01c00002");
    ASSERT_TRUE(ea && eb);
    EXPECT_NE(public_der(ea.get()), public_der(eb.get()));
    EXPECT_EQ(verify_with(eb.get(), b->ca_cert()), "");
    EXPECT_EQ(X509_get_signature_nid(eb.get()), NID_ecdsa_with_SHA256);
    EXPECT_NE(verify_with(ea.get(), b->ca_cert()), "");
    EXPECT_NE(verify_with(eb.get(), a->ca_cert()), "");
    auto pa = read_ek_cert(*a, "0x01c00016"), pb = read_ek_cert(*b, "0x01c00016");
    ASSERT_TRUE(pa && pb);
    EXPECT_NE(public_der(pa.get()), public_der(pb.get()));
}

TEST(Swtpm, RestartIsARebootOnTheSameStateAndPort) {
    auto tpm = swtpm::start();
    const auto tcti = tpm->tcti();
    const auto ek = public_der(read_ek_cert(*tpm, "0x01c00002").get());
    EXPECT_EQ(reset_count(*tpm), 0);  // zero_counts: like a new TPM
    tpm->restart();
    EXPECT_EQ(tpm->tcti(), tcti);
    EXPECT_EQ(reset_count(*tpm), 1);
    tpm->restart();
    EXPECT_EQ(reset_count(*tpm), 2);
    EXPECT_EQ(public_der(read_ek_cert(*tpm, "0x01c00002").get()), ek);
    auto clock = run_process({"tpm2_readclock"}, tpm->tools_env());
    EXPECT_NE(clock.out.find("safe: yes"), std::string::npos) << clock.out;
}

TEST(Swtpm, OptionsChooseBanksAndCertificates) {
    auto tpm = swtpm::start({.ek_certs = false, .pcr_banks = "sha256", .zero_counts = false});
    auto r = run_process({"tpm2_nvread", "0x01c00002", "-o", (tpm->dir() / "x.der").string()}, tpm->tools_env());
    EXPECT_NE(r.exit_code, 0) << "no EK certificate was asked for";
    auto pcrs = run_process({"tpm2_getcap", "pcrs"}, tpm->tools_env());
    EXPECT_EQ(pcrs.exit_code, 0) << pcrs.err;
    EXPECT_NE(pcrs.out.find("sha256: [ 0, 1,"), std::string::npos) << pcrs.out;
    EXPECT_NE(pcrs.out.find("sha1: [ ]"), std::string::npos) << pcrs.out;
    EXPECT_GT(reset_count(*tpm), 0);
}

TEST(Swtpm, DestructorStopsTheTpmAndRemovesItsDirectory) {
    auto tpm = swtpm::start();
    const auto pid = tpm->pid();
    const auto dir = tpm->dir();
    const auto env = tpm->tools_env();
    ASSERT_GT(pid, 0);
    tpm.reset();
    EXPECT_FALSE(fs::exists(dir));
    bool gone = ::kill(pid, 0) != 0;
    if (!gone) {  // a zombie waiting for PID 1 counts as gone
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string s((std::istreambuf_iterator<char>(stat)), {});
        gone = s.find(") Z") != std::string::npos;
    }
    EXPECT_TRUE(gone);
    auto r = run_process({"tpm2_getrandom", "8", "--hex"}, env, std::chrono::seconds(20));
    EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace custos::test
