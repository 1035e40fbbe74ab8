// attest/report_ext: encode → parse round trip, `{}` as the empty ext, and the strict parser's refusals,
// each naming the field.
#include "attest/report_ext.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cmath>
#include <string>

namespace custos::attest {
namespace {

namespace json = boost::json;

report_ext full() {
    report_ext e;
    e.inventory_source = "nvml";
    e.driver_version = "550.54.15";
    gpu_report a;
    a.serial = "1654922006536";
    a.uuid = "GPU-5c1e8f3a-93d4-2b8e-1f0a-0c6c2f1d9e01";
    a.name = "NVIDIA H100 80GB HBM3";
    a.chip = "H100-SXM";
    a.pci_bus_id = "00000000:18:00.0";
    a.util = 87;
    a.busy_s = 12345.678;
    a.tpp_s = 12345.678 * 15832;
    a.ops = 2.4431e19;
    a.energy_mj = 18446744073709551615ull;  // the largest the wire can carry
    gpu_report b;
    b.serial = "";
    b.uuid = "";
    b.name = "PCI 10de:2330";
    b.chip = "unknown";
    b.pci_bus_id = "0000:2a:00.0";
    b.util = std::nullopt;
    b.busy_s = 0;
    b.tpp_s = 0;
    b.ops = 0;
    b.energy_mj = 0;
    e.gpus = {a, b};
    e.models = {"llama-3-70b", "mistral-large-2407"};
    e.events = {{"key-release", "llama-3-70b", "lease 7f3a, peer uid 1001", 1764000000},
                {"weights-handout", "mistral-large-2407", "/srv/models/m/shard-00001.bin", -1}};
    return e;
}

TEST(ReportExt, RoundTripsAFullExt) {
    const report_ext e = full();
    const std::string text = encode_report_ext(e);
    auto p = parse_report_ext(text);
    ASSERT_TRUE(p.ok()) << p.err().message << "\n" << text;
    EXPECT_FALSE(p->empty());
    EXPECT_EQ(p->inventory_source, "nvml");
    EXPECT_EQ(p->driver_version, "550.54.15");
    EXPECT_EQ(p->inventory_error, "");
    ASSERT_EQ(p->gpus.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& x = p->gpus[i];
        const auto& y = e.gpus[i];
        EXPECT_EQ(x.serial, y.serial) << i;
        EXPECT_EQ(x.uuid, y.uuid) << i;
        EXPECT_EQ(x.name, y.name) << i;
        EXPECT_EQ(x.chip, y.chip) << i;
        EXPECT_EQ(x.pci_bus_id, y.pci_bus_id) << i;
        EXPECT_EQ(x.util, y.util) << i;
        EXPECT_EQ(x.busy_s, y.busy_s) << i;  // exactly: doubles survive the text form
        EXPECT_EQ(x.tpp_s, y.tpp_s) << i;
        EXPECT_EQ(x.ops, y.ops) << i;
        EXPECT_EQ(x.energy_mj, y.energy_mj) << i;
    }
    EXPECT_EQ(p->models, e.models);
    ASSERT_EQ(p->events.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(p->events[i].kind, e.events[i].kind);
        EXPECT_EQ(p->events[i].model, e.events[i].model);
        EXPECT_EQ(p->events[i].detail, e.events[i].detail);
        EXPECT_EQ(p->events[i].time, e.events[i].time);
    }
    // The encoding is stable: what parsed re-encodes to the same text.
    EXPECT_EQ(encode_report_ext(*p), text);

    // The wire shape, read with a plain JSON parser.
    const json::object o = json::parse(text).as_object();
    EXPECT_EQ(o.at("inventory").at("source"), "nvml");
    EXPECT_EQ(o.at("gpus").at(0).at("util"), 87);
    EXPECT_FALSE(o.at("gpus").at(1).as_object().contains("util"));
    EXPECT_EQ(o.at("models").at(1), "mistral-large-2407");
    EXPECT_EQ(o.at("events").at(0).at("time"), 1764000000);
}

// Counters decide compute-threshold verdicts: one ulp under 10^26 must read as under it, and every value
// must survive encode → parse bit for bit.
TEST(ReportExt, CountersReadExactly) {
    report_ext e = full();
    e.gpus[0].ops = std::nextafter(1e26, 0.0);
    e.gpus[0].tpp_s = 123456789.12345679;
    auto p = parse_report_ext(encode_report_ext(e));
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_LT(p->gpus[0].ops, 1e26);
    EXPECT_EQ(p->gpus[0].ops, e.gpus[0].ops);
    EXPECT_EQ(p->gpus[0].tpp_s, e.gpus[0].tpp_s);
    std::string text = encode_report_ext(full());
    const std::string from = "\"ops\":2.4431E19";
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, from.size(), "\"ops\":9.999999999999999e25");
    p = parse_report_ext(text);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_LT(p->gpus[0].ops, 1e26);
}

TEST(ReportExt, InventoryErrorWithoutSourceRoundTrips) {
    report_ext e;
    e.inventory_error = "NVML library libnvidia-ml.so.1: nvmlInit_v2 failed: Driver Not Loaded (9)";
    auto p = parse_report_ext(encode_report_ext(e));
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_FALSE(p->empty());
    EXPECT_EQ(p->inventory_source, "");
    EXPECT_EQ(p->inventory_error, e.inventory_error);
    EXPECT_TRUE(p->gpus.empty());
}

TEST(ReportExt, EmptyObjectIsTheEmptyExt) {
    auto p = parse_report_ext("{}");
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_TRUE(p->empty());
    EXPECT_TRUE(p->gpus.empty());
    EXPECT_EQ(encode_report_ext(report_ext{}), "{}");
    EXPECT_TRUE(parse_report_ext(" { } ").ok());
}

constexpr const char* gpu_ok =
    R"("serial":"S","uuid":"U","name":"NVIDIA H100","chip":"H100-SXM","pci_bus_id":"00000000:18:00.0","busy_s":1,"tpp_s":2,"ops":3,"energy_mj":4)";

std::string with_gpu(const std::string& extra_fields, const std::string& base = gpu_ok) {
    return R"({"inventory":{"source":"nvml","driver_version":"550"},"gpus":[{)" + base + extra_fields + "}]}";
}

std::string with_counter(const std::string& key, const std::string& value) {
    std::string g = gpu_ok;
    const std::string k = "\"" + key + "\":";
    const auto at = g.find(k);
    const auto end = g.find_first_of(",}", at + k.size());
    g.replace(at + k.size(), (end == std::string::npos ? g.size() : end) - (at + k.size()), value);
    return with_gpu("", g);
}

struct refusal {
    const char* what;
    std::string json;
    const char* names;  // the field the error must name
};

void expect_refused(const refusal& r) {
    auto p = parse_report_ext(r.json);
    ASSERT_FALSE(p.ok()) << r.what << ": " << r.json;
    EXPECT_NE(p.err().message.find(r.names), std::string::npos) << r.what << ": " << p.err().message;
    EXPECT_EQ(p.err().message.rfind("report ext", 0), 0u) << p.err().message;
}

TEST(ReportExt, BaseGpuParses) {
    auto p = parse_report_ext(with_gpu(""));
    ASSERT_TRUE(p.ok()) << p.err().message;
    ASSERT_EQ(p->gpus.size(), 1u);
    EXPECT_EQ(p->gpus[0].ops, 3);
    EXPECT_FALSE(p->gpus[0].util.has_value());
    auto u = parse_report_ext(with_gpu(R"(,"util":100)"));
    ASSERT_TRUE(u.ok()) << u.err().message;
    EXPECT_EQ(u->gpus[0].util, 100u);
}

TEST(ReportExt, RefusesNamingTheField) {
    std::string many = R"({"inventory":{"source":"nvml"},"gpus":[)";
    for (int i = 0; i < 257; ++i) many += std::string(i ? "," : "") + "{" + gpu_ok + "}";
    many += "]}";
    std::string exactly_256 = R"({"inventory":{"source":"nvml"},"gpus":[)";
    for (int i = 0; i < 256; ++i) exactly_256 += std::string(i ? "," : "") + "{" + gpu_ok + "}";
    exactly_256 += "]}";
    ASSERT_TRUE(parse_report_ext(exactly_256).ok());
    const std::string s256(256, 'x'), s257(257, 'x');
    ASSERT_TRUE(parse_report_ext(with_gpu("", std::string(gpu_ok).replace(std::string(gpu_ok).find("\"S\""), 3, "\"" + s256 + "\""))).ok());

    const refusal cases[] = {
        {"unknown top-level key", R"({"gpu":[]})", "\"gpu\""},
        {"unknown inventory key", R"({"inventory":{"source":"nvml","vendor":"x"},"gpus":[]})", "\"vendor\""},
        {"unknown gpu key", with_gpu(R"(,"temperature":40)"), "\"temperature\""},
        {"unknown event key", R"({"events":[{"kind":"key-release","model":"m","detail":"d","time":1,"peer":2}]})", "\"peer\""},
        {"inventory without gpus", R"({"inventory":{"source":"nvml"}})", "gpus"},
        {"gpus without inventory", R"({"gpus":[]})", "inventory"},
        {"source foo", R"({"inventory":{"source":"foo"},"gpus":[]})", "\"source\""},
        {"source missing", R"({"inventory":{"driver_version":"1"},"gpus":[]})", "\"source\""},
        {"source empty without error", R"({"inventory":{"source":""},"gpus":[]})", "\"source\""},
        {"util 101", with_gpu(R"(,"util":101)"), "\"util\""},
        {"util negative", with_gpu(R"(,"util":-1)"), "\"util\""},
        {"util fractional", with_gpu(R"(,"util":50.5)"), "\"util\""},
        {"negative busy_s", with_counter("busy_s", "-1"), "\"busy_s\""},
        {"negative tpp_s", with_counter("tpp_s", "-0.5"), "\"tpp_s\""},
        {"negative ops", with_counter("ops", "-3e15"), "\"ops\""},
        {"overflowing ops", with_counter("ops", "1e999"), "beyond the range of a double"},
        {"ops past 1e40", with_counter("ops", "1e41"), "\"ops\""},
        {"NaN busy_s", with_counter("busy_s", "NaN"), "JSON"},
        {"Infinity tpp_s", with_counter("tpp_s", "Infinity"), "JSON"},
        {"busy_s a string", with_counter("busy_s", "\"1\""), "\"busy_s\""},
        {"busy_s missing", with_gpu("", R"("serial":"S","uuid":"U","name":"N","chip":"c","pci_bus_id":"p","tpp_s":2,"ops":3,"energy_mj":4)"), "\"busy_s\""},
        {"negative energy", with_counter("energy_mj", "-4"), "\"energy_mj\""},
        {"fractional energy", with_counter("energy_mj", "4.5"), "\"energy_mj\""},
        {"257 GPUs", many, "\"gpus\""},
        {"257-character serial", with_gpu("", std::string(gpu_ok).replace(std::string(gpu_ok).find("\"S\""), 3, "\"" + s257 + "\"")),
         "\"serial\""},
        {"257-character driver version", R"({"inventory":{"source":"nvml","driver_version":")" + s257 + R"("},"gpus":[]})",
         "\"driver_version\""},
        {"257-character event detail", R"({"events":[{"kind":"k","model":"m","detail":")" + s257 + R"(","time":1}]})", "\"detail\""},
        {"257-character model id", R"({"models":[")" + s257 + R"("]})", "\"models\""},
        {"control character in a name", with_gpu("", std::string(gpu_ok).replace(std::string(gpu_ok).find("\"NVIDIA H100\""), 13, R"("NVIDIA\u0007H100")")),
         "\"name\""},
        {"newline in an event detail", R"({"events":[{"kind":"k","model":"m","detail":"a\nb","time":1}]})", "\"detail\""},
        {"control character in a model id", R"({"models":["llama\u001b[31m"]})", "\"models\""},
        {"model id not a string", R"({"models":[5]})", "\"models\""},
        {"empty model id", R"({"models":[""]})", "\"models\""},
        {"models not an array", R"({"models":"llama"})", "\"models\""},
        {"event time a string", R"({"events":[{"kind":"k","model":"m","detail":"d","time":"1"}]})", "\"time\""},
        {"event without kind", R"({"events":[{"model":"m","detail":"d","time":1}]})", "\"kind\""},
        {"gpu not an object", R"({"inventory":{"source":"nvml"},"gpus":[1]})", "gpus[0]"},
        {"duplicate key", R"({"models":["a"],"models":["b"]})", "duplicate"},
        {"not JSON", "{", "JSON"},
        {"not an object", "[]", "object"},
    };
    for (const auto& r : cases) expect_refused(r);
}

TEST(ReportExt, TooManyModelsAndEvents) {
    std::string models = R"({"models":[)", events = R"({"events":[)";
    for (int i = 0; i < 257; ++i) {
        models += std::string(i ? "," : "") + "\"m" + std::to_string(i) + "\"";
        events += std::string(i ? "," : "") + R"({"kind":"k","model":"m","detail":"d","time":1})";
    }
    expect_refused({"257 models", models + "]}", "\"models\""});
    expect_refused({"257 events", events + "]}", "\"events\""});
}

}  // namespace
}  // namespace custos::attest
