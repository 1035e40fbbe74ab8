// `custos eventlog replay` and `custos ima replay`: the exact JSON contract, the values of a real firmware log
// and of an IMA list built here, and exit 2 with the offset and reason for a malformed file.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "attest/ima_log.hpp"
#include "crypto/file_io.hpp"
#include "tests/support/cli_runner.hpp"
#include "tests/support/process.hpp"

namespace custos {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using test::run_cli;

const fs::path log_dir = fs::path(CUSTOS_TEST_DATA_DIR) / "eventlog";

json::value parse(const std::string& s) {
    boost::system::error_code ec;
    auto v = json::parse(s, ec);
    EXPECT_FALSE(ec) << s;
    return v;
}

void write(const fs::path& p, const bytes& b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

TEST(EventlogCli, ReplayPrintsEveryBankAndPcrOfARealLog) {
    auto r = run_cli({"eventlog", "replay", (log_dir / "event-gce-ubuntu-2104-log.bin").string(), "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::ifstream in(log_dir / "event-gce-ubuntu-2104-log.pcrs.json");
    const std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(parse(r.out), parse(expected));
    EXPECT_EQ(r.out.back(), '\n');
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line";
    const json::value v = parse(r.out);
    const auto& o = v.as_object();
    EXPECT_EQ(o.size(), 3u);
    EXPECT_EQ(o.at("sha256").at("0").as_string(), "24af52a4f429b71a3184a6d64cddad17e54ea030e2aa6576bf3a5a3d8bd3328f");
}

TEST(EventlogCli, MalformedLogsExit2WithTheOffsetAndReason) {
    test::temp_dir d("custos-evl-cli");
    auto data = read_file(log_dir / "event-arch-linux.bin");
    ASSERT_TRUE(data.ok());
    const fs::path cut = d.path() / "cut.bin";
    write(cut, bytes(data->begin(), data->begin() + 1000));
    auto r = run_cli({"eventlog", "replay", cut.string(), "--json"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("boot event log at offset "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(truncated)"), std::string::npos) << r.err;
    r = run_cli({"eventlog", "replay", (log_dir / "event-uefi-sha1-log.bin").string(), "--json"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("only crypto-agile logs are read"), std::string::npos) << r.err;
    r = run_cli({"eventlog", "replay", (d.path() / "missing.bin").string(), "--json"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("missing.bin"), std::string::npos) << r.err;
}

TEST(ImaCli, ReplayPrintsBothBanksAndTheEntryCount) {
    test::temp_dir d("custos-ima-cli");
    std::vector<attest::ima_entry> es;
    for (int i = 0; i < 5; ++i)
        es.push_back(attest::make_ima_entry(10, "/usr/bin/f" + std::to_string(i), digest(hash_alg::sha256, as_bytes(std::to_string(i)))));
    write(d.path() / "ima.bin", attest::serialize_ima_log(es));
    auto r = run_cli({"ima", "replay", (d.path() / "ima.bin").string(), "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto banks = attest::replay_ima_log(es);
    EXPECT_EQ(r.out, "{\"sha1\":{\"10\":\"" + to_hex(banks.at(hash_alg::sha1).at(10)) + "\"},\"sha256\":{\"10\":\"" +
                         to_hex(banks.at(hash_alg::sha256).at(10)) + "\"},\"entries\":5}\n");

    write(d.path() / "empty.bin", {});
    r = run_cli({"ima", "replay", (d.path() / "empty.bin").string(), "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "{\"sha1\":{},\"sha256\":{},\"entries\":0}\n");

    bytes bad = attest::serialize_ima_log(es);
    bad[bad.size() - 3] ^= 1;  // the last path, edited
    write(d.path() / "bad.bin", bad);
    // An entry edited after it was measured: the SHA-1 bank folds the recorded hash, so the values are what
    // the list implies, with a warning naming the entry.
    r = run_cli({"ima", "replay", (d.path() / "bad.bin").string(), "--json"});
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("IMA entry 4 (/usr/bin/g4): the template hash is not the SHA-1 of its data"), std::string::npos) << r.err;
    auto edited = *attest::parse_ima_log(bad);
    const auto eb = attest::replay_ima_log(edited);
    EXPECT_EQ(parse(r.out).at("sha1").at("10").as_string(), to_hex(eb.at(hash_alg::sha1).at(10)));
    EXPECT_EQ(to_hex(eb.at(hash_alg::sha1).at(10)), to_hex(banks.at(hash_alg::sha1).at(10))) << "recorded hashes unchanged";
    EXPECT_NE(to_hex(eb.at(hash_alg::sha256).at(10)), to_hex(banks.at(hash_alg::sha256).at(10))) << "the data's SHA-256 moved";

    // A truncated list: exit 2 with the entry and offset.
    bytes cut = attest::serialize_ima_log(es);
    cut.resize(cut.size() - 4);
    write(d.path() / "cut.bin", cut);
    r = run_cli({"ima", "replay", (d.path() / "cut.bin").string(), "--json"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("IMA measurement list, entry 4"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST(ImaCli, AllowlistBuildsAPolicyFromATree) {
    test::temp_dir d("custos-allow-cli");
    const fs::path root = d.path() / "root";
    fs::create_directories(root / "usr/local/bin");
    fs::create_directories(root / "tmp");
    std::ofstream(root / "usr/local/bin/custos-agent") << "agent";
    std::ofstream(root / "tmp/scratch") << "x";
    const fs::path out = d.path() / "policy.json";
    auto r = run_cli({"ima", "allowlist", "--root", root.string(), "--exclude", "/tmp/*", "--out", out.string()});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("1 entries written to"), std::string::npos) << r.err;
    auto text = read_file(out);
    ASSERT_TRUE(text.ok());
    const auto v = parse(std::string(text->begin(), text->end()));
    EXPECT_EQ(v, parse(R"({"version":1,"entries":[{"path":"/usr/local/bin/custos-agent","sha256":[")" +
                       to_hex(digest(hash_alg::sha256, as_bytes("agent"))) + R"("],"agent":true}],"excludes":["/tmp/*"]})"));
    r = run_cli({"ima", "allowlist", "--root", root.string(), "--agent", "*/nothing"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("matches the agent globs"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace custos
