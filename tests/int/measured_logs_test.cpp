// Boot event logs and IMA lists against a real (software) TPM: measure-sim extends swtpm's PCRs and writes
// the logs; the replay equals what the TPM holds, tpm2_eventlog agrees, and every tampered log — an event
// edited, dropped, reordered or its digest swapped, an extension with no log entry, a truncated log — is
// refused or differs from the quote.
#include <gtest/gtest.h>

#include <fstream>

#include "attest/boot_appraisal.hpp"
#include "attest/ima_log.hpp"
#include "attest/runtime_policy.hpp"
#include "attest/tpm_device.hpp"
#include "crypto/file_io.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"

namespace custos::test {
namespace {

namespace fs = std::filesystem;
using namespace custos::attest;

const std::set<std::uint32_t> boot_pcrs = {0, 1, 2, 3, 4, 5, 6, 7};

class MeasuredLogs : public ::testing::Test {
protected:
    void SetUp() override {
        tpm_ = swtpm::start();
        ASSERT_TRUE(tpm_);
        dev_ = std::make_unique<tpm_device>(tpm_->tcti());
    }
    void sim(std::vector<std::string> args) {
        args.insert(args.begin(), CUSTOS_MEASURE_SIM_PATH);
        args.insert(args.begin() + 2, {"--tcti", tpm_->tcti()});
        auto r = run_process(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    pcr_values quoted(const std::string& sel) {
        auto s = parse_pcr_selection(sel);
        EXPECT_TRUE(s.ok());
        auto v = dev_->pcr_read(*s);
        EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.err().message);
        return v.ok() ? *v : pcr_values{};
    }
    fs::path file(const std::string& name, const std::string& content) {
        const fs::path p = tpm_->dir() / name;
        std::ofstream(p) << content;
        return p;
    }
    bytes load(const fs::path& p) {
        auto b = read_file(p, std::size_t(1) << 26);
        EXPECT_TRUE(b.ok()) << p;
        return b.ok() ? *b : bytes{};
    }
    std::unique_ptr<swtpm> tpm_;
    std::unique_ptr<tpm_device> dev_;
};

TEST_F(MeasuredLogs, TheBootLogReplaysToTheTpmsPcrsInEveryBankAndTpm2EventlogAgrees) {
    const fs::path log = tpm_->dir() / "boot.bin";
    sim({"boot", "--out", log.string()});
    auto parsed = parse_boot_log(load(log));
    ASSERT_TRUE(parsed.ok()) << parsed.err().message;
    const auto banks = replay_boot_log(*parsed);
    for (const char* sel : {"sha256:0,1,2,3,4,5,6,7", "sha1:0,1,2,3,4,5,6,7"}) {
        const auto q = quoted(sel);
        ASSERT_EQ(q.size(), 8u);
        const auto m = compare_replay(q, banks, boot_pcrs);
        EXPECT_TRUE(m.empty()) << sel << ": " << (m.empty() ? "" : describe(m[0]));
    }
    auto r = run_process({"tpm2_eventlog", log.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto q = quoted("sha256:4");
    EXPECT_NE(r.out.find("4  : 0x" + to_hex(q[0].digest)), std::string::npos) << r.out;
}

TEST_F(MeasuredLogs, EveryTamperedBootLogIsCaught) {
    const fs::path log = tpm_->dir() / "boot.bin";
    sim({"boot", "--out", log.string()});
    const auto q = quoted("sha256:0,1,2,3,4,5,6,7");
    const auto good = *parse_boot_log(load(log));
    ASSERT_TRUE(compare_replay(q, replay_boot_log(good), boot_pcrs).empty());
    auto rebuilt = [&](const std::vector<boot_event>& ev) {
        return replay_boot_log(*parse_boot_log(serialize_boot_log(good.algorithms, ev)));
    };
    // The last two events are shim and the kernel (PCR 4); event 2 is the SecureBoot variable (PCR 7).
    const std::size_t n = good.events.size();
    auto edited = good.events;
    edited[n - 1].digests[hash_alg::sha256][0] ^= 1;
    auto dropped = good.events;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(n - 1));
    auto reordered = good.events;
    std::swap(reordered[n - 1], reordered[n - 2]);
    auto swapped = good.events;
    std::swap(swapped[n - 1].digests, swapped[2].digests);
    for (const auto* ev : {&edited, &dropped, &reordered, &swapped}) EXPECT_FALSE(compare_replay(q, rebuilt(*ev), boot_pcrs).empty());

    // An extension the log does not record (a bootloader that measures something and hides it).
    ASSERT_TRUE(dev_->pcr_extend(4, {{hash_alg::sha256, bytes(32, 0x5a)}}).ok());
    const auto m = compare_replay(quoted("sha256:0,1,2,3,4,5,6,7"), replay_boot_log(good), boot_pcrs);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].pcr, 4u);

