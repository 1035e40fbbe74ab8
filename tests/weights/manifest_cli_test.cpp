// `custos weights manifest | verify` driven in-process through custos::cli::run.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "crypto/file_io.hpp"
#include "tests/support/cli_runner.hpp"
#include "tools/custos/cli.hpp"
#include "weights/manifest.hpp"

namespace custos::cli {
namespace {

namespace fs = std::filesystem;

class WeightsCli : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "custos-wcli-XXXXXX").string();
        dir_ = ::mkdtemp(t.data());
        model_ = dir_ / "model";
        write(model_ / "a.bin", 3 * (64u << 10) + 5, 1);
        write(model_ / "sub" / "b.bin", 0, 2);
        write(model_ / "sub" / "c.bin", 100, 3);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static void write(const fs::path& p, std::size_t n, unsigned seed) {
        fs::create_directories(p.parent_path());
        std::mt19937 rng(seed);
        std::string s(n, '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        std::ofstream(p, std::ios::binary) << s;
    }

    using outcome = test::cli_outcome;
    static outcome cli(std::vector<std::string> args) { return test::run_cli(std::move(args)); }
    static std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

    outcome make_manifest(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> a = {"weights", "manifest", model_.string(), "--model-id", "org/m@1", "--out", man().string(),
                                      "--chunk-size", "65536"};
        a.insert(a.end(), extra.begin(), extra.end());
        return cli(a);
    }
    outcome verify(const fs::path& m) { return cli({"weights", "verify", model_.string(), "--manifest", m.string()}); }
    fs::path man() const { return dir_ / "model.manifest.json"; }

    fs::path dir_, model_;
};

TEST_F(WeightsCli, ManifestThenVerify) {
    auto r = make_manifest({"--threads", "2"});
    ASSERT_EQ(r.rc, exit_ok) << r.err;
    auto text = read_file(man());
    ASSERT_TRUE(text.ok());
    auto m = weights::parse_manifest(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
    ASSERT_TRUE(m.ok()) << m.err().message;
    EXPECT_EQ(r.out, to_hex(m->model_root) + "\n");
    EXPECT_EQ(m->model_id, "org/m@1");
    EXPECT_EQ(m->chunk_size, 65536u);
    ASSERT_EQ(m->files.size(), 3u);
    EXPECT_EQ(m->files[1].path, "sub/b.bin");
    EXPECT_EQ((fs::status(man()).permissions() & fs::perms::all), fs::perms(0644));
    // No temporary file is left beside it.
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir_)) ++n;
    EXPECT_EQ(n, 2u);

    auto v = verify(man());
    EXPECT_EQ(v.rc, exit_ok) << v.err;
    EXPECT_NE(v.out.find("matches the manifest"), std::string::npos);
    EXPECT_TRUE(v.err.empty());

    // The default chunk size and thread count.
    auto d = cli({"weights", "manifest", model_.string(), "--model-id", "m", "--out", (dir_ / "d.json").string()});
    ASSERT_EQ(d.rc, exit_ok) << d.err;
    auto dv = verify(dir_ / "d.json");
    EXPECT_EQ(dv.rc, exit_ok) << dv.err;
}

TEST_F(WeightsCli, SingleFileModel) {
    auto r = cli({"weights", "manifest", (model_ / "a.bin").string(), "--model-id", "m", "--out", man().string()});
    ASSERT_EQ(r.rc, exit_ok) << r.err;
    auto v = cli({"weights", "verify", (model_ / "a.bin").string(), "--manifest", man().string()});
    EXPECT_EQ(v.rc, exit_ok) << v.err;
    // The directory holding it has two more files.
    auto w = verify(man());
    EXPECT_EQ(w.rc, exit_failed);
    EXPECT_NE(w.err.find("extra: \"sub/b.bin\", \"sub/c.bin\""), std::string::npos) << w.err;
}

