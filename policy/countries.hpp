// ISO 3166-1 alpha-2 country codes: the only country names profiles and fleet files may use.
#pragma once

#include <string_view>
#include <vector>

namespace custos::policy {

// True for the 249 officially assigned codes, uppercase only ("DE", not "de"; "UK" and "EU" are not).
bool is_iso3166_alpha2(std::string_view code);
// All of them, sorted.
const std::vector<std::string_view>& iso3166_alpha2_codes();

}  // namespace custos::policy
