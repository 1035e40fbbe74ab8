// `custos gpu list`, run in-process against the fake NVML (tools/fake-nvml): JSON and table output,
// exit 2 with one line naming a library or chip table that cannot be used, and the sysfs fallback.
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "tests/support/cli_runner.hpp"
#include "tests/support/fake_sysfs.hpp"
#include "tests/support/process.hpp"

namespace custos {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::run_cli;

const std::string fake_nvml = CUSTOS_FAKE_NVML_PATH;

constexpr const char* two_gpus = R"({"driver_version":"550.54.15","gpus":[
  {"uuid":"GPU-5c1e8f3a-93d4-2b8e-1f0a-0c6c2f1d9e01","serial":"1654922006536","name":"NVIDIA H100 80GB HBM3",
   "board_part_number":"692-2G520-0200-000","pci_bus_id":"00000000:18:00.0","utilization_gpu":87,"energy_mj":123456789},
  {"uuid":"GPU-0b7a4c22-1d5e-44f0-8a9b-7e3f6d2c1b00","serial":"1654922006537","name":"NVIDIA H100 80GB HBM3e",
   "board_part_number":"699-2G530-0230-000","pci_bus_id":"00000000:2A:00.0"}]})";

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

class GpuCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* old = std::getenv("CUSTOS_FAKE_NVML")) old_ = old;
        nvml_json_ = dir_.path() / "nvml.json";
        std::ofstream(nvml_json_) << two_gpus;
        ::setenv("CUSTOS_FAKE_NVML", nvml_json_.c_str(), 1);
    }
    void TearDown() override {
        if (old_) ::setenv("CUSTOS_FAKE_NVML", old_->c_str(), 1);
        else ::unsetenv("CUSTOS_FAKE_NVML");
    }
    test::temp_dir dir_{"custos-gpu-cli"};
    fs::path nvml_json_;
    std::optional<std::string> old_;
};

TEST_F(GpuCli, JsonFromNvml) {
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(lines(r.out), 1u) << r.out;
    boost::system::error_code ec;
    const json::value v = json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out;
    const json::object& o = v.as_object();
    EXPECT_EQ(o.at("source"), "nvml");
    EXPECT_EQ(o.at("driver_version"), "550.54.15");
    EXPECT_FALSE(o.contains("note"));
    const json::array& gpus = o.at("gpus").as_array();
    ASSERT_EQ(gpus.size(), 2u);
    const json::object& a = gpus[0].as_object();
    EXPECT_EQ(a.at("uuid"), "GPU-5c1e8f3a-93d4-2b8e-1f0a-0c6c2f1d9e01");
    EXPECT_EQ(a.at("serial"), "1654922006536");
    EXPECT_EQ(a.at("name"), "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(a.at("board_part_number"), "692-2G520-0200-000");
    EXPECT_EQ(a.at("pci_bus_id"), "00000000:18:00.0");
    EXPECT_EQ(a.at("chip"), "H100-SXM");
    EXPECT_EQ(a.at("tpp").to_number<double>(), 15832.0);
    EXPECT_EQ(a.at("utilization_gpu").to_number<int>(), 87);
    EXPECT_EQ(a.at("energy_mj").to_number<std::uint64_t>(), 123456789u);
    const json::object& b = gpus[1].as_object();
    EXPECT_EQ(b.at("serial"), "1654922006537");
    EXPECT_EQ(b.at("pci_bus_id"), "00000000:2A:00.0");
    EXPECT_EQ(b.at("chip"), "unknown");  // a near name is not the chip
    EXPECT_TRUE(b.at("tpp").is_null());
    EXPECT_TRUE(b.at("utilization_gpu").is_null());
    EXPECT_TRUE(b.at("energy_mj").is_null());
}

TEST_F(GpuCli, TableListsSerials) {
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::istringstream in(r.out);
    std::string head, cols, g0, g1, rest;
    std::getline(in, head);
    std::getline(in, cols);
    std::getline(in, g0);
    std::getline(in, g1);
    std::getline(in, rest);
    EXPECT_EQ(head, "source: nvml, driver 550.54.15");
    EXPECT_NE(cols.find("SERIAL"), std::string::npos) << cols;
    EXPECT_NE(g0.find("1654922006536"), std::string::npos) << g0;
    EXPECT_NE(g0.find("H100-SXM"), std::string::npos) << g0;
    EXPECT_NE(g0.find("15832"), std::string::npos) << g0;
    EXPECT_NE(g0.find("00000000:18:00.0"), std::string::npos) << g0;
    EXPECT_NE(g0.find("NVIDIA H100 80GB HBM3"), std::string::npos) << g0;
    EXPECT_NE(g1.find("1654922006537"), std::string::npos) << g1;
    EXPECT_NE(g1.find("unknown"), std::string::npos) << g1;
    EXPECT_EQ(rest, "");
}

TEST_F(GpuCli, NoGpus) {
    std::ofstream(nvml_json_, std::ios::trunc) << R"({"driver_version":"550.54.15","gpus":[]})";
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("(no GPUs)"), std::string::npos) << r.out;
}

TEST_F(GpuCli, MissingLibraryIsExit2NamingIt) {
    auto r = run_cli({"gpu", "list", "--nvml-lib", "/nonexistent.so", "--json"});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("/nonexistent.so"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("custos: ", 0), 0u) << r.err;
}

TEST_F(GpuCli, LibraryThatCannotInitialiseIsExit2) {
    std::ofstream(nvml_json_, std::ios::trunc) << R"({"init_error":9})";
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(fake_nvml), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nvmlInit_v2"), std::string::npos) << r.err;
}

