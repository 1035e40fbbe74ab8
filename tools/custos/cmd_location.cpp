// custos location check: what landmark RTTs prove about a host's distance from its approved site
// (policy::bound_location; the geometry is in docs/location.md).
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/borders.hpp"
#include "policy/geo.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace {

struct location_args {
    std::string site;
    double max_km = 0;
    std::vector<std::string> landmarks;
    double speed = policy::light_vacuum_km_per_ms;
    bool json_out = false;
};

// "a,b,c" into exactly `n` numbers; the whole of each field must be a number (a leading '+' is allowed).
result<std::vector<double>> parse_numbers(std::string_view text, std::size_t n, const std::string& what) {
    std::vector<double> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = text.find(',', start);
        std::string_view field = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!field.empty() && field.front() == '+') field.remove_prefix(1);
        double v = 0;
        const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
        if (field.empty() || ec != std::errc() || end != field.data() + field.size())
            return make_error(errc::invalid_argument, what + ": \"" + std::string(text) + "\" is not " +
                                                          (n == 2 ? "LAT,LON" : "LAT,LON,RTT_MS") + " (decimal numbers)");
        out.push_back(v);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (out.size() != n)
        return make_error(errc::invalid_argument, what + ": \"" + std::string(text) + "\" has " + std::to_string(out.size()) +
                                                      " numbers, expected " + (n == 2 ? "LAT,LON" : "LAT,LON,RTT_MS"));
    return out;
}

// Shortest text that reads back as the same double, in plain JSON number syntax.
std::string json_number(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

int location_check(const location_args& a) {
    auto site = parse_numbers(a.site, 2, "--site");
    if (!site) return fail_usage(site.err().message);
    std::vector<policy::landmark_rtt> lms;
    for (std::size_t i = 0; i < a.landmarks.size(); ++i) {
        auto v = parse_numbers(a.landmarks[i], 3, "--landmark " + std::to_string(i));
        if (!v) return fail_usage(v.err().message);
        lms.push_back({(*v)[0], (*v)[1], (*v)[2]});
    }
    auto b = policy::bound_location((*site)[0], (*site)[1], a.max_km, lms, a.speed);
    if (!b) return fail("location check", b.err());

    // The countries the feasible region may reach (an inclusive approximation: policy/borders.hpp).
    const std::vector<std::string> countries =
        b->verdict == "impossible" ? std::vector<std::string>{}
                                   : policy::possible_countries(policy::border_map::builtin(), policy::landmark_caps(lms, a.speed));
    std::string list;
    for (const auto& c : countries) list += (list.empty() ? "" : ",") + ("\"" + c + "\"");
    if (a.json_out) {
        const auto num = [](const std::optional<double>& d) { return d ? json_number(*d) : std::string("null"); };
        // Built by hand: the verdict is one of four fixed words, and numbers read better than Boost's 1.5E3.
        std::printf("{\"verdict\":\"%s\",\"max_km_from_site\":%s,\"min_km_from_site\":%s,\"possible_countries\":[%s]}\n",
                    b->verdict.c_str(), num(b->max_km_from_site).c_str(), num(b->min_km_from_site).c_str(), list.c_str());
        return exit_ok;
    }
    const std::size_t n = lms.size();
    if (b->verdict == "impossible") {
        std::printf("impossible: no point on Earth is consistent with the %zu landmark RTT%s "
                    "(a landmark's position, clock or the propagation speed is wrong)\n",
                    n, n == 1 ? "" : "s");
        return exit_ok;
    }
    std::printf("%s: the host is %.1f to %.1f km from the site (limit %g km, %zu landmark%s, %g km/ms)\n",
                b->verdict.c_str(), *b->min_km_from_site, *b->max_km_from_site, a.max_km, n, n == 1 ? "" : "s", a.speed);
    if (b->verdict == "within") std::printf("every point consistent with the RTTs is within the limit\n");
    else if (b->verdict == "outside") std::printf("no point consistent with the RTTs is within the limit\n");
    else std::printf("some points consistent with the RTTs are within the limit, some are not: more or closer landmarks needed\n");
    std::string plain;
    for (const auto& c : countries) {
        const policy::border_country* bc = policy::border_map::builtin().by_code(c);
        plain += (plain.empty() ? "" : ", ") + c + (bc ? " (" + bc->name + ")" : "");
    }
    std::printf("possible countries: %s\n", plain.empty() ? "none on land (the region is at sea)" : plain.c_str());
    return exit_ok;
}

}  // namespace

void register_location_commands(CLI::App& app, command_list& cmds) {
    auto* location = app.add_subcommand("location", "Delay-based location checks");
    location->require_subcommand(1);
    auto args = std::make_shared<location_args>();
    auto* check = location->add_subcommand(
        "check", "Bound a host's distance from its site by the RTTs that landmarks measured (exit 0 for any verdict)");
    check->add_option("--site", args->site, "Approved site, degrees: LAT,LON (negative values: --site=-33.9,18.4 also works)")
        ->required();
    check->add_option("--max-km", args->max_km, "Largest allowed distance from the site, km")->required();
    check->add_option("--landmark", args->landmarks, "LAT,LON,RTT_MS: a landmark and the smallest RTT it measured; repeat")
        ->required();
    check->add_option("--speed-km-per-ms", args->speed, "Propagation speed bounding the distance (default: light in vacuum)")
        ->capture_default_str();
    check->add_flag("--json", args->json_out, "Print {\"verdict\",\"max_km_from_site\",\"min_km_from_site\"}");
    cmds.push_back({check, [args] { return location_check(*args); }});
}

}  // namespace custos::cli
