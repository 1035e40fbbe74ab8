// The swtpm fixture: a test CA made with OpenSSL, swtpm_setup pointed at it, swtpm on a probed free port pair.
#include "tests/support/swtpm.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "crypto/ossl.hpp"
#include "tests/support/files.hpp"

namespace custos::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void ossl_check(int ok, const char* what) {
    if (ok != 1) fail(ossl::last_error(std::string("make_test_ca: ") + what));
}

void write_or_throw(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) fail("cannot write " + p.string());
}

std::string random_hex(std::size_t n) {
    std::vector<unsigned char> b(n);
    if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) fail("RAND_bytes failed");
    std::string s;
    for (auto c : b) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02x", c);
        s += buf;
    }
    return s;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (!ext) fail(ossl::last_error(std::string("make_test_ca: extension ") + value));
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ossl_check(ok, "X509_add_ext");
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

class socket_fd {
public:
    socket_fd() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (fd_ < 0) fail("socket: " + std::string(std::strerror(errno)));
    }
    ~socket_fd() { ::close(fd_); }
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

// Whether 127.0.0.1:port can be bound now. No SO_REUSEADDR: a port in TIME_WAIT counts as taken.
bool port_free(std::uint16_t port) {
    socket_fd s;
    auto a = loopback(port);
    return ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

bool port_accepts(std::uint16_t port) {
    socket_fd s;
    auto a = loopback(port);
    return ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

// A data/control pair, both free when probed, below Linux's default ephemeral range (32768+) so that client
// connections of other tests do not take them in between. Another process may still win the race; the caller
// retries when swtpm cannot bind.
std::uint16_t pick_port_pair() {
    static thread_local std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
    std::uniform_int_distribution<int> dist(20000, 32700);
    for (int i = 0; i < 1000; ++i) {
        auto p = static_cast<std::uint16_t>(dist(rng));
        if (port_free(p) && port_free(static_cast<std::uint16_t>(p + 1))) return p;
    }
    fail("swtpm: no free port pair in 20000-32701");
}

// Alive and not a zombie waiting for a reaper that may never come (PID 1 in a container).
bool process_alive(pid_t pid) {
    if (pid <= 0 || ::kill(pid, 0) != 0) return false;
    auto stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    auto close_paren = stat.rfind(')');
    return close_paren == std::string::npos || close_paren + 2 >= stat.size() || stat[close_paren + 2] != 'Z';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (process_alive(pid)) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// Sends one raw TPM 2.0 command on swtpm's data port and returns the response code.
std::uint32_t tpm_command(std::uint16_t port, const std::vector<std::uint8_t>& cmd) {
    socket_fd s;
    timeval tv{10, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto a = loopback(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        fail("swtpm: connect to port " + std::to_string(port) + ": " + std::strerror(errno));
    if (::send(s.get(), cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size()))
        fail("swtpm: sending a TPM command failed");
    std::array<std::uint8_t, 10> hdr{};
    std::size_t got = 0;
    while (got < hdr.size()) {
        ssize_t n = ::recv(s.get(), hdr.data() + got, hdr.size() - got, 0);
        if (n <= 0) fail("swtpm: no response to a TPM command");
        got += static_cast<std::size_t>(n);
    }
    return (std::uint32_t{hdr[6]} << 24) | (std::uint32_t{hdr[7]} << 16) | (std::uint32_t{hdr[8]} << 8) | hdr[9];
}

// TPM2_Clear authorised by the (empty) lockout password.
const std::vector<std::uint8_t> kClear = {
    0x80, 0x02, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x00, 0x01, 0x26,  // ST_SESSIONS, size 27, CC_Clear
    0x40, 0x00, 0x00, 0x0a,                                      // TPM_RH_LOCKOUT
    0x00, 0x00, 0x00, 0x09,                                      // authorization area size
    0x40, 0x00, 0x00, 0x09, 0x00, 0x00, 0x01, 0x00, 0x00,        // TPM_RS_PW, no nonce, continue, empty auth
};
// TPM2_Shutdown(TPM_SU_CLEAR): what an OS does before a reboot.
const std::vector<std::uint8_t> kShutdownClear = {0x80, 0x01, 0x00, 0x00, 0x00, 0x0c,
                                                  0x00, 0x00, 0x01, 0x45, 0x00, 0x00};

}  // namespace

test_ca make_test_ca(const fs::path& dir, const std::string& common_name, test_ca_key key_type) {
    fs::create_directories(dir);
    ossl::pkey_ptr key(key_type == test_ca_key::rsa2048
                           ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048))
                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) fail(ossl::last_error("make_test_ca: key generation"));

    ossl::x509_ptr cert(X509_new());
    if (!cert) fail(ossl::last_error("make_test_ca: X509_new"));
    ossl_check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
    ossl::bn_ptr serial(BN_new());
    ossl_check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) ossl_check(0, "serial");
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600))
        ossl_check(0, "validity");
    X509_NAME* name = X509_get_subject_name(cert.get());
    ossl_check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>("custos tests"), -1, -1, 0),
               "subject O");
    ossl_check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0),
               "subject CN");
    ossl_check(X509_set_issuer_name(cert.get(), name), "issuer");
    ossl_check(X509_set_pubkey(cert.get(), key.get()), "X509_set_pubkey");

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) ossl_check(0, "X509_sign");

    test_ca ca{dir / "cert.pem", dir / "key.pem"};
    {
        ossl::bio_ptr out(BIO_new_file(ca.cert_pem.c_str(), "w"));
        if (!out) fail(ossl::last_error("make_test_ca: open " + ca.cert_pem.string()));
        ossl_check(PEM_write_bio_X509(out.get(), cert.get()), "write cert.pem");
    }
    {
        // PKCS#8, unencrypted: what swtpm_localca (GnuTLS) reads as its signing key.
        ossl::bio_ptr out(BIO_new_file(ca.key_pem.c_str(), "w"));
        if (!out) fail(ossl::last_error("make_test_ca: open " + ca.key_pem.string()));
        ::chmod(ca.key_pem.c_str(), 0600);
        ossl_check(PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
                   "write key.pem");
    }
    return ca;
}

