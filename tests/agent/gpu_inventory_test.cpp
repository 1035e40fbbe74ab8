// agent/gpu_inventory against the real fake NVML (tools/fake-nvml, loaded with dlopen like the real one),
// the PCI sysfs fallback over a hand-made sysfs tree, and inventory_to_json.
#include "agent/gpu_inventory.hpp"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <map>
#include <fstream>
#include <optional>
#include <string>

#include "attest/gpu_attestation.hpp"
#include "tests/support/fake_sysfs.hpp"
#include "tools/fake-nvml/gpu_test_ca.hpp"
#include "tests/support/process.hpp"

namespace custos::agent {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const std::string fake_nvml = CUSTOS_FAKE_NVML_PATH;

constexpr const char* two_gpus = R"({"driver_version":"550.54.15","gpus":[
  {"uuid":"GPU-5c1e8f3a-93d4-2b8e-1f0a-0c6c2f1d9e01","serial":"1654922006536","name":"NVIDIA H100 80GB HBM3",
   "board_part_number":"692-2G520-0200-000","pci_bus_id":"00000000:18:00.0","utilization_gpu":87,"energy_mj":123456789},
  {"uuid":"GPU-0b7a4c22-1d5e-44f0-8a9b-7e3f6d2c1b00","serial":"1654922006537","name":"NVIDIA H20",
   "board_part_number":"699-2G530-0230-000","pci_bus_id":"00000000:2A:00.0","utilization_gpu":0,"energy_mj":1099511627776}]})";

// Sets $CUSTOS_FAKE_NVML (the fake reads it on every call) to a file in a fresh directory.
class GpuInventory : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* old = std::getenv("CUSTOS_FAKE_NVML")) old_ = old;
        file_ = dir_.path() / "nvml.json";
        ::setenv("CUSTOS_FAKE_NVML", file_.c_str(), 1);
    }
    void TearDown() override {
        if (old_) ::setenv("CUSTOS_FAKE_NVML", old_->c_str(), 1);
        else ::unsetenv("CUSTOS_FAKE_NVML");
    }
    void write(const std::string& text) {
        // Atomically, as a reader may be mid-call in other uses of the fake.
        const fs::path tmp = file_.string() + ".tmp";
        std::ofstream(tmp) << text;
        fs::rename(tmp, file_);
    }
    // A sysfs tree: bus/pci/devices/<bus id>/{vendor,device,class,…}.
    fs::path sysfs() {
        test::fake_sysfs t(dir_.path() / "sys");
        t.h100("0000:18:00.0");                                // H100 SXM5, 3D controller
        t.add("0000:18:00.1", "10de", "22a3", "040300");       // NVIDIA, but an audio device
        t.add("0000:00:02.0", "8086", "46a6", "030000", -1);   // an Intel GPU: not an accelerator vendor
        t.bridge();                                            // an ISA bridge
        t.add("0000:c1:00.0", "1002", "74A1", "120000", 1);    // AMD MI300X, processing accelerator
        return t.root();
    }

    test::temp_dir dir_{"custos-gpu-inv"};
    fs::path file_;
    std::optional<std::string> old_;
};

