#include "weights/manifest.hpp"

#include "crypto/strict_json.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/json.hpp>

#include "crypto/file_io.hpp"
#include "crypto/ossl.hpp"

namespace custos::weights {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------
// Names and sizes

namespace {
// Length of the UTF-8 sequence starting at s[i], or 0 if it is not well formed (overlong forms,
// surrogates and code points above U+10FFFF are refused so every path is a valid JSON string).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return 1;
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
    else return 0;
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}
}  // namespace

result<void> check_model_path(std::string_view path) {
    auto bad = [&](const std::string& why) {
        return make_error(errc::invalid_argument, "path \"" + std::string(path) + "\" " + why);
    };
    if (path.empty()) return bad("is empty");
    if (path.size() > 4096) return bad("is longer than 4096 bytes");
    if (path.front() == '/') return bad("is absolute");
    for (std::size_t i = 0; i < path.size();) {
        const auto c = static_cast<unsigned char>(path[i]);
        if (c == 0) return bad("contains a NUL byte");
        if (c == '\\') return bad("contains a backslash");
        if (c < 0x20 || c == 0x7f) return bad("contains a control character");
        const std::size_t n = utf8_sequence(path, i);
        if (n == 0) return bad("is not valid UTF-8");
        i += n;
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = path.find('/', start);
        const std::string_view comp = path.substr(start, end == std::string_view::npos ? end : end - start);
        if (comp.empty()) return bad("has an empty component");
        if (comp == ".") return bad("has a \".\" component");
        if (comp == "..") return bad("has a \"..\" component");
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return {};
}

result<void> check_chunk_size(std::uint64_t chunk_size) {
    if (chunk_size < min_chunk_size || chunk_size > max_chunk_size || (chunk_size & (chunk_size - 1)) != 0)
        return make_error(errc::invalid_argument, "chunk size " + std::to_string(chunk_size) +
                                                      " is not a power of two between 65536 (64 KiB) and 67108864 (64 MiB)");
    return {};
}

result<void> check_model_id(std::string_view id) {
    if (id.empty() || id.size() > 128)
        return make_error(errc::invalid_argument, "model id must be 1-128 characters, not " + std::to_string(id.size()));
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        std::string_view("._:/@+-").find(c) != std::string_view::npos;
        if (!ok)
            return make_error(errc::invalid_argument,
                              "model id \"" + std::string(id) + "\" has a character outside [A-Za-z0-9._:/@+-]");
    }
    return {};
}

std::uint64_t chunk_count(std::uint64_t size, std::uint64_t chunk_size) {
    return size == 0 ? 1 : size / chunk_size + (size % chunk_size != 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------------
// Listing a model

namespace {
error io_error(const std::string& what, const fs::path& p, int err) {
    return make_error(errc::io, what + " " + p.string() + ": " + std::strerror(err));
}

const char* kind_name(mode_t m) {
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

error refused(const fs::path& p, mode_t m) {
    return make_error(errc::invalid_argument,
                      p.string() + " is " + kind_name(m) + "; a model holds only regular files and directories");
}

// Depth-first walk with lstat (never follows a link); names are the directory entries' raw bytes.
result<void> walk(const fs::path& dir, const std::string& prefix, std::vector<model_file>& out, int depth) {
    if (depth > 256) return make_error(errc::invalid_argument, dir.string() + ": directories nested deeper than 256");
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) return io_error("cannot open directory", dir, errno);
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d.get());
        if (!e) {
            if (errno != 0) return io_error("cannot read directory", dir, errno);
            break;
        }
        const std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        names.emplace_back(n);
    }
    for (const auto& n : names) {
        const fs::path p = dir / n;
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) return io_error("cannot stat", p, errno);
        const std::string rel = prefix.empty() ? n : prefix + "/" + n;
        if (S_ISDIR(st.st_mode)) {
            CUSTOS_TRY_VOID(walk(p, rel, out, depth + 1));
        } else if (S_ISREG(st.st_mode)) {
            if (auto c = check_model_path(rel); !c.ok()) return with_context(std::move(c).err(), p.string());
            out.push_back({p, rel});
        } else {
            return refused(p, st.st_mode);
        }
    }
    return {};
}
}  // namespace

