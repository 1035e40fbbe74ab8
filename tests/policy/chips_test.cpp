// policy/chips: the built-in table against shared/reference/export-controls.md, 3A090.a, exact name
// matching, and the strict parser's refusals (each naming the file and line).
#include "policy/chips.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <string>

#include "tests/support/process.hpp"

namespace custos::policy {
namespace {

const chip& must(const chip_table& t, std::string_view id) {
    const chip* c = t.by_id(id);
    if (!c) throw std::runtime_error("no chip " + std::string(id));
    return *c;
}

TEST(ChipTable, BuiltinParsesAndIsTheSourceFile) {
    // builtin() aborts on a table that does not parse; parsing the checked-in file says why instead.
    auto from_file = chip_table::load(std::string(CUSTOS_SOURCE_DIR) + "/policy/chips.toml");
    ASSERT_TRUE(from_file.ok()) << from_file.err().message;
    const chip_table& b = chip_table::builtin();
    ASSERT_EQ(b.chips().size(), from_file->chips().size());
    EXPECT_GE(b.chips().size(), 13u);  // the reference's rows; more may be added
    for (const auto& c : b.chips()) {
        EXPECT_FALSE(c.id.empty());
        EXPECT_NE(c.id, "unknown");
        EXPECT_FALSE(c.vendor.empty()) << c.id;
        EXPECT_FALSE(c.names.empty() && c.pci_ids.empty()) << c.id << ": neither a name nor a PCI id identifies it";
        ASSERT_NE(from_file->by_id(c.id), nullptr) << c.id;
        EXPECT_EQ(from_file->by_id(c.id)->tpp, c.tpp) << c.id;
    }
}

// The reference's chip table (export-controls.md, "Chip table"), typed in here by hand.
TEST(ChipTable, EveryPublicTppFromTheReference) {
    const chip_table& t = chip_table::builtin();
    const std::vector<std::pair<const char*, double>> reference = {
        {"A100", 4992},     {"H100-SXM", 15832}, {"H100-PCIe", 12100}, {"H800", 15832},
        {"H200", 15832},    {"H20", 2368},       {"B200", 36000},      {"GB200", 40000},
        {"L40S", 5864},     {"MI300X", 20900},   {"Ascend-910C", 12800},
    };
    for (const auto& [id, tpp] : reference) {
        const chip* c = t.by_id(id);
        ASSERT_NE(c, nullptr) << id;
        ASSERT_TRUE(c->tpp.has_value()) << id;
        EXPECT_DOUBLE_EQ(*c->tpp, tpp) << id;
        EXPECT_TRUE(c->tpp_bits.has_value()) << id;
    }
    // 910B: the reference gives a range, ≈ 4,100–5,100.
    const chip& b = must(t, "Ascend-910B");
    ASSERT_TRUE(b.tpp.has_value());
    EXPECT_GE(*b.tpp, 4100);
    EXPECT_LE(*b.tpp, 5100);
    // 910D: no public figure, so none is recorded (never guessed).
    const chip& d = must(t, "Ascend-910D");
    EXPECT_FALSE(d.tpp.has_value());
    EXPECT_FALSE(d.tpp_bits.has_value());
    EXPECT_FALSE(d.pd.has_value());
    EXPECT_FALSE(d.peak_ops_per_s().has_value());
    // MI325X shares MI300X's row.
    const chip* mi325 = t.by_name("AMD Instinct MI325X");
    ASSERT_NE(mi325, nullptr);
    EXPECT_EQ(mi325->id, "MI300X");
}

TEST(ChipTable, PerformanceDensityIsTppOverDieArea) {
    for (const auto& c : chip_table::builtin().chips()) {
        if (!c.tpp) continue;
        ASSERT_TRUE(c.die_mm2 && c.pd) << c.id;
        EXPECT_NEAR(*c.pd, *c.tpp / *c.die_mm2, 0.01) << c.id;
    }
    // The reference's own PD figures.
    EXPECT_NEAR(*must(chip_table::builtin(), "H100-SXM").pd, 19.4, 0.1);
    EXPECT_NEAR(*must(chip_table::builtin(), "H20").pd, 2.9, 0.05);
}

TEST(ChipTable, HuaweiAscendProhibitedUnderTheMay2025Guidance) {
    const chip_table& t = chip_table::builtin();
    for (const char* id : {"Ascend-910B", "Ascend-910C", "Ascend-910D"}) {
        const chip& c = must(t, id);
        EXPECT_EQ(c.vendor, "Huawei") << id;
        EXPECT_NE(std::find(c.prohibited_in.begin(), c.prohibited_in.end(), "bis-guidance-2025-05"), c.prohibited_in.end())
            << id;
    }
    // Nothing else is prohibited everywhere by that profile.
    for (const auto& c : t.chips()) {
        if (c.vendor != "Huawei") {
            EXPECT_TRUE(c.prohibited_in.empty()) << c.id;
        }
    }
    EXPECT_EQ(t.by_name("Ascend910B")->id, "Ascend-910B");
    EXPECT_EQ(t.by_name("Ascend 910C")->id, "Ascend-910C");
    EXPECT_EQ(t.by_name("Ascend910D")->id, "Ascend-910D");
}

TEST(ChipTable, PeakOpsIsTppOverBitsTimes1e12) {
    const chip_table& t = chip_table::builtin();
    // H100 SXM: 15832 TPP at 8 bits → 1979 × 10^12 ops/s.
    EXPECT_DOUBLE_EQ(*must(t, "H100-SXM").peak_ops_per_s(), 1979e12);
    // A100: 4992 at 16 bits → 312 × 10^12.
    EXPECT_DOUBLE_EQ(*must(t, "A100").peak_ops_per_s(), 312e12);
    // B200: 36000 at 4 bits → 9000 × 10^12.
    EXPECT_DOUBLE_EQ(*must(t, "B200").peak_ops_per_s(), 9000e12);
    EXPECT_DOUBLE_EQ(*must(t, "H20").peak_ops_per_s(), 296e12);
}

TEST(ChipTable, Controlled3A090a) {
    const chip_table& t = chip_table::builtin();
    EXPECT_TRUE(must(t, "A100").controlled());      // 4992 ≥ 4800
    EXPECT_TRUE(must(t, "H100-SXM").controlled());
    EXPECT_TRUE(must(t, "H100-PCIe").controlled());
    EXPECT_TRUE(must(t, "H200").controlled());
    EXPECT_TRUE(must(t, "Ascend-910B").controlled());
    EXPECT_FALSE(must(t, "H20").controlled());      // 2368 ≥ 1600 but PD 2.91 < 5.92
    EXPECT_FALSE(must(t, "Ascend-910D").controlled());  // no TPP: not known to be

    // The thresholds themselves, on hand-made chips.
    auto c = [](std::optional<double> tpp, std::optional<double> pd) {
        chip x;
        x.id = "x";
        x.tpp = tpp;
        x.tpp_bits = 8;
        x.pd = pd;
        return x.controlled();
    };
    EXPECT_TRUE(c(4800, std::nullopt));
    EXPECT_FALSE(c(4799, std::nullopt));
    EXPECT_TRUE(c(4799, 5.92));
    EXPECT_TRUE(c(1600, 5.92));
    EXPECT_FALSE(c(1600, 5.91));
    EXPECT_FALSE(c(1599, 100));
    EXPECT_FALSE(c(std::nullopt, 100));
}

TEST(ChipTable, ByNameIsExact) {
    const chip_table& t = chip_table::builtin();
    ASSERT_NE(t.by_name("NVIDIA H100 80GB HBM3"), nullptr);
    EXPECT_EQ(t.by_name("NVIDIA H100 80GB HBM3")->id, "H100-SXM");
    EXPECT_EQ(t.by_name("NVIDIA H20")->id, "H20");
    EXPECT_EQ(t.by_name("NVIDIA H200")->id, "H200");
    EXPECT_EQ(t.by_name("NVIDIA A100-SXM4-80GB")->id, "A100");
    // Near names are not the chip.
    for (const char* near : {"NVIDIA H100 80GB HBM3 ", " NVIDIA H100 80GB HBM3", "nvidia h100 80gb hbm3", "NVIDIA H100 80GB",
                             "NVIDIA H10", "NVIDIA H2", "H100", "NVIDIA A100", "Ascend910", "NVIDIA H100 80GB HBM3e", ""})
        EXPECT_EQ(t.by_name(near), nullptr) << '"' << near << '"';
    EXPECT_EQ(t.by_id("h100-sxm"), nullptr);
    EXPECT_EQ(t.by_id("unknown"), nullptr);
}

// PCI ids name the chip family without a vendor library: the ids come from pci.ids (cited in the file).
TEST(ChipTable, ByPciNamesTheChipFromVendorAndDeviceIds) {
    const chip_table& t = chip_table::builtin();
    const std::vector<std::pair<std::pair<const char*, const char*>, const char*>> known{
        {{"10de", "2330"}, "H100-SXM"}, {{"0x10de", "0x2331"}, "H100-PCIe"}, {{"10DE", "2335"}, "H200"},
        {{"10de", "20b2"}, "A100"},     {{"10de", "2324"}, "H800"},       {{"10de", "2329"}, "H20"},
        {{"10de", "2901"}, "B200"},     {{"10de", "26b9"}, "L40S"},       {{"1002", "74a1"}, "MI300X"},
        {{"19e5", "d802"}, "Ascend-910B"}, {{"19e5", "d803"}, "Ascend-910C"}};
    for (const auto& [ids, chip] : known) {
        const auto* c = t.by_pci(ids.first, ids.second);
        ASSERT_NE(c, nullptr) << ids.first << ":" << ids.second;
        EXPECT_EQ(c->id, chip) << ids.first << ":" << ids.second;
    }
    // An NVSwitch, a GeForce card, another vendor's id for the same device number, malformed ids.
    for (const auto& [v, d] : std::vector<std::pair<const char*, const char*>>{
             {"10de", "22a3"}, {"10de", "2b85"}, {"1002", "2330"}, {"19e5", "d100"} /* Ascend 310: not in the table */, {"10de", "233"}, {"10de", "23300"}, {"10de", "zz30"}, {"", ""}})
        EXPECT_EQ(t.by_pci(v, d), nullptr) << v << ":" << d;
    // Every chip's ids are well formed and unique across the table (the parser refuses otherwise).
    std::size_t n = 0;
    for (const auto& c : t.chips()) n += c.pci_ids.size();
    EXPECT_GE(n, 20u);
}

TEST(ChipTable, ParsesAMinimalTable) {
    auto t = chip_table::parse(R"(
[[chip]]
id = "X1"
vendor = "V"
tpp = 2000
tpp_bits = 16
die_mm2 = 300
pd = 6.67
names = ["V X1", "V X1 PCIe"]
prohibited_in = ["p"]

[[chip]]
id = "X2"
names = ["V X2"]
)",
                               "mini.toml");
    ASSERT_TRUE(t.ok()) << t.err().message;
    ASSERT_EQ(t->chips().size(), 2u);
    const chip& x1 = t->chips()[0];
    EXPECT_EQ(x1.id, "X1");
    EXPECT_EQ(x1.vendor, "V");
    EXPECT_EQ(x1.tpp, 2000.0);
    EXPECT_EQ(x1.tpp_bits, 16u);
    EXPECT_EQ(x1.die_mm2, 300.0);
    EXPECT_EQ(x1.pd, 6.67);
    EXPECT_EQ(x1.names, (std::vector<std::string>{"V X1", "V X1 PCIe"}));
    EXPECT_EQ(x1.prohibited_in, std::vector<std::string>{"p"});
    EXPECT_TRUE(x1.controlled());
    EXPECT_DOUBLE_EQ(*x1.peak_ops_per_s(), 125e12);
    EXPECT_EQ(t->by_name("V X1 PCIe"), &t->chips()[0]);
    EXPECT_FALSE(t->chips()[1].tpp.has_value());
}

struct refusal {
    const char* what;
    const char* toml;
    const char* line;  // "bad.toml:N"
    const char* says;  // part of the message
};

class ChipTableRefuses : public ::testing::TestWithParam<refusal> {};

TEST_P(ChipTableRefuses, NamingFileAndLine) {
    const refusal& r = GetParam();
    auto t = chip_table::parse(r.toml, "bad.toml");
    ASSERT_FALSE(t.ok()) << r.what;
    EXPECT_EQ(t.err().code, errc::parse) << r.what;
    const std::string& m = t.err().message;
    EXPECT_EQ(m.rfind(r.line, 0), 0u) << r.what << ": " << m;
    EXPECT_NE(m.find(r.says), std::string::npos) << r.what << ": " << m;
}

INSTANTIATE_TEST_SUITE_P(
    Chip, ChipTableRefuses,
    ::testing::Values(
        refusal{"unknown key", "[[chip]]\nid = \"A\"\ncolour = \"red\"\n", "bad.toml:3:", "\"colour\" is not a chip field"},
        refusal{"duplicate id", "[[chip]]\nid = \"A\"\n\n[[chip]]\nid = \"A\"\n", "bad.toml:4:", "chip id \"A\" appears twice"},
        refusal{"name used by two chips", "[[chip]]\nid = \"A\"\nnames = [\"N\"]\n[[chip]]\nid = \"B\"\nnames = [\"M\", \"N\"]\n",
                "bad.toml:4:", "the name \"N\" belongs to two chips"},
        refusal{"tpp without tpp_bits", "[[chip]]\nid = \"A\"\ntpp = 100\n", "bad.toml:1:", "tpp and tpp_bits go together"},
        refusal{"tpp_bits without tpp", "[[chip]]\nid = \"A\"\ntpp_bits = 8\n", "bad.toml:1:", "tpp and tpp_bits go together"},
        refusal{"negative tpp", "[[chip]]\nid = \"A\"\ntpp = -5\ntpp_bits = 8\n", "bad.toml:3:", "tpp must be a positive number"},
        refusal{"zero die area", "[[chip]]\nid = \"A\"\ndie_mm2 = 0\n", "bad.toml:3:", "die_mm2 must be a positive number"},
        refusal{"infinite pd", "[[chip]]\nid = \"A\"\npd = inf\n", "bad.toml:3:", "pd must be a positive number"},
        refusal{"tpp as a string", "[[chip]]\nid = \"A\"\ntpp = \"4992\"\ntpp_bits = 8\n", "bad.toml:3:", "tpp must be a positive number"},
        refusal{"tpp_bits 7", "[[chip]]\nid = \"A\"\ntpp = 100\ntpp_bits = 7\n", "bad.toml:4:", "tpp_bits must be 4, 8, 16, 32 or 64"},
        refusal{"tpp_bits 8.0", "[[chip]]\nid = \"A\"\ntpp = 100\ntpp_bits = 8.0\n", "bad.toml:4:", "tpp_bits must be"},
        refusal{"id unknown", "[[chip]]\nid = \"B\"\n[[chip]]\nid = \"unknown\"\n", "bad.toml:3:", "\"unknown\" is reserved"},
        refusal{"no id", "[[chip]]\nvendor = \"V\"\n", "bad.toml:1:", "chip has no id"},
        refusal{"empty id", "[[chip]]\nid = \"\"\n", "bad.toml:2:", "id must be a non-empty string"},
        refusal{"names not strings", "[[chip]]\nid = \"A\"\nnames = [\"N\", 3]\n", "bad.toml:3:", "names must hold non-empty strings"},
        refusal{"pci id upper case", "[[chip]]\nid = \"A\"\npci_ids = [\"10DE:2330\"]\n", "bad.toml:3:", "is not \"vvvv:dddd\""},
        refusal{"pci id short", "[[chip]]\nid = \"A\"\npci_ids = [\"10de:233\"]\n", "bad.toml:3:", "is not \"vvvv:dddd\""},
        refusal{"pci id of two chips", "[[chip]]\nid = \"A\"\npci_ids = [\"10de:2330\"]\n[[chip]]\nid = \"B\"\npci_ids = [\"10de:2330\"]\n",
                "bad.toml:4:", "the PCI id 10de:2330 belongs to two chips"},
        refusal{"empty chip array", "# a comment\nchip = []\n", "bad.toml:2:", "no [[chip]] entries"},
        refusal{"chip not an array of tables", "\nchip = 5\n", "bad.toml:2:", "[[chip]]"},
        // Nothing to point at: the file alone is named.
        refusal{"no [[chip]]", "# nothing here\n", "bad.toml: ", "no [[chip]] entries"},
        refusal{"unknown top-level table", "[[chip]]\nid = \"A\"\n\n[gpu]\nid = \"B\"\n", "bad.toml:4:", "\"gpu\" is not a known table"},
        refusal{"bad TOML", "[[chip]]\nid = \"A\"\ntpp = = 3\n", "bad.toml:3:", ""},
        refusal{"duplicate key (TOML)", "[[chip]]\nid = \"A\"\nid = \"B\"\n", "bad.toml:3:", ""}),
    [](const ::testing::TestParamInfo<refusal>& i) {
        std::string n;
        for (char ch : std::string(i.param.what)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
        return n;
    });

TEST(ChipTable, LoadNamesTheFile) {
    test::temp_dir d("custos-chips");
    const auto bad = d.path() / "chips.toml";
    std::ofstream(bad) << "[[chip]]\nid = \"A\"\nwat = 1\n";
    auto t = chip_table::load(bad);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.err().message.rfind(bad.string() + ":3:", 0), 0u) << t.err().message;
    auto missing = chip_table::load(d.path() / "absent.toml");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.err().message.find((d.path() / "absent.toml").string()), std::string::npos) << missing.err().message;
}