TEST_F(WeightsCli, VerifyNamesFirstDifferingFileAndChunkOnOneLine) {
    ASSERT_EQ(make_manifest().rc, exit_ok);
    {
        std::fstream f(model_ / "a.bin", std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(2 * 65536 + 1);
        f.put('\x5a');
        f.put('\xa5');
    }
    auto v = verify(man());
    EXPECT_EQ(v.rc, exit_failed);
    EXPECT_EQ(lines(v.err), 1u) << v.err;
    EXPECT_NE(v.err.find("file \"a.bin\" differs at chunk 2"), std::string::npos) << v.err;
    EXPECT_TRUE(v.out.empty());
}

TEST_F(WeightsCli, VerifyReportsMissingAndExtraFiles) {
    ASSERT_EQ(make_manifest().rc, exit_ok);
    fs::remove(model_ / "sub" / "c.bin");
    write(model_ / "sub" / "d.bin", 1, 9);
    auto v = verify(man());
    EXPECT_EQ(v.rc, exit_failed);
    EXPECT_EQ(lines(v.err), 1u) << v.err;
    EXPECT_NE(v.err.find("missing: \"sub/c.bin\""), std::string::npos) << v.err;
    EXPECT_NE(v.err.find("extra: \"sub/d.bin\""), std::string::npos) << v.err;
}

TEST_F(WeightsCli, UnreadableOrMalformedInputsExit2) {
    ASSERT_EQ(make_manifest().rc, exit_ok);
    auto check2 = [](const outcome& o, const std::string& needle) {
        EXPECT_EQ(o.rc, exit_usage) << o.err;
        EXPECT_EQ(lines(o.err), 1u) << o.err;
        EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
    };
    check2(verify(dir_ / "none.json"), "none.json");
    ASSERT_TRUE(write_file_atomic(dir_ / "bad.json", std::string_view("{\"format\": \"custos-manifest\"")).ok());
    check2(verify(dir_ / "bad.json"), "not valid JSON");
    auto text = read_file(man());
    std::string s(text->begin(), text->end());
    s.replace(s.find("\"version\": 1"), 12, "\"version\": 1, \"x\": 0");
    ASSERT_TRUE(write_file_atomic(dir_ / "unknown.json", s).ok());
    check2(verify(dir_ / "unknown.json"), "unknown field \"x\"");
    check2(cli({"weights", "verify", (dir_ / "nothing").string(), "--manifest", man().string()}), "nothing");
    check2(cli({"weights", "manifest", (dir_ / "nothing").string(), "--model-id", "m", "--out", (dir_ / "o.json").string()}),
           "nothing");
    check2(cli({"weights", "manifest", model_.string(), "--model-id", "m", "--out", (dir_ / "o.json").string(),
                "--chunk-size", "1000"}),
           "--chunk-size");
    check2(cli({"weights", "manifest", model_.string(), "--model-id", "bad id", "--out", (dir_ / "o.json").string()}),
           "--model-id");
    check2(cli({"weights", "manifest", model_.string(), "--model-id", "m", "--out", (model_ / "m.json").string()}),
           "lies inside");
    check2(cli({"weights", "manifest", model_.string(), "--model-id", "m", "--out", (dir_ / "no" / "o.json").string()}),
           "writing the manifest");
    EXPECT_EQ(cli({"weights", "manifest", model_.string(), "--out", (dir_ / "o.json").string()}).rc, exit_usage);
    EXPECT_EQ(make_manifest({"--threads", "0"}).rc, exit_usage);
    EXPECT_FALSE(fs::exists(dir_ / "o.json"));
    EXPECT_FALSE(fs::exists(model_ / "m.json"));

    fs::create_symlink(model_ / "a.bin", model_ / "link");
    check2(verify(man()), "link is a symbolic link");
    check2(make_manifest(), "link is a symbolic link");
}

TEST_F(WeightsCli, TamperedManifestIsRefused) {
    ASSERT_EQ(make_manifest().rc, exit_ok);
    auto text = read_file(man());
    std::string s(text->begin(), text->end());
    // Change one chunk digest: the file root no longer matches, so the manifest itself is refused.
    const auto at = s.find("\"chunks\": [\n        \"") + 21;
    s[at] = s[at] == '0' ? '1' : '0';
    ASSERT_TRUE(write_file_atomic(dir_ / "t.json", s).ok());
    auto v = verify(dir_ / "t.json");
    EXPECT_EQ(v.rc, exit_usage);
    EXPECT_NE(v.err.find("files[0] (\"a.bin\") root"), std::string::npos) << v.err;
}

}  // namespace
}  // namespace custos::cli
