// `custos weights keygen | seal | unseal | inspect` in-process through custos::cli::run, and a real
// `custos weights seal` process killed part-way (no complete-looking output may remain).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/support/files.hpp"
#include "tests/support/cli_runner.hpp"
#include "tools/custos/cli.hpp"
#include "weights/sealed.hpp"

namespace custos::cli {
namespace {

namespace fs = std::filesystem;

using test::read_text;

void write_random(const fs::path& p, std::size_t n, unsigned seed) {
    fs::create_directories(p.parent_path());
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    std::ofstream(p, std::ios::binary) << s;
}

// The custos binary: CUSTOS_CLI_PATH when the build defines it, else beside this test binary's build tree.
fs::path cli_path() {
#ifdef CUSTOS_CLI_PATH
    return CUSTOS_CLI_PATH;
#else
    std::error_code ec;
    const auto self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    return self.parent_path().parent_path() / "tools" / "custos" / "custos";
#endif
}

class SealCli : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "custos-scli-XXXXXX").string();
        dir_ = ::mkdtemp(t.data());
        write_random(dir_ / "model" / "a.bin", 3 * (64u << 10) + 5, 1);
        write_random(dir_ / "model" / "sub" / "b.bin", 0, 2);
        write_random(dir_ / "model" / "sub" / "c.bin", 100, 3);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    using outcome = test::cli_outcome;
    static outcome cli(std::vector<std::string> args) { return test::run_cli(std::move(args)); }
    std::string p(const char* rel) const { return (dir_ / rel).string(); }
    void keygen() { ASSERT_EQ(cli({"weights", "keygen", "--out-dir", p("keys")}).rc, exit_ok); }
    outcome seal(const char* out = "sealed", std::vector<std::string> extra = {}) {
        std::vector<std::string> a = {"weights", "seal", p("model"), "--model-id", "org/m@1", "--recipient",
                                      p("keys/recipient.pub"), "--out", p(out), "--chunk-size", "65536"};
        a.insert(a.end(), extra.begin(), extra.end());
        return cli(a);
    }

    fs::path dir_;
};

