#include "weights/manifest.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <boost/json.hpp>

namespace custos::weights {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t cs = min_chunk_size;  // 64 KiB keeps the boundary files small

class temp_dir {
public:
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "custos-manifest-XXXXXX").string();
        path_ = ::mkdtemp(t.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

void write_bytes(const fs::path& p, std::size_t n, unsigned seed = 1) {
    fs::create_directories(p.parent_path());
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    std::ofstream(p, std::ios::binary) << s;
}

void flip_byte(const fs::path& p, std::uint64_t off) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(off));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(off));
    f.put(static_cast<char>(c ^ 0x01));
}

// The sizes the issue names, nested directories and many small files.
void make_model(const fs::path& root) {
    write_bytes(root / "empty.bin", 0);
    write_bytes(root / "one.bin", 1, 2);
    write_bytes(root / "below.bin", cs - 1, 3);
    write_bytes(root / "exact.bin", cs, 4);
    write_bytes(root / "above.bin", cs + 1, 5);
    write_bytes(root / "three.bin", 3 * cs + 5, 6);
    write_bytes(root / "deep/er/still/x.safetensors", 1000, 7);
    write_bytes(root / "deep/a-b", 10, 8);  // '-' sorts before '/'
    for (int i = 0; i < 40; ++i) write_bytes(root / "small" / ("s" + std::to_string(i)), static_cast<std::size_t>(i * 37), 100 + i);
}

std::string run_python(std::uint64_t chunk_size, const fs::path& p) {
    const std::string cmd = "python3 " CUSTOS_TEST_DATA_DIR "/../weights/merkle_vectors.py " + std::to_string(chunk_size) +
                            " '" + p.string() + "'";
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        if (::pclose(f) != 0) out.clear();
    }
    return out;
}

std::string expected_listing(const manifest& m) {
    std::string s;
    for (const auto& f : m.files) s += "FILE " + to_hex(f.root) + " " + std::to_string(f.size) + " " + f.path + "\n";
    return s + "MODEL " + to_hex(m.model_root) + "\n";
}

TEST(ManifestChecks, Paths) {
    for (const char* ok : {"a", "a/b", "model-00001-of-00002.safetensors", "dir/.hidden", "x..y", "\xc3\xa9t\xc3\xa9"})
        EXPECT_TRUE(check_model_path(ok).ok()) << ok;
    for (const char* bad : {"", "/abs", "a/../b", "..", "./a", "a/./b", "a//b", "a/", "a\\b", "\x01", "\xff", "\xc0\xaf"})
        EXPECT_FALSE(check_model_path(bad).ok()) << bad;
    EXPECT_FALSE(check_model_path(std::string_view("a\0b", 3)).ok());
}

TEST(ManifestChecks, ChunkSizeAndModelId) {
    EXPECT_TRUE(check_chunk_size(64u << 10).ok());
    EXPECT_TRUE(check_chunk_size(4u << 20).ok());
    EXPECT_TRUE(check_chunk_size(64u << 20).ok());
    for (std::uint64_t bad : {std::uint64_t{0}, std::uint64_t{32u << 10}, std::uint64_t{128u << 20}, std::uint64_t{(4u << 20) + 1}})
        EXPECT_FALSE(check_chunk_size(bad).ok()) << bad;
    EXPECT_TRUE(check_model_id("org/llama-3.1-8b@v2+q4:1").ok());
    EXPECT_FALSE(check_model_id("").ok());
    EXPECT_FALSE(check_model_id("has space").ok());
    EXPECT_FALSE(check_model_id(std::string(129, 'a')).ok());
    EXPECT_EQ(chunk_count(0, cs), 1u);
    EXPECT_EQ(chunk_count(1, cs), 1u);
    EXPECT_EQ(chunk_count(cs, cs), 1u);
    EXPECT_EQ(chunk_count(cs + 1, cs), 2u);
    EXPECT_EQ(chunk_count(std::uint64_t{100} << 30, 4u << 20), 25600u);
}

