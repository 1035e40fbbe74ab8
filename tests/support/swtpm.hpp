// A private, freshly manufactured software TPM per test: swtpm on a free port, EK certificates from a test CA.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"

namespace custos::test {

enum class test_ca_key { rsa2048, p256 };

struct test_ca {
    std::filesystem::path cert_pem, key_pem;
};

// A self-signed CA certificate (CA:TRUE, keyCertSign) and its unencrypted PKCS#8 key, made with OpenSSL's C API:
// writes dir/cert.pem and dir/key.pem (dir is created). Throws std::runtime_error.
test_ca make_test_ca(const std::filesystem::path& dir, const std::string& common_name,
                     test_ca_key key = test_ca_key::rsa2048);

struct swtpm_options {
    // EK certificates in NV (RSA-2048 at 0x01c00002, ECC P-384 at 0x01c00016), issued by the test CA.
    bool ek_certs = true;
    std::string pcr_banks = "sha256,sha1";
    test_ca_key ca_key = test_ca_key::rsa2048;
    // TPM2_Clear right after the first start, so resetCount and restartCount begin at 0 as on a new TPM
    // (swtpm_setup's own start-ups leave resetCount at 2). The EKs and their certificates are kept.
    bool zero_counts = true;
};

class swtpm {
public:
    // Makes a temp dir and a test CA (never the system's swtpm-localca), manufactures the TPM with swtpm_setup,
    // starts `swtpm socket --daemon` on a free data/control port pair (retrying when another test process wins
    // the race for it) and returns once the data port accepts. Throws std::runtime_error carrying swtpm_setup's
    // or swtpm's log.
    static std::unique_ptr<swtpm> start(const swtpm_options& opts = {});
    ~swtpm();
    swtpm(const swtpm&) = delete;
    swtpm& operator=(const swtpm&) = delete;

    // "swtpm:host=127.0.0.1,port=P". swtpm serves one client connection at a time.
    [[nodiscard]] const std::string& tcti() const { return tcti_; }
    // TPM2TOOLS_TCTI=tcti(), for run_process(…, tools_env()).
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> tools_env() const {
        return {{"TPM2TOOLS_TCTI", tcti_}};
    }
    [[nodiscard]] const std::filesystem::path& ca_cert() const { return ca_.cert_pem; }
    [[nodiscard]] const std::filesystem::path& ca_key() const { return ca_.key_pem; }
    // The test's own directory (absolute); the TPM state lives in dir()/state. Removed on destruction.
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] pid_t pid() const { return pid_; }

    // A reboot: TPM2_Shutdown(CLEAR), stop the process, start it again on the same state and, when it is still
    // free, the same port (tcti() is unchanged unless another process took the port meanwhile). resetCount + 1.
    void restart();
    // What root with a copy of the TPM's state file could do to a software TPM (a real TPM cannot be
    // rolled back): save_state stops the process (a power loss), copies dir()/state to `to` and starts it
    // again (resetCount + 1); restore_state stops it, puts `from` back and starts it (the saved resetCount + 1).
    void save_state(const std::filesystem::path& to);
    void restore_state(const std::filesystem::path& from);

private:
    explicit swtpm(temp_dir dir);
    void manufacture(const swtpm_options& opts);
    void launch(bool same_port);
    bool try_launch(std::uint16_t port, std::string& log);
    void stop() noexcept;
    [[nodiscard]] std::string log_text() const;

    temp_dir dir_;  // first member: removed after the process is stopped
    test_ca ca_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    std::string tcti_;
};

}  // namespace custos::test
