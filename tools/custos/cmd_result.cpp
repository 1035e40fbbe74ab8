// custos result verify: checks a signed attestation result (JWT, ES256) offline with the verifier's key.
#include <boost/json.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <iterator>

#include "crypto/jwt.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace json = boost::json;

void register_result_commands(CLI::App& app, command_list& cmds) {
    struct args {
        std::string token, pub;
        bool json_out = false;
    };
    auto a = std::make_shared<args>();
    auto* result = app.add_subcommand("result", "Attestation results signed by a custos verifier");
    result->require_subcommand(1);
    auto* verify = result->add_subcommand("verify", "Check a result token offline");
    verify->add_option("TOKEN", a->token, "The JWT, @FILE, or - for stdin")->required();
    verify->add_option("--verifier-pub", a->pub, "The verifier's result.pub.pem")->required();
    verify->add_flag("--json", a->json_out, "Print the claims as JSON");
    cmds.push_back({verify, [a] {
                        std::string token = a->token;
                        if (token == "-") {
                            token.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
                        } else if (!token.empty() && token[0] == '@') {
                            auto b = read_input("TOKEN", token.substr(1));
                            if (!b) return fail("reading the token", b.err());
                            token.assign(b->begin(), b->end());
                        }
                        while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
                            token.pop_back();
                        auto key = load_public_key(a->pub);
                        if (!key) return fail("--verifier-pub", key.err());
                        auto v = jwt::verify_es256(token, key->get());
                        if (!v) {
                            std::fprintf(stderr, "custos: result: %s\n", v.err().message.c_str());
                            return v.err().code == errc::parse ? exit_usage : exit_failed;
                        }
                        boost::system::error_code ec;
                        const json::value claims = json::parse(v->claims_json, ec);
                        if (a->json_out) {
                            print_json(claims);
                            return exit_ok;
                        }
                        const auto& c = claims.as_object();
                        auto s = [&](const char* k) {
                            return c.contains(k) && c.at(k).is_string() ? std::string(c.at(k).as_string()) : std::string("?");
                        };
                        char when[32] = "?";
                        if (c.contains("iat") && c.at("iat").is_number()) {
                            std::time_t t = c.at("iat").to_number<std::int64_t>();
                            std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
                        }
                        const std::size_t n = c.contains("custos.findings") && c.at("custos.findings").is_array()
                                                  ? c.at("custos.findings").as_array().size()
                                                  : 0;
                        std::printf("result: valid\nhost: %s\nstatus: %s\nissued: %s\nfindings: %zu\n", s("sub").c_str(),
                                    s("ear.status").c_str(), when, n);
                        return exit_ok;
                    }});
}

}  // namespace custos::cli