TEST(ManifestBuild, MatchesIndependentPythonComputation) {
    temp_dir d;
    make_model(d.path());
    for (unsigned threads : {1u, 2u, 7u}) {
        auto m = build_manifest(d.path(), "test-model", cs, threads);
        ASSERT_TRUE(m.ok()) << m.err().message;
        ASSERT_EQ(m->files.size(), 48u);
        EXPECT_EQ(run_python(cs, d.path()), expected_listing(*m)) << threads << " threads";
    }
    auto big = build_manifest(d.path(), "test-model", 128u << 10, 2);
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(run_python(128u << 10, d.path()), expected_listing(*big));
}

TEST(ManifestBuild, ChunksAndSortOrder) {
    temp_dir d;
    make_model(d.path());
    auto m = build_manifest(d.path(), "test-model", cs, 2);
    ASSERT_TRUE(m.ok()) << m.err().message;
    std::map<std::string, std::size_t> counts;
    for (std::size_t i = 0; i < m->files.size(); ++i) {
        if (i) {
            EXPECT_LT(m->files[i - 1].path, m->files[i].path);
        }
        counts[m->files[i].path] = m->files[i].chunks.size();
        EXPECT_EQ(m->files[i].root, file_root(m->files[i].chunks));
    }
    EXPECT_EQ(counts["empty.bin"], 1u);
    EXPECT_EQ(counts["below.bin"], 1u);
    EXPECT_EQ(counts["exact.bin"], 1u);
    EXPECT_EQ(counts["above.bin"], 2u);
    EXPECT_EQ(counts["three.bin"], 4u);
    EXPECT_EQ(m->files[0].path, "above.bin");
    EXPECT_EQ(m->files[2].path, "deep/a-b");
    EXPECT_EQ(m->files[3].path, "deep/er/still/x.safetensors");
    const auto& empty = *std::find_if(m->files.begin(), m->files.end(), [](auto& f) { return f.path == "empty.bin"; });
    EXPECT_EQ(to_hex(empty.chunks[0]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(m->model_root, model_root(m->files));
}

TEST(ManifestBuild, SingleFileIsNamedByItsFileName) {
    temp_dir d;
    write_bytes(d.path() / "sub" / "weights.bin", 3 * cs + 5);
    auto m = build_manifest(d.path() / "sub" / "weights.bin", "m", cs, 2);
    ASSERT_TRUE(m.ok()) << m.err().message;
    ASSERT_EQ(m->files.size(), 1u);
    EXPECT_EQ(m->files[0].path, "weights.bin");
    EXPECT_EQ(run_python(cs, d.path() / "sub" / "weights.bin"), expected_listing(*m));
    // The same file in a directory gets the same model root.
    auto dm = build_manifest(d.path() / "sub", "m", cs, 1);
    ASSERT_TRUE(dm.ok());
    EXPECT_EQ(dm->model_root, m->model_root);
}

TEST(ManifestBuild, RefusesLinksDevicesFifosAndBadInputs) {
    temp_dir d;
    write_bytes(d.path() / "m" / "a.bin", 10);
    fs::create_symlink("a.bin", d.path() / "m" / "link.bin");
    auto r = build_manifest(d.path() / "m", "m", cs);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("link.bin is a symbolic link"), std::string::npos) << r.err().message;
    fs::remove(d.path() / "m" / "link.bin");

    fs::create_directory_symlink(d.path() / "m", d.path() / "dirlink");
    r = build_manifest(d.path() / "dirlink", "m", cs);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("symbolic link"), std::string::npos);

    ASSERT_EQ(::mkfifo((d.path() / "m" / "pipe").c_str(), 0600), 0);
    r = build_manifest(d.path() / "m", "m", cs);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("pipe is a FIFO"), std::string::npos) << r.err().message;
    fs::remove(d.path() / "m" / "pipe");

    r = build_manifest("/dev/null", "m", cs);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("character device"), std::string::npos);

    EXPECT_EQ(build_manifest(d.path() / "nope", "m", cs).err().code, errc::io);
    EXPECT_FALSE(build_manifest(d.path() / "m", "bad id", cs).ok());
    EXPECT_FALSE(build_manifest(d.path() / "m", "m", 1000).ok());
    fs::create_directories(d.path() / "empty" / "sub");
    r = build_manifest(d.path() / "empty", "m", cs);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("no regular files"), std::string::npos);
}

