#include "policy/geo.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

// Why this is exact: the distance to the site S has no critical point on the sphere except S (its
// minimum) and −S (its maximum), so over the compact feasible set F its extremes lie at S or −S (when
// in F), or on F's boundary. A boundary point lies on one cap's circle — where the distance along that
// circle is extreme only in the plane through the circle's centre and S — or on two circles at once
// (a vertex). Every candidate that lies in every cap is a point of F; the extremes are among them, and
// F is empty exactly when none survives.

namespace custos::policy {
namespace {

constexpr double pi = std::numbers::pi;
// Slack on membership, in radians of arc (≈ 0.64 m): absorbs rounding in the vertex construction and
// makes touching caps meet. Far below any RTT's resolution (1 µs of RTT is 150 m).
constexpr double tol_rad = 1e-7;
// Centres closer than this (or this close to antipodal) have concentric circles: no vertices to add.
constexpr double parallel_eps = 1e-12;

struct vec3 {
    double x, y, z;
};
vec3 operator+(vec3 a, vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
vec3 operator*(double s, vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
double dot(vec3 a, vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
vec3 cross(vec3 a, vec3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
double norm(vec3 a) { return std::sqrt(dot(a, a)); }

vec3 unit_from_degrees(double lat, double lon) {
    const double phi = lat * pi / 180.0, lam = lon * pi / 180.0;
    return {std::cos(phi) * std::cos(lam), std::cos(phi) * std::sin(lam), std::sin(phi)};
}

// Angle between unit vectors, accurate near 0 and π (acos of the dot product is not).
double angle(vec3 a, vec3 b) { return std::atan2(norm(cross(a, b)), dot(a, b)); }

// A unit vector perpendicular to unit vector a.
vec3 any_perpendicular(vec3 a) {
    const double ax = std::fabs(a.x), ay = std::fabs(a.y), az = std::fabs(a.z);
    const vec3 e = (ax <= ay && ax <= az) ? vec3{1, 0, 0} : (ay <= az ? vec3{0, 1, 0} : vec3{0, 0, 1});
    const vec3 p = cross(a, e);
    return (1.0 / norm(p)) * p;
}

struct cap {
    vec3 c;
    double theta, cos_t, sin_t;
    double cos_limit;  // p is in the cap (with slack) iff dot(p, c) ≥ cos_limit
};

std::string fmt(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

bool valid_lat(double v) { return v >= -90.0 && v <= 90.0; }    // false for NaN
bool valid_lon(double v) { return v >= -180.0 && v <= 180.0; }  // false for NaN

}  // namespace

double great_circle_km(double lat1, double lon1, double lat2, double lon2) {
    return earth_radius_km * angle(unit_from_degrees(lat1, lon1), unit_from_degrees(lat2, lon2));
}

result<location_bound> bound_location(double site_lat, double site_lon, double max_km,
                                      const std::vector<landmark_rtt>& landmarks, double speed_km_per_ms) {
    auto bad = [](const std::string& m) { return make_error(errc::invalid_argument, m); };
    if (!valid_lat(site_lat)) return bad("site: lat must be in [-90, 90] (got " + fmt(site_lat) + ")");
    if (!valid_lon(site_lon)) return bad("site: lon must be in [-180, 180] (got " + fmt(site_lon) + ")");
    if (!(std::isfinite(max_km) && max_km >= 0)) return bad("max_km must be finite and >= 0 (got " + fmt(max_km) + ")");
    if (!(std::isfinite(speed_km_per_ms) && speed_km_per_ms > 0))
        return bad("speed_km_per_ms must be finite and > 0 (got " + fmt(speed_km_per_ms) + ")");
    if (landmarks.empty()) return bad("at least one landmark is needed");

    std::vector<cap> caps;
    caps.reserve(landmarks.size());
    for (std::size_t i = 0; i < landmarks.size(); ++i) {
        const auto& l = landmarks[i];
        const std::string where = "landmark " + std::to_string(i) + ": ";
        if (!valid_lat(l.lat)) return bad(where + "lat must be in [-90, 90] (got " + fmt(l.lat) + ")");
        if (!valid_lon(l.lon)) return bad(where + "lon must be in [-180, 180] (got " + fmt(l.lon) + ")");
        if (!(std::isfinite(l.rtt_ms) && l.rtt_ms >= 0))
            return bad(where + "rtt_ms must be finite and >= 0 (got " + fmt(l.rtt_ms) + ")");
        const double theta = std::min(l.rtt_ms / 2.0 * speed_km_per_ms / earth_radius_km, pi);
        if (theta >= pi) continue;  // covers the whole sphere: constrains nothing
        caps.push_back({unit_from_degrees(l.lat, l.lon), theta, std::cos(theta), std::sin(theta),
                        std::cos(std::min(theta + tol_rad, pi))});
    }

    const vec3 s = unit_from_degrees(site_lat, site_lon);
    double lo = pi, hi = 0;
    bool any = false;
    auto consider = [&](vec3 p) {
        for (const auto& k : caps)
            if (!(dot(p, k.c) >= k.cos_limit)) return;  // NaN is never inside
        const double a = angle(p, s);
        lo = std::min(lo, a);
        hi = std::max(hi, a);
        any = true;
    };

    // Interior extremes: the site and its antipode.
    consider(s);
    consider(-1.0 * s);

    // Extremes along each circle: its two points in the plane through its centre and the site. When the
    // centre is ±S the circle is equidistant from S; any point stands for it (vertices cover the rest).
    for (const auto& k : caps) {
        const vec3 w = cross(k.c, s);
        const double wn = norm(w);
        const vec3 t = wn < parallel_eps ? any_perpendicular(k.c) : cross((1.0 / wn) * w, k.c);  // toward S
        consider(k.cos_t * k.c + k.sin_t * t);
        consider(k.cos_t * k.c + (-k.sin_t) * t);
    }

    // Vertices: the intersections of each pair of circles, from the spherical triangle (centre a,
    // centre b, vertex) with sides θa, θb and d. A point cap (θ = 0) has no circle: its centre was a
    // candidate above.
    for (std::size_t i = 0; i < caps.size(); ++i) {
        const cap& a = caps[i];
        if (a.theta == 0) continue;
        for (std::size_t j = i + 1; j < caps.size(); ++j) {
            const cap& b = caps[j];
            if (b.theta == 0) continue;
            const vec3 n = cross(a.c, b.c);
            const double sd = norm(n);
            if (sd < parallel_eps) continue;  // concentric circles: the circle candidates cover them
            const double cd = dot(a.c, b.c);
            const double d = std::atan2(sd, cd);
            if (d > a.theta + b.theta + tol_rad || d < std::fabs(a.theta - b.theta) - tol_rad ||
                d > 2 * pi - a.theta - b.theta + tol_rad)
                continue;  // the circles do not meet
            // Law of cosines at centre a; clamped so that touching circles give their one common point.
            const double cos_alpha = std::clamp((b.cos_t - a.cos_t * cd) / (a.sin_t * sd), -1.0, 1.0);
            const double sin_alpha = std::sqrt(std::max(0.0, 1.0 - cos_alpha * cos_alpha));
            const vec3 w = (1.0 / sd) * n;    // normal of the plane through a and b
            const vec3 t = cross(w, a.c);     // tangent at a toward b
            const vec3 base = a.cos_t * a.c + (a.sin_t * cos_alpha) * t;
            consider(base + (a.sin_t * sin_alpha) * w);
            consider(base + (-a.sin_t * sin_alpha) * w);
        }
    }

    location_bound out;
    if (!any) {
        out.verdict = "impossible";
        return out;
    }
    out.min_km_from_site = lo * earth_radius_km;
    out.max_km_from_site = hi * earth_radius_km;
    if (*out.max_km_from_site <= max_km) out.verdict = "within";
    else if (*out.min_km_from_site > max_km) out.verdict = "outside";
    else out.verdict = "unproven";
    return out;
}

}  // namespace custos::policy