    // A truncated log is refused outright, never half-replayed.
    const bytes data = load(log);
    auto cut = parse_boot_log(byte_view(data).first(data.size() - 7));
    ASSERT_FALSE(cut.ok());
    EXPECT_NE(cut.err().message.find("truncated"), std::string::npos) << cut.err().message;
}

TEST_F(MeasuredLogs, AnotherKernelIsABootChangeNamingItsEvent) {
    const fs::path a = tpm_->dir() / "a.bin";
    sim({"boot", "--out", a.string()});
    const auto reference = boot_components(*parse_boot_log(load(a)));
    auto other = swtpm::start();
    ASSERT_TRUE(other);
    const fs::path b = tpm_->dir() / "b.bin";
    auto r = run_process({CUSTOS_MEASURE_SIM_PATH, "boot", "--tcti", other->tcti(), "--out", b.string(), "--kernel", "vmlinuz-evil"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto d = diff_boot(reference, boot_components(*parse_boot_log(load(b))));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].rfind("PCR 4 event 2 (EV_EFI_BOOT_SERVICES_APPLICATION): digest ", 0), 0u) << d[0];
}

TEST_F(MeasuredLogs, TheImaListReplaysToPcr10InBothBanksIncrementallyAndTheAllowListJudgesIt) {
    const fs::path list = tpm_->dir() / "ima.bin";
    sim({"boot", "--out", (tpm_->dir() / "boot.bin").string()});
    const fs::path agent = file("custos-agent", "agent build 1");
    sim({"ima", "--log", list.string(), "--file", agent.string(), "--as", "/usr/bin/custos-agent"});
    sim({"ima", "--log", list.string(), "--file", file("bash", "bash").string(), "--as", "/usr/bin/bash"});
    auto first = parse_ima_log(load(list));
    ASSERT_TRUE(first.ok()) << first.err().message;
    ASSERT_EQ(first->size(), 3u);
    EXPECT_EQ((*first)[0].path, "boot_aggregate");
    const auto state = replay_ima_log(*first);
    for (const char* sel : {"sha256:10", "sha1:10"}) EXPECT_TRUE(compare_replay(quoted(sel), state, {10}).empty()) << sel;

    // More files later: only the new entries, replayed from the previous values, match the TPM again.
    sim({"ima", "--log", list.string(), "--file", file("xmrig", "miner").string(), "--as", "/opt/xmrig"});
    sim({"ima", "--log", list.string(), "--file", file("patched", "agent build 1 + backdoor").string(), "--as", "/usr/bin/custos-agent",
         "--sig", "030204aabbccdd"});
    auto all = parse_ima_log(load(list));
    ASSERT_TRUE(all.ok()) << all.err().message;
    ASSERT_EQ(all->size(), 5u);
    const std::vector<ima_entry> added(all->begin() + 3, all->end());
    EXPECT_TRUE(compare_replay(quoted("sha256:10"), replay_ima_log(added, state), {10}).empty());
    EXPECT_FALSE(compare_replay(quoted("sha256:10"), state, {10}).empty()) << "the old values no longer match";

    runtime_policy p;
    p.entries.push_back({"/usr/bin/custos-agent", {sha256(as_bytes("agent build 1"))}, true});
    p.entries.push_back({"/usr/bin/bash", {sha256(as_bytes("bash"))}, false});
    EXPECT_TRUE(appraise_runtime(p, *first).empty());
    const auto f = appraise_runtime(p, added, 3);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].rule, "ima-unknown-file");
    EXPECT_EQ(f[0].path, "/opt/xmrig");
    EXPECT_EQ(f[1].rule, "agent-modified");
    EXPECT_EQ(f[1].entry, 4u);

    // An entry edited after the fact no longer matches its template hash, nor the TPM's SHA-256 bank; one
    // extended but left out of the list differs.
    bytes data = load(list);
    data[data.size() - 20] ^= 1;  // a character of the last entry's path
    auto edited = parse_ima_log(data);
    ASSERT_TRUE(edited.ok()) << edited.err().message;
    EXPECT_EQ(first_template_hash_mismatch(*edited), std::optional<std::size_t>(4));
    EXPECT_FALSE(compare_replay(quoted("sha256:10"), replay_ima_log(*edited), {10}).empty());
    ASSERT_TRUE(dev_->pcr_extend(10, {{hash_alg::sha256, bytes(32, 1)}}).ok());
    EXPECT_FALSE(compare_replay(quoted("sha256:10"), replay_ima_log(*all), {10}).empty());
}

TEST_F(MeasuredLogs, MeasureSimRefusesBadUsage) {
    auto r = run_process({CUSTOS_MEASURE_SIM_PATH, "boot"});
    EXPECT_EQ(r.exit_code, 2);
    r = run_process({CUSTOS_MEASURE_SIM_PATH, "ima", "--tcti", tpm_->tcti(), "--log", (tpm_->dir() / "l").string(), "--file",
                     (tpm_->dir() / "missing").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace custos::test
