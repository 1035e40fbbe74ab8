#include "attest/ima_log.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "attest/le_reader.hpp"

namespace custos::attest {
namespace {

constexpr std::size_t template_hash_size = 20;
constexpr std::size_t max_template_name = 255;
constexpr std::size_t max_template_data = 1u << 20;  // a path (PATH_MAX) and a signature fit many times over

// Digest sizes of the algorithms IMA names in d-ng fields (crypto/hash_info.c).
std::optional<std::size_t> file_digest_size(const std::string& alg) {
    static const std::pair<const char*, std::size_t> sizes[] = {
        {"md5", 16}, {"sha1", 20}, {"sha224", 28}, {"sha256", 32}, {"sha384", 48}, {"sha512", 64}, {"sm3", 32},
        {"streebog256", 32}, {"streebog512", 64}};
    for (const auto& [name, size] : sizes)
        if (alg == name) return size;
    return std::nullopt;
}

// One length-prefixed field of the template data.
result<byte_view> field(le_reader& r, const char* name) {
    CUSTOS_TRY(len, r.u32(name));
    return r.take(len, name);
}

// The template data's fields, which must fill it exactly; `base` is its offset in the list.
result<void> parse_fields(ima_entry& e, std::size_t base, std::size_t index) {
    le_reader r(e.template_data, "IMA measurement list, entry " + std::to_string(index) + ", template data at list offset " +
                                      std::to_string(base) + ",");
    const std::size_t d_at = r.offset();
    CUSTOS_TRY(d, field(r, "d-ng field"));
    // "ALG:" NUL DIGEST
    const auto colon = std::find(d.begin(), d.end(), std::uint8_t(':'));
    if (colon == d.end() || colon + 1 == d.end() || *(colon + 1) != 0)
        return r.fail(d_at, "the d-ng field is not \"ALG:\" NUL DIGEST");
    e.file_hash_alg.assign(d.begin(), colon);
    const auto size = file_digest_size(e.file_hash_alg);
    if (!size) return r.fail(d_at, "unknown file digest algorithm \"" + e.file_hash_alg + "\"");
    const std::size_t got = static_cast<std::size_t>(d.end() - (colon + 2));
    if (got != *size)
        return r.fail(d_at, e.file_hash_alg + " digest of " + std::to_string(got) + " bytes (" + std::to_string(*size) + " expected)");
    e.file_hash.assign(colon + 2, d.end());
    const std::size_t n_at = r.offset();
    CUSTOS_TRY(n, field(r, "n-ng field"));
    if (n.empty() || n.back() != 0) return r.fail(n_at, "the path (n-ng) is not NUL-terminated");
    if (std::find(n.begin(), n.end() - 1, std::uint8_t(0)) != n.end() - 1) return r.fail(n_at, "the path (n-ng) holds a NUL");
    e.path.assign(n.begin(), n.end() - 1);
    if (e.template_name == "ima-sig") {
        CUSTOS_TRY(sig, field(r, "sig field"));
        e.signature.assign(sig.begin(), sig.end());
    }
    if (!r.done()) return r.fail(r.offset(), std::to_string(r.left()) + " bytes after the last field of " + e.template_name);
    return {};
}

}  // namespace

bool ima_entry::violation() const {
    return std::all_of(template_hash.begin(), template_hash.end(), [](std::uint8_t b) { return b == 0; });
}

result<std::vector<ima_entry>> parse_ima_log(byte_view data) {
    le_reader r(data, "IMA measurement list");
    std::vector<ima_entry> out;
    while (!r.done()) {
        ima_entry e;
        e.offset = r.offset();
        r.set_what("IMA measurement list, entry " + std::to_string(out.size()));
        auto fail = [&](std::size_t at, const std::string& why) { return r.fail(at, why); };
        CUSTOS_TRY(pcr, r.u32("pcr"));
        if (pcr > max_event_pcr) return fail(e.offset, "PCR " + std::to_string(pcr) + " (0.." + std::to_string(max_event_pcr) + ")");
        e.pcr = pcr;
        CUSTOS_TRY(th, r.take(template_hash_size, "template hash"));
        e.template_hash.assign(th.begin(), th.end());
        const std::size_t name_at = r.offset();
        CUSTOS_TRY(name_len, r.u32("template name length"));
        if (name_len == 0 || name_len > max_template_name)
            return fail(name_at, "template name of " + std::to_string(name_len) + " bytes");
        CUSTOS_TRY(name, r.take(name_len, "template name"));
        e.template_name.assign(name.begin(), name.end());
        if (e.template_name != "ima-ng" && e.template_name != "ima-sig")
            return fail(name_at, "template \"" + e.template_name + "\" (only ima-ng and ima-sig are read)");
        const std::size_t data_at = r.offset();
        CUSTOS_TRY(data_len, r.u32("template data length"));
        if (data_len > max_template_data)
            return fail(data_at, "template data of " + std::to_string(data_len) + " bytes (at most " + std::to_string(max_template_data) + ")");
        CUSTOS_TRY(td, r.take(data_len, "template data"));
        e.template_data.assign(td.begin(), td.end());
        CUSTOS_TRY_VOID(parse_fields(e, data_at + 4, out.size()));
        out.push_back(std::move(e));
    }
    return out;
}

std::optional<std::size_t> first_template_hash_mismatch(const std::vector<ima_entry>& entries) {
    for (std::size_t i = 0; i < entries.size(); ++i)
        if (!entries[i].violation() && digest(hash_alg::sha1, entries[i].template_data) != entries[i].template_hash) return i;
    return std::nullopt;
}

pcr_banks replay_ima_log(const std::vector<ima_entry>& entries, const pcr_banks& start) {
    pcr_banks out = start;
    for (const auto alg : {hash_alg::sha1, hash_alg::sha256}) {
        auto& bank = out[alg];
        for (const auto& e : entries) {
            auto it = bank.try_emplace(e.pcr, bytes(digest_size(alg), 0)).first;
            const bytes m = e.violation() ? bytes(digest_size(alg), 0xff)
                            : alg == hash_alg::sha1 ? e.template_hash
                                                    : digest(alg, e.template_data);
            it->second = hasher(alg).update(it->second).update(m).finish();
        }
        if (bank.empty()) out.erase(alg);
    }
    return out;
}

ima_entry make_ima_entry(std::uint32_t pcr, const std::string& path, byte_view file_hash, bool sig_template,
                         byte_view signature) {
    ima_entry e;
    e.pcr = pcr;
    e.template_name = sig_template ? "ima-sig" : "ima-ng";
    e.file_hash_alg = "sha256";
    e.file_hash.assign(file_hash.begin(), file_hash.end());
    e.path = path;
    e.signature.assign(signature.begin(), signature.end());
    bytes d(e.file_hash_alg.begin(), e.file_hash_alg.end());
    d.push_back(':');
    d.push_back(0);
    append(d, e.file_hash);
    put_u32le(e.template_data, static_cast<std::uint32_t>(d.size()));
    append(e.template_data, d);
    put_u32le(e.template_data, static_cast<std::uint32_t>(path.size() + 1));
    append(e.template_data, as_bytes(path));
    e.template_data.push_back(0);
    if (sig_template) {
        put_u32le(e.template_data, static_cast<std::uint32_t>(e.signature.size()));
        append(e.template_data, e.signature);
    }
    e.template_hash = digest(hash_alg::sha1, e.template_data);
    return e;
}

bytes serialize_ima_log(const std::vector<ima_entry>& entries) {
    bytes out;
    for (const auto& e : entries) {
        put_u32le(out, e.pcr);
        append(out, e.template_hash);
        put_u32le(out, static_cast<std::uint32_t>(e.template_name.size()));
        append(out, as_bytes(e.template_name));
        put_u32le(out, static_cast<std::uint32_t>(e.template_data.size()));
        append(out, e.template_data);
    }
    return out;
}

}  // namespace custos::attest
