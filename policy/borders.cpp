#include "policy/borders.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <set>

#include "policy/countries.hpp"

extern "C" {
extern const char custos_borders_start[];
extern const char custos_borders_end[];
}

namespace custos::policy {
namespace {

constexpr double pi = std::numbers::pi;

struct v3 {
    double x, y, z;
};
double dot(v3 a, v3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
v3 cross(v3 a, v3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
double norm(v3 a) { return std::sqrt(dot(a, a)); }
v3 unit(double lat, double lon) {
    const double p = lat * pi / 180, l = lon * pi / 180;
    return {std::cos(p) * std::cos(l), std::cos(p) * std::sin(l), std::sin(p)};
}
double angle(v3 a, v3 b) { return std::atan2(norm(cross(a, b)), dot(a, b)); }

// Angular distance from p to the great-circle arc a–b (all unit vectors).
double arc_distance(v3 p, v3 a, v3 b) {
    v3 n = cross(a, b);
    const double nn = norm(n);
    if (nn < 1e-15) return angle(p, a);
    n = {n.x / nn, n.y / nn, n.z / nn};
    // The foot of p on the great circle lies within the arc when it is on a's and b's inner sides.
    const v3 foot_dir = cross(n, cross(p, n));
    if (dot(cross(a, foot_dir), n) >= 0 && dot(cross(foot_dir, b), n) >= 0)
        return std::abs(std::asin(std::clamp(dot(p, n), -1.0, 1.0)));
    return std::min(angle(p, a), angle(p, b));
}

bool in_ring(const std::vector<std::pair<double, double>>& ring, double lon, double lat) {
    bool in = false;
    for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
        const auto [xi, yi] = ring[i];
        const auto [xj, yj] = ring[j];
        if ((yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi) in = !in;
    }
    return in;
}

bool inside(const border_country& c, double lat, double lon) {
    bool in = false;
    for (const auto& r : c.rings)
        if (in_ring(r, lon, lat)) in = !in;
    return in;
}

result<double> number(std::string_view s, const std::string& where) {
    double v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return make_error(errc::parse, where + "\"" + std::string(s) + "\" is not a number");
    return v;
}

}  // namespace

result<border_map> border_map::parse(std::string_view text, const std::string& source) {
    border_map m;
    std::set<std::string> codes;
    std::size_t line_no = 0, want = 0;
    bool hole = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = text.find('\n', pos);
        std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        ++line_no;
        const std::string at = source + ":" + std::to_string(line_no) + ": ";
        if (want > 0) {
            const auto sp = line.find(' ');
            if (sp == std::string_view::npos) return make_error(errc::parse, at + "a vertex is \"<lon> <lat>\"");
            CUSTOS_TRY(lon, number(line.substr(0, sp), at));
            CUSTOS_TRY(lat, number(line.substr(sp + 1), at));
            if (lon < -180 || lon > 180 || lat < -90 || lat > 90) return make_error(errc::parse, at + "a vertex is outside [-180, 180] × [-90, 90]");
            m.countries_.back().rings.back().emplace_back(lon, lat);
            --want;
            continue;
        }
        if (line.empty() || line[0] == '#') continue;
        if (line.starts_with("C ")) {
            const std::string code(line.substr(2, 2));
            // XK (Kosovo) is the user-assigned code Natural Earth and most registries use; no ISO code exists.
            if (line.size() < 5 || line[4] != ' ' || !(is_iso3166_alpha2(code) || code == "XK"))
                return make_error(errc::parse, at + "a country line is \"C <ISO 3166-1 alpha-2> <name>\"");
            if (!codes.insert(code).second) return make_error(errc::parse, at + "country " + code + " appears twice");
            border_country c;
            c.code = code;
            c.name = std::string(line.substr(5));
            m.countries_.push_back(std::move(c));
            hole = false;
            continue;
        }
        if (line.starts_with("P ") || line.starts_with("H ")) {
            if (m.countries_.empty()) return make_error(errc::parse, at + "a ring before any country");
            if (line[0] == 'H' && m.countries_.back().rings.empty()) return make_error(errc::parse, at + "a hole before its outer ring");
            CUSTOS_TRY(n, number(line.substr(2), at));
            if (n < 3 || n > 1e6 || n != std::floor(n)) return make_error(errc::parse, at + "a ring has 3 to 1000000 vertices");
            want = static_cast<std::size_t>(n);
            hole = line[0] == 'H';
            (void)hole;
            m.countries_.back().rings.emplace_back();
            continue;
        }
        return make_error(errc::parse, at + "unknown line (C, P, H, a vertex, or a # comment)");
    }
    if (want > 0) return make_error(errc::parse, source + ": the last ring is cut short");
    if (m.countries_.empty()) return make_error(errc::parse, source + ": no countries");
    for (auto& c : m.countries_) {
        if (c.rings.empty()) return make_error(errc::parse, source + ": country " + c.code + " has no ring");
        v3 sum{0, 0, 0};
        std::vector<v3> pts;
        for (const auto& r : c.rings)
            for (const auto& [lon, lat] : r) {
                const v3 u = unit(lat, lon);
                sum = {sum.x + u.x, sum.y + u.y, sum.z + u.z};
                pts.push_back(u);
            }
        const double n = norm(sum);
        const v3 centre = n > 1e-9 ? v3{sum.x / n, sum.y / n, sum.z / n} : v3{0, 0, 1};
        double r = 0;
        for (const auto& p : pts) r = std::max(r, angle(centre, p));
        // A country wrapping the globe (Antarctica, Russia) gets a cap that skips nothing.
        c.cx = centre.x, c.cy = centre.y, c.cz = centre.z, c.radius_rad = n > 1e-9 ? r : pi;
    }
    return m;
}

const border_map& border_map::builtin() {
    static const border_map m = [] {
        auto r = parse(std::string_view(custos_borders_start, static_cast<std::size_t>(custos_borders_end - custos_borders_start)),
                       "policy/borders/countries.txt (built in)");
        if (!r) std::abort();  // the build's own data: the border unit tests keep it parseable
        return std::move(r).value();
    }();
    return m;
}

const border_country* border_map::country_at(double lat, double lon) const {
    for (const auto& c : countries_)
        if (inside(c, lat, lon)) return &c;
    return nullptr;
}

const border_country* border_map::by_code(std::string_view code) const {
    for (const auto& c : countries_)
        if (c.code == code) return &c;
    return nullptr;
}

double border_map::distance_km(const border_country& c, double lat, double lon) {
    if (inside(c, lat, lon)) return 0;
    const v3 p = unit(lat, lon);
    double best = pi;
    for (const auto& r : c.rings)
        for (std::size_t i = 0, j = r.size() - 1; i < r.size(); j = i++)
            best = std::min(best, arc_distance(p, unit(r[j].second, r[j].first), unit(r[i].second, r[i].first)));
    return best * earth_radius_km;
}

std::vector<std::string> possible_countries(const border_map& map, const std::vector<cap_km>& caps) {
    std::vector<std::string> out;
    for (const auto& c : map.countries()) {
        bool reached = true;
        for (const auto& cap : caps) {
            const double r = cap.radius_km / earth_radius_km;
            // The country's own cap first: too far from it, too far from the country.
            if (angle(unit(cap.lat, cap.lon), v3{c.cx, c.cy, c.cz}) - c.radius_rad > r + 1e-9) {
                reached = false;
                break;
            }
            if (border_map::distance_km(c, cap.lat, cap.lon) > cap.radius_km) {
                reached = false;
                break;
            }
        }
        if (reached) out.push_back(c.code);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<cap_km> landmark_caps(const std::vector<landmark_rtt>& landmarks, double speed_km_per_ms) {
    std::vector<cap_km> out;
    for (const auto& l : landmarks)
        out.push_back({l.lat, l.lon, std::min(l.rtt_ms / 2 * speed_km_per_ms, pi * earth_radius_km)});
    return out;
}

}  // namespace custos::policy
