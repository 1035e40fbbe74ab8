// `custos gpu verify-report`: NVIDIA's own H100 samples verify offline (hex text and raw bytes), the
// identity and measurements are printed, a wrong nonce or a changed byte is exit 1 naming the step, and
// unreadable input is exit 2.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "attest/gpu_attestation.hpp"
#include "tests/support/cli_runner.hpp"
#include "tests/support/process.hpp"

namespace custos {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::run_cli;

const fs::path samples = fs::path(CUSTOS_TEST_DATA_DIR) / "nvidia-gpu";

std::string nonce_of(const std::string& sample) {
    std::ifstream in(samples / sample / "nonce.hex");
    std::string n;
    in >> n;
    return n;
}

class GpuVerifyReport : public ::testing::Test {
protected:
    test::temp_dir dir_{"custos-gpu-verify"};
    std::vector<std::string> args(const std::string& sample, const fs::path& report) {
        return {"gpu", "verify-report", "--report", report.string(), "--chain", (samples / sample / "chain.pem").string(),
                "--nonce", nonce_of(sample)};
    }
};

TEST_F(GpuVerifyReport, NvidiasSampleVerifiesAndPrintsItsIdentity) {
    auto r = run_cli(args("nvtrust_lgv_hopper", samples / "nvtrust_lgv_hopper" / "report.hex"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out.rfind("report: valid", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("GH100 A01 GSP BROM"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("measurements: 64 blocks"), std::string::npos) << r.out;
    auto j = run_cli([&] {
        auto a = args("nvtrust_lgv_hopper", samples / "nvtrust_lgv_hopper" / "report.hex");
        a.push_back("--json");
        return a;
    }());
    ASSERT_EQ(j.rc, 0) << j.err;
    const json::object o = json::parse(j.out).as_object();
    EXPECT_EQ(o.at("valid"), true);
    EXPECT_EQ(o.at("device_id").as_string().size(), 64u);
    EXPECT_EQ(o.at("measurements").as_array().size(), 64u);
    EXPECT_EQ(o.at("fwid_in_report"), true);
}

TEST_F(GpuVerifyReport, RawBytesAreReadToo) {
    std::ifstream in(samples / "nvtrust_lgv_hopper" / "report.hex");
    std::string hex;
    in >> hex;
    const bytes raw = from_hex(hex).value();
    const fs::path bin = dir_.path() / "report.bin";
    std::ofstream(bin, std::ios::binary).write(reinterpret_cast<const char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
    auto r = run_cli(args("nvtrust_lgv_hopper", bin));
    EXPECT_EQ(r.rc, 0) << r.err;
}

TEST_F(GpuVerifyReport, AChangedByteOrAnotherNonceIsInvalidNamingTheStep) {
    std::ifstream in(samples / "nvtrust_lgv_hopper" / "report.hex");
    std::string hex;
    in >> hex;
    hex[2 * 3000] = hex[2 * 3000] == '0' ? '1' : '0';  // inside the measurement record
    const fs::path changed = dir_.path() / "changed.hex";
    std::ofstream(changed) << hex << "\n";
    auto r = run_cli(args("nvtrust_lgv_hopper", changed));
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_NE(r.err.find("signature:"), std::string::npos) << r.err;
    auto a = args("nvtrust_lgv_hopper", samples / "nvtrust_lgv_hopper" / "report.hex");
    a.back() = nonce_of("nvtrust_lgv_2023");
    auto n = run_cli(a);
    EXPECT_EQ(n.rc, 1);
    EXPECT_NE(n.err.find("nonce:"), std::string::npos) << n.err;
    auto bad = run_cli(args("nvat_sample_hopper_invalidsig", samples / "nvat_sample_hopper_invalidsig" / "report.hex"));
    EXPECT_EQ(bad.rc, 1);
}

TEST_F(GpuVerifyReport, AnotherRootIsNotNvidias) {
    // The device's own chain ends in NVIDIA's root; pointing --root elsewhere fails the chain.
    const fs::path other = dir_.path() / "root.pem";
    std::ifstream in(samples / "nvtrust_lgv_hopper" / "chain.pem");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string chain = ss.str();
    std::ofstream(other) << chain.substr(0, chain.find("-----END CERTIFICATE-----") + 26);  // the leaf as "root"
    auto a = args("nvtrust_lgv_hopper", samples / "nvtrust_lgv_hopper" / "report.hex");
    a.insert(a.end(), {"--root", other.string()});
    auto r = run_cli(a);
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("chain:"), std::string::npos) << r.err;
}

TEST_F(GpuVerifyReport, BadInputIsExit2) {
    auto missing = run_cli(args("nvtrust_lgv_hopper", dir_.path() / "nope.hex"));
    EXPECT_EQ(missing.rc, 2);
    EXPECT_NE(missing.err.find("nope.hex"), std::string::npos) << missing.err;
    auto a = args("nvtrust_lgv_hopper", samples / "nvtrust_lgv_hopper" / "report.hex");
    a.back() = "abcd";
    auto n = run_cli(a);
    EXPECT_EQ(n.rc, 2);
    EXPECT_NE(n.err.find("--nonce"), std::string::npos) << n.err;
}

}  // namespace
}  // namespace custos
