// verifier/measurement_appraisal: boot log by replay and against the approval reference, IMA incrementally
// (the longest prefix meeting the quote, skipped re-sends, reboots) and against the allow-list.
#include "verifier/measurement_appraisal.hpp"

#include <gtest/gtest.h>

#include "attest/tpm_alg.hpp"

namespace custos::verifier {
namespace {

using namespace custos::attest;
const std::vector<hash_alg> both = {hash_alg::sha1, hash_alg::sha256};

std::vector<boot_event> boot(const std::string& kernel = "vmlinuz") {
    std::vector<boot_event> ev;
    ev.push_back(measured_event(0, ev_s_crtm_version, as_bytes("fw"), both));
    for (std::uint32_t pcr = 0; pcr < 8; ++pcr) ev.push_back(measured_event(pcr, ev_separator, bytes(4, 0), both));
    ev.push_back(measured_event(4, 0x80000003, as_bytes(kernel), both));
    return ev;
}

// A TPM's sha256 bank after `ev` and the IMA entries `ima` (computed here, not by the code under test).
pcr_values tpm(const std::vector<boot_event>& ev, const std::vector<ima_entry>& ima = {}) {
    pcr_values q;
    for (unsigned pcr : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 10u}) {
        bytes v(32, 0);
        for (const auto& e : ev)
            if (e.pcr == pcr) v = hasher(hash_alg::sha256).update(v).update(e.digests.at(hash_alg::sha256)).finish();
        if (pcr == 10)
            for (const auto& e : ima) v = hasher(hash_alg::sha256).update(v).update(sha256(e.template_data)).finish();
        q.push_back({TPM2_ALG_SHA256, pcr, v});
    }
    return q;
}

std::vector<ima_entry> files(const std::vector<std::string>& names) {
    std::vector<ima_entry> out;
    for (const auto& n : names) out.push_back(make_ima_entry(10, n, sha256(as_bytes("content of " + n))));
    return out;
}

runtime_policy allow(const std::vector<std::string>& names) {
    runtime_policy p;
    for (const auto& n : names) p.entries.push_back({n, {sha256(as_bytes("content of " + n))}, n == "/usr/bin/custos-agent"});
    return p;
}

std::vector<std::string> rules(const measurement_outcome& o) {
    std::vector<std::string> r;
    for (const auto& h : o.hits) r.push_back(h.rule);
    return r;
}

TEST(MeasurementAppraisal, AConsistentBootLogIsReplayedAndCapturedAsTheReferenceAtApproval) {
    const auto q = tpm(boot());
    measurement_input in;
    in.quoted = &q;
    in.boot_log = serialize_boot_log(both, boot());
    in.approved = true;
    const auto o = appraise_measurements({}, in);
    EXPECT_TRUE(o.hits.empty()) << o.hits[0].detail;
    EXPECT_EQ(o.replayed_pcrs, (std::set<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
    ASSERT_FALSE(o.next.boot_reference.empty());
    // Not approved: nothing captured.
    in.approved = false;
    EXPECT_TRUE(appraise_measurements({}, in).next.boot_reference.empty());

    // The next boot with another kernel: consistent with its quote, but not the approved boot.
    const auto q2 = tpm(boot("vmlinuz-evil"));
    measurement_input in2;
    in2.quoted = &q2;
    in2.boot_log = serialize_boot_log(both, boot("vmlinuz-evil"));
    const auto o2 = appraise_measurements(o.next, in2);
    ASSERT_EQ(rules(o2), std::vector<std::string>{"boot-changed"});
    EXPECT_NE(o2.hits[0].detail.find("PCR 4 event 1 (EV_EFI_BOOT_SERVICES_APPLICATION): digest"), std::string::npos) << o2.hits[0].detail;
    EXPECT_EQ(o2.next.boot_reference, o.next.boot_reference) << "the reference stays until the operator approves again";
}

TEST(MeasurementAppraisal, ABootLogThatDoesNotMatchTheQuoteOrDoesNotParseIsAMismatch) {
    const auto q = tpm(boot());
    measurement_input in;
    in.quoted = &q;
    in.approved = true;
    in.boot_log = serialize_boot_log(both, boot("vmlinuz-evil"));  // lies about the kernel
    auto o = appraise_measurements({}, in);
    ASSERT_EQ(rules(o), std::vector<std::string>{"event-log-mismatch"});
    EXPECT_NE(o.hits[0].detail.find("sha256 PCR 4 is "), std::string::npos) << o.hits[0].detail;
    EXPECT_TRUE(o.next.boot_reference.empty()) << "no reference from a log that does not match";
    in.boot_log = bytes{1, 2, 3};
    o = appraise_measurements({}, in);
    ASSERT_EQ(rules(o), std::vector<std::string>{"event-log-mismatch"});
    EXPECT_NE(o.hits[0].detail.find("the boot event log is refused: boot event log at offset 0"), std::string::npos) << o.hits[0].detail;
}

TEST(MeasurementAppraisal, ImaIsAcceptedIncrementallyUpToTheQuoteAndJudgedByTheAllowList) {
    const auto ev = boot();
    const auto all = files({"boot_aggregate", "/usr/bin/custos-agent", "/usr/bin/bash", "/usr/bin/ls"});
    const auto policy = allow({"/usr/bin/custos-agent", "/usr/bin/bash", "/usr/bin/ls"});
    // Round 1: the quote covers 2 entries, the host had already measured a third when it read the list.
    const std::vector<ima_entry> first(all.begin(), all.begin() + 2);
    const auto q1 = tpm(ev, first);
    measurement_input in;
    in.quoted = &q1;
    in.ima_from = 0;
    in.ima_entries = serialize_ima_log({all[0], all[1], all[2]});
    in.runtime = &policy;
    const auto o1 = appraise_measurements({}, in);
    EXPECT_TRUE(o1.hits.empty()) << o1.hits[0].detail;
    EXPECT_EQ(o1.ima_accepted, 2u);
    EXPECT_EQ(o1.ima_next, 2u);
    EXPECT_TRUE(o1.replayed_pcrs.count(10));
    // Round 2: from entry 2 on, with one more measured: all accepted.
    const auto q2 = tpm(ev, all);
    in.quoted = &q2;
    in.ima_from = 2;
    in.ima_entries = serialize_ima_log({all[2], all[3]});
    const auto o2 = appraise_measurements(o1.next, in);
    EXPECT_TRUE(o2.hits.empty()) << o2.hits[0].detail;
    EXPECT_EQ(o2.ima_next, 4u);
    // An agent that lost its place sends everything again: the accepted entries are skipped.
    in.ima_from = 0;
    in.ima_entries = serialize_ima_log(all);
    const auto o3 = appraise_measurements(o1.next, in);
    EXPECT_TRUE(o3.hits.empty()) << o3.hits[0].detail;
    EXPECT_EQ(o3.ima_accepted, 2u);
    EXPECT_EQ(o3.next.ima_pcrs, o2.next.ima_pcrs);

    // A swapped agent binary and an unknown program.
    auto bad = files({"/opt/xmrig"});
    bad.push_back(make_ima_entry(10, "/usr/bin/custos-agent", sha256(as_bytes("patched"))));
    std::vector<ima_entry> with_bad = all;
    with_bad.insert(with_bad.end(), bad.begin(), bad.end());
    const auto q4 = tpm(ev, with_bad);
    in.quoted = &q4;
    in.ima_from = 4;
    in.ima_entries = serialize_ima_log(bad);
    const auto o4 = appraise_measurements(o2.next, in);
    EXPECT_EQ(rules(o4), (std::vector<std::string>{"ima-unknown-file", "agent-modified"}));
    EXPECT_NE(o4.hits[1].detail.find("IMA entry 5"), std::string::npos) << o4.hits[1].detail;
}

TEST(MeasurementAppraisal, EntriesThatNeverMeetTheQuoteOrAGapAreAMismatchAndNothingIsAccepted) {
    const auto ev = boot();
    const auto all = files({"boot_aggregate", "/a", "/b"});
    const auto q = tpm(ev, all);
    measurement_input in;
    in.quoted = &q;
    in.ima_from = 0;
    in.ima_entries = serialize_ima_log({all[0], all[2]});  // /a dropped
    auto o = appraise_measurements({}, in);
    ASSERT_EQ(rules(o), std::vector<std::string>{"event-log-mismatch"});
    EXPECT_NE(o.hits[0].detail.find("after none of its 2 new entries"), std::string::npos) << o.hits[0].detail;
    EXPECT_EQ(o.ima_next, 0u);
    EXPECT_EQ(o.next.ima_count, 0u);
    // Entries from beyond what the verifier accepted: the ones in between were never shown.
    in.ima_from = 5;
    in.ima_entries = serialize_ima_log(all);
    o = appraise_measurements({}, in);
    ASSERT_EQ(rules(o), std::vector<std::string>{"event-log-mismatch"});
    EXPECT_NE(o.hits[0].detail.find("never shown"), std::string::npos);
    // An entry edited after it was measured ("/b" made "/c"): its template hash gives it away.
    bytes data = serialize_ima_log(all);
    data[data.size() - 2] ^= 1;
    in.ima_from = 0;
    in.ima_entries = data;
    o = appraise_measurements({}, in);
    ASSERT_EQ(rules(o), std::vector<std::string>{"event-log-mismatch"});
    EXPECT_NE(o.hits[0].detail.find("IMA entry 2 (/c"), std::string::npos) << o.hits[0].detail;
    EXPECT_NE(o.hits[0].detail.find("edited after it was measured"), std::string::npos) << o.hits[0].detail;
    // A list that does not parse is refused with the parser's reason.
    data = serialize_ima_log(all);
    data.resize(data.size() - 3);
    in.ima_entries = data;
    o = appraise_measurements({}, in);
    ASSERT_EQ(rules(o), std::vector<std::string>{"event-log-mismatch"});
    EXPECT_NE(o.hits[0].detail.find("the IMA list is refused"), std::string::npos);
}

TEST(MeasurementAppraisal, AfterARebootTheListStartsAgain) {
    const auto ev = boot();
    const auto before = files({"boot_aggregate", "/a", "/b"});
    measurement_state s;
    s.ima_count = 3;
    s.ima_pcrs = replay_ima_log(before);
    const auto after = files({"boot_aggregate", "/c"});
    const auto q = tpm(ev, after);
    measurement_input in;
    in.quoted = &q;
    in.ima_from = 0;
    in.ima_entries = serialize_ima_log(after);
    in.rebooted = true;
    const auto o = appraise_measurements(s, in);
    EXPECT_TRUE(o.hits.empty()) << o.hits[0].detail;
    EXPECT_EQ(o.ima_next, 2u);
    in.rebooted = false;  // without the reboot, entry 0 is "already accepted" and the rest cannot meet the quote
    EXPECT_EQ(rules(appraise_measurements(s, in)), std::vector<std::string>{"event-log-mismatch"});
}

}  // namespace
}  // namespace custos::verifier