result<std::vector<model_file>> list_model_files(const fs::path& root) {
    struct stat st {};
    if (::lstat(root.c_str(), &st) != 0) return io_error("cannot stat", root, errno);
    std::vector<model_file> out;
    if (S_ISREG(st.st_mode)) {
        const std::string name = root.filename().string();
        if (auto c = check_model_path(name); !c.ok()) return with_context(std::move(c).err(), root.string());
        out.push_back({root, name});
        return out;
    }
    if (!S_ISDIR(st.st_mode)) return refused(root, st.st_mode);
    CUSTOS_TRY_VOID(walk(root, "", out, 0));
    if (out.empty()) return make_error(errc::invalid_argument, root.string() + " holds no regular files");
    // std::string compares as unsigned bytes (char_traits<char>::compare is memcmp).
    std::sort(out.begin(), out.end(), [](const model_file& a, const model_file& b) { return a.relative < b.relative; });
    return out;
}

// ---------------------------------------------------------------------------------------------------
// Trees

digest file_root(std::span<const digest> chunks) {
    std::vector<digest> leaves;
    leaves.reserve(chunks.size());
    for (const auto& c : chunks) leaves.push_back(leaf_hash(c));
    return merkle_root(leaves);
}

namespace {
bytes model_leaf_data(const file_entry& f) {
    bytes data;
    data.reserve(72);
    const digest ph = sha256_digest(as_bytes(f.path));
    append(data, ph);
    append_u64_be(data, f.size);
    append(data, f.root);
    return data;
}
}  // namespace

digest model_root(const std::vector<file_entry>& files) {
    std::vector<digest> leaves;
    leaves.reserve(files.size());
    for (const auto& f : files) leaves.push_back(leaf_hash(model_leaf_data(f)));
    return merkle_root(leaves);
}

// ---------------------------------------------------------------------------------------------------
// Parallel, streaming chunk hashing

namespace {
using md_ptr = std::unique_ptr<EVP_MD, ossl::deleter<EVP_MD_free>>;

constexpr std::size_t read_slice = 1u << 20;

struct hash_job {
    const fs::path* path;
    std::uint64_t size;
    std::uint64_t first;  // index of its first chunk in the flat sequence of all chunks
    std::vector<digest>* out;
};

// Every chunk of every file is one unit of work taken from a shared counter, so a single large file
// and many small files both keep all workers busy. Each worker reads with pread into its own buffer of
// at most read_slice bytes (memory: threads x 1 MiB) and keeps the last file it touched open.
result<void> hash_chunks(std::vector<hash_job>& jobs, std::uint64_t chunk_size, unsigned threads) {
    std::uint64_t total = 0;
    for (auto& j : jobs) {
        j.first = total;
        const std::uint64_t n = chunk_count(j.size, chunk_size);
        j.out->assign(n, digest{});
        total += n;
    }
    if (total == 0) return {};
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::min<std::uint64_t>(threads, total));