TEST(ManifestBuild, UnreadableFileIsAnIoError) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
    temp_dir d;
    write_bytes(d.path() / "a.bin", 10);
    fs::permissions(d.path() / "a.bin", fs::perms::none);
    auto r = build_manifest(d.path(), "m", cs);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::io);
}

// --- JSON ---

manifest small_manifest(const temp_dir& d) {
    make_model(d.path());
    auto m = build_manifest(d.path(), "org/model@1", cs, 2);
    EXPECT_TRUE(m.ok());
    return std::move(*m);
}

TEST(ManifestJson, RoundTrips) {
    temp_dir d;
    const manifest m = small_manifest(d);
    const std::string text = manifest_to_json(m);
    auto p = parse_manifest(text);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(p->model_id, m.model_id);
    EXPECT_EQ(p->chunk_size, m.chunk_size);
    EXPECT_EQ(p->model_root, m.model_root);
    ASSERT_EQ(p->files.size(), m.files.size());
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        EXPECT_EQ(p->files[i].path, m.files[i].path);
        EXPECT_EQ(p->files[i].size, m.files[i].size);
        EXPECT_EQ(p->files[i].chunks, m.files[i].chunks);
        EXPECT_EQ(p->files[i].root, m.files[i].root);
    }
    EXPECT_EQ(manifest_to_json(*p), text);
    // Whitespace is free: the compact form parses too.
    EXPECT_TRUE(parse_manifest(boost::json::serialize(boost::json::parse(text))).ok());
    auto v = boost::json::parse(text).as_object();
    EXPECT_EQ(v["format"].as_string(), "custos-manifest");
    EXPECT_EQ(v["version"].as_int64(), 1);
}

// Applies `edit` to the parsed JSON of a valid manifest and returns the parse error ("" if it parsed).
std::string parse_error_after(const manifest& m, const std::function<void(boost::json::object&)>& edit) {
    auto v = boost::json::parse(manifest_to_json(m));
    edit(v.as_object());
    auto p = parse_manifest(boost::json::serialize(v));
    return p.ok() ? std::string() : p.err().message;
}

boost::json::object& file_at(boost::json::object& o, std::size_t i) { return o["files"].as_array()[i].as_object(); }

