#include "tools/custos/cli_support.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>

#include "attest/tpm_public.hpp"
#include "crypto/file_io.hpp"
#include "tools/custos/cli.hpp"

namespace custos::cli {

int fail(const std::string& context, const error& e) {
    std::cerr << "custos: " << context << ": " << e.message << "\n";
    switch (e.code) {
        case errc::invalid_argument:
        case errc::io:
            return exit_usage;
        default:
            return exit_failed;
    }
}

int fail_usage(const std::string& message) {
    std::cerr << "custos: " << message << "\n";
    return exit_usage;
}

result<bytes> read_input(const std::string& option, const std::filesystem::path& path, std::size_t max_size) {
    auto r = read_file(path, max_size);
    if (!r.ok()) return make_error(errc::io, option + ": " + r.err().message);
    return r;
}

result<ossl::pkey_ptr> load_public_key(const std::filesystem::path& path) {
    CUSTOS_TRY(data, read_input("--public", path, 1u << 20));
    static constexpr char pem_marker[] = "-----BEGIN";
    std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    if (text.find(pem_marker) != std::string_view::npos) {
        auto key = ossl::load_public_pem(data);
        if (!key.ok()) return with_context(std::move(key).err(), path.string());
        return key;
    }
    auto pub = attest::unmarshal_public(data);
    if (!pub.ok())
        return make_error(errc::parse, path.string() + " is neither a PEM public key nor a TPM2B_PUBLIC (" +
                                           pub.err().message + ")");
    return attest::public_to_pkey(pub->publicArea);
}

void print_json(const boost::json::value& v) { std::cout << boost::json::serialize(v) << "\n"; }

void init_logging(bool verbose) {
    auto logger = spdlog::get("custos");
    if (!logger) logger = spdlog::stderr_color_mt("custos");
    logger->set_pattern("custos: %^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
}

result<policy::chip_table> chip_table_option(const std::string& path) {
    if (path.empty()) return policy::chip_table::builtin();
    auto t = policy::chip_table::load(path);
    if (!t) return make_error(errc::invalid_argument, "--chips: " + t.err().message);
    return t;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace custos::cli
