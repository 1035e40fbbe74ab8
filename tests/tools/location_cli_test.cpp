// `custos location check`, run in-process: the exact JSON line, null distances when the RTTs are
// inconsistent, negative coordinates in both option spellings, and exit 2 with a reason for bad input.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "tests/support/cli_runner.hpp"

namespace custos {
namespace {

namespace json = boost::json;
using test::run_cli;

constexpr double km_per_deg = std::numbers::pi / 180 * 6371.0;  // 111.195 km of arc per degree

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

json::object parse_line(const std::string& out) {
    boost::system::error_code ec;
    json::value v = json::parse(out, ec);
    EXPECT_FALSE(ec) << out;
    if (ec || !v.is_object()) return {};
    return v.as_object();
}

// RTT (ms) for a cap of r km at light speed in vacuum.
std::string rtt_for(double r_km) { return std::to_string(2 * r_km / 299.792); }

TEST(LocationCli, ExactJsonLine) {
    // A zero-RTT landmark at the site: the host is exactly there.
    auto r = run_cli({"location", "check", "--site", "10,20", "--max-km", "0", "--landmark", "10,20,0", "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out, "{\"verdict\":\"within\",\"max_km_from_site\":0,\"min_km_from_site\":0,\"possible_countries\":[\"TD\"]}\n");
}

TEST(LocationCli, DistancesAndVerdicts) {
    // One landmark 30° east of the site with a 1000 km cap: min d − 1000, max d + 1000, d = 3335.85 km.
    const double d = 30 * km_per_deg;
    const std::string lmk = "0,30," + rtt_for(1000);
    for (auto [limit, verdict] : {std::pair{"2000", "outside"}, {"3000", "unproven"}, {"5000", "within"}}) {
        auto r = run_cli({"location", "check", "--site", "0,0", "--max-km", limit, "--landmark", lmk, "--json"});
        ASSERT_EQ(r.rc, 0) << r.err;
        EXPECT_EQ(lines(r.out), 1u);
        const auto o = parse_line(r.out);
        ASSERT_EQ(o.size(), 4u) << r.out;
        EXPECT_EQ(o.at("verdict"), verdict);
        EXPECT_NEAR(o.at("max_km_from_site").to_number<double>(), d + 1000, 0.01);
        EXPECT_NEAR(o.at("min_km_from_site").to_number<double>(), d - 1000, 0.01);
        // The keys come in the documented order.
        EXPECT_EQ(r.out.find("{\"verdict\":"), 0u) << r.out;
        EXPECT_LT(r.out.find("max_km_from_site"), r.out.find("min_km_from_site"));
    }
}

TEST(LocationCli, ImpossibleHasNullDistances) {
    const std::string cap = rtt_for(10 * km_per_deg);
    auto r = run_cli({"location", "check", "--site", "0,15", "--max-km", "100", "--landmark", "0,0," + cap, "--landmark",
                      "0,30," + cap, "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "{\"verdict\":\"impossible\",\"max_km_from_site\":null,\"min_km_from_site\":null,\"possible_countries\":[]}\n");
}

TEST(LocationCli, NegativeCoordinatesInBothSpellings) {
    // Cape Town, with a landmark there measuring 1 ms (cap 149.9 km).
    for (const auto& site : {std::vector<std::string>{"--site", "-33.9,18.4"}, {"--site=-33.9,18.4"}}) {
        std::vector<std::string> args = {"location", "check"};
        args.insert(args.end(), site.begin(), site.end());
        for (const std::string s : {"--max-km", "200", "--landmark", "-33.9,18.4,1", "--landmark=-34,18.5,1.2", "--json"})
            args.push_back(s);
        auto r = run_cli(args);
        ASSERT_EQ(r.rc, 0) << r.err;
        const auto o = parse_line(r.out);
        EXPECT_EQ(o.at("verdict"), "within") << r.out;
        EXPECT_NEAR(o.at("max_km_from_site").to_number<double>(), 299.792 / 2, 0.01);
    }
    // Negative longitude and a western site.
    auto r = run_cli({"location", "check", "--site", "-12.5,-77", "--max-km", "1", "--landmark", "-12.5,-77,0", "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(parse_line(r.out).at("verdict"), "within");
}

TEST(LocationCli, SpeedOption) {
    // 10 ms at fibre speed (200 km/ms) is a 1000 km cap.
    auto r = run_cli({"location", "check", "--site", "0,0", "--max-km", "1000", "--landmark", "0,0,10",
                      "--speed-km-per-ms", "200", "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto o = parse_line(r.out);
    EXPECT_NEAR(o.at("max_km_from_site").to_number<double>(), 1000, 0.01);
    EXPECT_EQ(o.at("verdict"), "within");
}

TEST(LocationCli, ReadableSummary) {
    auto r = run_cli({"location", "check", "--site", "0,0", "--max-km", "3000", "--landmark", "0,30," + rtt_for(1000)});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.rfind("unproven: the host is 2335.8 to 4335.8 km from the site", 0), 0u) << r.out;
    auto imp = run_cli({"location", "check", "--site", "0,0", "--max-km", "1", "--landmark", "0,0,0", "--landmark", "0,1,0"});
    ASSERT_EQ(imp.rc, 0) << imp.err;
    EXPECT_EQ(imp.out.rfind("impossible: ", 0), 0u) << imp.out;
}

TEST(LocationCli, BadInputExitsTwoWithReason) {
    struct bad_case {
        std::vector<std::string> args;
        std::string expect_in_err;
    };
    const std::vector<bad_case> cases = {
        {{"--site", "abc,1", "--max-km", "1", "--landmark", "0,0,1"}, "--site"},
        {{"--site", "1", "--max-km", "1", "--landmark", "0,0,1"}, "--site"},
        {{"--site", "1,2,3", "--max-km", "1", "--landmark", "0,0,1"}, "--site"},
        {{"--site", "1,2", "--max-km", "1", "--landmark", "0,0"}, "--landmark 0"},
        {{"--site", "1,2", "--max-km", "1", "--landmark", "0,0,1", "--landmark", "0,0,1ms"}, "--landmark 1"},
        {{"--site", "1,2", "--max-km", "1", "--landmark", "0,,1"}, "--landmark 0"},
        {{"--site", "91,0", "--max-km", "1", "--landmark", "0,0,1"}, "site: lat"},
        {{"--site", "0,-181", "--max-km", "1", "--landmark", "0,0,1"}, "site: lon"},
        {{"--site", "0,0", "--max-km", "1", "--landmark", "0,0,1", "--landmark", "0,0,-1"}, "landmark 1: rtt_ms"},
        {{"--site", "0,0", "--max-km", "1", "--landmark", "95,0,1"}, "landmark 0: lat"},
        {{"--site", "0,0", "--max-km", "1", "--landmark", "0,0,inf"}, "landmark 0: rtt_ms"},
        {{"--site", "0,0", "--max-km", "-1", "--landmark", "0,0,1"}, "max_km"},
        {{"--site", "0,0", "--max-km", "1", "--landmark", "0,0,1", "--speed-km-per-ms", "0"}, "speed"},
        {{"--site", "0,0", "--max-km", "far", "--landmark", "0,0,1"}, "--max-km"},
        {{"--site", "0,0", "--max-km", "1"}, "--landmark"},  // no landmark
        {{"--max-km", "1", "--landmark", "0,0,1"}, "--site"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args = {"location", "check"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        args.push_back("--json");
        std::string joined;
        for (const auto& a : c.args) joined += a + " ";
        SCOPED_TRACE(joined);
        auto r = run_cli(args);
        EXPECT_EQ(r.rc, 2);
        EXPECT_EQ(r.out, "");
        EXPECT_NE(r.err.find(c.expect_in_err), std::string::npos) << r.err;
    }
}

}  // namespace
}  // namespace custos
