// policy/borders: the built-in Natural Earth borders name the country of known places (Singapore and
// Johor, Seoul and Pyongyang, …), distances to a country agree with great-circle distances computed
// independently, and possible_countries never leaves out a country a region reaches.
#include "policy/borders.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace custos::policy {
namespace {

std::string at(double lat, double lon) {
    const border_country* c = border_map::builtin().country_at(lat, lon);
    return c ? c->code : "";
}

TEST(Borders, BuiltInDataParsesAndNamesKnownPlaces) {
    const border_map& m = border_map::builtin();
    EXPECT_GE(m.countries().size(), 230u);
    EXPECT_EQ(at(1.29, 103.85), "SG");    // Singapore
    EXPECT_EQ(at(1.49, 103.72), "MY");    // Johor Bahru, inland
    EXPECT_EQ(at(37.57, 126.98), "KR");   // Seoul
    EXPECT_EQ(at(39.03, 125.75), "KP");   // Pyongyang
    EXPECT_EQ(at(52.52, 13.40), "DE");    // Berlin
    EXPECT_EQ(at(16.84, 96.17), "MM");    // Yangon
    EXPECT_EQ(at(-33.87, 151.21), "AU");  // Sydney
    EXPECT_EQ(at(0, -30), "");            // the Atlantic
    EXPECT_EQ(at(43.93, 12.45), "SM");    // San Marino, a hole in Italy
    EXPECT_EQ(at(43.80, 11.25), "IT");    // Florence
}

TEST(Borders, DistancesToACountryAgreeWithGreatCircleDistances) {
    const border_map& m = border_map::builtin();
    const border_country* kp = m.by_code("KP");
    ASSERT_NE(kp, nullptr);
    EXPECT_EQ(border_map::distance_km(*kp, 39.03, 125.75), 0.0);
    // Seoul to North Korea: the DMZ is 40-60 km north of Seoul; never more than Seoul–Pyongyang.
    const double seoul_kp = border_map::distance_km(*kp, 37.57, 126.98);
    EXPECT_GT(seoul_kp, 30);
    EXPECT_LT(seoul_kp, 70);
    EXPECT_LT(seoul_kp, great_circle_km(37.57, 126.98, 39.03, 125.75));
    // Singapore's centre to Malaysia: across the Johor Strait, a few km.
    const border_country* my = m.by_code("MY");
    ASSERT_NE(my, nullptr);
    const double sg_my = border_map::distance_km(*my, 1.29, 103.85);
    EXPECT_GT(sg_my, 5);
    EXPECT_LT(sg_my, 30);
}

TEST(Borders, PossibleCountriesIncludeEveryCountryTheRegionReaches) {
    const border_map& m = border_map::builtin();
    // A landmark in Singapore proving the host within 10 km: Singapore only; within 40 km: Malaysia too
    // (and Indonesia's Batam, 20-30 km south).
    auto near = possible_countries(m, {{1.29, 103.85, 10}});
    EXPECT_EQ(near, (std::vector<std::string>{"SG"}));
    auto wider = possible_countries(m, {{1.29, 103.85, 40}});
    EXPECT_NE(std::find(wider.begin(), wider.end(), "MY"), wider.end());
    EXPECT_NE(std::find(wider.begin(), wider.end(), "SG"), wider.end());
    // Seoul within 30 km stays in Korea; within 80 km North Korea is possible.
    EXPECT_EQ(possible_countries(m, {{37.57, 126.98, 30}}), (std::vector<std::string>{"KR"}));
    auto dmz = possible_countries(m, {{37.57, 126.98, 80}});
    EXPECT_NE(std::find(dmz.begin(), dmz.end(), "KP"), dmz.end());
    // Two caps: one around Seoul (80 km), one around Busan (260 km) reaching only Korea's south: North
    // Korea is out, since the Busan cap does not reach it.
    auto both = possible_countries(m, {{37.57, 126.98, 80}, {35.18, 129.08, 260}});
    EXPECT_EQ(std::find(both.begin(), both.end(), "KP"), both.end());
    EXPECT_NE(std::find(both.begin(), both.end(), "KR"), both.end());
}

TEST(Borders, TheFormatIsStrict) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"C KR Korea\nP 3\n0 0\n1 0\n", "cut short"},
        {"C XX Nowhere\nP 3\n0 0\n1 0\n1 1\n", "alpha-2"},
        {"C KR Korea\nP 3\n0 0\n1 0\n1 1\nC KR Again\nP 3\n0 0\n1 0\n1 1\n", "twice"},
        {"P 3\n0 0\n1 0\n1 1\n", "before any country"},
        {"C KR Korea\nP 3\n0 0\n1 0\n200 1\n", "outside"},
        {"C KR Korea\nQ 3\n", "unknown line"},
        {"C KR Korea\nH 3\n0 0\n1 0\n1 1\n", "hole before"},
    };
    for (const auto& [text, why] : bad) {
        auto r = border_map::parse(text, "t.txt");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.err().message.find(why), std::string::npos) << r.err().message;
    }
    auto ok = border_map::parse("C KR Korea\nP 4\n0 0\n10 0\n10 10\n0 10\nH 4\n4 4\n6 4\n6 6\n4 6\n", "t.txt");
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_NE(ok->country_at(2, 2), nullptr);
    EXPECT_EQ(ok->country_at(5, 5), nullptr);  // in the hole
}

}  // namespace
}  // namespace custos::policy
