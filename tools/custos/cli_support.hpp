// What every custos command shares: reading inputs with errors that name the file, failing with one
// line on stderr, and printing JSON.
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <string>

#include "crypto/bytes.hpp"
#include "crypto/ossl.hpp"
#include "policy/chips.hpp"

namespace custos::cli {

// Prints "custos: <context>: <message>" to stderr and returns the exit code for the error's kind:
// exit_usage for unreadable or malformed inputs, exit_failed for checks that ran and failed.
int fail(const std::string& context, const error& e);
int fail_usage(const std::string& message);

// Reads a file given on the command line; the error names the option and the path.
result<bytes> read_input(const std::string& option, const std::filesystem::path& path,
                         std::size_t max_size = 16u << 20);

// A public key file: PEM SubjectPublicKeyInfo, or a marshalled TPM2B_PUBLIC (tpm2_createak -u).
result<ossl::pkey_ptr> load_public_key(const std::filesystem::path& path);

void print_json(const boost::json::value& v);

// The chip table a --chips option names, or the one built into custos when the option is empty. A table
// that cannot be read or does not parse is bad input like a missing file: the error says "--chips: …".
result<policy::chip_table> chip_table_option(const std::string& path);

// "-" for an empty cell of a printed table.
std::string or_dash(const std::string& s);

// Sends spdlog output to stderr (stdout carries results only); verbose raises the level to debug.
void init_logging(bool verbose);

}  // namespace custos::cli
