// policy::bound_location against cases worked out by hand (distances along great circles through the
// landmarks and the site) and against two independent oracles: exact interval intersection along many
// great-circle rays from the site, and a sphere-covering point grid (every grid point consistent with
// the RTTs must lie within [min, max] of the answer).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <numbers>
#include <optional>
#include <random>
#include <vector>

#include "policy/geo.hpp"

namespace custos {
namespace {

using policy::bound_location;
using policy::landmark_rtt;

constexpr double pi = std::numbers::pi;
constexpr double re = 6371.0;
constexpr double c_vac = 299.792;
constexpr double half_earth = pi * re;  // 20015.0868 km: the farthest two points can be

double arc_km(double degrees) { return degrees * pi / 180.0 * re; }
// The RTT that gives a cap of radius r km in vacuum.
double rtt_for_km(double r_km) { return 2.0 * r_km / c_vac; }
landmark_rtt lm(double lat, double lon, double r_km) { return {lat, lon, rtt_for_km(r_km)}; }

// Tolerance on distances the solver gets exactly (it is exact up to its ~1 m membership slack).
constexpr double exact_km = 0.01;

struct bound {
    std::string verdict;
    std::optional<double> max_km, min_km;
};
bound solve(double lat, double lon, double max_km, const std::vector<landmark_rtt>& l, double v = c_vac) {
    auto r = bound_location(lat, lon, max_km, l, v);
    EXPECT_TRUE(r.ok()) << r.err().message;
    if (!r.ok()) return {};
    return {r->verdict, r->max_km_from_site, r->min_km_from_site};
}

// ---- Independent oracles -------------------------------------------------------------------------

using v3 = std::array<double, 3>;
v3 unit(double lat, double lon) {
    const double p = lat * pi / 180, l = lon * pi / 180;
    return {std::cos(p) * std::cos(l), std::cos(p) * std::sin(l), std::sin(p)};
}
double dotp(const v3& a, const v3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double radius_rad(const landmark_rtt& l, double v = c_vac) { return std::min(l.rtt_ms / 2 * v / re, pi); }

// Along the great circle leaving site S at azimuth φ, p(ρ) = cos ρ S + sin ρ u and p·c = a cos ρ + b sin ρ
// = A cos(ρ − β): each cap allows one arc of ρ, found in closed form. Intersecting those arcs on [0, π]
// gives the exact nearest and farthest feasible point on each ray; the extremes over many azimuths
// approach the true extremes from inside (they are points of F).
struct oracle_result {
    bool any = false;
    double min_km = 0, max_km = 0;
};
oracle_result ray_oracle(double lat, double lon, const std::vector<landmark_rtt>& lms, int azimuths = 200000) {
    const v3 s = unit(lat, lon);
    // A tangent basis at S: east and north (any orthonormal pair works; the poles need care).
    v3 e1 = std::fabs(s[2]) > 0.9 ? v3{1, 0, 0} : v3{0, 0, 1};
    const double k = dotp(e1, s);
    e1 = {e1[0] - k * s[0], e1[1] - k * s[1], e1[2] - k * s[2]};
    const double n1 = std::sqrt(dotp(e1, e1));
    e1 = {e1[0] / n1, e1[1] / n1, e1[2] / n1};
    const v3 e2 = {s[1] * e1[2] - s[2] * e1[1], s[2] * e1[0] - s[0] * e1[2], s[0] * e1[1] - s[1] * e1[0]};
    oracle_result out;
    out.min_km = 1e9;
    std::vector<std::pair<double, double>> cur, next, allowed;
    for (int ai = 0; ai < azimuths; ++ai) {
        const double phi = 2 * pi * ai / azimuths;
        const v3 u = {std::cos(phi) * e1[0] + std::sin(phi) * e2[0], std::cos(phi) * e1[1] + std::sin(phi) * e2[1],
                      std::cos(phi) * e1[2] + std::sin(phi) * e2[2]};
        cur.assign(1, {0.0, pi});
        for (const auto& l : lms) {
            const double th = radius_rad(l);
            if (th >= pi) continue;
            const v3 c = unit(l.lat, l.lon);
            const double a = dotp(s, c), b = dotp(u, c), amp = std::hypot(a, b), ct = std::cos(th);
            allowed.clear();
            if (amp <= -ct) {
                allowed.push_back({0.0, pi});
            } else if (amp >= ct) {
                const double beta = std::atan2(b, a), g = std::acos(std::min(1.0, ct / amp));
                for (int w = -1; w <= 1; ++w) {
                    const double lo = std::max(0.0, beta - g + 2 * pi * w), hi = std::min(pi, beta + g + 2 * pi * w);
                    if (lo <= hi) allowed.push_back({lo, hi});
                }
            }
            next.clear();
            for (const auto& [x0, x1] : cur)
                for (const auto& [y0, y1] : allowed) {
                    const double lo = std::max(x0, y0), hi = std::min(x1, y1);
                    if (lo <= hi) next.push_back({lo, hi});
                }
            cur.swap(next);
            if (cur.empty()) break;
        }
        for (const auto& [lo, hi] : cur) {
            out.any = true;
            out.min_km = std::min(out.min_km, lo * re);
            out.max_km = std::max(out.max_km, hi * re);
        }
    }
    return out;
}

// Points spread evenly over the sphere (a Fibonacci lattice); n = 400k puts neighbours ≈ 35 km apart.
// Every one of them that lies in every cap is a point of F, so its distance to the site must lie
// within [min, max]. Returns how many such points there were.
int grid_soundness(double lat, double lon, const std::vector<landmark_rtt>& lms, const bound& b, int n = 400000) {
    const v3 s = unit(lat, lon);
    int inside = 0;
    const double golden = pi * (3 - std::sqrt(5.0));
    std::vector<std::pair<v3, double>> caps;
    for (const auto& l : lms) caps.push_back({unit(l.lat, l.lon), radius_rad(l)});
    for (int i = 0; i < n; ++i) {
        const double z = 1 - (2.0 * i + 1) / n, r = std::sqrt(1 - z * z), t = golden * i;
        const v3 p = {r * std::cos(t), r * std::sin(t), z};
        bool in = true;
        for (const auto& [c, th] : caps)
            if (std::acos(std::clamp(dotp(p, c), -1.0, 1.0)) > th) {
                in = false;
                break;
            }
        if (!in) continue;
        ++inside;
        const double d = std::acos(std::clamp(dotp(p, s), -1.0, 1.0)) * re;
        EXPECT_TRUE(b.max_km && b.min_km) << "grid point in F but the solver says " << b.verdict;
        if (!b.max_km || !b.min_km) return inside;
        EXPECT_LE(d, *b.max_km + 1e-3);
        EXPECT_GE(d, *b.min_km - 1e-3);
    }
    return inside;
}

// ---- great_circle_km -----------------------------------------------------------------------------

TEST(GeoDistance, KnownSeparations) {
    EXPECT_DOUBLE_EQ(policy::great_circle_km(10, 20, 10, 20), 0.0);
    EXPECT_NEAR(policy::great_circle_km(0, 0, 0, 90), half_earth / 2, 1e-6);
    EXPECT_NEAR(policy::great_circle_km(90, 0, -90, 0), half_earth, 1e-6);
    EXPECT_NEAR(policy::great_circle_km(0, 0, 0, 180), half_earth, 1e-6);
    EXPECT_NEAR(policy::great_circle_km(0, 179.5, 0, -179.5), arc_km(1), 1e-6);  // across the date line
    // London – Paris by the haversine formula, computed independently here.
    const double p1 = 51.5074 * pi / 180, p2 = 48.8566 * pi / 180, dl = (2.3522 + 0.1278) * pi / 180;
    const double h = std::pow(std::sin((p2 - p1) / 2), 2) + std::cos(p1) * std::cos(p2) * std::pow(std::sin(dl / 2), 2);
    EXPECT_NEAR(policy::great_circle_km(51.5074, -0.1278, 48.8566, 2.3522), 2 * re * std::asin(std::sqrt(h)), 1e-6);
    // Tiny separations stay accurate (1 m), where acos of a dot product would not.
    EXPECT_NEAR(policy::great_circle_km(0, 0, 0, 0.001 / re * 180 / pi), 0.001, 1e-9);
}

// ---- One landmark --------------------------------------------------------------------------------

TEST(GeoOneLandmark, SiteAtLandmark) {
    const std::vector<landmark_rtt> l = {lm(0, 0, 1000)};
    auto b = solve(0, 0, 1001, l);
    EXPECT_EQ(b.verdict, "within");
    EXPECT_NEAR(*b.max_km, 1000, exact_km);
    EXPECT_NEAR(*b.min_km, 0, exact_km);
    EXPECT_EQ(solve(0, 0, 999, l).verdict, "unproven");
}

TEST(GeoOneLandmark, SiteOutsideCap) {
    // The site is d = 30° of arc (3335.85 km) east; the cap reaches r = 1000 km: min d − r, max d + r.
    const std::vector<landmark_rtt> l = {lm(0, 0, 1000)};
    const double d = arc_km(30);
    auto b = solve(0, 30, 2000, l);
    EXPECT_EQ(b.verdict, "outside");
    EXPECT_NEAR(*b.min_km, d - 1000, exact_km);
    EXPECT_NEAR(*b.max_km, d + 1000, exact_km);
    EXPECT_EQ(solve(0, 30, d + 1000.1, l).verdict, "within");
    EXPECT_EQ(solve(0, 30, 3000, l).verdict, "unproven");
    EXPECT_EQ(solve(0, 30, d - 1000.1, l).verdict, "outside");
}

TEST(GeoOneLandmark, SiteInsideCapOffCentre) {
    // Site 5° north of the landmark, inside the cap: min 0, max d + r (the far side, through the centre).
    const std::vector<landmark_rtt> l = {lm(40, -100, 2000)};
    auto b = solve(45, -100, 5000, l);
    EXPECT_NEAR(*b.min_km, 0, exact_km);
    EXPECT_NEAR(*b.max_km, arc_km(5) + 2000, exact_km);
    EXPECT_EQ(b.verdict, "within");
}

TEST(GeoOneLandmark, FibreSpeedShrinksTheCap) {
    // The same RTT at 200 km/ms: radius 1000 × 200 / 299.792.
    const std::vector<landmark_rtt> l = {lm(0, 0, 1000)};
    auto b = solve(0, 0, 1000, l, 200.0);
    EXPECT_NEAR(*b.max_km, 1000 * 200 / c_vac, exact_km);
}

TEST(GeoOneLandmark, NearAPole) {
    // A landmark at the north pole with a 10° cap; a site on the 60° N parallel: d = 30°, min 20°, max 40°.
    const std::vector<landmark_rtt> l = {lm(90, 0, arc_km(10))};
    auto b = solve(60, 123, 10000, l);
    EXPECT_NEAR(*b.min_km, arc_km(20), exact_km);
    EXPECT_NEAR(*b.max_km, arc_km(40), exact_km);
}

// ---- Two landmarks -------------------------------------------------------------------------------

TEST(GeoTwoLandmarks, CapsTouchingAtOnePoint) {
    // Centres 20° apart on the equator, radii 10° each: F is the single point (0, 10).
    const std::vector<landmark_rtt> l = {lm(0, 0, arc_km(10)), lm(0, 20, arc_km(10))};
    auto at = solve(0, 10, 1, l);
    EXPECT_EQ(at.verdict, "within");
    EXPECT_NEAR(*at.max_km, 0, exact_km);
    EXPECT_NEAR(*at.min_km, 0, exact_km);
    // From (30, 10), due north of the touching point: both distances are 30° of arc.
    auto north = solve(30, 10, 100, l);
    EXPECT_EQ(north.verdict, "outside");
    EXPECT_NEAR(*north.max_km, arc_km(30), exact_km);
    EXPECT_NEAR(*north.min_km, arc_km(30), exact_km);
    // Off the centres' great circle, so neither circle's own candidate points are the answer: from
    // (10, 40) the only feasible point is still (0, 10).
    auto off = solve(10, 40, 100, l);
    const double d = policy::great_circle_km(10, 40, 0, 10);
    EXPECT_NEAR(*off.max_km, d, exact_km);
    EXPECT_NEAR(*off.min_km, d, exact_km);
}

TEST(GeoTwoLandmarks, DisjointCapsAreImpossible) {
    const std::vector<landmark_rtt> l = {lm(0, 0, arc_km(10)), lm(0, 30, arc_km(10))};
    auto b = solve(0, 15, 20000, l);
    EXPECT_EQ(b.verdict, "impossible");
    EXPECT_FALSE(b.max_km);
    EXPECT_FALSE(b.min_km);
    // A gap of 1 km is still a gap.
    EXPECT_EQ(solve(0, 15, 1, {lm(0, 0, arc_km(10)), lm(0, 20, arc_km(10) - 1)}).verdict, "impossible");
}

TEST(GeoTwoLandmarks, LensVertices) {
    // Centres (0, 0) and (0, 20), radii 15°: the lens's corners lie on lon 10. A site at the north pole
    // is nearest the upper corner and farthest from the lower one. The corner latitude from the right
    // spherical triangle (centre, foot at (0, 10), corner): cos 15° = cos 10° cos φ.
    const std::vector<landmark_rtt> l = {lm(0, 0, arc_km(15)), lm(0, 20, arc_km(15))};
    const double corner = std::acos(std::cos(15 * pi / 180) / std::cos(10 * pi / 180)) * 180 / pi;
    auto b = solve(90, 0, 1000, l);
    EXPECT_NEAR(*b.min_km, arc_km(90 - corner), exact_km);
    EXPECT_NEAR(*b.max_km, arc_km(90 + corner), exact_km);
    EXPECT_EQ(b.verdict, "outside");
}

TEST(GeoTwoLandmarks, AntipodalLandmarksMakeABand) {
    // Centres (0, 0) and (0, 180), radii 100°: F is the band 80°–100° from (0, 0), around the meridian
    // circle through the poles and (0, ±90). Concentric circles: no vertices, only circle points.
    const std::vector<landmark_rtt> l = {lm(0, 0, arc_km(100)), lm(0, 180, arc_km(100))};
    auto at_a = solve(0, 0, 20000, l);
    EXPECT_NEAR(*at_a.min_km, arc_km(80), exact_km);
    EXPECT_NEAR(*at_a.max_km, arc_km(100), exact_km);
    // From (0, 45): along the equator the band spans lon 80..100 and −100..−80; nearest (0, 80) at 35°,
    // farthest (0, −100) at 145°.
    auto mid = solve(0, 45, 1000, l);
    EXPECT_NEAR(*mid.min_km, arc_km(35), exact_km);
    EXPECT_NEAR(*mid.max_km, arc_km(145), exact_km);
    EXPECT_EQ(mid.verdict, "outside");
    // From the north pole, in the band, with the south pole in it too.
    auto pole = solve(90, 0, 1000, l);
    EXPECT_NEAR(*pole.min_km, 0, exact_km);
    EXPECT_NEAR(*pole.max_km, half_earth, exact_km);
    EXPECT_EQ(pole.verdict, "unproven");
    // Radii summing to less than 180°: nothing can be that far from both.
    EXPECT_EQ(solve(0, 0, 1, {lm(0, 0, arc_km(80)), lm(0, 180, arc_km(80))}).verdict, "impossible");
    // Summing to exactly 180°: F is the great circle 90° from (0, 0).
    auto circle = solve(0, 0, 20000, {lm(0, 0, arc_km(90)), lm(0, 180, arc_km(90))});
    EXPECT_NEAR(*circle.min_km, arc_km(90), exact_km);
    EXPECT_NEAR(*circle.max_km, arc_km(90), exact_km);
}

// ---- Caps wider than a hemisphere ----------------------------------------------------------------

TEST(GeoWideCaps, FifteenThousandKm) {
    // r = 15,000 km: F is the sphere less an open cap of radius πR − 15,000 = 5015.09 km (45.1°) around
    // the antipode (0, 180).
    const std::vector<landmark_rtt> l = {lm(0, 0, 15000)};
    const double hole = half_earth - 15000;
    auto anti = solve(0, 180, 1000, l);  // at the antipode: the hole's edge, and the landmark itself
    EXPECT_NEAR(*anti.min_km, hole, exact_km);
    EXPECT_NEAR(*anti.max_km, half_earth, exact_km);
    EXPECT_EQ(anti.verdict, "outside");
    // 10° from the antipode, inside the hole: nearest feasible point is the hole's edge straight out,
    // 5015.09 − 1111.95 km; its own antipode (0, −10) is feasible, so the max is πR. A planar or convex
    // treatment gets both wrong.
    auto in_hole = solve(0, 170, 1000, l);
    EXPECT_NEAR(*in_hole.min_km, hole - arc_km(10), exact_km);
    EXPECT_NEAR(*in_hole.max_km, half_earth, exact_km);
    auto at_lm = solve(0, 0, 15000, l);
    EXPECT_NEAR(*at_lm.min_km, 0, exact_km);
    EXPECT_NEAR(*at_lm.max_km, 15000, exact_km);
    EXPECT_EQ(at_lm.verdict, "within");
}

TEST(GeoWideCaps, TwoWideCapsAgainstOracles) {
    // Two holes (around (0, 180) and (0, −90)) that overlap; the site sits in both. Not convex, not
    // simply shaped: compare with the ray oracle and the grid.
    const std::vector<landmark_rtt> l = {lm(0, 0, 15000), lm(0, 90, 15000)};
    auto b = solve(0, -135, 1000, l);
    const auto o = ray_oracle(0, -135, l);
    ASSERT_TRUE(o.any);
    EXPECT_NEAR(*b.min_km, o.min_km, 0.5);
    EXPECT_NEAR(*b.max_km, o.max_km, 0.5);
    EXPECT_NEAR(*b.max_km, half_earth, exact_km);  // (0, 45) is feasible
    EXPECT_GT(grid_soundness(0, -135, l, b), 1000);
}

TEST(GeoWideCaps, CapCoveringTheWholeSphere) {
    // 1000 ms: 149,896 km, more than πR: no constraint at all.
    auto all = solve(10, 10, 1000, {{0, 0, 1000}});
    EXPECT_EQ(all.verdict, "unproven");
    EXPECT_NEAR(*all.min_km, 0, exact_km);
    EXPECT_NEAR(*all.max_km, half_earth, exact_km);
    // Exactly πR covers the sphere too (the antipode is at πR).
    auto exact = solve(0, 0, 1000, {lm(0, 180, half_earth)});
    EXPECT_NEAR(*exact.max_km, half_earth, exact_km);
    // Next to a real cap it changes nothing.
    auto both = solve(0, 0, 1000, {{0, 0, 1000}, lm(0, 0, 800)});
    EXPECT_NEAR(*both.max_km, 800, exact_km);
    EXPECT_EQ(both.verdict, "within");
}

// ---- Zero RTT: a point ---------------------------------------------------------------------------

TEST(GeoZeroRtt, PointCap) {
    auto at = solve(10, 20, 0, {{10, 20, 0}});
    EXPECT_EQ(at.verdict, "within");
    EXPECT_NEAR(*at.max_km, 0, 1e-6);
    EXPECT_NEAR(*at.min_km, 0, 1e-6);
    const double d = policy::great_circle_km(10, 20, -5, 60);
    auto far = solve(-5, 60, 100, {{10, 20, 0}});
    EXPECT_EQ(far.verdict, "outside");
    EXPECT_NEAR(*far.max_km, d, exact_km);
    EXPECT_NEAR(*far.min_km, d, exact_km);
    EXPECT_EQ(solve(0, 0, 100, {{10, 20, 0}, {10, 20.5, 0}}).verdict, "impossible");
    // On the edge of another cap (10° = 1111.95 km from (0, 0)): still feasible.
    auto edge = solve(0, 0, 2000, {{0, 10, 0}, lm(0, 0, arc_km(10))});
    EXPECT_EQ(edge.verdict, "within");
    EXPECT_NEAR(*edge.max_km, arc_km(10), exact_km);
    // Just beyond it: impossible.
    EXPECT_EQ(solve(0, 0, 2000, {{0, 10, 0}, lm(0, 0, arc_km(10) - 0.01)}).verdict, "impossible");
}

// ---- Many landmarks against the oracles ----------------------------------------------------------

// A host near a site and landmarks around it, each reporting an RTT between the light-in-vacuum time
// and 1.6× it (routing, fibre), as real measurements do.
struct scenario {
    double site_lat, site_lon;
    std::vector<landmark_rtt> lms;
};
scenario make_scenario(std::mt19937_64& rng, int n, double spread_deg) {
    std::uniform_real_distribution<double> u(-1, 1), slack(1.0, 1.6), lonu(-180, 180), latu(-60, 60);
    scenario s;
    s.site_lat = latu(rng);
    s.site_lon = lonu(rng);
    const double host_lat = std::clamp(s.site_lat + 2 * u(rng), -89.0, 89.0), host_lon = s.site_lon + 2 * u(rng);
    for (int i = 0; i < n; ++i) {
        const double la = std::clamp(host_lat + spread_deg * u(rng), -90.0, 90.0);
        double lo = host_lon + spread_deg * u(rng);
        lo = std::remainder(lo, 360.0);
        const double d = policy::great_circle_km(host_lat, host_lon, la, lo);
        s.lms.push_back({la, lo, 2 * d / c_vac * slack(rng) + 0.05});
    }
    return s;
}

TEST(GeoManyLandmarks, ThirtyTwoRandomAgainstOracles) {
    std::mt19937_64 rng(20250611);
    for (int trial = 0; trial < 12; ++trial) {
        SCOPED_TRACE("trial " + std::to_string(trial));
        const auto sc = make_scenario(rng, 32, 25);
        auto b = solve(sc.site_lat, sc.site_lon, 500, sc.lms);
        ASSERT_TRUE(b.max_km && b.min_km) << b.verdict;  // the host is consistent, so F is not empty
        const auto o = ray_oracle(sc.site_lat, sc.site_lon, sc.lms, 20000);
        ASSERT_TRUE(o.any);
        // The oracle's points are in F, so it can only under-reach the extremes.
        EXPECT_NEAR(*b.max_km, o.max_km, 0.01 * o.max_km + 1) << "max";
        EXPECT_NEAR(*b.min_km, o.min_km, 0.01 * o.min_km + 1) << "min";
        EXPECT_GE(*b.max_km, o.max_km - 1e-3);
        EXPECT_LE(*b.min_km, o.min_km + 1e-3);
        grid_soundness(sc.site_lat, sc.site_lon, sc.lms, b, 100000);
    }
}

TEST(GeoManyLandmarks, RandomCapsAnywhereAgainstOracles) {
    // Landmarks anywhere, radii up to most of the sphere, around a random host: wide, non-convex caps
    // mixed with small ones.
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> latu(-90, 90), lonu(-180, 180), slack(1.0, 3.0);
    for (int trial = 0; trial < 12; ++trial) {
        SCOPED_TRACE("trial " + std::to_string(trial));
        const double hl = latu(rng), ho = lonu(rng), sl = latu(rng), so = lonu(rng);
        std::vector<landmark_rtt> l;
        for (int i = 0; i < 6; ++i) {
            const double la = latu(rng), lo = lonu(rng);
            const double r = std::min(policy::great_circle_km(hl, ho, la, lo) * slack(rng) + 200, half_earth - 1);
            l.push_back(lm(la, lo, r));
        }
        auto b = solve(sl, so, 5000, l);
        ASSERT_TRUE(b.max_km && b.min_km) << b.verdict;
        const auto o = ray_oracle(sl, so, l);
        ASSERT_TRUE(o.any);
        EXPECT_NEAR(*b.max_km, o.max_km, 0.01 * o.max_km + 1) << "max";
        EXPECT_NEAR(*b.min_km, o.min_km, 0.01 * o.min_km + 1) << "min";
        EXPECT_GE(*b.max_km, o.max_km - 1e-3);
        EXPECT_LE(*b.min_km, o.min_km + 1e-3);
        EXPECT_GT(grid_soundness(sl, so, l, b, 200000), 0);
    }
}

TEST(GeoManyLandmarks, InconsistentSetIsImpossible) {
    // 32 landmarks that agree, plus one 0.1 ms (15 km) cap far from all of them.
    std::mt19937_64 rng(99);
    auto sc = make_scenario(rng, 32, 20);
    sc.lms.push_back({-sc.site_lat, sc.site_lon + 180 > 180 ? sc.site_lon - 180 : sc.site_lon + 180, 0.1});
    auto b = solve(sc.site_lat, sc.site_lon, 500, sc.lms);
    EXPECT_EQ(b.verdict, "impossible");
    EXPECT_FALSE(b.max_km);
}

TEST(GeoVerdicts, EachVerdictFromTightLandmarks) {
    // A host 50 km from the site, four landmarks 300 km away in the four directions, RTTs at light speed
    // plus 5 %: F is a small region around the host.
    const double site_lat = 48.0, site_lon = 11.0;
    const double host_lat = 48.0 + 50.0 / arc_km(1), host_lon = 11.0;
    std::vector<landmark_rtt> l;
    for (auto [dl, dn] : {std::pair{3.0, 0.0}, {-3.0, 0.0}, {0.0, 4.0}, {0.0, -4.0}}) {
        const double d = policy::great_circle_km(host_lat, host_lon, site_lat + dl, site_lon + dn);
        l.push_back({site_lat + dl, site_lon + dn, 2 * d / c_vac * 1.05});
    }
    auto b = solve(site_lat, site_lon, 200, l);
    ASSERT_TRUE(b.max_km && b.min_km);
    EXPECT_LT(*b.max_km, 200);
    EXPECT_GE(*b.max_km, 50);  // the host itself is feasible
    EXPECT_EQ(b.verdict, "within");
    EXPECT_EQ(solve(site_lat, site_lon, (*b.min_km + *b.max_km) / 2, l).verdict, "unproven");
    EXPECT_EQ(solve(site_lat, site_lon, *b.min_km * 0.99, l).verdict, "outside");
    l.push_back({-48, -169, 0});
    EXPECT_EQ(solve(site_lat, site_lon, 200, l).verdict, "impossible");
}

// ---- Input validation ----------------------------------------------------------------------------

std::string error_of(double lat, double lon, double max_km, const std::vector<landmark_rtt>& l, double v = c_vac) {
    auto r = bound_location(lat, lon, max_km, l, v);
    EXPECT_FALSE(r.ok());
    if (r.ok()) return {};
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    return r.err().message;
}

TEST(GeoValidation, NamesTheFieldAndLandmark) {
    const landmark_rtt ok{0, 0, 1};
    EXPECT_NE(error_of(91, 0, 1, {ok}).find("site: lat"), std::string::npos);
    EXPECT_NE(error_of(0, -180.5, 1, {ok}).find("site: lon"), std::string::npos);
    EXPECT_NE(error_of(NAN, 0, 1, {ok}).find("site: lat"), std::string::npos);
    EXPECT_NE(error_of(0, 0, -1, {ok}).find("max_km"), std::string::npos);
    EXPECT_NE(error_of(0, 0, INFINITY, {ok}).find("max_km"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {ok}, 0).find("speed"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {ok}, -200).find("speed"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {}).find("landmark"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {ok, ok, {0, 0, -0.5}}).find("landmark 2: rtt_ms"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {ok, {0, 0, INFINITY}}).find("landmark 1: rtt_ms"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {ok, {0, 0, NAN}}).find("landmark 1: rtt_ms"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {{-90.01, 0, 1}}).find("landmark 0: lat"), std::string::npos);
    EXPECT_NE(error_of(0, 0, 1, {ok, {0, 181, 1}}).find("landmark 1: lon"), std::string::npos);
    // The limits themselves are valid.
    EXPECT_TRUE(bound_location(90, 180, 0, {{-90, -180, 0}}).ok());
}

}  // namespace
}  // namespace custos
