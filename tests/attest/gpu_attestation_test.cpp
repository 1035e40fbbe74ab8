// attest/gpu_attestation: real NVIDIA H100 reports (tests/data/nvidia-gpu, from NVIDIA's own repositories)
// verify against the pinned root with their published nonces, and every one-bit change of one fails; each
// step names itself when it fails; reports of the test PKI (tools/fake-nvml/gpu_test_ca) play the attacker:
// another root, the device's own root, a report signed by another GPU, a FWID that does not match.
#include "attest/gpu_attestation.hpp"

#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/digest.hpp"
#include "crypto/file_io.hpp"
#include "tools/fake-nvml/gpu_test_ca.hpp"

namespace custos::attest {
namespace {

namespace fs = std::filesystem;

struct sample {
    bytes report;
    std::string chain;
    bytes nonce;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

sample load(const std::string& name) {
    const fs::path dir = fs::path(CUSTOS_TEST_DATA_DIR) / "nvidia-gpu" / name;
    sample s;
    const std::string report = slurp(dir / "report.hex");
    auto r = decode_gpu_report(byte_view(reinterpret_cast<const std::uint8_t*>(report.data()), report.size()));
    EXPECT_TRUE(r.ok()) << name;
    s.report = *r;
    s.chain = slurp(dir / "chain.pem");
    std::string n = slurp(dir / "nonce.hex");
    while (!n.empty() && std::isspace(static_cast<unsigned char>(n.back()))) n.pop_back();
    s.nonce = from_hex(n).value();
    return s;
}

const char* const real_samples[] = {"nvtrust_lgv_hopper", "nvtrust_lgv_2023", "nvtrust_ppcie_gpu0", "nvat_unit_hopper",
                                    "nvat_sample_hopper"};

std::string step_of(const error& e) {
    const std::string prefix = "GPU attestation report: ";
    if (e.message.rfind(prefix, 0) != 0) return "?" + e.message;
    return e.message.substr(prefix.size(), e.message.find(':', prefix.size()) - prefix.size());
}

TEST(GpuAttestation, ThePinnedRootIsNvidiasDeviceIdentityCa) {
    const std::string_view pem = nvidia_device_root_pem();
    ossl::bio_ptr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    ossl::x509_ptr c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(c);
    unsigned char* der = nullptr;
    const int n = i2d_X509(c.get(), &der);
    ASSERT_GT(n, 0);
    const bytes fp = sha256(byte_view(der, static_cast<std::size_t>(n)));
    OPENSSL_free(der);
    // As published with NVIDIA's verifiers (and the last certificate of every sample chain).
    EXPECT_EQ(to_hex(fp), "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48");
}

TEST(GpuAttestation, RealH100ReportsVerifyWithTheirPublishedNonces) {
    for (const char* name : real_samples) {
        const sample s = load(name);
        auto a = verify_gpu_attestation(s.report, s.chain, s.nonce);
        ASSERT_TRUE(a.ok()) << name << ": " << a.err().message;
        EXPECT_EQ(a->hw_model, "GH100 A01 GSP BROM") << name;
        EXPECT_EQ(a->device_id.size(), 64u) << name;
        EXPECT_EQ(a->fwid.size(), 96u) << name;
        EXPECT_EQ(a->fwid_in_report, std::string(name) != "nvtrust_lgv_2023" && std::string(name) != "nvat_sample_hopper") << name;
        EXPECT_FALSE(a->driver_version.empty()) << name;
        EXPECT_EQ(a->vbios_version.size(), 14u) << name << " " << a->vbios_version;
        EXPECT_EQ(a->measurements.size(), 64u) << name;
        EXPECT_FALSE(a->ueid.empty()) << name;
    }
}

TEST(GpuAttestation, WhatTheSampleSaysIsRead) {
    const sample s = load("nvtrust_lgv_hopper");
    auto a = verify_gpu_attestation(s.report, s.chain, s.nonce);
    ASSERT_TRUE(a.ok()) << a.err().message;
    auto m = parse_spdm_measurements(s.report);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->blocks.size(), 64u);
    EXPECT_EQ(m->blocks.front().index, 1);
    EXPECT_EQ(m->blocks.back().index, 64);
    EXPECT_EQ(m->signature.size(), 96u);
    EXPECT_EQ(m->signed_size, s.report.size() - 96);
    EXPECT_EQ(to_hex(m->request_nonce), to_hex(s.nonce));
    // The same GPU (DeviceID) whatever firmware: two NVIDIA samples of one board share it.
    const sample other = load("nvat_sample_hopper");
    auto b = verify_gpu_attestation(other.report, other.chain, other.nonce);
    ASSERT_TRUE(b.ok()) << b.err().message;
    EXPECT_NE(a->device_id, "");
    EXPECT_NE(a->measurements_digest, b->measurements_digest);
}

TEST(GpuAttestation, NvidiasNegativeSampleFailsAtTheSignature) {
    const sample s = load("nvat_sample_hopper_invalidsig");
    auto a = verify_gpu_attestation(s.report, s.chain, s.nonce);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(step_of(a.err()), "signature") << a.err().message;
}

TEST(GpuAttestation, EveryOneBitChangeOfARealReportFails) {
    const sample s = load("nvtrust_lgv_hopper");
    ASSERT_TRUE(verify_gpu_attestation(s.report, s.chain, s.nonce).ok());
    // The chain is verified once (as the verifier caches it); each changed report goes through parse, nonce,
    // signature and FWID.
    auto chain = gpu_chain::verify(s.chain);
    ASSERT_TRUE(chain.ok()) << chain.err().message;
    std::size_t passed = 0;
    for (std::size_t i = 0; i < s.report.size(); ++i)
        for (int bit = 0; bit < 8; ++bit) {
            bytes r = s.report;
            r[i] ^= static_cast<std::uint8_t>(1u << bit);
            if (chain->check(r, s.nonce).ok()) {
                ++passed;
                ADD_FAILURE() << "byte " << i << " bit " << bit << " changed and the report still verifies";
            }
        }
    EXPECT_EQ(passed, 0u);
}

TEST(GpuAttestation, EachStepNamesItself) {
    const sample s = load("nvtrust_lgv_hopper");
    // nonce: another round's
    bytes other = s.nonce;
    other[0] ^= 1;
    auto n = verify_gpu_attestation(s.report, s.chain, other);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(step_of(n.err()), "nonce") << n.err().message;
    // parse: cut short, trailing bytes
    auto t = verify_gpu_attestation(byte_view(s.report).first(s.report.size() - 1), s.chain, s.nonce);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(step_of(t.err()), "parse") << t.err().message;
    bytes longer = s.report;
    longer.push_back(0);
    auto l = verify_gpu_attestation(longer, s.chain, s.nonce);
    ASSERT_FALSE(l.ok());
    EXPECT_EQ(step_of(l.err()), "parse") << l.err().message;
    EXPECT_NE(l.err().message.find("follow the signature"), std::string::npos) << l.err().message;
    // chain: another GPU's chain (the signature would fail too, but the chain is fine: signature names it)
    const sample g = load("nvtrust_ppcie_gpu0");
    auto w = verify_gpu_attestation(s.report, g.chain, s.nonce);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(step_of(w.err()), "signature") << w.err().message;
    // chain: no chain at all, or one cut before NVIDIA's root
    auto none = verify_gpu_attestation(s.report, "not a certificate", s.nonce);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(step_of(none.err()), "chain") << none.err().message;
    const std::string leaf_only = s.chain.substr(0, s.chain.find("-----END CERTIFICATE-----") + 26);
    auto cut = verify_gpu_attestation(s.report, leaf_only, s.nonce);
    ASSERT_FALSE(cut.ok());
    EXPECT_EQ(step_of(cut.err()), "chain") << cut.err().message;
}

// ---- The test PKI plays the attacker.

class GpuAttestationForged : public ::testing::Test {
protected:
    void SetUp() override {
        auto r = gpu_test_ca::make_root();
        ASSERT_TRUE(r.ok()) << r.err().message;
        root_ = std::move(r).value();
        auto g = gpu_test_ca::make_gpu(root_, "1654922006536", bytes(48, 0xab));
        ASSERT_TRUE(g.ok()) << g.err().message;
        gpu_ = std::move(g).value();
        auto pem = gpu_test_ca::chain_pem(gpu_, root_);
        ASSERT_TRUE(pem.ok());
        chain_ = *pem;
        root_pem_ = gpu_test_ca::cert_pem(root_.cert.get());
        fields_.nonce = bytes(32, 0x5a);
        fields_.fwid = gpu_.fwid;
        for (int i = 0; i < 8; ++i) fields_.measurements.push_back(bytes(48, static_cast<std::uint8_t>(i)));
    }
    bytes report() { return gpu_test_ca::make_report(gpu_.leaf_key.get(), fields_).value(); }