swtpm::swtpm(temp_dir dir) : dir_(std::move(dir)) {}

std::unique_ptr<swtpm> swtpm::start(const swtpm_options& opts) {
    std::unique_ptr<swtpm> tpm(new swtpm(temp_dir("custos-swtpm")));
    tpm->manufacture(opts);
    tpm->launch(false);
    if (opts.zero_counts) {
        auto rc = tpm_command(tpm->port_, kClear);
        if (rc != 0) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "0x%03x", rc);
            fail(std::string("swtpm: TPM2_Clear failed with ") + hex + "\n" + tpm->log_text());
        }
    }
    return tpm;
}

void swtpm::manufacture(const swtpm_options& opts) {
    const fs::path d = dir();
    ca_ = make_test_ca(d / "ca", "custos test EK CA " + random_hex(4), opts.ca_key);
    fs::create_directories(d / "state");
    fs::create_directories(d / "localca");
    // swtpm_localca signs the EK certificates with the given key when it exists, instead of making its own CA.
    write_or_throw(d / "swtpm-localca.conf", "statedir = " + (d / "localca").string() + "\n" +
                                             "signingkey = " + ca_.key_pem.string() + "\n" +
                                             "issuercert = " + ca_.cert_pem.string() + "\n" +
                                             "certserial = " + (d / "localca" / "certserial").string() + "\n");
    write_or_throw(d / "swtpm-localca.options", "");
    write_or_throw(d / "swtpm_setup.conf", "create_certs_tool = swtpm_localca\n"
                                       "create_certs_tool_config = " + (d / "swtpm-localca.conf").string() + "\n" +
                                       "create_certs_tool_options = " + (d / "swtpm-localca.options").string() + "\n" +
                                       "active_pcr_banks = " + opts.pcr_banks + "\n");
    std::vector<std::string> argv{"swtpm_setup", "--tpm2", "--tpmstate", (d / "state").string(),
                                  "--config", (d / "swtpm_setup.conf").string(), "--pcr-banks", opts.pcr_banks,
                                  "--logfile", (d / "setup.log").string(), "--overwrite",
                                  opts.ek_certs ? "--create-ek-cert" : "--createek"};
    auto r = run_process(argv, {}, std::chrono::seconds(60));
    if (r.exit_code != 0)
        fail("swtpm_setup failed (exit " + std::to_string(r.exit_code) + "): " + r.err + r.out + "\n--- setup.log\n" +
             read_text(d / "setup.log"));
}