TEST_F(SealCli, KeygenSealInspectUnseal) {
    keygen();
    struct stat st{};
    ASSERT_EQ(::stat((dir_ / "keys" / "recipient.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = cli({"weights", "keygen", "--out-dir", p("keys")});
    EXPECT_NE(again.rc, exit_ok);
    EXPECT_NE(again.err.find("refusing to overwrite"), std::string::npos) << again.err;

    auto s = seal("sealed", {"--manifest-out", p("manifest.json")});
    ASSERT_EQ(s.rc, exit_ok) << s.err;
    ASSERT_EQ(s.out.size(), 65u) << s.out;  // the model root, hex, one line
    const std::string root = s.out.substr(0, 64);
    const auto man = boost::json::parse(read_text(dir_ / "manifest.json")).as_object();
    EXPECT_EQ(man.at("model_root").as_string(), root);
    for (auto& e : fs::recursive_directory_iterator(dir_ / "sealed"))
        EXPECT_NE(e.path().filename(), "manifest.json");

    auto i = cli({"weights", "inspect", p("sealed")});
    ASSERT_EQ(i.rc, exit_ok) << i.err;
    for (const char* want : {"org/m@1", "version 1", "sub/c.bin", "chunk count  6", "196613"})
        EXPECT_NE(i.out.find(want), std::string::npos) << want << "\n" << i.out;
    EXPECT_NE(i.out.find(root), std::string::npos);
    auto j = cli({"weights", "inspect", p("sealed"), "--json"});
    ASSERT_EQ(j.rc, exit_ok) << j.err;
    const auto jo = boost::json::parse(j.out).as_object();
    EXPECT_EQ(jo.at("model_id").as_string(), "org/m@1");
    EXPECT_EQ(jo.at("model_root").as_string(), root);
    EXPECT_EQ(jo.at("version").as_int64(), 1);
    EXPECT_EQ(jo.at("chunk_count").as_int64(), 6);
    ASSERT_EQ(jo.at("files").as_array().size(), 3u);
    EXPECT_EQ(jo.at("files").as_array()[0].as_object().at("size").as_int64(), 3 * 65536 + 5);

    auto u = cli({"weights", "unseal", p("sealed"), "--recipient-key", p("keys/recipient.key"), "--out", p("out")});
    ASSERT_EQ(u.rc, exit_ok) << u.err;
    for (const char* f : {"a.bin", "sub/b.bin", "sub/c.bin"})
        EXPECT_EQ(read_text(dir_ / "out" / f), read_text(dir_ / "model" / f)) << f;
}

TEST_F(SealCli, ManifestOutMayNotBeInsideTheSealedDir) {
    keygen();
    auto s = seal("sealed", {"--manifest-out", p("sealed/manifest.json")});
    EXPECT_EQ(s.rc, exit_usage);
    EXPECT_NE(s.err.find("--manifest-out must not be inside"), std::string::npos) << s.err;
    EXPECT_FALSE(fs::exists(dir_ / "sealed"));
}

TEST_F(SealCli, UnsealFailureExitsNonZeroAndLeavesNothing) {
    keygen();
    ASSERT_EQ(seal().rc, exit_ok);
    std::string d = read_text(dir_ / "sealed" / "data" / "000000.enc");
    d[10] = static_cast<char>(d[10] ^ 0x80);
    std::ofstream(dir_ / "sealed" / "data" / "000000.enc", std::ios::binary | std::ios::trunc) << d;
    auto u = cli({"weights", "unseal", p("sealed"), "--recipient-key", p("keys/recipient.key"), "--out", p("out")});
    EXPECT_EQ(u.rc, exit_failed);
    EXPECT_NE(u.err.find("\"a.bin\" chunk 0 of 4"), std::string::npos) << u.err;
    EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(SealCli, BadKeysAndArguments) {
    keygen();
    auto a = cli({"weights", "seal", p("model"), "--model-id", "org/m", "--recipient", p("keys/recipient.key"), "--out", p("s")});
    EXPECT_NE(a.rc, exit_ok);
    EXPECT_NE(a.err.find("--recipient"), std::string::npos) << a.err;
    ASSERT_EQ(seal().rc, exit_ok);
    auto b = cli({"weights", "unseal", p("sealed"), "--recipient-key", p("keys/recipient.pub"), "--out", p("out")});
    EXPECT_NE(b.rc, exit_ok);
    EXPECT_NE(b.err.find("not a PEM private key"), std::string::npos) << b.err;
    auto c = cli({"weights", "inspect", p("model")});
    EXPECT_NE(c.rc, exit_ok);
    auto d = cli({"weights", "seal", p("model"), "--recipient", p("keys/recipient.pub"), "--out", p("s")});
    EXPECT_EQ(d.rc, exit_usage);  // --model-id is required
    EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(SealCli, KilledSealLeavesNoCompleteLookingOutput) {
    const auto bin = cli_path();
    if (bin.empty() || !fs::exists(bin)) GTEST_SKIP() << "custos binary not found at " << bin;
    keygen();
    write_random(dir_ / "big" / "w.bin", 96u << 20, 7);
    // Kill it during the manifest pass (after 20 ms), and while chunks are being encrypted (as soon as its
    // temporary directory appears, and 50 ms later).
    const int kill_after_temp_ms[] = {-1, 0, 50};  // -1: 20 ms after the start instead
    int n = 0;
    int killed_while_encrypting = 0;
    for (const int after_temp_ms : kill_after_temp_ms) {
        const std::string name = "sealed" + std::to_string(n++);
        const auto out = dir_ / name;
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            const int devnull = ::open("/dev/null", O_WRONLY);
            ::dup2(devnull, 1);
            ::dup2(devnull, 2);
            const std::string b = bin.string(), src = (dir_ / "big").string(), pub = (dir_ / "keys" / "recipient.pub").string(),
                              o = out.string();
            ::execl(b.c_str(), b.c_str(), "weights", "seal", src.c_str(), "--model-id", "org/big", "--recipient", pub.c_str(),
                    "--out", o.c_str(), "--chunk-size", "65536", "--threads", "1", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        auto exited = [&] {  // without reaping it: the status is read below
            siginfo_t info{};
            return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
        };
        auto temp_exists = [&] {
            for (auto& e : fs::directory_iterator(dir_))
                if (e.path().filename().string().rfind("." + name + ".sealing-", 0) == 0) return true;
            return false;
        };
        if (after_temp_ms < 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (!temp_exists() && std::chrono::steady_clock::now() < deadline && !exited())
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            std::this_thread::sleep_for(std::chrono::milliseconds(after_temp_ms));
        }
        const bool had_temp = temp_exists();
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (WIFEXITED(status)) {
            // It finished before the kill: then the output must be complete and valid.
            EXPECT_EQ(WEXITSTATUS(status), 0);
            EXPECT_TRUE(custos::weights::inspect_sealed(out).ok());
            continue;
        }
        EXPECT_FALSE(fs::exists(out)) << "a killed seal left " << out;
        if (had_temp) ++killed_while_encrypting;
        // Whatever it left is a hidden temporary with no index.json, never the named output.
        for (auto& e : fs::directory_iterator(dir_)) {
            if (e.path().filename().string().rfind("." + name + ".sealing-", 0) == 0) {
                EXPECT_FALSE(fs::exists(e.path() / "index.json")) << e.path();
            }
        }
    }
    RecordProperty("killed_while_encrypting", killed_while_encrypting);
}

}  // namespace
}  // namespace custos::cli
