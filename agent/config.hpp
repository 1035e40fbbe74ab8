// agent.toml (toml++; unknown keys are errors naming the key). Command-line flags override the file.
#pragma once

#include <filesystem>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

#include "crypto/result.hpp"

namespace custos::agent {

struct agent_config {
    std::string host_id;
    std::string verifier_url;  // https://HOST:PORT
    std::string ca_file;       // the verifier's CA (PEM): checks the server and, after enrollment, is replaced by the one it sends
    std::string tcti;  // empty: $CUSTOS_TCTI, then device:/dev/tpmrm0
    std::filesystem::path state_dir = "/var/lib/custos-agent";
    std::string enroll_token;  // needed only until the first successful enrollment
    unsigned report_interval_s = 10;
    // NVML to load: unset → libnvidia-ml.so.1 with the PCI sysfs fallback; set → must load (error otherwise).
    std::optional<std::string> nvml_library;
    std::string chip_table;  // empty: the chip table built into the agent
    // sysfs, where the PCI view (every accelerator on the bus, whatever vendor library is installed) and
    // the NVML fallback are read: <sysfs_root>/bus/pci/devices. Another root is for tests.
    std::filesystem::path sysfs_root = "/sys";
    // Sealed models this host serves: each subdirectory NAME (a model id) of model_dir holding index.json.
    // Empty: no models, no key requests.
    std::filesystem::path model_dir;
    // The UNIX socket local inference processes get decrypted weights from; empty: no socket.
    std::filesystem::path weights_socket;
    std::vector<unsigned> weights_allowed_uids;  // peers served (SO_PEERCRED uid); empty: nobody
    // The measurement logs sent with each quote; empty: not sent. A missing file is skipped (a host without
    // a TPM event log or IMA); the verifier then appraises those PCRs by golden values.
    std::filesystem::path boot_log = "/sys/kernel/security/tpm0/binary_bios_measurements";
    std::filesystem::path ima_log = "/sys/kernel/security/ima/binary_runtime_measurements";
};

// Reads `file` into `c` (keys present in the file replace the defaults in c).
result<void> load_agent_config(const std::filesystem::path& file, agent_config& c);
// The same over a file's text (`file` names it in errors); pure, the fuzz target's entry.
result<void> parse_agent_config(std::string_view text, const std::filesystem::path& file, agent_config& c);
// Every required setting present and sane; the error names the missing one.
result<void> check_agent_config(const agent_config& c);

}  // namespace custos::agent
