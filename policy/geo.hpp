// Delay-based location geometry: what round-trip times to landmarks prove about where a host is, relative
// to an approved site. Pure (no I/O, no clock), shared by `custos location check` and the verifier.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crypto/result.hpp"

namespace custos::policy {

inline constexpr double earth_radius_km = 6371.0;           // mean radius; the model is a sphere
inline constexpr double light_vacuum_km_per_ms = 299.792;  // nothing carries a reply faster
inline constexpr double light_fibre_km_per_ms = 200.0;     // for reference only: never a bound

// One landmark's measurement: where it is (degrees) and the smallest round-trip time it saw (ms).
struct landmark_rtt {
    double lat = 0, lon = 0, rtt_ms = 0;
};

// What the landmarks prove about the host relative to the site.
//   verdict "impossible": no point of the sphere is consistent with every RTT (distances absent);
//   "within":  every consistent point is within max_km of the site (max_km_from_site ≤ max_km);
//   "outside": no consistent point is within max_km of the site (min_km_from_site > max_km);
//   "unproven": some consistent points are within max_km, some are not.
struct location_bound {
    std::string verdict;
    std::optional<double> max_km_from_site;  // farthest consistent point from the site, km
    std::optional<double> min_km_from_site;  // nearest consistent point to the site, km
};

// Great-circle distance in km between two points given in degrees (haversine-free: atan2 of the
// cross and dot products of the unit vectors, accurate at every separation).
double great_circle_km(double lat1, double lon1, double lat2, double lon2);

// Each landmark bounds the host to the spherical cap of radius min(rtt_ms / 2 × speed, π × 6371) km
// around it; the feasible set is the intersection of the caps, solved exactly on the sphere (caps wider
// than a hemisphere are not convex). Distances agree with the exact geometry to about a metre.
// Errors (invalid_argument) name the field: lat in [−90, 90], lon in [−180, 180], rtt_ms finite and
// ≥ 0, max_km finite and ≥ 0, speed finite and > 0, at least one landmark.
// Cost: O(n³) dot products for n landmarks (32 landmarks: tens of microseconds).
[[nodiscard]] result<location_bound> bound_location(double site_lat, double site_lon, double max_km,
                                                    const std::vector<landmark_rtt>& landmarks,
                                                    double speed_km_per_ms = light_vacuum_km_per_ms);

}  // namespace custos::policy
