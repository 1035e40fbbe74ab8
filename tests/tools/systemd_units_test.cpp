// The systemd units: exposure (systemd-analyze security --offline) at most 3.0 for each daemon, checked
// both by systemd-analyze's own threshold (in tenths: systemd 252 refuses "--threshold=3.0") and by reading
// the number it prints; unit syntax; and the sysusers/tmpfiles snippets applied to a scratch root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "tests/support/process.hpp"

namespace custos::test {
namespace {

namespace fs = std::filesystem;

const fs::path units = fs::path(CUSTOS_SOURCE_DIR) / "systemd";

class SystemdUnit : public ::testing::TestWithParam<const char*> {};

TEST_P(SystemdUnit, ExposureIsAtMostThree) {
    const fs::path unit = units / GetParam();
    ASSERT_TRUE(fs::exists(unit)) << unit;
    auto r = run_process({"systemd-analyze", "security", "--offline=true", "--threshold=30", unit.string()});
    if (r.exit_code == 127) GTEST_SKIP() << "systemd-analyze is not installed (scripts/setup installs systemd)";
    const std::string all = r.out + r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(all, m, std::regex("Overall exposure level for [^:]+: ([0-9.]+)"))) << all;
    const double exposure = std::stod(m[1].str());
    EXPECT_LE(exposure, 3.0) << all;
    EXPECT_GT(exposure, 0.0);
    EXPECT_EQ(r.exit_code, 0) << "systemd-analyze's own --threshold=30 check failed:\n" << all;
}

TEST_P(SystemdUnit, IsTypeNotifyWithAWatchdogAndNoRoot) {
    std::ifstream in(units / GetParam());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("\nType=notify\n"), std::string::npos);
    EXPECT_TRUE(std::regex_search(text, std::regex("\nWatchdogSec=[0-9]+s\n")));
    EXPECT_TRUE(std::regex_search(text, std::regex("\nUser=custos-[a-z]+\n")));
    EXPECT_EQ(text.find("User=root"), std::string::npos);
    EXPECT_NE(text.find("\nCapabilityBoundingSet=\n"), std::string::npos);
}

TEST_P(SystemdUnit, ParsesWithoutWarnings) {
    // verify wants ExecStart's binary to exist: check a copy pointing at /bin/true.
    temp_dir d("custos-units");
    std::ifstream in(units / GetParam());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = std::regex_replace(text, std::regex("ExecStart=[^\n]*"), "ExecStart=/bin/true");
    const fs::path copy = d.path() / GetParam();
    std::ofstream(copy) << text;
    auto r = run_process({"systemd-analyze", "verify", copy.string()});
    if (r.exit_code == 127) GTEST_SKIP() << "systemd-analyze is not installed";
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // Unknown directives are reported as "Unknown key name" without failing the exit status.
    EXPECT_EQ((r.out + r.err).find("Unknown"), std::string::npos) << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Units, SystemdUnit, ::testing::Values("custos-verifier.service", "custos-agent.service"),
                         [](const auto& info) {
                             return std::string(info.param).find("agent") != std::string::npos ? "agent" : "verifier";
                         });

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(SystemdUnits, OnlyTheAgentMayOpenTheTpm) {
    const std::string agent = slurp(units / "custos-agent.service");
    const std::string verifier = slurp(units / "custos-verifier.service");
    EXPECT_NE(agent.find("\nExecStart=/usr/local/bin/custos-agent --config /etc/custos/agent.toml\n"), std::string::npos);
    EXPECT_NE(verifier.find("\nExecStart=/usr/local/bin/custos-verifier serve --config /etc/custos/verifier.toml\n"),
              std::string::npos);
    EXPECT_NE(agent.find("\nDevicePolicy=closed\nDeviceAllow=/dev/tpmrm0 rw\n"), std::string::npos);
    EXPECT_NE(agent.find("\nSupplementaryGroups=tss\n"), std::string::npos);
    EXPECT_EQ(agent.find("\nPrivateDevices="), std::string::npos);  // it would hide /dev/tpmrm0
    EXPECT_EQ(verifier.find("\nDeviceAllow="), std::string::npos);
    EXPECT_NE(verifier.find("\nPrivateDevices=yes\n"), std::string::npos);
    for (const std::string* text : {&agent, &verifier}) {
        EXPECT_NE(text->find("\nConfigurationDirectory=custos\n"), std::string::npos);
        EXPECT_NE(text->find("\nSystemCallFilter=~@privileged @resources\n"), std::string::npos);
        EXPECT_NE(text->find("\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"), std::string::npos);
    }
}

// systemd-sysusers and systemd-tmpfiles applied to an empty root: the users exist, the agent is in tss, and
// what `custos-verifier init --dir /etc/custos` wrote as root is handed to the verifier, except operator/.
TEST(SystemdUsers, SnippetsGiveEachDaemonItsFiles) {
    if (::geteuid() != 0) GTEST_SKIP() << "systemd-tmpfiles needs root to change owners";
    temp_dir root("custos-sysroot");
    const fs::path etc = root.path() / "etc/custos";
    fs::create_directories(etc / "ca");
    fs::create_directories(etc / "operator");
    std::ofstream(etc / "ca/ca.key") << "k";
    std::ofstream(etc / "verifier.toml") << "t";
    std::ofstream(etc / "operator/key.pem") << "o";
    ::chmod(etc.c_str(), 0700);  // init makes its directory private; the daemons must still reach their files
    ::chmod((etc / "ca").c_str(), 0700);
    ::chmod((etc / "ca/ca.key").c_str(), 0600);
    auto users = run_process({"systemd-sysusers", "--root=" + root.path().string(), (units / "custos.sysusers").string()});
    if (users.exit_code == 127) GTEST_SKIP() << "systemd-sysusers is not installed";
    ASSERT_EQ(users.exit_code, 0) << users.err;
    const std::string passwd = slurp(root.path() / "etc/passwd"), group = slurp(root.path() / "etc/group");
    std::smatch uid;
    ASSERT_TRUE(std::regex_search(passwd, uid, std::regex("(^|\n)custos-verifier:x:([0-9]+):"))) << passwd;
    const unsigned verifier_uid = static_cast<unsigned>(std::stoul(uid[2].str()));
    EXPECT_TRUE(std::regex_search(passwd, std::regex("(^|\n)custos-agent:x:[0-9]+:[0-9]+:[^\n]*:/usr/sbin/nologin\n")))
        << passwd;
    EXPECT_TRUE(std::regex_search(group, std::regex("(^|\n)tss:x:[0-9]+:custos-agent\n"))) << group;

    auto tmp = run_process({"systemd-tmpfiles", "--root=" + root.path().string(), "--create", (units / "custos.tmpfiles").string()});
    ASSERT_EQ(tmp.exit_code, 0) << tmp.err;
    struct stat st {};
    ASSERT_EQ(::stat(etc.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(st.st_uid, 0u);
    ASSERT_EQ(::stat((etc / "ca/ca.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, verifier_uid);
    EXPECT_EQ(st.st_mode & 07777, 0600u);  // modes kept
    ASSERT_EQ(::stat((etc / "verifier.toml").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, verifier_uid);
    ASSERT_EQ(::stat((etc / "operator/key.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    ASSERT_EQ(::stat((root.path() / "var/lib/custos-verifier").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, verifier_uid);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_TRUE(fs::is_directory(root.path() / "var/lib/custos-agent"));
}

}  // namespace
}  // namespace custos::test
