#include "tools/custos/fleet_support.hpp"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "net/https_client.hpp"

namespace custos::cli {
namespace json = boost::json;

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

result<std::int64_t> unix_time_option(const std::string& s, const char* option) {
    if (!s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) {
        tm = {};
        end = strptime(s.c_str(), "%Y-%m-%d", &tm);
    }
    if (!end || *end)
        return make_error(errc::invalid_argument,
                          std::string(option) + ": \"" + s + "\" is not a date (YYYY-MM-DD[THH:MM:SSZ]) or Unix seconds");
    return static_cast<std::int64_t>(timegm(&tm));
}

std::string when(std::int64_t t) {
    if (t == 0) return "never";
    char buf[32];
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string str(const json::value* v) {
    if (v == nullptr || v->is_null()) return "-";
    if (v->is_string()) return std::string(v->as_string());
    return json::serialize(*v);
}
std::string field(const json::object& o, std::string_view key) { return str(o.if_contains(key)); }
std::int64_t time_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_int64() ? v->as_int64() : 0;
}

// Ids and rule names are sent as typed; anything that is not an unreserved URL character is
// percent-encoded so it cannot change the path or add query parameters (the verifier then refuses it).
std::string url_encode(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i) width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        std::printf("%s\n", line.c_str());
    }
}

// One request; prints the verifier's refusal and maps it to the exit code.
int call(const fleet_options& o, const std::string& method, const std::string& target, const std::string& body,
         json::value& out, std::size_t body_limit) {
    if (o.credential.empty())
        return fail_usage("fleet: no operator credential: pass --credential DIR (the verifier's DIR/operator) or set "
                          "CUSTOS_CREDENTIAL");
    net::https_client_options co;
    co.ca_file = o.credential + "/ca.pem";
    co.cert_file = o.credential + "/cert.pem";
    co.key_file = o.credential + "/key.pem";
    if (body_limit) {
        co.body_limit = body_limit;
        co.timeout = std::chrono::seconds(300);
    }
    auto c = net::https_client::create(o.verifier, co);
    if (!c) return fail_usage("fleet: " + c.err().message);
    auto r = (*c)->request(method, target, body);
    if (!r) return fail_usage("fleet: verifier " + o.verifier + " unreachable: " + r.err().message);
    boost::system::error_code ec;
    out = json::parse(r->body, ec);
    if (r->status >= 400) {
        std::string detail = r->body;
        if (!ec && out.is_object()) {
            if (const auto* d = out.as_object().if_contains("detail"); d && d->is_string()) detail = std::string(d->as_string());
        }
        std::fprintf(stderr, "custos: fleet: the verifier refused (HTTP %u): %s\n", r->status, detail.c_str());
        return exit_failed;
    }
    if (ec || !out.is_object()) return fail_usage("fleet: verifier " + o.verifier + ": the answer is not a JSON object");
    return exit_ok;
}

json::array array_at(const json::value& v, std::string_view key) {
    const auto* a = v.as_object().if_contains(key);
    return a && a->is_array() ? a->as_array() : json::array{};
}

}  // namespace custos::cli