    gpu_test_ca::authority root_;
    gpu_test_ca::gpu gpu_;
    std::string chain_, root_pem_;
    gpu_test_ca::report_fields fields_;
};

TEST_F(GpuAttestationForged, AReportOfTheTestPkiVerifiesOnlyAgainstItsRoot) {
    const bytes r = report();
    auto ok = verify_gpu_attestation(r, chain_, fields_.nonce, root_pem_);
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->fwid, to_hex(gpu_.fwid));
    EXPECT_EQ(ok->driver_version, "550.54.15");
    EXPECT_EQ(ok->vbios_version, "96.00.9F.00.01");
    EXPECT_EQ(ok->project, "G520");
    EXPECT_EQ(ok->mode, "spt");
    EXPECT_EQ(ok->measurements.size(), 8u);
    // The device's chain ends in its own root: the pinned NVIDIA root is what counts.
    auto pinned = verify_gpu_attestation(r, chain_, fields_.nonce);
    ASSERT_FALSE(pinned.ok());
    EXPECT_EQ(step_of(pinned.err()), "chain") << pinned.err().message;
}

TEST_F(GpuAttestationForged, AFirmwareUpdateKeepsTheDeviceIdentity) {
    auto a = verify_gpu_attestation(report(), chain_, fields_.nonce, root_pem_);
    ASSERT_TRUE(a.ok());
    auto updated = gpu_test_ca::reissue_leaf(root_, std::move(gpu_), bytes(48, 0xcd));
    ASSERT_TRUE(updated.ok());
    gpu_ = std::move(updated).value();
    fields_.fwid = gpu_.fwid;
    auto b = verify_gpu_attestation(report(), gpu_test_ca::chain_pem(gpu_, root_).value(), fields_.nonce, root_pem_);
    ASSERT_TRUE(b.ok()) << b.err().message;
    EXPECT_EQ(a->device_id, b->device_id);
    EXPECT_NE(a->fwid, b->fwid);
    EXPECT_NE(a->ueid, b->ueid);
}

TEST_F(GpuAttestationForged, AFwidOtherThanTheCertificatesFails) {
    fields_.fwid = bytes(48, 0x01);
    auto a = verify_gpu_attestation(report(), chain_, fields_.nonce, root_pem_);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(step_of(a.err()), "fwid") << a.err().message;
    // Older firmware writes no FWID into its reports: the certificate's stands, and the result says so.
    fields_.fwid.clear();
    auto b = verify_gpu_attestation(report(), chain_, fields_.nonce, root_pem_);
    ASSERT_TRUE(b.ok()) << b.err().message;
    EXPECT_FALSE(b->fwid_in_report);
    EXPECT_EQ(b->fwid, to_hex(gpu_.fwid));
}

TEST_F(GpuAttestationForged, AnotherGpusKeyCannotSignForThisOne) {
    auto other = gpu_test_ca::make_gpu(root_, "other", bytes(48, 0xab));
    ASSERT_TRUE(other.ok());
    const bytes r = gpu_test_ca::make_report(other->leaf_key.get(), fields_).value();
    auto a = verify_gpu_attestation(r, chain_, fields_.nonce, root_pem_);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(step_of(a.err()), "signature") << a.err().message;
}

TEST_F(GpuAttestationForged, AChainWithoutADeviceIdCertificateIsRefused) {
    // The attacker signs a leaf directly under the root: no DeviceID between them.
    const std::string pem = chain_.substr(0, chain_.find("-----END CERTIFICATE-----") + 26);
    auto a = verify_gpu_attestation(report(), pem, fields_.nonce, root_pem_);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(step_of(a.err()), "chain") << a.err().message;
}

TEST(GpuAttestationParse, StructureErrorsNameTheField) {
    auto empty = parse_spdm_measurements(bytes{});
    ASSERT_FALSE(empty.ok());
    EXPECT_NE(empty.err().message.find("too short"), std::string::npos);
    bytes huge(max_gpu_report_size + 1, 0);
    auto h = parse_spdm_measurements(huge);
    ASSERT_FALSE(h.ok());
    EXPECT_NE(h.err().message.find("8192"), std::string::npos) << h.err().message;
    const sample s = load("nvtrust_lgv_hopper");
    bytes wrong_code = s.report;
    wrong_code[38] = 0x61;
    auto c = parse_spdm_measurements(wrong_code);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.err().message.find("MEASUREMENTS"), std::string::npos) << c.err().message;
    bytes more_blocks = s.report;
    more_blocks[41] = 65;  // one block more than the record holds
    auto m = parse_spdm_measurements(more_blocks);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("block"), std::string::npos) << m.err().message;
}

TEST(GpuAttestationParse, HexTextAndRawBytesAreBothReports) {
    const bytes raw = {0x11, 0xe0, 0x01};
    const std::string hex = "11e0\n01 \n";
    EXPECT_EQ(decode_gpu_report(byte_view(reinterpret_cast<const std::uint8_t*>(hex.data()), hex.size())).value(), raw);
    EXPECT_EQ(decode_gpu_report(raw).value(), raw);
    const std::string odd = "11e";
    EXPECT_FALSE(decode_gpu_report(byte_view(reinterpret_cast<const std::uint8_t*>(odd.data()), odd.size())).ok());
}

}  // namespace
}  // namespace custos::attest