    md_ptr md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!md) return ossl::crypto_error("fetching SHA-256");

    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex err_mu;
    std::uint64_t err_at = UINT64_MAX;
    std::optional<error> first_err;
    auto record = [&](std::uint64_t at, error e) {
        std::lock_guard lk(err_mu);
        if (at < err_at) {
            err_at = at;
            first_err = std::move(e);
        }
        stop = true;
    };

    auto worker = [&] {
        ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
        if (!ctx) return record(0, ossl::crypto_error("allocating a digest context"));
        std::vector<std::uint8_t> buf;
        std::size_t cur = SIZE_MAX;
        fd_guard fd;
        while (!stop.load(std::memory_order_relaxed)) {
            const std::uint64_t g = next.fetch_add(1, std::memory_order_relaxed);
            if (g >= total) break;
            // The job holding flat chunk g: the last with first <= g.
            const auto it = std::upper_bound(jobs.begin(), jobs.end(), g,
                                             [](std::uint64_t v, const hash_job& j) { return v < j.first; });
            const std::size_t ji = static_cast<std::size_t>(it - jobs.begin()) - 1;
            const hash_job& j = jobs[ji];
            const std::uint64_t ci = g - j.first;
            const std::uint64_t off = ci * chunk_size;
            const std::size_t len = static_cast<std::size_t>(std::min(chunk_size, j.size - std::min(j.size, off)));
            if (ji != cur) {
                fd.reset(::open(j.path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
                cur = ji;
                if (fd.fd < 0) return record(g, io_error("cannot open", *j.path, errno));
                struct stat st {};
                if (::fstat(fd.fd, &st) != 0) return record(g, io_error("cannot stat", *j.path, errno));
                if (!S_ISREG(st.st_mode)) return record(g, refused(*j.path, st.st_mode));
                if (static_cast<std::uint64_t>(st.st_size) != j.size)
                    return record(g, make_error(errc::io, j.path->string() + " changed size while being hashed"));
            }
            // Read in slices of at most read_slice bytes: memory does not grow with the chunk size, and
            // a slice that stays in cache between the copy and the hash is faster than a whole chunk.
            if (EVP_DigestInit_ex(ctx.get(), md.get(), nullptr) != 1)
                return record(g, ossl::crypto_error("SHA-256"));
            std::size_t done = 0;
            while (done < len) {
                const std::size_t want = std::min(len - done, read_slice);
                if (buf.size() < want) buf.resize(want);
                std::size_t got = 0;
                while (got < want) {
                    const ssize_t n = ::pread(fd.fd, buf.data() + got, want - got,
                                              static_cast<off_t>(off + done + got));
                    if (n < 0) {
                        if (errno == EINTR) continue;
                        return record(g, io_error("cannot read", *j.path, errno));
                    }
                    if (n == 0)
                        return record(g, make_error(errc::io, j.path->string() + " shrank while being hashed"));
                    got += static_cast<std::size_t>(n);
                }
                if (EVP_DigestUpdate(ctx.get(), buf.data(), want) != 1)
                    return record(g, ossl::crypto_error("SHA-256"));
                done += want;
            }
            unsigned int dlen = 0;
            if (EVP_DigestFinal_ex(ctx.get(), (*j.out)[ci].data(), &dlen) != 1 || dlen != 32)
                return record(g, ossl::crypto_error("SHA-256"));
        }
    };

    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    try {
        for (unsigned i = 1; i < threads; ++i) pool.emplace_back(worker);
    } catch (const std::system_error& e) {
        record(0, make_error(errc::io, std::string("cannot start hashing threads: ") + e.what()));
    }
    worker();
    for (auto& t : pool) t.join();
    if (first_err) return std::move(*first_err);
    return {};
}

struct hashed_file {
    std::uint64_t size = 0;
    std::vector<digest> chunks;
};

// Sizes by lstat, then chunk digests of every listed file.
result<std::vector<hashed_file>> hash_files(const std::vector<model_file>& files, std::uint64_t chunk_size,
                                            unsigned threads) {
    std::vector<hashed_file> out(files.size());
    std::vector<hash_job> jobs;
    jobs.reserve(files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
        struct stat st {};
        if (::lstat(files[i].absolute.c_str(), &st) != 0) return io_error("cannot stat", files[i].absolute, errno);
        if (!S_ISREG(st.st_mode)) return refused(files[i].absolute, st.st_mode);
        out[i].size = static_cast<std::uint64_t>(st.st_size);
        jobs.push_back({&files[i].absolute, out[i].size, 0, &out[i].chunks});
    }
    CUSTOS_TRY_VOID(hash_chunks(jobs, chunk_size, threads));
    return out;
}
}  // namespace

