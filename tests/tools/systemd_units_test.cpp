// The systemd units: exposure (systemd-analyze security --offline) at most 3.0 for each daemon, checked
// both by systemd-analyze's own threshold (in tenths) and by reading the number it prints; and unit syntax.
#include <gtest/gtest.h>

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

TEST(SystemdUsers, AgentIsInGroupTss) {
    std::ifstream in(units / "custos.sysusers");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("m custos-agent tss"), std::string::npos);
    EXPECT_NE(text.find("u custos-verifier"), std::string::npos);
}

}  // namespace
}  // namespace custos::test
