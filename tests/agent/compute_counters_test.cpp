// agent/compute_counters: busy seconds, TPP-seconds and operation bounds per GPU from sampled utilisation,
// energy increments across driver resets, and persistence (monotonic across restarts, never silently
// restarted). Expected figures are worked out by hand from policy/chips.toml.
#include "agent/compute_counters.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "attest/report_ext.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"

namespace custos::agent {
namespace {

namespace fs = std::filesystem;
using custos::test::temp_dir;

// chips.toml: H100-SXM 15832 TPP at 8 bits → 1979e12 ops/s; H20 2368 at 8 → 296e12; A100 4992 at 16 → 312e12.
constexpr double h100_tpp = 15832, h100_peak = 1979e12;
constexpr double h20_tpp = 2368, h20_peak = 296e12;
constexpr double a100_tpp = 4992, a100_peak = 312e12;

gpu_info gpu(std::string serial, std::string name, std::optional<unsigned> util, std::optional<std::uint64_t> energy = {}) {
    gpu_info g;
    g.serial = std::move(serial);
    g.uuid = "GPU-" + g.serial;
    g.name = std::move(name);
    g.pci_bus_id = "00000000:18:00.0";
    g.utilization_gpu = util;
    g.energy_mj = energy;
    return g;
}

gpu_inventory inventory(std::vector<gpu_info> gpus) {
    gpu_inventory inv;
    inv.source = "nvml";
    inv.driver_version = "550.54.15";
    inv.gpus = std::move(gpus);
    return inv;
}

const policy::chip_table& chips() { return policy::chip_table::builtin(); }

TEST(ComputeCounters, KeyIsSerialElseUuidElsePciBusId) {
    gpu_info g;
    g.serial = "1654922006536";
    g.uuid = "GPU-a";
    g.pci_bus_id = "00000000:18:00.0";
    EXPECT_EQ(gpu_key(g), "1654922006536");
    g.serial.clear();
    EXPECT_EQ(gpu_key(g), "uuid:GPU-a");
    g.uuid.clear();
    EXPECT_EQ(gpu_key(g), "pci:00000000:18:00.0");
}

TEST(ComputeCounters, BusyTppAndOpsFromUtilisation) {
    temp_dir d("custos-counters");
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_TRUE(c->counters().empty());
    const auto inv = inventory({gpu("S1", "NVIDIA H100 80GB HBM3", 50), gpu("S2", "NVIDIA A100-SXM4-80GB", 25),
                                gpu("S3", "NVIDIA H100 80GB HBM3e", 100)});
    ASSERT_TRUE(c->sample(inv, chips(), 10, 60).ok());
    const auto& k = c->counters();
    ASSERT_EQ(k.size(), 3u);
    // 10 s at 50 %: 5 busy seconds; × 15832 = 79160 TPP-s; × 1979e12 = 9.895e15 ops.
    EXPECT_DOUBLE_EQ(k.at("S1").busy_s, 5);
    EXPECT_DOUBLE_EQ(k.at("S1").tpp_s, 79160);
    EXPECT_DOUBLE_EQ(k.at("S1").ops, 9.895e15);
    EXPECT_DOUBLE_EQ(k.at("S1").tpp_s, 5 * h100_tpp);
    EXPECT_DOUBLE_EQ(k.at("S1").ops, 5 * h100_peak);
    // 10 s at 25 %: 2.5 s; × 4992 = 12480; × 312e12 = 7.8e14.
    EXPECT_DOUBLE_EQ(k.at("S2").busy_s, 2.5);
    EXPECT_DOUBLE_EQ(k.at("S2").tpp_s, 12480);
    EXPECT_DOUBLE_EQ(k.at("S2").ops, 7.8e14);
    EXPECT_DOUBLE_EQ(k.at("S2").ops, 2.5 * a100_peak);
    EXPECT_DOUBLE_EQ(k.at("S2").tpp_s, 2.5 * a100_tpp);
    // A name the table does not know: busy time only.
    EXPECT_DOUBLE_EQ(k.at("S3").busy_s, 10);
    EXPECT_EQ(k.at("S3").tpp_s, 0);
    EXPECT_EQ(k.at("S3").ops, 0);

    // Counters add up over samples.
    ASSERT_TRUE(c->sample(inventory({gpu("S1", "NVIDIA H100 80GB HBM3", 100)}), chips(), 2, 60).ok());
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 7);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").tpp_s, 7 * 15832.0);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 7 * 1979e12);
    EXPECT_DOUBLE_EQ(c->counters().at("S2").busy_s, 2.5);  // not in this inventory: unchanged
}

TEST(ComputeCounters, NoUtilisationCountsAsFullyBusy) {
    temp_dir d("custos-counters");
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    ASSERT_TRUE(c->sample(inventory({gpu("S1", "NVIDIA H20", std::nullopt), gpu("S2", "NVIDIA H20", 0)}), chips(), 30, 60).ok());
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 30);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").tpp_s, 30 * h20_tpp);  // 71040
    EXPECT_DOUBLE_EQ(c->counters().at("S1").tpp_s, 71040);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 30 * h20_peak);  // 8.88e15
    EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 8.88e15);
    // 0 % is a reading: nothing counted.
    EXPECT_EQ(c->counters().at("S2").busy_s, 0);
    EXPECT_EQ(c->counters().at("S2").ops, 0);
}

