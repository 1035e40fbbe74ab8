// verifier/pci_reconcile over what the agent's own code sends: fake sysfs trees and the fake NVML read by
// agent::inventory_reader, made into the report ext by agent::compute_counters, encoded and parsed as the
// verifier parses it. An Ascend 910B beside H100s, an AMD card, a hidden card, a card NVML lists twice.
#include "verifier/pci_reconcile.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "agent/compute_counters.hpp"
#include "agent/gpu_inventory.hpp"
#include "tests/support/fake_sysfs.hpp"
#include "tests/support/process.hpp"

namespace custos::verifier {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// One fake-NVML H100 at `bus` ("18").
json::object nvml_h100(const std::string& serial, const std::string& bus) {
    return {{"uuid", "GPU-" + serial},     {"serial", serial},
            {"name", "NVIDIA H100 80GB HBM3"}, {"board_part_number", "692-2G520-0200-000"},
            {"pci_bus_id", "00000000:" + bus + ":00.0"}, {"utilization_gpu", 50},
            {"energy_mj", 1000}};
}

class PciReconcile : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* old = std::getenv("CUSTOS_FAKE_NVML")) old_ = old;
        ::setenv("CUSTOS_FAKE_NVML", (dir_.path() / "nvml.json").c_str(), 1);
        // An 8-way HGX board's first four H100s and the BMC's VGA.
        for (const char* b : {"18", "2a", "3a", "5d"}) sysfs_.h100(std::string("0000:") + b + ":00.0");
        sysfs_.bmc_vga();
        sysfs_.bridge();
    }
    void TearDown() override {
        if (old_) ::setenv("CUSTOS_FAKE_NVML", old_->c_str(), 1);
        else ::unsetenv("CUSTOS_FAKE_NVML");
    }
    void nvml(const json::array& gpus) {
        std::ofstream(dir_.path() / "nvml.json") << json::serialize(json::object{{"driver_version", "550.54.15"}, {"gpus", gpus}});
    }
    json::array four_h100s() {
        return {nvml_h100("s1", "18"), nvml_h100("s2", "2A"), nvml_h100("s3", "3A"), nvml_h100("s4", "5D")};
    }
    // What the agent would send, as the verifier reads it, reconciled.
    pci_reconciliation reconcile() {
        auto r = agent::inventory_reader::open(CUSTOS_FAKE_NVML_PATH, sysfs_.root());
        EXPECT_TRUE(r.ok()) << r.err().message;
        auto inv = r->read();
        EXPECT_TRUE(inv.ok()) << inv.err().message;
        auto counters = agent::compute_counters::open(dir_.path() / "state");
        EXPECT_TRUE(counters.ok()) << counters.err().message;
        const std::string wire = attest::encode_report_ext(counters->to_ext(*inv, policy::chip_table::builtin()));
        auto ext = attest::parse_report_ext(wire);
        EXPECT_TRUE(ext.ok()) << ext.err().message;
        return reconcile_pci(*ext, policy::chip_table::builtin());
    }
    static std::vector<std::string> issues(const pci_reconciliation& r) {
        std::vector<std::string> out;
        for (const auto& i : r.issues) out.push_back(i.rule + "@" + i.subject);
        std::sort(out.begin(), out.end());
        return out;
    }
    static std::vector<std::string> pci_only(const pci_reconciliation& r) { return pci_only_lines(r.pci_only); }

    test::temp_dir dir_{"custos-pci"};
    test::fake_sysfs sysfs_{dir_.path() / "sys"};
    std::optional<std::string> old_;
};

TEST_F(PciReconcile, NvmlAndTheBusAgreeingRaiseNothing) {
    nvml(four_h100s());
    const auto r = reconcile();
    EXPECT_TRUE(r.pci_view);
    EXPECT_TRUE(r.issues.empty()) << issues(r).front();
    EXPECT_TRUE(r.pci_only.empty());  // the BMC's VGA is set aside
    ASSERT_EQ(r.gpu_chips.size(), 4u);
    for (const auto* c : r.gpu_chips) EXPECT_EQ(c ? c->id : "null", "H100-SXM");
}

