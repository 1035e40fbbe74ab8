// Fuzz target: the strict JSON parser (duplicate keys, depth) and the object reader's typed getters.
#include <cstdint>
#include <cstdlib>

#include "crypto/strict_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto v = custos::sjson::parse(text, "input", 8);
    if (!v.ok()) return 0;
    auto o = custos::sjson::object_reader::of(*v, "input");
    if (!o.ok()) return 0;
    for (const auto& kv : o->raw()) {
        const std::string_view k(kv.key().data(), kv.key().size());
        (void)o->str(k);
        (void)o->u64(k);
        (void)o->i64(k);
        (void)o->b64(k);
        (void)o->hex(k, 32);
        (void)o->obj(k);
        (void)o->arr(k);
    }
    // What was accepted serialises and parses again.
    if (!custos::sjson::parse(custos::sjson::dump(*v), "again", 8).ok()) std::abort();
    return 0;
}