TEST_F(GpuInventory, ReadsEveryFieldFromNvml) {
    write(two_gpus);
    auto n = nvml::open(fake_nvml);
    ASSERT_TRUE(n.ok()) << n.err().message;
    EXPECT_EQ((*n)->library(), fake_nvml);
    auto inv = (*n)->read();
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    EXPECT_EQ(inv->source, "nvml");
    EXPECT_EQ(inv->driver_version, "550.54.15");
    EXPECT_TRUE(inv->note.empty());
    ASSERT_EQ(inv->gpus.size(), 2u);
    const gpu_info& a = inv->gpus[0];
    EXPECT_EQ(a.uuid, "GPU-5c1e8f3a-93d4-2b8e-1f0a-0c6c2f1d9e01");
    EXPECT_EQ(a.serial, "1654922006536");
    EXPECT_EQ(a.name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(a.board_part_number, "692-2G520-0200-000");
    EXPECT_EQ(a.pci_bus_id, "00000000:18:00.0");
    EXPECT_EQ(a.utilization_gpu, 87u);
    EXPECT_EQ(a.energy_mj, 123456789u);
    EXPECT_TRUE(a.pci_vendor_id.empty());
    const gpu_info& b = inv->gpus[1];
    EXPECT_EQ(b.uuid, "GPU-0b7a4c22-1d5e-44f0-8a9b-7e3f6d2c1b00");
    EXPECT_EQ(b.serial, "1654922006537");
    EXPECT_EQ(b.name, "NVIDIA H20");
    EXPECT_EQ(b.board_part_number, "699-2G530-0230-000");
    EXPECT_EQ(b.pci_bus_id, "00000000:2A:00.0");
    EXPECT_EQ(b.utilization_gpu, 0u);  // zero is a reading, not an absent one
    EXPECT_EQ(b.energy_mj, std::uint64_t{1} << 40);  // past 32 bits
}

TEST_F(GpuInventory, EditsBetweenReadsAreSeen) {
    write(two_gpus);
    auto r = inventory_reader::open(fake_nvml, sysfs());
    ASSERT_TRUE(r.ok()) << r.err().message;
    auto first = r->read();
    ASSERT_TRUE(first.ok()) << first.err().message;
    ASSERT_EQ(first->gpus.size(), 2u);

    // A third GPU appears and the first one's load changes.
    json::value doc = json::parse(two_gpus);
    json::array& gpus = doc.as_object()["gpus"].as_array();
    gpus[0].as_object()["utilization_gpu"] = 12;
    gpus.push_back(json::object{{"uuid", "GPU-third"}, {"serial", "1654922006599"}, {"name", "NVIDIA H200"},
                                {"board_part_number", "692-2G525-0200-000"}, {"pci_bus_id", "00000000:3B:00.0"},
                                {"utilization_gpu", 100}, {"energy_mj", 7}});
    write(json::serialize(doc));
    auto second = r->read();
    ASSERT_TRUE(second.ok()) << second.err().message;
    EXPECT_EQ(second->source, "nvml");
    ASSERT_EQ(second->gpus.size(), 3u);
    EXPECT_EQ(second->gpus[0].utilization_gpu, 12u);
    EXPECT_EQ(second->gpus[2].serial, "1654922006599");
    EXPECT_EQ(second->gpus[2].name, "NVIDIA H200");
    EXPECT_EQ(second->gpus[2].pci_bus_id, "00000000:3B:00.0");

    // The first GPU goes away (and the driver is updated).
    gpus.erase(gpus.begin());
    doc.as_object()["driver_version"] = "560.35.03";
    write(json::serialize(doc));
    auto third = r->read();
    ASSERT_TRUE(third.ok()) << third.err().message;
    ASSERT_EQ(third->gpus.size(), 2u);
    EXPECT_EQ(third->driver_version, "560.35.03");
    EXPECT_EQ(third->gpus[0].serial, "1654922006537");
    EXPECT_EQ(third->gpus[1].serial, "1654922006599");
}

TEST_F(GpuInventory, UnsupportedFieldsStayEmpty) {
    // A board without a serial or an energy counter: NVML answers NOT_SUPPORTED for those.
    write(R"({"gpus":[{"uuid":"GPU-x","name":"NVIDIA L40S","board_part_number":"900-2G133-0080-000",
                       "pci_bus_id":"00000000:41:00.0"}]})");
    auto n = nvml::open(fake_nvml);
    ASSERT_TRUE(n.ok()) << n.err().message;
    auto inv = (*n)->read();
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    EXPECT_EQ(inv->driver_version, "");
    ASSERT_EQ(inv->gpus.size(), 1u);
    EXPECT_EQ(inv->gpus[0].uuid, "GPU-x");
    EXPECT_EQ(inv->gpus[0].serial, "");
    EXPECT_FALSE(inv->gpus[0].energy_mj.has_value());
    EXPECT_FALSE(inv->gpus[0].utilization_gpu.has_value());
    EXPECT_EQ(inv->gpus[0].pci_bus_id, "00000000:41:00.0");
}

TEST_F(GpuInventory, UtilisationIsCappedAt100) {
    write(R"({"gpus":[{"uuid":"GPU-x","serial":"1","name":"NVIDIA H100","pci_bus_id":"00000000:41:00.0","utilization_gpu":250}]})");
    auto n = nvml::open(fake_nvml);
    ASSERT_TRUE(n.ok()) << n.err().message;
    auto inv = (*n)->read();
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    EXPECT_EQ(inv->gpus.at(0).utilization_gpu, 100u);
}

