#include "crypto/exact_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace custos::sjson {
namespace json = boost::json;
namespace {

struct exact_handler {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack st;
    std::string number;  // the text of the number being read, when the parser hands it over in parts

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        st.push_array(n);
        return true;
    }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) {
        st.push_object(n);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        st.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        st.push_string(s);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        st.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        st.push_key(s);
        return true;
    }
    bool on_number_part(json::string_view s, json::error_code&) {
        number.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number.clear();
        st.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number.clear();
        st.push_uint64(u);
        return true;
    }
    bool on_double(double, json::string_view s, json::error_code& ec) {
        number.append(s.data(), s.size());
        double d = 0;
        const auto r = std::from_chars(number.data(), number.data() + number.size(), d);
        const bool whole = r.ptr == number.data() + number.size();
        const bool negative_exponent = number.find("e-") != std::string::npos || number.find("E-") != std::string::npos;
        const bool negative = !number.empty() && number[0] == '-';
        number.clear();
        if (r.ec == std::errc::result_out_of_range && whole) {
            // Too small for a double reads as zero, as every reader has it. Too large is refused: Boost's
            // parser made it infinity, which serialises as "Infinity", not JSON (found by fuzz_strict_json).
            if (!negative_exponent) {
                ec = json::error::exponent_overflow;
                return false;
            }
            st.push_double(negative ? -0.0 : 0.0);
            return true;
        }
        if (r.ec != std::errc() || !whole) {
            ec = json::error::syntax;
            return false;
        }
        st.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        st.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        st.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

result<json::value> parse_exact(std::string_view text, std::string_view what, unsigned max_depth) {
    json::parse_options opts;
    opts.max_depth = max_depth;
    json::basic_parser<exact_handler> p(opts);
    p.handler().st.reset();
    json::error_code ec;
    const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
    if (!ec && n != text.size()) ec = json::error::extra_data;
    if (ec == json::error::exponent_overflow)
        return make_error(errc::parse, std::string(what) + ": a number is beyond the range of a double");
    if (ec) return make_error(errc::parse, std::string(what) + " is not valid JSON: " + ec.message());
    return p.handler().st.release();
}

}  // namespace custos::sjson