TEST(ManifestJson, StrictParser) {
    temp_dir d;
    const manifest m = small_manifest(d);
    auto expect_error = [&](const std::function<void(boost::json::object&)>& edit, const std::string& needle) {
        const std::string e = parse_error_after(m, edit);
        EXPECT_NE(e.find(needle), std::string::npos) << "wanted \"" << needle << "\", got \"" << e << "\"";
    };
    expect_error([](auto& o) { o["extra"] = 1; }, "unknown field \"extra\"");
    expect_error([](auto& o) { o.erase("model_root"); }, "missing field \"model_root\"");
    expect_error([](auto& o) { o["format"] = "other"; }, "format");
    expect_error([](auto& o) { o["version"] = 2; }, "version 2 is not supported");
    expect_error([](auto& o) { o["version"] = "1"; }, "\"version\" must be a non-negative integer");
    expect_error([](auto& o) { o["chunk_size"] = 1.5; }, "\"chunk_size\" must be a non-negative integer");
    expect_error([](auto& o) { o["chunk_size"] = 1000; }, "chunk_size");
    expect_error([](auto& o) { o["chunk_size"] = 128u << 10; }, "\"chunks\" has");
    expect_error([](auto& o) { o["model_id"] = "a b"; }, "model_id");
    expect_error([](auto& o) { o["model_root"] = "00"; }, "model_root: must be 64 hex digits");
    expect_error([](auto& o) { o["files"] = boost::json::array(); }, "files: is empty");
    expect_error([](auto& o) { o["model_root"] = std::string(64, '0'); }, "is not the root over the listed files");
    expect_error([](auto& o) { file_at(o, 0)["mode"] = 420; }, "files[0] (\"above.bin\"): unknown field \"mode\"");
    expect_error([](auto& o) { file_at(o, 0)["size"] = -1; }, "\"size\" must be a non-negative integer");
    expect_error([](auto& o) { file_at(o, 0)["size"] = cs * 2 + 1; }, "files[0] (\"above.bin\"): \"chunks\" has 2 entries");
    expect_error([](auto& o) { file_at(o, 0)["path"] = "../x"; }, "has a \"..\" component");
    expect_error([](auto& o) { file_at(o, 0)["path"] = "/etc/passwd"; }, "is absolute");
    expect_error([](auto& o) { file_at(o, 1)["path"] = "above.bin"; }, "path is listed twice");
    expect_error([](auto& o) { file_at(o, 1)["path"] = "aaa"; }, "not sorted");
    expect_error([](auto& o) {
        auto& c = file_at(o, 0)["chunks"].as_array();
        std::string s(c[0].as_string());
        s[0] = s[0] == 'A' ? 'B' : 'A';
        c[0] = s;
    }, "files[0] (\"above.bin\") chunks[0]: must be lowercase hex");
    expect_error([](auto& o) {
        auto& c = file_at(o, 0)["chunks"].as_array();
        std::swap(c[0], c[1]);
    }, "files[0] (\"above.bin\") root");
    expect_error([](auto& o) { file_at(o, 0)["root"] = std::string(64, 'f'); }, "is not the Merkle root of the listed chunks");
    // Swapping two file entries' contents keeps each file's root consistent but changes the model root.
    expect_error([](auto& o) {
        auto& a = file_at(o, 1);
        auto& b = file_at(o, 2);
        std::swap(a["root"], b["root"]);
        std::swap(a["chunks"], b["chunks"]);
        std::swap(a["size"], b["size"]);
    }, "is not the root over the listed files");
}

TEST(ManifestJson, FileThatIsAlsoADirectoryAndDuplicateKeys) {
    manifest m;
    m.model_id = "m";
    m.chunk_size = cs;
    for (const char* p : {"a", "a-b", "a/b"}) {
        file_entry f{p, 0, {sha256_digest({})}, {}};
        f.root = file_root(f.chunks);
        m.files.push_back(f);
    }
    m.model_root = model_root(m.files);
    auto r = parse_manifest(manifest_to_json(m));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("its directory \"a\" is also listed as a file"), std::string::npos) << r.err().message;

    m.files.erase(m.files.begin());
    m.model_root = model_root(m.files);
    std::string text = manifest_to_json(m);
    ASSERT_TRUE(parse_manifest(text).ok());
    const std::string dup = "{\n  \"model_id\": \"other\",";
    text.replace(0, 2, dup);
    r = parse_manifest(text);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("duplicate field"), std::string::npos) << r.err().message;
    EXPECT_EQ(parse_manifest("{").err().code, errc::parse);
    EXPECT_FALSE(parse_manifest("[]").ok());
    EXPECT_FALSE(parse_manifest("").ok());
}

// --- verify ---

std::string verify_error(const fs::path& root, const manifest& m) {
    auto r = verify_tree(root, m, 2);
    if (r.ok()) return "";
    EXPECT_EQ(r.err().code, errc::mismatch) << r.err().message;
    return r.err().message;
}

TEST(ManifestVerify, IdenticalTreeVerifies) {
    temp_dir d;
    const manifest m = small_manifest(d);
    EXPECT_TRUE(verify_tree(d.path(), m, 1).ok());
    EXPECT_TRUE(verify_tree(d.path(), m, 0).ok());
}