TEST(ComputeCounters, DtIsClampedToZeroAndMax) {
    temp_dir d("custos-counters");
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    const auto inv = inventory({gpu("S1", "NVIDIA H100 80GB HBM3", 100)});
    ASSERT_TRUE(c->sample(inv, chips(), 3600, 60).ok());  // a stalled agent: one minute at most
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 60);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 60 * h100_peak);
    ASSERT_TRUE(c->sample(inv, chips(), -5, 60).ok());  // the clock went backwards
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 60);
    // Not a number, or an unusable limit: nothing counted, and the counters stay readable.
    ASSERT_TRUE(c->sample(inv, chips(), std::numeric_limits<double>::quiet_NaN(), 60).ok());
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 60);
    ASSERT_TRUE(c->sample(inv, chips(), std::numeric_limits<double>::infinity(), 60).ok());
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 120);
    ASSERT_TRUE(c->sample(inv, chips(), 10, -1).ok());
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 120);
    ASSERT_TRUE(c->sample(inv, chips(), 10, std::numeric_limits<double>::quiet_NaN()).ok());
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 120);
    auto again = compute_counters::open(d.path());
    ASSERT_TRUE(again.ok()) << again.err().message;
    EXPECT_DOUBLE_EQ(again->counters().at("S1").busy_s, 120);
}

TEST(ComputeCounters, EnergyIncrementsAndDriverResets) {
    temp_dir d("custos-counters");
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    auto step = [&](std::optional<std::uint64_t> mj) {
        ASSERT_TRUE(c->sample(inventory({gpu("S1", "NVIDIA H100 80GB HBM3", 10, mj)}), chips(), 1, 60).ok());
    };
    step(1000);  // first seen: the baseline, nothing counted yet
    EXPECT_EQ(c->counters().at("S1").energy_mj, 0u);
    EXPECT_EQ(c->counters().at("S1").energy_raw, 1000u);
    step(1500);
    EXPECT_EQ(c->counters().at("S1").energy_mj, 500u);
    step(1700);
    EXPECT_EQ(c->counters().at("S1").energy_mj, 700u);
    step(200);  // the driver reloaded: its counter restarted at zero, so all 200 are new
    EXPECT_EQ(c->counters().at("S1").energy_mj, 900u);
    EXPECT_EQ(c->counters().at("S1").energy_raw, 200u);
    step(std::nullopt);  // one sample without a reading changes nothing
    EXPECT_EQ(c->counters().at("S1").energy_mj, 900u);
    step(250);
    EXPECT_EQ(c->counters().at("S1").energy_mj, 950u);
}

