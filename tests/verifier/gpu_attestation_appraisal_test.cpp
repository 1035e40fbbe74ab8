// verifier/gpu_attestation_appraisal on a real SQLite store with reports of the test GPU PKI
// (tools/fake-nvml/gpu_test_ca): a valid report binds the physical GPU to its serial; another GPU behind
// the serial, one GPU behind two serials, a forged report, a GPU that stops attesting and changed
// measurements are each caught; key release where attested GPUs are required names what is missing.
#include "verifier/gpu_attestation_appraisal.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/process.hpp"
#include "tools/fake-nvml/gpu_test_ca.hpp"
#include "verifier/alerts.hpp"
#include "verifier/findings.hpp"
#include "verifier/rounds/key_release.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace {

class GpuAttestationAppraisal : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = open_sqlite_store(dir_.path() / "v.db");
        ASSERT_TRUE(s.ok()) << s.err().message;
        db_ = std::move(s).value();
        auto tx = begin();
        for (const char* id : {"a", "b"}) {
            host_record h;
            h.id = id;
            h.state = "approved";
            h.site = "seoul-1";
            ASSERT_TRUE(tx->put_host(h).ok());
        }
        ASSERT_TRUE(tx->put_host_inventory({"a", "nvml", "550.54.15", "", {"s1", "s2"}, 0, true, {}}).ok());
        ASSERT_TRUE(tx->put_host_inventory({"b", "nvml", "550.54.15", "", {"s3"}, 0, true, {}}).ok());
        ASSERT_TRUE(tx->commit().ok());
        root_ = gpu_test_ca::make_root().value();
        for (int i = 0; i < 3; ++i) gpus_.push_back(gpu_test_ca::make_gpu(root_, "g" + std::to_string(i), bytes(48, static_cast<std::uint8_t>(0xa0 + i))).value());
        ctx_.gpu_root_pem = gpu_test_ca::cert_pem(root_.cert.get());
        ctx_.gpu_chains = std::make_shared<gpu_chain_cache>();
    }
    std::unique_ptr<store_tx> begin() { return std::move(db_->begin()).value(); }

    // GPU `g`'s evidence for `serial` in a round with `nonce`; `vbios` changes its measurements.
    attest::round_gpu_evidence evidence(std::size_t g, const std::string& serial, const bytes& nonce, std::uint8_t measure = 1) {
        gpu_test_ca::report_fields f;
        f.nonce = attest::gpu_round_nonce(nonce, serial);
        f.fwid = gpus_[g].fwid;
        f.measurements = {bytes(48, measure), bytes(48, 2)};
        attest::round_gpu_evidence e;
        e.serial = serial;
        e.pci_bus_id = "00000000:18:00.0";
        e.report = gpu_test_ca::make_report(gpus_[g].leaf_key.get(), f).value();
        e.chain = gpu_test_ca::chain_pem(gpus_[g], root_).value();
        return e;
    }
    std::vector<std::string> round(const std::string& host, std::vector<attest::round_gpu_evidence> gpus, const bytes& nonce) {
        auto tx = begin();
        host_record h = tx->get_host(host).value().value();
        attest::attest_request msg;
        msg.nonce = nonce;
        msg.gpus = std::move(gpus);
        std::vector<finding_record> raised;
        auto r = appraise_gpu_attestations(ctx_, *tx, h, msg, now_, raised);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
        EXPECT_TRUE(tx->commit().ok());
        now_ += 10;
        std::vector<std::string> out;
        for (const auto& f : raised) out.push_back(f.rule + "@" + f.host + ":" + f.subject);
        std::sort(out.begin(), out.end());
        return out;
    }
    gpu_attestation_record record(const std::string& serial) {
        auto tx = begin();
        return tx->get_gpu_attestation(serial).value().value();
    }
    std::string unattested(const std::string& host) {
        auto tx = begin();
        return unattested_gpus(*tx, host, now_, 60).value();
    }

    test::temp_dir dir_{"custos-gpu-att"};
    std::unique_ptr<store> db_;
    service_context ctx_;
    gpu_test_ca::authority root_;
    std::vector<gpu_test_ca::gpu> gpus_;
    std::int64_t now_ = 1'000'000;
    const bytes n1 = bytes(32, 1), n2 = bytes(32, 2), n3 = bytes(32, 3);
};

TEST_F(GpuAttestationAppraisal, ValidReportsBindEachPhysicalGpuToItsSerial) {
    EXPECT_EQ(unattested("a"), "s1 (no attestation report); s2 (no attestation report)");
    EXPECT_TRUE(round("a", {evidence(0, "s1", n1), evidence(1, "s2", n1)}, n1).empty());
    const auto r = record("s1");
    EXPECT_EQ(r.status, "valid");
    EXPECT_EQ(r.host_id, "a");
    EXPECT_EQ(r.device_id.size(), 64u);
    EXPECT_NE(r.device_id, record("s2").device_id);
    EXPECT_EQ(r.baseline_digest, r.measurements_digest);
    EXPECT_EQ(unattested("a"), "");
    EXPECT_TRUE(round("a", {evidence(0, "s1", n2), evidence(1, "s2", n2)}, n2).empty());
}