TEST_F(PciReconcile, AnAscend910BBesideH100sIsSeenOnlyOnTheBusAndNamedByItsIds) {
    nvml(four_h100s());
    sysfs_.ascend_910b("0000:c1:00.0");
    const auto r = reconcile();
    EXPECT_TRUE(r.issues.empty()) << issues(r).front();  // NVML cannot list it: not "unreported"
    EXPECT_EQ(pci_only(r), (std::vector<std::string>{"0000:c1:00.0 19e5:d802 Ascend-910B"}));
}

TEST_F(PciReconcile, AnAmdCardCountsByItsIds) {
    nvml(four_h100s());
    sysfs_.mi300x("0000:c2:00.0");
    const auto r = reconcile();
    EXPECT_TRUE(r.issues.empty()) << issues(r).front();
    EXPECT_EQ(pci_only(r), (std::vector<std::string>{"0000:c2:00.0 1002:74a1 MI300X"}));
}

TEST_F(PciReconcile, ACardHiddenFromNvmlIsUnreported) {
    auto gpus = four_h100s();
    gpus.erase(gpus.begin() + 2);  // s3, at 3a, left out of NVML's list
    nvml(gpus);
    const auto r = reconcile();
    EXPECT_EQ(issues(r), (std::vector<std::string>{"accelerator-unreported@pci:0000:3a:00.0"}));
    EXPECT_NE(r.issues[0].detail.find("10de:2330"), std::string::npos) << r.issues[0].detail;
    EXPECT_EQ(pci_only(r), (std::vector<std::string>{"0000:3a:00.0 10de:2330 H100-SXM"}));
}

TEST_F(PciReconcile, ACardNvmlListsTwiceIsAMismatch) {
    auto gpus = four_h100s();
    gpus.push_back(nvml_h100("s9", "5D"));  // a second serial at s4's address
    nvml(gpus);
    const auto r = reconcile();
    ASSERT_EQ(issues(r), (std::vector<std::string>{"accelerator-mismatch@pci:0000:5d:00.0"}));
    EXPECT_NE(r.issues[0].detail.find("s4, s9"), std::string::npos) << r.issues[0].detail;
}

TEST_F(PciReconcile, AnUnknownAcceleratorIsNamedByItsIds) {
    nvml(four_h100s());
    sysfs_.add("0000:c3:00.0", "1e52", "0a01", "120000");
    const auto r = reconcile();
    ASSERT_EQ(issues(r), (std::vector<std::string>{"gpu-unknown@pci:0000:c3:00.0"}));
    EXPECT_NE(r.issues[0].detail.find("1e52:0a01"), std::string::npos) << r.issues[0].detail;
    EXPECT_NE(r.issues[0].detail.find("class 120000"), std::string::npos) << r.issues[0].detail;
}

TEST_F(PciReconcile, WithoutNvmlEveryAcceleratorIsPciOnlyAndNoneUnreported) {
    // No NVML: the agent's fallback lists the cards from sysfs.
    sysfs_.ascend_910b("0000:c1:00.0");
    auto inv = agent::read_sysfs_inventory(sysfs_.root());
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    auto counters = agent::compute_counters::open(dir_.path() / "state");
    ASSERT_TRUE(counters.ok());
    auto ext = attest::parse_report_ext(attest::encode_report_ext(counters->to_ext(*inv, policy::chip_table::builtin())));
    ASSERT_TRUE(ext.ok()) << ext.err().message;
    EXPECT_EQ(ext->inventory_source, "sysfs");
    const auto rec = reconcile_pci(*ext, policy::chip_table::builtin());
    EXPECT_TRUE(rec.issues.empty()) << issues(rec).front();
    EXPECT_EQ(rec.pci_only.size(), 5u);  // four H100s and the Ascend; not the BMC
    ASSERT_EQ(rec.gpu_chips.size(), 5u);
    EXPECT_EQ(rec.gpu_chips[4] ? rec.gpu_chips[4]->id : "null", "Ascend-910B");
}

TEST_F(PciReconcile, StoredLinesRoundTrip) {
    nvml(four_h100s());
    sysfs_.ascend_910b("0000:c1:00.0");
    sysfs_.add("0000:c3:00.0", "1e52", "0a01", "120000");
    const auto lines = pci_only(reconcile());
    const auto back = parse_pci_only_lines(lines);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].bus, "0000:c1:00.0");
    EXPECT_EQ(back[0].ids, "19e5:d802");
    EXPECT_EQ(back[0].chip, "Ascend-910B");
    EXPECT_EQ(back[1].chip, "unknown");
}

}  // namespace
}  // namespace custos::verifier
