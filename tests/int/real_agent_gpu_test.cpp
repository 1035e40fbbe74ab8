// The real custos-agent with the fake NVML and a hand-made sysfs tree, against the real custos-verifier:
// two H100s that sign attestation reports with the test GPU PKI (the verifier's [gpu] attestation_root),
// and a Huawei Ascend 910B only the PCI bus shows. The verifier binds each attested GPU's hardware identity
// to its serial, catches the Ascend as prohibited-chip from its PCI ids, refuses a report under another
// GPU's chain, and sees a card NVML stops listing as accelerator-unreported.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/int/real_agent.hpp"
#include "tests/support/fake_sysfs.hpp"
#include "tools/fake-nvml/gpu_test_ca.hpp"

namespace custos::test {
namespace {

class RealAgentGpus : public RealAgent {
protected:
    void edit_config(const fs::path& toml) override {
        root_ = gpu_test_ca::make_root().value();
        std::ofstream(dir_.path() / "gpu-root.pem") << gpu_test_ca::cert_pem(root_.cert.get());
        rewrite(toml, {{"\nattestation_root = ''", "\nattestation_root = \"" + (dir_.path() / "gpu-root.pem").string() + "\""}});
        for (const char* s : {"1654922006536", "1654922006537"}) {
            auto g = gpu_test_ca::make_gpu(root_, s, bytes(48, static_cast<std::uint8_t>(s[12]))).value();
            std::ofstream(dir_.path() / (std::string(s) + ".key")) << gpu_test_ca::key_pem(g.leaf_key.get());
            std::ofstream(dir_.path() / (std::string(s) + ".chain.pem")) << gpu_test_ca::chain_pem(g, root_).value();
            fwid_[s] = to_hex(g.fwid);
        }
    }
    // The fake NVML's GPUs; `chain_of` maps a serial to the serial whose chain it presents.
    void put_nvml(const std::vector<std::string>& serials, const std::map<std::string, std::string>& chain_of = {}) {
        json::array gpus;
        const char* buses[] = {"18", "2A"};
        for (std::size_t i = 0; i < serials.size(); ++i) {
            const std::string& s = serials[i];
            const std::string chain = chain_of.count(s) ? chain_of.at(s) : s;
            gpus.push_back(json::object{
                {"uuid", "GPU-" + s}, {"serial", s}, {"name", "NVIDIA H100 80GB HBM3"}, {"board_part_number", "692-2G520-0200-000"},
                {"pci_bus_id", std::string("00000000:") + (s == "1654922006536" ? buses[0] : buses[1]) + ":00.0"},
                {"utilization_gpu", 50}, {"energy_mj", 1000},
                {"attestation", json::object{{"key", (dir_.path() / (s + ".key")).string()},
                                             {"chain", (dir_.path() / (chain + ".chain.pem")).string()},
                                             {"fwid", fwid_.at(s)}}}});
        }
        std::ofstream(dir_.path() / "nvml.json") << json::serialize(json::object{{"driver_version", "550.54.15"}, {"gpus", gpus}});
    }
    process_result agent() {
        return run_process({CUSTOS_AGENT_PATH, "--allow-root", "--once", "--host-id", "gpu-r", "--verifier-url", url_,
                            "--ca-file", (vdir_ / "ca/ca.pem").string(), "--state-dir", (dir_.path() / "agent").string(),
                            "--tcti", tpm_->tcti(), "--enroll-token", token_, "--nvml-lib", CUSTOS_FAKE_NVML_PATH,
                            "--sysfs-root", sysfs_.root().string()},
                           {{"CUSTOS_FAKE_NVML", (dir_.path() / "nvml.json").string()}});
    }
    std::string attestation_status(const std::string& serial) {
        const json::value g = get("/v1/gpus/" + serial);
        const auto* a = g.as_object().if_contains("attestation");
        return a && a->is_object() ? std::string(a->at("status").as_string()) : "none";
    }

    gpu_test_ca::authority root_;
    std::map<std::string, std::string> fwid_;
    fake_sysfs sysfs_{dir_.path() / "sys"};
};

TEST_F(RealAgentGpus, AttestedGpusAPciOnlyAscendAForgedReportAndAHiddenCard) {
    sysfs_.h100("0000:18:00.0").h100("0000:2a:00.0").ascend_910b("0000:c1:00.0").bmc_vga();
    put_nvml({"1654922006536", "1654922006537"});
    auto first = agent();
    ASSERT_EQ(first.exit_code, 0) << first.err;
    for (auto args : std::vector<std::vector<std::string>>{
             {"fleet", "entity", "add", "e1", "--hq", "KR", "--status", "uveu"},
             {"fleet", "site", "add", "s1", "--entity", "e1", "--country", "KR", "--lat", "37.5665", "--lon", "126.978", "--max-km", "50"},
             {"fleet", "approve", "gpu-r", "--site", "s1"}}) {
        auto r = cli(args);
        ASSERT_EQ(r.exit_code, 0) << args[1] << ": " << r.err;
    }
    // Approved: the next report carries the inventory and its PCI view, the rounds each GPU's report (from
    // the round after the inventory that lists it).
    auto second = agent();
    ASSERT_EQ(second.exit_code, 0) << second.err;
    second = agent();
    ASSERT_EQ(second.exit_code, 0) << second.err;
    ASSERT_TRUE(wait_until([&] { return attestation_status("1654922006536") == "valid"; }, 20s)) << second.err << json::serialize(get("/v1/gpus/1654922006536")) << json::serialize(get("/v1/findings?host=gpu-r"));
    EXPECT_EQ(attestation_status("1654922006537"), "valid");
    const json::value g = get("/v1/gpus/1654922006536");
    EXPECT_EQ(g.at("attestation").at("device_id").as_string().size(), 64u);
    EXPECT_EQ(g.at("attestation").at("fwid"), json::value(fwid_.at("1654922006536")));
    ASSERT_TRUE(wait_until([&] {
        const auto rules = open_rules();
        return std::find(rules.begin(), rules.end(), "prohibited-chip") != rules.end();
    }, 20s));

    // GPU 37's report now comes under GPU 36's chain: the signature does not verify with that key.
    put_nvml({"1654922006536", "1654922006537"}, {{"1654922006537", "1654922006536"}});
    auto third = agent();
    ASSERT_EQ(third.exit_code, 0) << third.err;
    EXPECT_EQ(attestation_status("1654922006537"), "invalid");
    const json::value forged = get("/v1/findings?host=gpu-r&rule=gpu-attestation-invalid&open=1");
    ASSERT_EQ(forged.at("findings").as_array().size(), 1u);
    EXPECT_NE(std::string(forged.at("findings").as_array()[0].at("detail").as_string()).find("signature"), std::string::npos);

    // NVML stops listing GPU 37 while its card stays on the bus.
    put_nvml({"1654922006536"});
    auto fourth = agent();
    ASSERT_EQ(fourth.exit_code, 0) << fourth.err;
    const auto rules = open_rules();
    EXPECT_NE(std::find(rules.begin(), rules.end(), "accelerator-unreported"), rules.end());
}

}  // namespace
}  // namespace custos::test