result<manifest> build_manifest(const fs::path& root, std::string_view model_id, std::uint64_t chunk_size,
                                unsigned threads) {
    CUSTOS_TRY_VOID(check_model_id(model_id));
    CUSTOS_TRY_VOID(check_chunk_size(chunk_size));
    CUSTOS_TRY(files, list_model_files(root));
    CUSTOS_TRY(hashed, hash_files(files, chunk_size, threads));
    manifest m;
    m.model_id = std::string(model_id);
    m.chunk_size = chunk_size;
    m.files.reserve(files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
        file_entry f;
        f.path = files[i].relative;
        f.size = hashed[i].size;
        f.chunks = std::move(hashed[i].chunks);
        f.root = file_root(f.chunks);
        m.files.push_back(std::move(f));
    }
    m.model_root = model_root(m.files);
    return m;
}

// ---------------------------------------------------------------------------------------------------
// Verifying a tree

namespace {
std::string json_quote(const std::string& s) { return boost::json::serialize(boost::json::value(s)); }

std::string quoted_list(const std::vector<std::string>& v, std::size_t max = 5) {
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + json_quote(v[i]);
    if (v.size() > max) s += " and " + std::to_string(v.size() - max) + " more";
    return s;
}
}  // namespace

result<void> verify_tree(const fs::path& root, const manifest& m, unsigned threads) {
    CUSTOS_TRY_VOID(check_chunk_size(m.chunk_size));
    CUSTOS_TRY(files, list_model_files(root));

    // Merge the two sorted lists: common files are hashed, the rest are missing or extra.
    std::vector<model_file> common;
    std::vector<const file_entry*> expected;
    std::vector<std::string> missing, extra;
    std::size_t a = 0, b = 0;
    while (a < files.size() || b < m.files.size()) {
        if (b == m.files.size() || (a < files.size() && files[a].relative < m.files[b].path)) {
            extra.push_back(files[a++].relative);
        } else if (a == files.size() || m.files[b].path < files[a].relative) {
            missing.push_back(m.files[b++].path);
        } else {
            common.push_back(files[a++]);
            expected.push_back(&m.files[b++]);
        }
    }
    CUSTOS_TRY(hashed, hash_files(common, m.chunk_size, threads));

    std::string first_diff;
    std::size_t differing = 0;
    for (std::size_t i = 0; i < common.size(); ++i) {
        const file_entry& want = *expected[i];
        const hashed_file& got = hashed[i];
        if (got.size == want.size && got.chunks == want.chunks) continue;
        ++differing;
        if (!first_diff.empty()) continue;
        std::size_t c = 0;
        const std::size_t n = std::min(got.chunks.size(), want.chunks.size());
        while (c < n && got.chunks[c] == want.chunks[c]) ++c;
        const std::uint64_t from = c * m.chunk_size;
        first_diff = "file " + json_quote(want.path) + " differs at chunk " + std::to_string(c) + " (bytes from " +
                     std::to_string(from) + ")";
        if (got.size != want.size)
            first_diff += ", size " + std::to_string(got.size) + " where the manifest says " + std::to_string(want.size);
    }
    if (first_diff.empty() && missing.empty() && extra.empty()) return {};

    std::string msg;
    auto add = [&](const std::string& part) { msg += (msg.empty() ? "" : "; ") + part; };
    if (!first_diff.empty()) {
        add(first_diff);
        if (differing > 1) add(std::to_string(differing - 1) + " more file(s) differ");
    }
    if (!missing.empty()) add("missing: " + quoted_list(missing));
    if (!extra.empty()) add("extra: " + quoted_list(extra));
    return make_error(errc::mismatch, msg);
}

// ---------------------------------------------------------------------------------------------------
// JSON

namespace {
std::string hex(const digest& d) { return to_hex(d); }
}  // namespace