bool swtpm::try_launch(std::uint16_t port, std::string& log) {
    const fs::path d = dir();
    const auto pid_file = d / "swtpm.pid";
    fs::remove(pid_file);
    const auto ctrl = static_cast<std::uint16_t>(port + 1);
    auto r = run_process({"swtpm", "socket", "--tpm2",
                          "--server", "type=tcp,port=" + std::to_string(port) + ",bindaddr=127.0.0.1",
                          "--ctrl", "type=tcp,port=" + std::to_string(ctrl) + ",bindaddr=127.0.0.1",
                          "--flags", "not-need-init,startup-clear",
                          "--tpmstate", "dir=" + (d / "state").string(),
                          "--daemon", "--pid", "file=" + pid_file.string(),
                          "--log", "file=" + (d / "swtpm.log").string()},
                         {}, std::chrono::seconds(30));
    if (r.exit_code != 0) {
        log += "port " + std::to_string(port) + ": exit " + std::to_string(r.exit_code) + " " + r.err + r.out;
        return false;
    }
    // --daemon binds both ports before it forks, so from here on the ports are ours.
    const auto until = std::chrono::steady_clock::now() + 10s;
    pid_ = -1;
    while (std::chrono::steady_clock::now() < until) {
        if (pid_ <= 0) {
            auto text = read_text(pid_file);
            if (!text.empty()) pid_ = static_cast<pid_t>(std::stol(text));
        }
        if (pid_ > 0 && port_accepts(port)) {
            port_ = port;
            tcti_ = "swtpm:host=127.0.0.1,port=" + std::to_string(port);
            return true;
        }
        if (pid_ > 0 && !process_alive(pid_)) break;
        std::this_thread::sleep_for(5ms);
    }
    log += "port " + std::to_string(port) + ": swtpm did not come up\n";
    stop();
    fail("swtpm did not start:\n" + log + log_text());
}

void swtpm::launch(bool same_port) {
    std::string log;
    if (same_port) {
        // A listening port is free again as soon as the old process is gone; allow a moment for it.
        for (int i = 0; i < 20; ++i) {
            if (try_launch(port_, log)) return;
            std::this_thread::sleep_for(50ms);
        }
    }
    for (int i = 0; i < 50; ++i)
        if (try_launch(pick_port_pair(), log)) return;
    fail("swtpm: could not bind a port pair in 50 tries:\n" + log + log_text());
}

void swtpm::stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!wait_gone(pid_, 3000ms)) {
        ::kill(pid_, SIGKILL);
        wait_gone(pid_, 3000ms);
    }
    pid_ = -1;
}

void swtpm::restart() {
    // An orderly shutdown keeps clockInfo.safe; the next Startup(CLEAR) is a TPM Reset either way.
    try {
        (void)tpm_command(port_, kShutdownClear);
    } catch (const std::exception&) {
        // A TPM that cannot be shut down cleanly is still restarted: a power loss.
    }
    stop();
    launch(true);
}

void swtpm::save_state(const std::filesystem::path& to) {
    stop();
    std::filesystem::remove_all(to);
    std::filesystem::copy(dir() / "state", to, std::filesystem::copy_options::recursive);
    launch(true);
}

void swtpm::restore_state(const std::filesystem::path& from) {
    stop();
    std::filesystem::remove_all(dir() / "state");
    std::filesystem::copy(from, dir() / "state", std::filesystem::copy_options::recursive);
    launch(true);
}

swtpm::~swtpm() { stop(); }

std::string swtpm::log_text() const {
    return "--- swtpm_setup log\n" + read_text(dir() / "setup.log") + "--- swtpm log\n" + read_text(dir() / "swtpm.log");
}

}  // namespace custos::test