TEST_F(GpuInventory, OtherNvmlErrorsFailTheReadNamingGpuAndCall) {
    // GPU 1 is not an object: the fake answers INVALID_ARGUMENT for its handle.
    write(R"({"gpus":[{"uuid":"GPU-x","serial":"1","name":"NVIDIA H100","pci_bus_id":"00000000:41:00.0"}, 5]})");
    auto n = nvml::open(fake_nvml);
    ASSERT_TRUE(n.ok()) << n.err().message;
    auto inv = (*n)->read();
    ASSERT_FALSE(inv.ok());
    const std::string& m = inv.err().message;
    EXPECT_NE(m.find(fake_nvml), std::string::npos) << m;
    EXPECT_NE(m.find("GPU 1"), std::string::npos) << m;
    EXPECT_NE(m.find("nvmlDeviceGetHandleByIndex_v2"), std::string::npos) << m;
    EXPECT_NE(m.find("Invalid Argument"), std::string::npos) << m;

    // A utilisation the board reports as garbage is an error too, not a silent zero.
    write(R"({"gpus":[{"uuid":"GPU-x","serial":"1","name":"NVIDIA H100","pci_bus_id":"00000000:41:00.0","utilization_gpu":-3}]})");
    auto bad = (*n)->read();
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("GPU 0: nvmlDeviceGetUtilizationRates"), std::string::npos) << bad.err().message;
}

TEST_F(GpuInventory, InitErrorNamesLibraryAndCall) {
    write(R"({"init_error":9})");
    auto n = nvml::open(fake_nvml);
    ASSERT_FALSE(n.ok());
    const std::string& m = n.err().message;
    EXPECT_NE(m.find(fake_nvml), std::string::npos) << m;
    EXPECT_NE(m.find("nvmlInit_v2"), std::string::npos) << m;
    EXPECT_NE(m.find("Driver Not Loaded (9)"), std::string::npos) << m;

    // Named explicitly, the library must work: no fallback to sysfs.
    auto r = inventory_reader::open(fake_nvml, sysfs());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("nvmlInit_v2"), std::string::npos) << r.err().message;
}

TEST_F(GpuInventory, ExplicitLibraryThatDoesNotExistIsAnError) {
    write(two_gpus);
    const std::string missing = (dir_.path() / "libnvidia-ml.so.1").string();
    auto r = inventory_reader::open(missing, sysfs());
    ASSERT_FALSE(r.ok()) << "fell back to " << r->read()->source;
    EXPECT_NE(r.err().message.find(missing), std::string::npos) << r.err().message;
    EXPECT_NE(r.err().message.find("cannot be loaded"), std::string::npos) << r.err().message;
}

TEST_F(GpuInventory, LibraryWithoutNvmlNamesTheMissingSymbol) {
    auto n = nvml::open("libm.so.6");
    ASSERT_FALSE(n.ok());
    EXPECT_NE(n.err().message.find("libm.so.6"), std::string::npos) << n.err().message;
    EXPECT_NE(n.err().message.find("has no nvmlInit_v2"), std::string::npos) << n.err().message;
}

