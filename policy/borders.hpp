// Country borders (Natural Earth 1:50m, policy/borders/countries.txt, public domain) and what they say
// about a place: which country a point is in, how far it is from a country, and which countries a
// location proof's feasible region may touch. The text format is parsed here (strict: line numbers in
// every error); the copy built into custos is the file as it was at build time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"
#include "policy/geo.hpp"

namespace custos::policy {

struct border_country {
    std::string code;  // ISO 3166-1 alpha-2
    std::string name;
    // Rings of [lon, lat] vertices (implicitly closed), outer rings and holes alike: a point is inside the
    // country when it is inside an odd number of its rings.
    std::vector<std::vector<std::pair<double, double>>> rings;
    // A cap around every vertex: centre (unit vector) and angular radius, to skip far countries.
    double cx = 0, cy = 0, cz = 0, radius_rad = 0;
};

class border_map {
public:
    static result<border_map> parse(std::string_view text, const std::string& source);
    // policy/borders/countries.txt as built into this binary.
    static const border_map& builtin();

    // The country containing (lat, lon), or nullptr (at sea, or a place the data leaves out).
    const border_country* country_at(double lat, double lon) const;
    // The country with this code, or nullptr when the data has no shape for it.
    const border_country* by_code(std::string_view code) const;
    // Great-circle distance in km from (lat, lon) to the country: 0 inside it, else to its nearest edge.
    static double distance_km(const border_country& c, double lat, double lon);

    const std::vector<border_country>& countries() const { return countries_; }

private:
    std::vector<border_country> countries_;
};

// The countries a location proof's feasible region may reach: every country that each landmark's cap
// (centre, radius in km) reaches. This errs on the side of including a country: one that every cap
// reaches but their intersection misses is listed (a false positive), one the region touches never is
// left out. Sorted by code.
struct cap_km {
    double lat = 0, lon = 0, radius_km = 0;
};
std::vector<std::string> possible_countries(const border_map& map, const std::vector<cap_km>& caps);
// Each landmark's cap as bound_location draws it: radius min(rtt_ms / 2 × speed, half the globe).
std::vector<cap_km> landmark_caps(const std::vector<landmark_rtt>& landmarks, double speed_km_per_ms = light_vacuum_km_per_ms);

}  // namespace custos::policy