TEST(ManifestVerify, NamesFirstDifferingFileAndChunk) {
    temp_dir d;
    const manifest m = small_manifest(d);
    flip_byte(d.path() / "three.bin", 2 * cs + 7);
    flip_byte(d.path() / "small" / "s9", 3);
    const std::string e = verify_error(d.path(), m);
    EXPECT_NE(e.find("file \"small/s9\" differs at chunk 0"), std::string::npos) << e;
    EXPECT_NE(e.find("1 more file(s) differ"), std::string::npos) << e;
    flip_byte(d.path() / "small" / "s9", 3);
    const std::string e2 = verify_error(d.path(), m);
    EXPECT_NE(e2.find("file \"three.bin\" differs at chunk 2 (bytes from 131072)"), std::string::npos) << e2;
}

TEST(ManifestVerify, TruncatedAndGrownFiles) {
    temp_dir d;
    const manifest m = small_manifest(d);
    fs::resize_file(d.path() / "three.bin", 3 * cs);
    std::string e = verify_error(d.path(), m);
    EXPECT_NE(e.find("file \"three.bin\" differs at chunk 3"), std::string::npos) << e;
    EXPECT_NE(e.find("size 196608 where the manifest says 196613"), std::string::npos) << e;
    fs::resize_file(d.path() / "three.bin", 3 * cs + 5);
    e = verify_error(d.path(), m);
    EXPECT_NE(e.find("file \"three.bin\" differs at chunk 3 (bytes from 196608)"), std::string::npos) << e;  // zeros now
    fs::resize_file(d.path() / "empty.bin", 1);
    e = verify_error(d.path(), m);
    EXPECT_NE(e.find("file \"empty.bin\" differs at chunk 0"), std::string::npos) << e;
}

TEST(ManifestVerify, MissingAndExtraFiles) {
    temp_dir d;
    const manifest m = small_manifest(d);
    fs::remove(d.path() / "deep/er/still/x.safetensors");
    write_bytes(d.path() / "new.bin", 3);
    const std::string e = verify_error(d.path(), m);
    EXPECT_NE(e.find("missing: \"deep/er/still/x.safetensors\""), std::string::npos) << e;
    EXPECT_NE(e.find("extra: \"new.bin\""), std::string::npos) << e;
    EXPECT_EQ(e.find("differs at"), std::string::npos) << e;
    // A renamed file is one missing and one extra.
    fs::remove(d.path() / "new.bin");
    fs::rename(d.path() / "one.bin", d.path() / "uno.bin");
    const std::string e2 = verify_error(d.path(), m);
    EXPECT_NE(e2.find("missing: \"deep/er/still/x.safetensors\", \"one.bin\""), std::string::npos) << e2;
    EXPECT_NE(e2.find("extra: \"uno.bin\""), std::string::npos) << e2;
}

TEST(ManifestVerify, SymlinkInTreeIsRefusedNotFollowed) {
    temp_dir d;
    const manifest m = small_manifest(d);
    fs::rename(d.path() / "one.bin", d.path() / "elsewhere");
    fs::create_symlink(d.path() / "elsewhere", d.path() / "one.bin");
    auto r = verify_tree(d.path(), m, 2);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::invalid_argument);
    EXPECT_NE(r.err().message.find("symbolic link"), std::string::npos);
}

TEST(ManifestVerify, ManyThreadsManySmallFiles) {
    temp_dir d;
    for (int i = 0; i < 300; ++i) write_bytes(d.path() / ("d" + std::to_string(i % 7)) / std::to_string(i), static_cast<std::size_t>(i), i);
    auto m = build_manifest(d.path(), "m", cs, 16);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->files.size(), 300u);
    EXPECT_TRUE(verify_tree(d.path(), *m, 3).ok());
    EXPECT_EQ(run_python(cs, d.path()), expected_listing(*m));
}

}  // namespace
}  // namespace custos::weights