TEST_F(GpuInventory, DefaultLibraryAbsentFallsBackToSysfsWithANote) {
    // The fake is named libnvidia-ml.so.1 too: once another test loaded it, dlopen finds it by soname.
    // Without $CUSTOS_FAKE_NVML it does not initialise, which is the same fallback. A real NVML is a
    // machine this test cannot speak for.
    ::unsetenv("CUSTOS_FAKE_NVML");
    if (void* h = dlopen(default_nvml_library, RTLD_NOW | RTLD_LOCAL)) {
        link_map* lm = nullptr;
        const bool is_fake = dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name &&
                             fs::weakly_canonical(lm->l_name) == fs::weakly_canonical(fake_nvml);
        dlclose(h);
        if (!is_fake) GTEST_SKIP() << "a real " << default_nvml_library << " is installed";
    }
    auto r = inventory_reader::open(std::nullopt, sysfs());
    ASSERT_TRUE(r.ok()) << r.err().message;
    auto inv = r->read();
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    EXPECT_EQ(inv->source, "sysfs");
    EXPECT_EQ(inv->driver_version, "");
    EXPECT_NE(inv->note.find(default_nvml_library), std::string::npos) << inv->note;
    EXPECT_NE(inv->note.find("sysfs"), std::string::npos) << inv->note;
    EXPECT_NE(inv->note.find("without serials"), std::string::npos) << inv->note;
    // The NVIDIA 3D controller and the AMD accelerator; not the audio function, the Intel GPU or the bridge.
    ASSERT_EQ(inv->gpus.size(), 2u);
    const gpu_info& n = inv->gpus[0];
    EXPECT_EQ(n.pci_bus_id, "0000:18:00.0");
    EXPECT_EQ(n.pci_vendor_id, "10de");
    EXPECT_EQ(n.pci_device_id, "2330");
    EXPECT_EQ(n.name, "PCI 10de:2330");
    EXPECT_EQ(n.serial, "");
    EXPECT_EQ(n.uuid, "");
    EXPECT_FALSE(n.utilization_gpu.has_value());
    EXPECT_FALSE(n.energy_mj.has_value());
    const gpu_info& a = inv->gpus[1];
    EXPECT_EQ(a.pci_bus_id, "0000:c1:00.0");
    EXPECT_EQ(a.pci_vendor_id, "1002");
    EXPECT_EQ(a.pci_device_id, "74a1");

    const json::object o = inventory_to_json(*inv, policy::chip_table::builtin());
    EXPECT_EQ(o.at("source"), "sysfs");
    EXPECT_EQ(o.at("note"), json::value(inv->note));
    const json::object& g = o.at("gpus").as_array().at(0).as_object();
    EXPECT_EQ(g.at("pci_vendor_id"), "10de");
    EXPECT_EQ(g.at("pci_device_id"), "2330");
    // No product name from sysfs, but the PCI ids name the chip family (policy/chips.toml's pci_ids).
    EXPECT_EQ(g.at("chip"), "H100-SXM");
    EXPECT_EQ(g.at("tpp").to_number<double>(), 15832);
    EXPECT_EQ(o.at("gpus").as_array().at(1).at("chip"), "MI300X");
}

TEST_F(GpuInventory, SysfsRootThatCannotBeReadIsAnError) {
    auto inv = read_sysfs_inventory(dir_.path() / "no-such-dir");
    ASSERT_FALSE(inv.ok());
    EXPECT_NE(inv.err().message.find((dir_.path() / "no-such-dir").string()), std::string::npos) << inv.err().message;
}

