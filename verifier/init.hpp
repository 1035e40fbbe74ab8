// `custos-verifier init`: everything a first run needs in one directory — private CA, server certificate,
// result-signing key, X25519 recipient key, transparency-log key, operator and auditor credentials,
// verifier.toml, SQLite database.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "crypto/result.hpp"

namespace custos::verifier {

struct init_options {
    std::filesystem::path dir;
    bool force = false;  // replace keys, certificates and verifier.toml of an initialised dir; the database is kept
    std::string listen = "127.0.0.1:8443";
    std::vector<std::string> server_names{"localhost", "127.0.0.1", "::1"};  // DNS names or IPs
    std::filesystem::path ek_ca_file;  // copied to DIR/ek-ca.pem when given
    std::string operator_name = "operator";
};

result<void> init_verifier_dir(const init_options& o);

}  // namespace custos::verifier
