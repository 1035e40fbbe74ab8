// The custos transparency log's entries: one compact JSON object per event, its members in a fixed order
// — "v" (the format version), "type", "time" (Unix seconds), then the type's own members as
// docs/transparency-log.md lists them. The leaf hash covers the exact bytes stored, so readers never
// re-serialise an entry; they parse it strictly (crypto/strict_json.hpp) to search it.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::tlog {

inline constexpr std::int64_t entry_version = 1;

// Builds one entry's bytes, members in the order they are added.
class entry_writer {
public:
    entry_writer(std::string_view type, std::int64_t time);
    entry_writer& str(std::string_view key, std::string_view value);
    entry_writer& num(std::string_view key, std::int64_t value);
    entry_writer& flag(std::string_view key, bool value);
    entry_writer& hex(std::string_view key, byte_view value);  // lowercase hex
    entry_writer& obj(std::string_view key, boost::json::object value);
    std::string finish() const;

private:
    boost::json::object o_;
};

struct parsed_entry {
    std::int64_t version = 0;
    std::string type;
    std::int64_t time = 0;
    boost::json::object members;  // every member, "v", "type" and "time" included
    // A string member, or empty when absent or not a string.
    std::string text(std::string_view key) const;
};
// Strict JSON (no duplicate keys), an object with "v" = 1, a non-empty "type" and an integer "time".
result<parsed_entry> parse_entry(std::string_view body);

}  // namespace custos::tlog