TEST_F(GpuInventory, ToJsonNamesTheChipOrUnknown) {
    gpu_inventory inv;
    inv.source = "nvml";
    inv.driver_version = "550.54.15";
    gpu_info known;
    known.uuid = "GPU-a";
    known.serial = "1654922006536";
    known.name = "NVIDIA H100 80GB HBM3";
    known.board_part_number = "692-2G520-0200-000";
    known.pci_bus_id = "00000000:18:00.0";
    known.utilization_gpu = 40;
    known.energy_mj = 99;
    gpu_info near = known;
    near.serial = "1654922006537";
    near.name = "NVIDIA H100 80GB HBM3e";  // not in the table, however close
    near.utilization_gpu.reset();
    near.energy_mj.reset();
    inv.gpus = {known, near};

    const json::object o = inventory_to_json(inv, policy::chip_table::builtin());
    EXPECT_EQ(o.at("source"), "nvml");
    EXPECT_EQ(o.at("driver_version"), "550.54.15");
    EXPECT_FALSE(o.contains("note"));
    const json::array& gpus = o.at("gpus").as_array();
    ASSERT_EQ(gpus.size(), 2u);
    const json::object& a = gpus[0].as_object();
    EXPECT_EQ(a.at("uuid"), "GPU-a");
    EXPECT_EQ(a.at("serial"), "1654922006536");
    EXPECT_EQ(a.at("name"), "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(a.at("board_part_number"), "692-2G520-0200-000");
    EXPECT_EQ(a.at("pci_bus_id"), "00000000:18:00.0");
    EXPECT_EQ(a.at("chip"), "H100-SXM");
    EXPECT_EQ(a.at("tpp").to_number<double>(), 15832.0);
    EXPECT_EQ(a.at("utilization_gpu").to_number<unsigned>(), 40u);
    EXPECT_EQ(a.at("energy_mj").to_number<std::uint64_t>(), 99u);
    EXPECT_FALSE(a.contains("pci_vendor_id"));
    const json::object& b = gpus[1].as_object();
    EXPECT_EQ(b.at("chip"), "unknown");
    EXPECT_TRUE(b.at("tpp").is_null());
    EXPECT_TRUE(b.at("utilization_gpu").is_null());
    EXPECT_TRUE(b.at("energy_mj").is_null());

    // A chip the table knows without a TPP: its id, and tpp null.
    inv.gpus = {known};
    inv.gpus[0].name = "Ascend910D";
    const json::object d = inventory_to_json(inv, policy::chip_table::builtin());
    EXPECT_EQ(d.at("gpus").as_array()[0].as_object().at("chip"), "Ascend-910D");
    EXPECT_TRUE(d.at("gpus").as_array()[0].as_object().at("tpp").is_null());
}

// ---- The PCI view (issue 20): every accelerator on the bus, whatever vendor library is installed

TEST_F(GpuInventory, PciViewListsEveryDisplayControllerAndAcceleratorOfAnyVendor) {
    test::fake_sysfs t(dir_.path() / "sys2");
    t.h100("0000:18:00.0", 0).h100("0000:2a:00.0", 0);
    t.ascend_910b("0000:c1:00.0", 1);
    t.add("0000:c2:00.0", "1002", "74A1", "120000", -1, "1002", "74A1");  // uppercase in, lowercase out; no NUMA
    t.bmc_vga();
    t.add("0000:18:00.1", "10de", "22a3", "040300");  // audio: not listed
    t.bridge();
    auto pci = read_pci_functions(t.root());
    ASSERT_TRUE(pci.ok()) << pci.err().message;
    ASSERT_EQ(pci->size(), 5u);
    std::vector<std::string> buses;
    for (const auto& f : *pci) buses.push_back(f.bus);
    EXPECT_EQ(buses, (std::vector<std::string>{"0000:03:00.0", "0000:18:00.0", "0000:2a:00.0", "0000:c1:00.0", "0000:c2:00.0"}));
    const auto& bmc = (*pci)[0];
    EXPECT_EQ(bmc.vendor, "1a03");
    EXPECT_EQ(bmc.class_code, "030000");
    EXPECT_FALSE(bmc.numa_node.has_value());
    const auto& ascend = (*pci)[3];
    EXPECT_EQ(ascend.vendor, "19e5");
    EXPECT_EQ(ascend.device, "d802");
    EXPECT_EQ(ascend.subsystem_vendor, "19e5");
    EXPECT_EQ(ascend.subsystem_device, "0100");
    EXPECT_EQ(ascend.class_code, "120000");
    EXPECT_EQ(ascend.numa_node, 1);
    const auto& amd = (*pci)[4];
    EXPECT_EQ(amd.device, "74a1");
    EXPECT_EQ(amd.subsystem_device, "74a1");
    EXPECT_FALSE(amd.numa_node.has_value());
}

TEST_F(GpuInventory, NvmlInventoryCarriesThePciViewAndToJsonReconcilesByBus) {
    write(two_gpus);  // H100 at 18:00.0, H20 at 2A:00.0
    test::fake_sysfs t(dir_.path() / "sys2");
    t.h100("0000:18:00.0").add("0000:2a:00.0", "10de", "2329", "030200");  // the H20's ids
    t.h100("0000:9a:00.0");                                                // on the bus, not in NVML
    t.ascend_910b("0000:c1:00.0").bmc_vga();
    auto r = inventory_reader::open(fake_nvml, t.root());
    ASSERT_TRUE(r.ok()) << r.err().message;
    auto inv = r->read();
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    EXPECT_EQ(inv->source, "nvml");
    EXPECT_EQ(inv->gpus.size(), 2u);
    ASSERT_EQ(inv->pci.size(), 5u);
    EXPECT_TRUE(inv->pci_error.empty());
    const json::object o = inventory_to_json(*inv, policy::chip_table::builtin());
    std::map<std::string, std::string> seen;
    for (const auto& x : o.at("pci").as_array()) {
        const auto& xo = x.as_object();
        seen[std::string(xo.at("bus").as_string())] = std::string(xo.at("chip").as_string()) + " nvml=" +
                                                       (xo.at("listed_by_nvml").as_bool() ? "yes" : "no") +
                                                       (xo.at("display_only").as_bool() ? " display" : "");
    }
    EXPECT_EQ(seen, (std::map<std::string, std::string>{{"0000:03:00.0", "display:aspeed-bmc nvml=no display"},
                                                         {"0000:18:00.0", "H100-SXM nvml=yes"},
                                                         {"0000:2a:00.0", "H20 nvml=yes"},
                                                         {"0000:9a:00.0", "H100-SXM nvml=no"},
                                                         {"0000:c1:00.0", "Ascend-910B nvml=no"}}));
}

TEST_F(GpuInventory, APciViewThatCannotBeReadIsReportedBesideNvmlNotFatal) {
    write(two_gpus);
    auto r = inventory_reader::open(fake_nvml, dir_.path() / "no-sysfs");
    ASSERT_TRUE(r.ok()) << r.err().message;
    auto inv = r->read();
    ASSERT_TRUE(inv.ok()) << inv.err().message;
    EXPECT_EQ(inv->gpus.size(), 2u);
    EXPECT_TRUE(inv->pci.empty());
    EXPECT_NE(inv->pci_error.find("no-sysfs"), std::string::npos) << inv->pci_error;
}

TEST_F(GpuInventory, APciFunctionWithoutItsIdsIsAnErrorNamingIt) {
    test::fake_sysfs t(dir_.path() / "sys2");
    t.h100("0000:18:00.0");
    fs::remove(t.devices() / "0000:18:00.0" / "device");
    auto pci = read_pci_functions(t.root());
    ASSERT_FALSE(pci.ok());
    EXPECT_NE(pci.err().message.find("0000:18:00.0"), std::string::npos) << pci.err().message;
    EXPECT_NE(pci.err().message.find("device id"), std::string::npos) << pci.err().message;
    // An entry that is not a PCI address is not silently skipped either.
    test::fake_sysfs u(dir_.path() / "sys3");
    fs::create_directories(u.devices() / "not-a-bus");
    auto bad = read_pci_functions(u.root());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("not-a-bus"), std::string::npos) << bad.err().message;
}