TEST(ComputeCounters, PersistedAndMonotonicAcrossRestarts) {
    temp_dir d("custos-counters");
    const auto inv = inventory({gpu("S1", "NVIDIA H100 80GB HBM3", 50, 1000), gpu("S2", "NVIDIA H20", 100)});
    {
        auto c = compute_counters::open(d.path());
        ASSERT_TRUE(c.ok()) << c.err().message;
        ASSERT_TRUE(c->sample(inv, chips(), 10, 60).ok());
        auto inv2 = inv;
        inv2.gpus[0].energy_mj = 1400;
        ASSERT_TRUE(c->sample(inv2, chips(), 10, 60).ok());
    }
    const fs::path file = d.path() / "counters.json";
    ASSERT_TRUE(fs::exists(file));
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    {
        auto c = compute_counters::open(d.path());  // the agent restarted
        ASSERT_TRUE(c.ok()) << c.err().message;
        EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 10);
        EXPECT_DOUBLE_EQ(c->counters().at("S1").tpp_s, 10 * h100_tpp);
        EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 10 * h100_peak);
        EXPECT_EQ(c->counters().at("S1").energy_mj, 400u);
        EXPECT_EQ(c->counters().at("S1").energy_raw, 1400u);
        EXPECT_DOUBLE_EQ(c->counters().at("S2").busy_s, 20);
        EXPECT_FALSE(c->counters().at("S2").energy_raw.has_value());
        auto inv3 = inv;
        inv3.gpus[0].energy_mj = 1450;
        ASSERT_TRUE(c->sample(inv3, chips(), 10, 60).ok());
        EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 15);
        EXPECT_EQ(c->counters().at("S1").energy_mj, 450u);  // continues from the persisted raw counter
    }
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 15);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 15 * h100_peak);
    EXPECT_DOUBLE_EQ(c->counters().at("S2").busy_s, 30);
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(ComputeCounters, CorruptFileIsAnErrorNotARestart) {
    temp_dir d("custos-counters");
    const fs::path file = d.path() / "counters.json";
    for (const char* bad : {
             "{not json",
             "",
             "[]",
             R"({"v":1})",
             R"({"v":1,"gpus":[]})",
             R"({"v":1,"gpus":{"S1":{"busy_s":-1,"tpp_s":0,"ops":0,"energy_mj":0}}})",
             R"({"v":1,"gpus":{"S1":{"busy_s":"5","tpp_s":0,"ops":0,"energy_mj":0}}})",
             R"({"v":1,"gpus":{"S1":{"busy_s":1,"tpp_s":0,"energy_mj":0}}})",
             R"({"v":1,"gpus":{"S1":{"busy_s":1,"tpp_s":0,"ops":0,"energy_mj":-2}}})",
             R"({"v":1,"gpus":{"S1":{"busy_s":1,"tpp_s":0,"ops":0,"energy_mj":0,"energy_raw":"x"}}})",
             R"({"v":1,"gpus":{"S1":{"busy_s":1,"tpp_s":0,"ops":0,"energy_mj":0},"S1":{"busy_s":0,"tpp_s":0,"ops":0,"energy_mj":0}}})",
             R"({"v":2,"gpus":{}})",
         }) {
        std::ofstream(file, std::ios::trunc) << bad;
        auto c = compute_counters::open(d.path());
        ASSERT_FALSE(c.ok()) << bad;
        EXPECT_NE(c.err().message.find(file.string()), std::string::npos) << c.err().message;
        EXPECT_NE(c.err().message.find("must never restart silently"), std::string::npos) << c.err().message;
    }
    // The well-formed file, for contrast.
    std::ofstream(file, std::ios::trunc) << R"({"v":1,"gpus":{"S1":{"busy_s":1.5,"tpp_s":2,"ops":3e15,"energy_mj":4,"energy_raw":5}}})";
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_DOUBLE_EQ(c->counters().at("S1").busy_s, 1.5);
    EXPECT_DOUBLE_EQ(c->counters().at("S1").ops, 3e15);
    EXPECT_EQ(c->counters().at("S1").energy_raw, 5u);
}