TEST_F(GpuCli, BadChipTableIsExit2NamingIt) {
    const fs::path bad = dir_.path() / "chips.toml";
    std::ofstream(bad) << "[[chip]]\nid = \"X\"\ntpp = 100\n";  // tpp without tpp_bits
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--chips", bad.string()});
    EXPECT_EQ(r.rc, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(bad.string() + ":1:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--chips"), std::string::npos) << r.err;

    const fs::path missing = dir_.path() / "absent.toml";
    auto m = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--chips", missing.string()});
    EXPECT_EQ(m.rc, 2);
    EXPECT_EQ(lines(m.err), 1u) << m.err;
    EXPECT_NE(m.err.find(missing.string()), std::string::npos) << m.err;
}

TEST_F(GpuCli, ChipTableFromFile) {
    const fs::path t = dir_.path() / "chips.toml";
    std::ofstream(t) << "[[chip]]\nid = \"H100-HBM3e\"\nvendor = \"NVIDIA\"\ntpp = 16000\ntpp_bits = 8\n"
                        "names = [\"NVIDIA H100 80GB HBM3e\"]\n";
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--chips", t.string(), "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const json::array gpus = json::parse(r.out).as_object().at("gpus").as_array();
    ASSERT_EQ(gpus.size(), 2u);
    EXPECT_EQ(gpus[0].at("chip"), "unknown");  // only this table is used
    EXPECT_EQ(gpus[1].at("chip"), "H100-HBM3e");
    EXPECT_EQ(gpus[1].at("tpp").to_number<double>(), 16000.0);
}

TEST_F(GpuCli, SysfsFallbackWithoutNvml) {
    // As in the inventory test: a resident fake (same soname) without $CUSTOS_FAKE_NVML does not initialise.
    ::unsetenv("CUSTOS_FAKE_NVML");
    if (void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)) {
        link_map* lm = nullptr;
        const bool is_fake = dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name &&
                             fs::weakly_canonical(lm->l_name) == fs::weakly_canonical(fake_nvml);
        dlclose(h);
        if (!is_fake) GTEST_SKIP() << "a real libnvidia-ml.so.1 is installed";
    }
    test::fake_sysfs t(dir_.path() / "sys");
    t.h100("0000:18:00.0");
    const fs::path root = t.root();
    auto r = run_cli({"gpu", "list", "--sysfs-root", root.string()});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.rfind("source: sysfs\nnote: ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("0000:18:00.0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PCI 10de:2330"), std::string::npos) << r.out;
    auto j = run_cli({"gpu", "list", "--sysfs-root", root.string(), "--json"});
    ASSERT_EQ(j.rc, 0) << j.err;
    const json::object o = json::parse(j.out).as_object();
    EXPECT_EQ(o.at("source"), "sysfs");
    EXPECT_TRUE(o.contains("note"));
    EXPECT_EQ(o.at("gpus").as_array().at(0).at("serial"), "");
}

TEST_F(GpuCli, PciViewBesideNvmlWithChipsAndProhibitions) {
    test::fake_sysfs t(dir_.path() / "sys");
    t.h100("0000:18:00.0").add("0000:2a:00.0", "10de", "2330", "030200");  // both NVML GPUs on the bus
    t.ascend_910b("0000:c1:00.0", 1).bmc_vga();
    auto j = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--sysfs-root", t.root().string(), "--json"});
    ASSERT_EQ(j.rc, 0) << j.err;
    const json::object o = json::parse(j.out).as_object();
    const json::array& pci = o.at("pci").as_array();
    ASSERT_EQ(pci.size(), 4u);  // the BMC's VGA, two H100s, the Ascend
    const json::object& ascend = pci[3].as_object();
    EXPECT_EQ(ascend.at("bus"), "0000:c1:00.0");
    EXPECT_EQ(ascend.at("chip"), "Ascend-910B");
    EXPECT_EQ(ascend.at("listed_by_nvml"), false);
    EXPECT_EQ(ascend.at("numa_node"), 1);
    EXPECT_EQ(ascend.at("subsystem_vendor"), "19e5");
    EXPECT_EQ(ascend.at("prohibited_under"), (json::array{"bis-guidance-2025-05"}));
    EXPECT_EQ(pci[1].at("chip"), "H100-SXM");
    EXPECT_EQ(pci[1].at("listed_by_nvml"), true);
    EXPECT_TRUE(pci[1].at("prohibited_under").as_array().empty());
    EXPECT_EQ(pci[0].at("display_only"), true);
    // The table says the same.
    auto r = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--sysfs-root", t.root().string()});
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto at = r.out.find("0000:c1:00.0");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string row = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(row.find("19e5:d802"), std::string::npos) << row;
    EXPECT_NE(row.find("Ascend-910B"), std::string::npos) << row;
    EXPECT_NE(row.find("bis-guidance-2025-05"), std::string::npos) << row;
    // Under a profile that does not prohibit it, nothing is marked.
    auto only = run_cli({"gpu", "list", "--nvml-lib", fake_nvml, "--sysfs-root", t.root().string(), "--profile",
                         "ai-diffusion-2025-01", "--json"});
    ASSERT_EQ(only.rc, 0) << only.err;
    EXPECT_TRUE(json::parse(only.out).at("pci").as_array()[3].at("prohibited_under").as_array().empty());
}

}  // namespace
}  // namespace custos