TEST(ChipTable, DisplayOnlyFunctionsAreKnownAndNotChips) {
    const chip_table& t = chip_table::builtin();
    const display_device* bmc = t.display_only("0x1a03", "0x2000");
    ASSERT_NE(bmc, nullptr);
    EXPECT_EQ(bmc->id, "aspeed-bmc");
    EXPECT_EQ(t.by_pci("1a03", "2000"), nullptr);
    EXPECT_NE(t.display_only("1234", "1111"), nullptr);   // QEMU's standard VGA
    EXPECT_EQ(t.display_only("10de", "2330"), nullptr);   // an H100 is a chip
    EXPECT_EQ(t.by_pci("1da3", "1020")->id, "Gaudi2");
    EXPECT_EQ(t.by_pci("1002", "740c")->id, "MI250X");
    EXPECT_FALSE(t.by_pci("1da3", "1020")->tpp.has_value());  // no public figure: none, never a guess
}

TEST(ChipTable, DisplayEntriesAreStrict) {
    const std::string chip = "[[chip]]\nid = \"X\"\nvendor = \"V\"\nnames = [\"X\"]\npci_ids = [\"10de:2330\"]\n";
    auto ok = chip_table::parse(chip + "[[display]]\nid = \"bmc\"\nvendor = \"A\"\npci_ids = [\"1a03:2000\"]\n", "t.toml");
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->displays().size(), 1u);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"[[display]]\nid = \"bmc\"\nvendor = \"A\"\npci_ids = [\"10de:2330\"]\n", "belongs to two entries"},
        {"[[display]]\nid = \"bmc\"\nvendor = \"A\"\npci_ids = [\"1A03:2000\"]\n", "lowercase hex"},
        {"[[display]]\nid = \"bmc\"\nvendor = \"A\"\npci_ids = []\n", "non-empty"},
        {"[[display]]\nid = \"bmc\"\nvendor = \"A\"\npci_ids = [\"1a03:2000\"]\ntpp = 1\n", "not a display field"},
        {"[[display]]\nid = \"bmc\"\npci_ids = [\"1a03:2000\"]\n[[display]]\nid = \"bmc\"\npci_ids = [\"1a03:2001\"]\n", "appears twice"},
    };
    for (const auto& [text, why] : bad) {
        auto r = chip_table::parse(chip + text, "t.toml");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.err().message.find(why), std::string::npos) << r.err().message;
    }
}

}  // namespace
}  // namespace custos::policy