std::string manifest_to_json(const manifest& m) {
    std::string s;
    s.reserve(256 + m.files.size() * 200);
    s += "{\n";
    s += "  \"format\": \"custos-manifest\",\n";
    s += "  \"version\": " + std::to_string(manifest_version) + ",\n";
    s += "  \"model_id\": " + json_quote(m.model_id) + ",\n";
    s += "  \"chunk_size\": " + std::to_string(m.chunk_size) + ",\n";
    s += "  \"model_root\": \"" + hex(m.model_root) + "\",\n";
    s += "  \"files\": [";
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        const auto& f = m.files[i];
        s += i ? ",\n" : "\n";
        s += "    {\n";
        s += "      \"path\": " + json_quote(f.path) + ",\n";
        s += "      \"size\": " + std::to_string(f.size) + ",\n";
        s += "      \"root\": \"" + hex(f.root) + "\",\n";
        s += "      \"chunks\": [";
        for (std::size_t c = 0; c < f.chunks.size(); ++c) {
            s += c ? ",\n" : "\n";
            s += "        \"" + hex(f.chunks[c]) + "\"";
        }
        s += "\n      ]\n    }";
    }
    s += m.files.empty() ? "]\n" : "\n  ]\n";
    s += "}\n";
    return s;
}

namespace {
namespace json = boost::json;

error bad(const std::string& where, const std::string& why) {
    return make_error(errc::structure, "manifest " + where + ": " + why);
}

result<void> exact_fields(const json::object& o, std::initializer_list<std::string_view> names,
                          const std::string& where) {
    for (const auto& kv : o)
        if (std::find(names.begin(), names.end(), std::string_view(kv.key())) == names.end())
            return bad(where, "unknown field " + json_quote(std::string(kv.key())));
    for (auto n : names)
        if (!o.contains(n)) return bad(where, "missing field \"" + std::string(n) + "\"");
    return {};
}

result<std::string> get_string(const json::object& o, std::string_view key, const std::string& where) {
    const auto* s = o.at(key).if_string();
    if (!s) return bad(where, "\"" + std::string(key) + "\" must be a string");
    return std::string(s->data(), s->size());
}

result<std::uint64_t> get_uint(const json::object& o, std::string_view key, const std::string& where) {
    const auto& v = o.at(key);
    if (const auto* u = v.if_uint64()) return *u;
    if (const auto* i = v.if_int64(); i && *i >= 0) return static_cast<std::uint64_t>(*i);
    return bad(where, "\"" + std::string(key) + "\" must be a non-negative integer");
}

result<digest> parse_digest(const json::value& v, const std::string& where) {
    const auto* s = v.if_string();
    if (!s) return bad(where, "must be a string of 64 lowercase hex digits");
    if (s->size() != 64) return bad(where, "must be 64 hex digits, not " + std::to_string(s->size()) + " characters");
    digest d{};
    for (std::size_t i = 0; i < 64; ++i) {
        const char c = (*s)[i];
        int x;
        if (c >= '0' && c <= '9') x = c - '0';
        else if (c >= 'a' && c <= 'f') x = c - 'a' + 10;
        else return bad(where, "must be lowercase hex digits");
        d[i / 2] = static_cast<std::uint8_t>(d[i / 2] << 4 | x);
    }
    return d;
}

result<file_entry> parse_file(const json::value& v, std::size_t index, std::uint64_t chunk_size) {
    std::string where = "files[" + std::to_string(index) + "]";
    const auto* o = v.if_object();
    if (!o) return bad(where, "must be an object");
    // Name the file in every later error, as soon as its path is known to be a string.
    if (const auto* p = o->if_contains("path"); p && p->is_string())
        where += " (" + json_quote(std::string(p->get_string())) + ")";
    CUSTOS_TRY_VOID(exact_fields(*o, {"path", "size", "root", "chunks"}, where));
    file_entry f;
    CUSTOS_TRY(path, get_string(*o, "path", where));
    if (auto c = check_model_path(path); !c.ok()) return bad(where + " path", c.err().message);
    f.path = std::move(path);
    CUSTOS_TRY(size, get_uint(*o, "size", where));
    f.size = size;
    const auto* chunks = o->at("chunks").if_array();
    if (!chunks) return bad(where, "\"chunks\" must be an array");
    const std::uint64_t want = chunk_count(f.size, chunk_size);
    if (chunks->size() != want)
        return bad(where, "\"chunks\" has " + std::to_string(chunks->size()) + " entries; " +
                              std::to_string(f.size) + " bytes at chunk size " + std::to_string(chunk_size) +
                              " make " + std::to_string(want));
    f.chunks.reserve(chunks->size());
    for (std::size_t c = 0; c < chunks->size(); ++c) {
        CUSTOS_TRY(d, parse_digest((*chunks)[c], where + " chunks[" + std::to_string(c) + "]"));
        f.chunks.push_back(d);
    }
    CUSTOS_TRY(root, parse_digest(o->at("root"), where + " root"));
    f.root = file_root(f.chunks);
    if (f.root != root)
        return make_error(errc::mismatch, "manifest " + where + " root: " + hex(root) +
                                              " is not the Merkle root of the listed chunks (" + hex(f.root) + ")");
    return f;
}
}  // namespace