TEST(ComputeCounters, ToExtCarriesTheCountersPerGpu) {
    temp_dir d("custos-counters");
    auto c = compute_counters::open(d.path());
    ASSERT_TRUE(c.ok()) << c.err().message;
    gpu_info no_serial = gpu("", "NVIDIA H200", 40, 10);
    no_serial.uuid = "GPU-h200";
    gpu_info bare = gpu("", "PCI 10de:2330", std::nullopt);
    bare.uuid.clear();
    bare.pci_bus_id = "0000:18:00.0";
    auto inv = inventory({gpu("S1", "NVIDIA H100 80GB HBM3", 50, 100), gpu("S2", "Some Future GPU", 20), no_serial, bare});
    ASSERT_TRUE(c->sample(inv, chips(), 10, 60).ok());
    inv.gpus[0].energy_mj = 160;
    inv.gpus[2].energy_mj = 30;
    ASSERT_TRUE(c->sample(inv, chips(), 10, 60).ok());
    EXPECT_EQ(c->counters().count("uuid:GPU-h200"), 1u);
    EXPECT_EQ(c->counters().count("pci:0000:18:00.0"), 1u);

    inv.gpus.push_back(gpu("S9", "NVIDIA H20", 5));  // appeared after the last sample: zero counters
    const attest::report_ext e = c->to_ext(inv, chips());
    EXPECT_EQ(e.inventory_source, "nvml");
    EXPECT_EQ(e.driver_version, "550.54.15");
    ASSERT_EQ(e.gpus.size(), 5u);
    const auto& a = e.gpus[0];
    EXPECT_EQ(a.serial, "S1");
    EXPECT_EQ(a.uuid, "GPU-S1");
    EXPECT_EQ(a.name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(a.chip, "H100-SXM");
    EXPECT_EQ(a.pci_bus_id, "00000000:18:00.0");
    EXPECT_EQ(a.util, 50u);
    EXPECT_DOUBLE_EQ(a.busy_s, 10);
    EXPECT_DOUBLE_EQ(a.tpp_s, 158320);
    EXPECT_DOUBLE_EQ(a.ops, 1.979e16);
    EXPECT_EQ(a.energy_mj, 60u);
    const auto& u = e.gpus[1];
    EXPECT_EQ(u.chip, "unknown");
    EXPECT_DOUBLE_EQ(u.busy_s, 4);
    EXPECT_EQ(u.tpp_s, 0);
    EXPECT_EQ(u.ops, 0);
    const auto& h = e.gpus[2];
    EXPECT_EQ(h.chip, "H200");
    EXPECT_EQ(h.serial, "");
    EXPECT_DOUBLE_EQ(h.busy_s, 8);
    EXPECT_DOUBLE_EQ(h.ops, 8 * h100_peak);  // H200: same 15832 at 8 bits
    EXPECT_EQ(h.energy_mj, 20u);
    const auto& b = e.gpus[3];
    EXPECT_EQ(b.chip, "unknown");
    EXPECT_FALSE(b.util.has_value());
    EXPECT_DOUBLE_EQ(b.busy_s, 20);  // no utilisation: fully busy
    const auto& n = e.gpus[4];
    EXPECT_EQ(n.chip, "H20");
    EXPECT_EQ(n.busy_s, 0);
    EXPECT_EQ(n.energy_mj, 0u);

    // What the agent builds, the verifier's parser takes.
    auto parsed = attest::parse_report_ext(attest::encode_report_ext(e));
    ASSERT_TRUE(parsed.ok()) << parsed.err().message;
    EXPECT_EQ(parsed->gpus.size(), 5u);
    EXPECT_DOUBLE_EQ(parsed->gpus[0].ops, 1.979e16);
}

}  // namespace
}  // namespace custos::agent