TEST_F(GpuAttestationAppraisal, AnotherGpuBehindASerialAndOneGpuBehindTwoSerialsAreIdentityMismatches) {
    round("a", {evidence(0, "s1", n1), evidence(1, "s2", n1)}, n1);
    // The card answering for s1 is now GPU 2: the serial was moved onto another card.
    EXPECT_EQ(round("a", {evidence(2, "s1", n2), evidence(1, "s2", n2)}, n2),
              (std::vector<std::string>{"gpu-identity-mismatch@a:s1"}));
    // Host b's s3 is answered by GPU 1, which answers for s2 on host a: one card, two serials.
    EXPECT_EQ(round("b", {evidence(1, "s3", n3)}, n3), (std::vector<std::string>{"gpu-identity-mismatch@b:s3"}));
}

TEST_F(GpuAttestationAppraisal, AForgedStaleOrUnlistedReportIsInvalid) {
    // Another round's report (its nonce names n1, the verifier asked n2).
    auto stale = evidence(0, "s1", n1);
    auto fs = round("a", {stale}, n2);
    EXPECT_EQ(fs, (std::vector<std::string>{"gpu-attestation-invalid@a:s1"}));
    EXPECT_EQ(record("s1").status, "invalid");
    EXPECT_NE(record("s1").error.find("nonce"), std::string::npos) << record("s1").error;
    // A report for s2 signed by GPU 1's key under GPU 0's chain.
    auto forged = evidence(1, "s2", n3);
    forged.chain = gpu_test_ca::chain_pem(gpus_[0], root_).value();
    EXPECT_EQ(round("a", {forged}, n3), (std::vector<std::string>{"gpu-attestation-invalid@a:s2"}));
    EXPECT_NE(record("s2").error.find("signature"), std::string::npos) << record("s2").error;
    // Evidence for a serial the host does not list is not looked at, nor stored.
    EXPECT_TRUE(round("a", {evidence(2, "s9", n1)}, n1).empty());
    EXPECT_FALSE(begin()->get_gpu_attestation("s9").value().has_value());
    EXPECT_NE(unattested("a").find("s1 (invalid"), std::string::npos) << unattested("a");
}

TEST_F(GpuAttestationAppraisal, AGpuThatAttestedAndNowGivesNoReportIsAFinding) {
    attest::round_gpu_evidence off;
    off.serial = "s1";
    off.pci_bus_id = "00000000:18:00.0";
    off.error = "NVML: nvmlDeviceGetConfComputeGpuAttestationReport: Not Supported (3)";
    // Never attested: it is simply unavailable.
    EXPECT_TRUE(round("a", {off}, n1).empty());
    EXPECT_EQ(record("s1").status, "unavailable");
    round("a", {evidence(0, "s1", n2)}, n2);
    // Attested before, none now: a downgrade.
    EXPECT_EQ(round("a", {off}, n3), (std::vector<std::string>{"gpu-attestation-invalid@a:s1"}));
}

TEST_F(GpuAttestationAppraisal, ARoundThatLeavesOutAnAttestedGpusEvidenceIsAFinding) {
    round("a", {evidence(0, "s1", n1), evidence(1, "s2", n1)}, n1);
    EXPECT_EQ(round("a", {evidence(0, "s1", n2)}, n2), (std::vector<std::string>{"gpu-attestation-invalid@a:s2"}));
    auto tx = begin();
    finding_filter f;
    f.rule = "gpu-attestation-invalid";
    const auto open = tx->list_findings(f).value();
    ASSERT_EQ(open.size(), 1u);
    EXPECT_NE(open[0].detail.find("carries no evidence"), std::string::npos) << open[0].detail;
}

TEST_F(GpuAttestationAppraisal, ChangedMeasurementsAreAFindingUntilTheOperatorApprovesThem) {
    round("a", {evidence(0, "s1", n1)}, n1);
    EXPECT_EQ(round("a", {evidence(0, "s1", n2, 7)}, n2), (std::vector<std::string>{"gpu-measurements-changed@a:s1"}));
    {
        auto tx = begin();
        ASSERT_TRUE(rebaseline_gpu_attestation(*tx, "a", "s1", now_).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    EXPECT_TRUE(round("a", {evidence(0, "s1", n3, 7)}, n3).empty());
}

TEST(GpuAttestationRelease, KeyReleaseWhereAttestedGpusAreRequiredNamesWhatIsMissing) {
    host_record h;
    h.id = "a";
    h.state = "approved";
    h.status = "affirming";
    h.site = "seoul-1";
    h.last_quote_at = 1000;
    model_record m;
    m.id = "llm-1";
    release_facts f;
    f.host = &h;
    f.model = &m;
    f.model_sites = {"seoul-1"};
    f.site = site_record{"seoul-1", "acme", "KR", 37.5, 127.0, 50};
    appraisal_record latest;
    latest.status = "affirming";
    latest.time = 1000;
    f.latest = latest;
    f.now = 1010;
    EXPECT_FALSE(release_denial(f).has_value());
    f.attested_gpus_required = true;
    f.unattested = "s2 (unavailable: NVML: Not Supported (3))";
    const auto why = release_denial(f);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("must be attested"), std::string::npos) << *why;
    EXPECT_NE(why->find("s2 (unavailable"), std::string::npos) << *why;
    f.unattested.clear();
    EXPECT_FALSE(release_denial(f).has_value());
}

}  // namespace
}  // namespace custos::verifier