result<manifest> parse_manifest(std::string_view text) {
    CUSTOS_TRY(v, sjson::parse(text, "manifest", 8));
    const auto* o = v.if_object();
    if (!o) return bad("", "must be a JSON object");
    CUSTOS_TRY_VOID(exact_fields(*o, {"format", "version", "model_id", "chunk_size", "model_root", "files"}, "top level"));

    CUSTOS_TRY(format, get_string(*o, "format", "top level"));
    if (format != "custos-manifest") return bad("format", json_quote(format) + " is not \"custos-manifest\"");
    CUSTOS_TRY(version, get_uint(*o, "version", "top level"));
    if (version != static_cast<std::uint64_t>(manifest_version))
        return make_error(errc::unsupported, "manifest version " + std::to_string(version) +
                                                 " is not supported (this build reads version " +
                                                 std::to_string(manifest_version) + ")");
    manifest m;
    m.version = manifest_version;
    CUSTOS_TRY(id, get_string(*o, "model_id", "top level"));
    if (auto c = check_model_id(id); !c.ok()) return bad("model_id", c.err().message);
    m.model_id = std::move(id);
    CUSTOS_TRY(cs, get_uint(*o, "chunk_size", "top level"));
    if (auto c = check_chunk_size(cs); !c.ok()) return bad("chunk_size", c.err().message);
    m.chunk_size = cs;
    CUSTOS_TRY(claimed_root, parse_digest(o->at("model_root"), "model_root"));

    const auto* files = o->at("files").if_array();
    if (!files) return bad("files", "must be an array");
    if (files->empty()) return bad("files", "is empty; a model has at least one file");
    std::unordered_set<std::string_view> seen;
    m.files.reserve(files->size());
    for (std::size_t i = 0; i < files->size(); ++i) {
        CUSTOS_TRY(f, parse_file((*files)[i], i, m.chunk_size));
        if (!m.files.empty() && !(m.files.back().path < f.path))
            return bad("files[" + std::to_string(i) + "] (" + json_quote(f.path) + ")",
                       f.path == m.files.back().path ? "path is listed twice"
                                                     : "paths are not sorted bytewise (after " +
                                                           json_quote(m.files.back().path) + ")");
        m.files.push_back(std::move(f));
    }
    // A path that is also another path's directory ("a" and "a/b") cannot exist on disk.
    for (const auto& f : m.files) seen.insert(f.path);
    for (const auto& f : m.files)
        for (std::size_t p = f.path.find('/'); p != std::string::npos; p = f.path.find('/', p + 1))
            if (seen.count(std::string_view(f.path).substr(0, p)))
                return bad("files (" + json_quote(f.path) + ")",
                           "its directory " + json_quote(f.path.substr(0, p)) + " is also listed as a file");

    m.model_root = model_root(m.files);
    if (m.model_root != claimed_root)
        return make_error(errc::mismatch, "manifest model_root: " + hex(claimed_root) +
                                              " is not the root over the listed files (" + hex(m.model_root) + ")");
    return m;
}

}  // namespace custos::weights
