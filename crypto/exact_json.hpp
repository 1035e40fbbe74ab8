// JSON parsing whose numbers read exactly. Boost.JSON 1.81's own parser rounds some doubles one ulp off
// (about 14 % of random values between 1e20 and 1e30; "9.999999999999999e25" reads as exactly 1e26), and
// numbers here decide verdicts (operations against 10^26, TPP, counters, coordinates). This runs Boost's
// basic_parser with a handler that gives every non-integer number's text to std::from_chars, which is
// exact; the rest of the tree is built as Boost's own parser builds it. Boost 1.83 gained a precise mode
// (parse_options::numbers); this file goes when the project moves past 1.81.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

#include "crypto/result.hpp"

namespace custos::sjson {

// Parses `text` as one JSON value (no comments, no trailing commas, depth ≤ max_depth); errc::parse naming
// `what` and Boost's reason when it is not JSON, or saying a number is beyond double's range (refused: it
// would serialise as "Infinity"); one below the smallest double reads as zero.
result<boost::json::value> parse_exact(std::string_view text, std::string_view what, unsigned max_depth);

}  // namespace custos::sjson