TEST_F(GpuInventory, AttestationReportsComeThroughNvmlForTheCallersNonce) {
    // The test GPU PKI on disk, as fake-gpu-ca writes it; the fake NVML signs a report per call.
    auto root = gpu_test_ca::make_root().value();
    auto g = gpu_test_ca::make_gpu(root, "1654922006536", bytes(48, 0x42)).value();
    const fs::path key = dir_.path() / "leaf.key", chain = dir_.path() / "chain.pem";
    std::ofstream(key) << gpu_test_ca::key_pem(g.leaf_key.get());
    std::ofstream(chain) << gpu_test_ca::chain_pem(g, root).value();
    json::value doc = json::parse(two_gpus);
    doc.at("gpus").as_array()[0].as_object()["attestation"] =
        json::object{{"key", key.string()}, {"chain", chain.string()}, {"fwid", to_hex(g.fwid)}};
    write(json::serialize(doc));
    auto n = nvml::open(fake_nvml);
    ASSERT_TRUE(n.ok()) << n.err().message;
    const bytes nonce(32, 0x7e);
    auto a = (*n)->attest("00000000:18:00.0", nonce);
    ASSERT_TRUE(a.ok()) << a.err().message;
    auto v = attest::verify_gpu_attestation(a->report, a->chain, nonce, gpu_test_ca::cert_pem(root.cert.get()));
    ASSERT_TRUE(v.ok()) << v.err().message;
    EXPECT_EQ(v->fwid, to_hex(g.fwid));
    // The second GPU has confidential computing off: NVML answers NOT_SUPPORTED, named.
    auto off = (*n)->attest("00000000:2A:00.0", nonce);
    ASSERT_FALSE(off.ok());
    EXPECT_EQ(off.err().code, errc::unsupported);
    EXPECT_NE(off.err().message.find("nvmlDeviceGetConfComputeGpuAttestationReport"), std::string::npos) << off.err().message;
    // No GPU at that address.
    EXPECT_FALSE((*n)->attest("00000000:99:00.0", nonce).ok());
}

}  // namespace
}  // namespace custos::agent
