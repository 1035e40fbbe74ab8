#include "tlog/entry.hpp"

#include <boost/json/serialize.hpp>

#include "crypto/strict_json.hpp"

namespace custos::tlog {

entry_writer::entry_writer(std::string_view type, std::int64_t time) {
    o_["v"] = entry_version;
    o_["type"] = type;
    o_["time"] = time;
}

entry_writer& entry_writer::str(std::string_view key, std::string_view value) {
    o_[key] = value;
    return *this;
}
entry_writer& entry_writer::num(std::string_view key, std::int64_t value) {
    o_[key] = value;
    return *this;
}
entry_writer& entry_writer::flag(std::string_view key, bool value) {
    o_[key] = value;
    return *this;
}
entry_writer& entry_writer::hex(std::string_view key, byte_view value) {
    o_[key] = to_hex(value);
    return *this;
}
entry_writer& entry_writer::obj(std::string_view key, boost::json::object value) {
    o_[key] = std::move(value);
    return *this;
}
std::string entry_writer::finish() const { return boost::json::serialize(o_); }

std::string parsed_entry::text(std::string_view key) const {
    const auto* v = members.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

result<parsed_entry> parse_entry(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "a log entry"));
    if (!v.is_object()) return make_error(errc::structure, "a log entry is not a JSON object");
    parsed_entry e;
    e.members = std::move(v).as_object();
    const auto* ver = e.members.if_contains("v");
    const auto* type = e.members.if_contains("type");
    const auto* time = e.members.if_contains("time");
    if (!ver || !ver->is_int64() || ver->as_int64() != entry_version)
        return make_error(errc::unsupported, "a log entry's version (\"v\") is not 1");
    if (!type || !type->is_string() || type->as_string().empty())
        return make_error(errc::structure, "a log entry has no \"type\"");
    if (!time || !time->is_int64()) return make_error(errc::structure, "a log entry has no integer \"time\"");
    e.version = ver->as_int64();
    e.type = std::string(type->as_string());
    e.time = time->as_int64();
    return e;
}

}  // namespace custos::tlog
