// attest/boot_appraisal: quoted PCRs against the replay (edited, dropped, reordered, swapped events and an
// extension without a log entry are all caught), and boot components against the approval reference.
#include "attest/boot_appraisal.hpp"

#include <gtest/gtest.h>

#include "attest/tpm_alg.hpp"

namespace custos::attest {
namespace {

const std::vector<hash_alg> both = {hash_alg::sha1, hash_alg::sha256};

std::vector<boot_event> boot(const std::string& kernel = "vmlinuz-6.1") {
    std::vector<boot_event> ev;
    ev.push_back(measured_event(0, ev_s_crtm_version, as_bytes("fw 1.0"), both));
    ev.push_back(measured_event(0, ev_post_code, as_bytes("post"), both));
    for (std::uint32_t pcr = 0; pcr < 8; ++pcr) ev.push_back(measured_event(pcr, ev_separator, bytes(4, 0), both));
    ev.push_back(measured_event(4, 0x80000003, as_bytes("shimx64.efi"), both));
    ev.push_back(measured_event(4, 0x80000003, as_bytes(kernel), both));
    ev.push_back(measured_event(7, 0x80000001, as_bytes("SecureBoot=1"), both));
    return ev;
}

// What a TPM that measured `ev` would quote for PCRs 0-7 (sha256 bank), computed here independently.
pcr_values quote_of(const std::vector<boot_event>& ev) {
    pcr_values q;
    for (unsigned pcr = 0; pcr < 8; ++pcr) {
        bytes v(32, 0);
        for (const auto& e : ev)
            if (e.pcr == pcr && e.type != ev_no_action) v = hasher(hash_alg::sha256).update(v).update(e.digests.at(hash_alg::sha256)).finish();
        q.push_back({TPM2_ALG_SHA256, pcr, v});
    }
    return q;
}

pcr_banks replay(const std::vector<boot_event>& ev) { return replay_boot_log(*parse_boot_log(serialize_boot_log(both, ev))); }

const std::set<std::uint32_t> pcrs0to7 = {0, 1, 2, 3, 4, 5, 6, 7};

TEST(BootAppraisal, AConsistentLogMatchesItsQuote) {
    EXPECT_TRUE(compare_replay(quote_of(boot()), replay(boot()), pcrs0to7).empty());
}

TEST(BootAppraisal, EveryTamperedLogDiffersFromTheQuote) {
    const pcr_values q = quote_of(boot());
    auto edited = boot();
    edited[10].digests[hash_alg::sha256][5] ^= 0x40;  // the shim's digest
    auto dropped = boot();
    dropped.erase(dropped.begin() + 11);  // the kernel
    auto reordered = boot();
    std::swap(reordered[10], reordered[11]);
    auto swapped = boot();
    std::swap(swapped[10].digests, swapped[12].digests);  // shim's digest on the Secure Boot event and back
    for (const auto* ev : {&edited, &dropped, &reordered, &swapped}) {
        const auto m = compare_replay(q, replay(*ev), pcrs0to7);
        ASSERT_FALSE(m.empty());
        for (const auto& x : m) EXPECT_TRUE(x.pcr == 4 || x.pcr == 7) << describe(x);
    }
    const auto m = compare_replay(q, replay(edited), pcrs0to7);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].pcr, 4u);
    EXPECT_EQ(describe(m[0]).rfind("sha256 PCR 4 is ", 0), 0u) << describe(m[0]);
    EXPECT_NE(describe(m[0]).find("but the logs replay to"), std::string::npos);
}

TEST(BootAppraisal, AnExtensionWithoutALogEntryIsCaughtEvenInAPcrTheLogNeverTouches) {
    auto q = quote_of(boot());
    q[4].digest = hasher(hash_alg::sha256).update(q[4].digest).update(bytes(32, 0xab)).finish();
    auto m = compare_replay(q, replay(boot()), pcrs0to7);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].pcr, 4u);
    // PCR 8 is not in any event: the log says it must still be zero.
    pcr_values q8 = {{TPM2_ALG_SHA256, 8, hasher(hash_alg::sha256).update(bytes(32, 0)).update(bytes(32, 1)).finish()}};
    m = compare_replay(q8, replay(boot()), {8});
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].replayed, bytes(32, 0));
    // A PCR outside the set the logs answer for is not compared; a bank the logs lack neither.
    EXPECT_TRUE(compare_replay(q8, replay(boot()), {10}).empty());
    EXPECT_TRUE(compare_replay({{TPM2_ALG_SHA384, 4, bytes(48, 9)}}, replay(boot()), pcrs0to7).empty());
}

TEST(BootAppraisal, TheReferenceRoundTripsAndNamesWhatChanged) {
    const auto ref = boot_components(*parse_boot_log(serialize_boot_log(both, boot())));
    EXPECT_EQ(ref.size(), boot().size());
    auto back = parse_boot_reference(boot_reference_to_json(ref));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_TRUE(diff_boot(ref, *back).empty());

    const auto new_kernel = boot_components(*parse_boot_log(serialize_boot_log(both, boot("vmlinuz-6.9-evil"))));
    auto d = diff_boot(ref, new_kernel);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].rfind("PCR 4 event 2 (EV_EFI_BOOT_SERVICES_APPLICATION): digest ", 0), 0u) << d[0];

    auto more = boot();
    more.push_back(measured_event(7, 0x800000e0, as_bytes("db cert"), both));
    d = diff_boot(ref, boot_components(*parse_boot_log(serialize_boot_log(both, more))));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0], "PCR 7: 1 event(s) more (EV_EFI_VARIABLE_AUTHORITY)");
    d = diff_boot(boot_components(*parse_boot_log(serialize_boot_log(both, more))), ref);
    EXPECT_EQ(d.at(0), "PCR 7: 1 event(s) fewer (EV_EFI_VARIABLE_AUTHORITY)");

    for (const char* bad : {"[]", R"({"components":[{"pcr":8,"type":4,"digest":"00"}]})",
                            R"({"components":[{"pcr":1,"type":4,"digest":"0011"}]})", R"({"components":[],"x":1})"}) {
        EXPECT_FALSE(parse_boot_reference(bad).ok()) << bad;
    }
    EXPECT_EQ(event_type_name(0x80000001), "EV_EFI_VARIABLE_DRIVER_CONFIG");
    EXPECT_EQ(event_type_name(0x12345678), "0x12345678");
}

}  // namespace
}  // namespace custos::attest
