// Strict JSON for protocol messages: duplicate keys refused, depth capped, and an object reader whose
// errors name the message and the field ("attest request: field \"nonce\" must be a string").
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::sjson {

namespace json = boost::json;

// errc::parse when not JSON; errc::structure for a duplicate key anywhere.
result<json::value> parse(std::string_view text, std::string_view what, unsigned max_depth = 16);

// Reads fields of one JSON object; `where` prefixes every error.
class object_reader {
public:
    static result<object_reader> of(const json::value& v, std::string where);

    // Every key must be in `allowed`; errc::structure naming the first unknown key.
    result<void> only(std::initializer_list<std::string_view> allowed) const;
    bool has(std::string_view key) const { return obj_->contains(key); }

    // Required fields (missing → errc::structure naming the field).
    result<std::string> str(std::string_view key) const;
    result<std::uint64_t> u64(std::string_view key) const;
    result<std::int64_t> i64(std::string_view key) const;
    result<double> number(std::string_view key) const;                      // any finite JSON number
    result<bool> boolean(std::string_view key) const;
    result<bytes> b64(std::string_view key) const;                           // standard base64
    result<bytes> hex(std::string_view key, std::size_t exact_len = 0) const;  // lowercase or upper hex
    result<object_reader> obj(std::string_view key) const;
    result<const json::array*> arr(std::string_view key) const;
    result<const json::value*> value(std::string_view key) const;

    // Optional fields: std::nullopt when absent (a present field of the wrong type is still an error).
    result<std::optional<std::string>> opt_str(std::string_view key) const;
    result<std::optional<std::uint64_t>> opt_u64(std::string_view key) const;

    const json::object& raw() const { return *obj_; }
    const std::string& where() const { return where_; }
    error bad(std::string_view key, std::string_view why) const;

private:
    object_reader(const json::object* o, std::string where) : obj_(o), where_(std::move(where)) {}
    const json::object* obj_;
    std::string where_;
};

// Serialises with Boost.JSON (compact, keys in insertion order).
std::string dump(const json::value& v);

}  // namespace custos::sjson
