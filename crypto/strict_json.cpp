#include "crypto/strict_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>

#include "crypto/base64.hpp"
#include "crypto/exact_json.hpp"

namespace custos::sjson {
namespace {

// Members in the text: one ':' outside strings per member. Boost.JSON keeps only the last of duplicate
// keys, so comparing this with the parsed objects' sizes is how duplicates are refused.
std::size_t members_in_text(std::string_view text) {
    std::size_t n = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ':') {
            ++n;
        }
    }
    return n;
}

std::size_t members_in_value(const json::value& v) {
    std::size_t n = 0;
    if (const auto* o = v.if_object()) {
        n += o->size();
        for (const auto& kv : *o) n += members_in_value(kv.value());
    } else if (const auto* a = v.if_array()) {
        for (const auto& e : *a) n += members_in_value(e);
    }
    return n;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

result<json::value> parse(std::string_view text, std::string_view what, unsigned max_depth) {
    CUSTOS_TRY(v, parse_exact(text, what, max_depth));
    if (members_in_text(text) != members_in_value(v))
        return make_error(errc::structure, std::string(what) + ": an object has a duplicate field");
    return v;
}

result<object_reader> object_reader::of(const json::value& v, std::string where) {
    const auto* o = v.if_object();
    if (!o) return make_error(errc::structure, where + ": must be a JSON object");
    return object_reader(o, std::move(where));
}

error object_reader::bad(std::string_view key, std::string_view why) const {
    return make_error(errc::structure, where_ + ": field " + quoted(key) + " " + std::string(why));
}

result<void> object_reader::only(std::initializer_list<std::string_view> allowed) const {
    for (const auto& kv : *obj_)
        if (std::find(allowed.begin(), allowed.end(), std::string_view(kv.key())) == allowed.end())
            return make_error(errc::structure, where_ + ": unknown field " + quoted(kv.key()));
    return {};
}

result<const json::value*> object_reader::value(std::string_view key) const {
    const auto* v = obj_->if_contains(key);
    if (!v) return bad(key, "is missing");
    return v;
}

result<std::string> object_reader::str(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    const auto* s = v->if_string();
    if (!s) return bad(key, "must be a string");
    return std::string(s->data(), s->size());
}

result<std::uint64_t> object_reader::u64(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    if (const auto* u = v->if_uint64()) return *u;
    if (const auto* i = v->if_int64(); i && *i >= 0) return static_cast<std::uint64_t>(*i);
    return bad(key, "must be a non-negative integer");
}

result<std::int64_t> object_reader::i64(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    if (const auto* i = v->if_int64()) return *i;
    if (const auto* u = v->if_uint64(); u && *u <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(*u);
    return bad(key, "must be an integer");
}

result<double> object_reader::number(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    if (!v->is_number() || !std::isfinite(v->to_number<double>())) return bad(key, "must be a finite number");
    return v->to_number<double>();
}

result<bool> object_reader::boolean(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    if (const auto* b = v->if_bool()) return *b;
    return bad(key, "must be true or false");
}

result<bytes> object_reader::b64(std::string_view key) const {
    CUSTOS_TRY(s, str(key));
    auto b = from_base64(s);
    if (!b) return bad(key, "is not valid base64");
    return std::move(b).value();
}

result<bytes> object_reader::hex(std::string_view key, std::size_t exact_len) const {
    CUSTOS_TRY(s, str(key));
    if (s.rfind("0x", 0) == 0) return bad(key, "must be hex without a 0x prefix");
    auto b = from_hex(s);
    if (!b) return bad(key, "is not valid hex");
    if (exact_len && b->size() != exact_len)
        return bad(key, "must be " + std::to_string(exact_len) + " bytes (" + std::to_string(exact_len * 2) +
                            " hex digits), not " + std::to_string(b->size()));
    return std::move(b).value();
}

result<object_reader> object_reader::obj(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    const auto* o = v->if_object();
    if (!o) return bad(key, "must be an object");
    return object_reader(o, where_ + "." + std::string(key));
}

result<const json::array*> object_reader::arr(std::string_view key) const {
    CUSTOS_TRY(v, value(key));
    const auto* a = v->if_array();
    if (!a) return bad(key, "must be an array");
    return a;
}

result<std::optional<std::string>> object_reader::opt_str(std::string_view key) const {
    if (!has(key)) return std::optional<std::string>{};
    CUSTOS_TRY(s, str(key));
    return std::optional<std::string>(std::move(s));
}

result<std::optional<std::uint64_t>> object_reader::opt_u64(std::string_view key) const {
    if (!has(key)) return std::optional<std::uint64_t>{};
    CUSTOS_TRY(u, u64(key));
    return std::optional<std::uint64_t>(u);
}

std::string dump(const json::value& v) { return json::serialize(v); }

}  // namespace custos::sjson
