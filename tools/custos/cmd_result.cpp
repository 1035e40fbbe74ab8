// custos result verify: checks a signed attestation result (JWT, ES256) offline with the verifier's key.
#include <boost/json.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <iterator>
#include <memory>

#include "crypto/jwt.hpp"
#include "crypto/ossl.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace {

namespace json = boost::json;

// A result token is a few hundred bytes per finding; anything near this is not one.
constexpr std::size_t max_token_size = 1u << 20;

struct result_args {
    std::string token, pub;
    bool json_out = false;
};

// TOKEN as given, @FILE, or - (stdin); surrounding whitespace (a trailing newline) is dropped.
result<std::string> read_token(const std::string& arg) {
    std::string token;
    if (arg == "-") {
        std::istreambuf_iterator<char> it(std::cin), end;
        while (it != end && token.size() <= max_token_size) token.push_back(*it++);
    } else if (!arg.empty() && arg[0] == '@') {
        CUSTOS_TRY(b, read_input("TOKEN", arg.substr(1), max_token_size));
        token.assign(b.begin(), b.end());
    } else {
        token = arg;
    }
    if (token.size() > max_token_size)
        return make_error(errc::invalid_argument, "TOKEN: larger than " + std::to_string(max_token_size) + " bytes");
    const auto first = token.find_first_not_of(" \t\r\n");
    const auto last = token.find_last_not_of(" \t\r\n");
    if (first == std::string::npos) return make_error(errc::invalid_argument, "TOKEN is empty");
    return token.substr(first, last - first + 1);
}

std::string string_claim(const json::object& c, const char* key) {
    const auto* v = c.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string("?");
}

// iat as ISO 8601 UTC; "?" when absent or not a plausible integer time.
std::string issued_at(const json::object& c) {
    const auto* v = c.if_contains("iat");
    std::int64_t t = 0;
    if (v && v->is_int64()) t = v->get_int64();
    else if (v && v->is_uint64() && v->get_uint64() <= 253402300799u) t = static_cast<std::int64_t>(v->get_uint64());
    else return "?";
    if (t < 0 || t > 253402300799) return "?";  // years 1970..9999
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    char when[32];
    if (!gmtime_r(&tt, &tm) || std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
    return when;
}

int verify_result(const result_args& a) {
    auto token = read_token(a.token);
    if (!token) return fail("result verify", token.err());
    auto pem = read_input("--verifier-pub", a.pub, 1u << 20);
    if (!pem) return fail("result verify", pem.err());
    auto key = ossl::load_public_pem(*pem);
    if (!key) return fail_usage("result verify: --verifier-pub " + a.pub + ": " + key.err().message);
    auto v = jwt::verify_es256(*token, key->get());
    if (!v) {
        const error& e = v.err();
        if (e.code == errc::invalid_argument)  // the key is not P-256: an input problem, not a failed check
            return fail_usage("result verify: --verifier-pub " + a.pub + ": " + e.message);
        const char* step = e.code == errc::signature ? "signature" : "structure";
        std::cerr << "custos: result verify: " << step << ": " << e.message << "\n";
        // Something that is not a JWT at all is bad input; a JWT that fails a check is a failed check.
        return e.code == errc::parse ? exit_usage : exit_failed;
    }
    boost::system::error_code ec;
    const json::value claims = json::parse(v->claims_json, ec);
    if (ec || !claims.is_object()) {  // verify_es256 already insisted on an object; kept for safety
        std::cerr << "custos: result verify: structure: the claims are not a JSON object\n";
        return exit_failed;
    }
    if (a.json_out) {
        print_json(claims);
        return exit_ok;
    }
    const auto& c = claims.get_object();
    const auto* findings = c.if_contains("custos.findings");
    const std::size_t n = findings && findings->is_array() ? findings->get_array().size() : 0;
    std::printf("result: valid\nhost: %s\nstatus: %s\nissued: %s\nfindings: %zu\n", string_claim(c, "sub").c_str(),
                string_claim(c, "ear.status").c_str(), issued_at(c).c_str(), n);
    return exit_ok;
}

}  // namespace

void register_result_commands(CLI::App& app, command_list& cmds) {
    auto a = std::make_shared<result_args>();
    auto* result = app.add_subcommand("result", "Attestation results signed by a custos verifier");
    result->require_subcommand(1);
    auto* verify = result->add_subcommand("verify", "Check a result token offline (exit 0 valid, 1 invalid, 2 bad input)");
    verify->add_option("TOKEN", a->token, "The JWT, @FILE, or - for stdin")->required();
    verify->add_option("--verifier-pub", a->pub, "The verifier's keys/result.pub.pem")->required();
    verify->add_flag("--json", a->json_out, "Print the verified claims as JSON");
    cmds.push_back({verify, [a] { return verify_result(*a); }});
}

}  // namespace custos::cli
