#include <boost/json.hpp>

#include <cstdio>
#include <set>
#include <string_view>

#include "crypto/file_io.hpp"
#include "weights/sealed.hpp"

namespace custos::weights {

namespace json = boost::json;

namespace {

constexpr std::uint64_t max_file_size = std::uint64_t{1} << 52;  // 4 PiB: keeps every offset sum far from overflow
constexpr std::size_t max_files = 1u << 20;
constexpr std::size_t max_index_bytes = 64u << 20;

error bad(const std::string& field, const std::string& what) {
    return make_error(errc::structure, "index.json: " + field + ": " + what);
}

result<const json::value*> member(const json::object& o, std::string_view key, const std::string& where) {
    auto* v = o.if_contains(key);
    if (!v) return bad(where + std::string(key), "missing");
    return v;
}

result<std::string> get_string(const json::object& o, std::string_view key, const std::string& where) {
    CUSTOS_TRY(v, member(o, key, where));
    if (!v->is_string()) return bad(where + std::string(key), "not a string");
    return std::string(v->as_string());
}

result<std::uint64_t> get_uint(const json::object& o, std::string_view key, const std::string& where) {
    CUSTOS_TRY(v, member(o, key, where));
    if (v->is_uint64()) return v->as_uint64();
    if (v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
    return bad(where + std::string(key), "not a non-negative integer");
}

result<digest> get_digest(const json::object& o, std::string_view key, const std::string& where) {
    CUSTOS_TRY(s, get_string(o, key, where));
    if (s.size() != 64) return bad(where + std::string(key), "not 64 hex digits");
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return bad(where + std::string(key), "not lowercase hex");
    auto b = from_hex(s);
    if (!b.ok()) return bad(where + std::string(key), b.err().message);
    digest d{};
    std::copy(b->begin(), b->end(), d.begin());
    return d;
}

result<void> exact_keys(const json::object& o, std::initializer_list<std::string_view> keys, const std::string& where) {
    for (const auto& kv : o) {
        bool known = false;
        for (auto k : keys) known = known || kv.key() == k;
        if (!known) return bad(where + std::string(kv.key()), "unknown field");
    }
    if (o.size() != keys.size()) return bad(where.empty() ? "object" : where, "fields missing or repeated");
    return {};
}

}  // namespace

std::string sealed_data_name(std::size_t file_index) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "data/%06zu.enc", file_index);
    return buf;
}

std::uint64_t sealed_data_size(const sealed_file& f) { return f.size + f.chunks * gcm_tag_size; }

std::string sealed_index_to_json(const sealed_index& idx) {
    json::object o;
    o["format"] = sealed_format;
    o["version"] = idx.version;
    o["cipher"] = sealed_cipher;
    o["model_id"] = idx.model_id;
    o["model_root"] = to_hex(idx.model_root);
    o["chunk_size"] = idx.chunk_size;
    o["source"] = idx.single_file ? "file" : "directory";
    json::array files;
    for (const auto& f : idx.files) {
        json::object e;
        e["path"] = f.path;
        e["size"] = f.size;
        e["chunks"] = f.chunks;
        e["data"] = f.data;
        e["keyed_root"] = to_hex(f.keyed_root);
        files.push_back(std::move(e));
    }
    o["files"] = std::move(files);
    o["index_mac"] = to_hex(idx.index_mac);
    return json::serialize(o) + "\n";
}

