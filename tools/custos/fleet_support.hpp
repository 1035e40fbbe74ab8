// What every `custos fleet` command shares: the verifier address and operator credential, one HTTPS call
// that maps the verifier's refusals to exit codes, and the table and time formatting of the human output.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {

struct fleet_options {
    std::string verifier;
    std::string credential;
    bool json_out = false;
};

std::string env_or(const char* name, const char* fallback);
std::string when(std::int64_t t);  // "2026-12-01 08:00:00" (UTC) or "never"
// A time option: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" (UTC) or Unix seconds; the error names the option.
result<std::int64_t> unix_time_option(const std::string& s, const char* option);
std::string str(const boost::json::value* v);
std::string field(const boost::json::object& o, std::string_view key);
std::int64_t time_field(const boost::json::object& o, std::string_view key);
// Ids and rule names are sent as typed; anything that is not an unreserved URL character is
// percent-encoded so it cannot change the path or add query parameters (the verifier then refuses it).
std::string url_encode(const std::string& s);
// Columns padded to their widest cell, two spaces apart; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows);
// One request; prints the verifier's refusal and maps it to the exit code.
// `body_limit` (0: the client's default, 4 MiB) is the largest answer taken: an evidence bundle is larger.
int call(const fleet_options& o, const std::string& method, const std::string& target, const std::string& body,
         boost::json::value& out, std::size_t body_limit = 0);
boost::json::array array_at(const boost::json::value& v, std::string_view key);

// Runs a call and prints the verifier's JSON (--json) or the human form.
template <class Human>
int run_and_print(const fleet_options& o, const std::string& method, const std::string& target, const std::string& body,
                  Human human) {
    boost::json::value out;
    const int rc = call(o, method, target, body, out);
    if (rc != exit_ok) return rc;
    if (o.json_out) print_json(out);
    else human(out);
    return exit_ok;
}

// custos fleet gpu …, compute, model … (cmd_fleet_gpu.cpp).
void register_fleet_gpu_commands(CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds);
void register_fleet_model_commands(CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds);
// custos fleet reports HOST and custos report verify FILE (cmd_report.cpp).
void register_report_commands(CLI::App& app, CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds);
// custos fleet snapshot, policy, landmark … (cmd_fleet_policy.cpp).
void register_fleet_policy_commands(CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds);

}  // namespace custos::cli