result<sealed_index> parse_sealed_index(std::string_view text) {
    if (text.size() > max_index_bytes) return make_error(errc::parse, "index.json: larger than 64 MiB");
    std::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return make_error(errc::parse, "index.json: not JSON: " + ec.message());
    if (!v.is_object()) return bad("document", "not a JSON object");
    const auto& o = v.as_object();
    CUSTOS_TRY_VOID(exact_keys(o, {"format", "version", "cipher", "model_id", "model_root", "chunk_size", "source",
                                   "files", "index_mac"}, ""));
    sealed_index idx;
    CUSTOS_TRY(format, get_string(o, "format", ""));
    if (format != sealed_format) return bad("format", "\"" + format + "\" is not " + std::string(sealed_format));
    CUSTOS_TRY(version, get_uint(o, "version", ""));
    if (version != sealed_version)
        return make_error(errc::unsupported, "index.json: version " + std::to_string(version) + " is not supported (only 1)");
    CUSTOS_TRY(cipher, get_string(o, "cipher", ""));
    if (cipher != sealed_cipher) return make_error(errc::unsupported, "index.json: cipher \"" + cipher + "\" is not supported");
    CUSTOS_TRY(model_id, get_string(o, "model_id", ""));
    if (auto c = check_model_id(model_id); !c.ok()) return bad("model_id", c.err().message);
    idx.model_id = std::move(model_id);
    CUSTOS_TRY(root, get_digest(o, "model_root", ""));
    idx.model_root = root;
    CUSTOS_TRY(chunk_size, get_uint(o, "chunk_size", ""));
    if (auto c = check_chunk_size(chunk_size); !c.ok()) return bad("chunk_size", c.err().message);
    idx.chunk_size = chunk_size;
    CUSTOS_TRY(source, get_string(o, "source", ""));
    if (source != "file" && source != "directory") return bad("source", "neither \"file\" nor \"directory\"");
    idx.single_file = source == "file";
    CUSTOS_TRY(mac, get_digest(o, "index_mac", ""));
    idx.index_mac = mac;

    CUSTOS_TRY(files_v, member(o, "files", ""));
    if (!files_v->is_array()) return bad("files", "not an array");
    const auto& files = files_v->as_array();
    if (files.size() > max_files) return bad("files", "more than 2^20 files");
    if (idx.single_file && files.size() != 1) return bad("files", "a sealed single file must list exactly one file");
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const std::string where = "files[" + std::to_string(i) + "].";
        if (!files[i].is_object()) return bad(where.substr(0, where.size() - 1), "not an object");
        const auto& fo = files[i].as_object();
        CUSTOS_TRY_VOID(exact_keys(fo, {"path", "size", "chunks", "data", "keyed_root"}, where));
        sealed_file f;
        CUSTOS_TRY(path, get_string(fo, "path", where));
        if (auto c = check_model_path(path); !c.ok()) return bad(where + "path", c.err().message);
        if (idx.single_file && path.find('/') != std::string::npos)
            return bad(where + "path", "a sealed single file's path has no directory");
        f.path = std::move(path);
        CUSTOS_TRY(size, get_uint(fo, "size", where));
        if (size > max_file_size) return bad(where + "size", "larger than 2^52 bytes");
        f.size = size;
        CUSTOS_TRY(chunks, get_uint(fo, "chunks", where));
        if (chunks != chunk_count(size, idx.chunk_size))
            return bad(where + "chunks", std::to_string(chunks) + " does not match size " + std::to_string(size) +
                                             " in chunks of " + std::to_string(idx.chunk_size));
        f.chunks = chunks;
        CUSTOS_TRY(data, get_string(fo, "data", where));
        if (data != sealed_data_name(i)) return bad(where + "data", "\"" + data + "\" is not " + sealed_data_name(i));
        f.data = std::move(data);
        CUSTOS_TRY(kr, get_digest(fo, "keyed_root", where));
        f.keyed_root = kr;
        if (!idx.files.empty() && !(idx.files.back().path < f.path))
            return bad(where + "path", "\"" + f.path + "\" is not after \"" + idx.files.back().path + "\" (paths must be sorted and unique)");
        idx.files.push_back(std::move(f));
    }
    // A path may not also be a directory of another ("a" and "a/b"): unseal could not lay both out.
    for (const auto& f : idx.files) seen.insert(f.path);
    for (const auto& f : idx.files)
        for (auto pos = f.path.find('/'); pos != std::string::npos; pos = f.path.find('/', pos + 1))
            if (seen.count(std::string_view(f.path).substr(0, pos)))
                return bad("files", "\"" + f.path.substr(0, pos) + "\" is both a file and a directory");
    return idx;
}

result<sealed_index> inspect_sealed(const std::filesystem::path& dir) {
    CUSTOS_TRY(data, read_file(dir / sealed_index_name, max_index_bytes));
    return parse_sealed_index(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

}  // namespace custos::weights
