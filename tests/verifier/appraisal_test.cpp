// verifier/appraisal and findings: clock rules, golden values, severities and the status they add up to.
#include "verifier/appraisal.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "attest/wire.hpp"
#include "verifier/findings.hpp"

namespace custos::verifier {
namespace {

host_record approved_host() {
    host_record h;
    h.id = "h1";
    h.state = "approved";
    h.have_clock = true;
    h.clock = 100'000;
    h.reset_count = 4;
    h.restart_count = 1;
    return h;
}

attest::quote_info info(std::uint64_t clock, std::uint32_t reset, std::uint32_t restart, bool safe = true) {
    attest::quote_info q;
    q.clock = clock;
    q.reset_count = reset;
    q.restart_count = restart;
    q.safe = safe;
    return q;
}

attest::pcr_values pcrs(std::uint8_t seven) {
    return {{TPM2_ALG_SHA256, 0, bytes(32, 0)}, {TPM2_ALG_SHA256, 7, bytes(32, seven)}};
}

std::vector<std::string> rules(const quote_appraisal& a) {
    std::vector<std::string> out;
    for (const auto& h : a.hits) out.push_back(h.rule);
    return out;
}

TEST(Appraisal, ClockMovingForwardIsQuiet) {
    auto h = approved_host();
    h.golden_pcrs = boost::json::serialize(attest::pcrs_to_json(pcrs(1)));
    EXPECT_TRUE(appraise_quote(h, info(100'500, 4, 1), pcrs(1)).hits.empty());
}

TEST(Appraisal, ResetOrRestartCountMovingIsAReboot) {
    auto h = approved_host();
    h.golden_pcrs = boost::json::serialize(attest::pcrs_to_json(pcrs(1)));
    EXPECT_EQ(rules(appraise_quote(h, info(5, 5, 0), pcrs(1))), std::vector<std::string>{"reboot"});
    EXPECT_EQ(rules(appraise_quote(h, info(100'600, 4, 2), pcrs(1))), std::vector<std::string>{"reboot"});
    // A reboot explains a lower clock: no rollback.
    EXPECT_EQ(rules(appraise_quote(h, info(1, 5, 0), pcrs(1))), std::vector<std::string>{"reboot"});
}

TEST(Appraisal, LowerClockWithTheSameResetCountIsARollbackOnlyWhenSafe) {
    auto h = approved_host();
    h.golden_pcrs = boost::json::serialize(attest::pcrs_to_json(pcrs(1)));
    auto a = appraise_quote(h, info(99'000, 4, 1, true), pcrs(1));
    ASSERT_EQ(rules(a), std::vector<std::string>{"clock-rollback"});
    EXPECT_NE(a.hits[0].detail.find("100000 ms to 99000 ms"), std::string::npos) << a.hits[0].detail;
    EXPECT_EQ(std::string(rule_severity("clock-rollback")), "violation");
    // safe clear: the TPM says its clock may have been lost (power loss without orderly shutdown).
    EXPECT_TRUE(appraise_quote(h, info(99'000, 4, 1, false), pcrs(1)).hits.empty());
}

TEST(Appraisal, ALowerResetOrRestartCountIsARollbackAndIsNeverRecorded) {
    auto h = approved_host();  // 4/1 at clock 100 000
    h.golden_pcrs = boost::json::serialize(attest::pcrs_to_json(pcrs(1)));
    for (const auto& q : {info(200'000, 3, 1), info(200'000, 3, 9), info(200'000, 4, 0)}) {
        EXPECT_EQ(rules(appraise_quote(h, q, pcrs(1))), std::vector<std::string>{"clock-rollback"});
        EXPECT_TRUE(clock_went_back(h, q));
        auto kept = h;
        record_clock(kept, q);
        EXPECT_EQ(kept.reset_count, 4u);
        EXPECT_EQ(kept.restart_count, 1u);
        EXPECT_EQ(kept.clock, 100'000u);
    }
    // A lower clock in the same boot is not recorded either; a later boot is.
    auto kept = h;
    record_clock(kept, info(50, 4, 1));
    EXPECT_EQ(kept.clock, 100'000u);
    record_clock(kept, info(50, 5, 0));
    EXPECT_EQ(kept.reset_count, 5u);
    EXPECT_EQ(kept.clock, 50u);
    EXPECT_FALSE(clock_went_back(h, info(1, 5, 0)));
}

TEST(Appraisal, FirstQuoteOfAHostHasNoClockHistory) {
    auto h = approved_host();
    h.have_clock = false;
    auto a = appraise_quote(h, info(1, 0, 0), pcrs(1));
    EXPECT_TRUE(a.hits.empty());
    EXPECT_FALSE(a.new_golden.empty());  // approved without golden values: these become them
    record_clock(h, info(1, 0, 0));
    EXPECT_TRUE(h.have_clock);
    EXPECT_EQ(h.clock, 1u);
}

TEST(Appraisal, GoldenValuesAreComparedPerPcr) {
    auto h = approved_host();
    h.golden_pcrs = boost::json::serialize(attest::pcrs_to_json(pcrs(1)));
    auto a = appraise_quote(h, info(100'001, 4, 1), pcrs(2));
    ASSERT_EQ(rules(a), std::vector<std::string>{"pcr-changed"});
    EXPECT_NE(a.hits[0].detail.find("PCR sha256:7 is 0202020202020202"), std::string::npos) << a.hits[0].detail;
    EXPECT_NE(a.hits[0].detail.find("golden value is 0101010101010101"), std::string::npos) << a.hits[0].detail;
    EXPECT_TRUE(a.new_golden.empty());
}

TEST(Appraisal, AnEnrolledButUnapprovedHostHasNoGoldenValues) {
    auto h = approved_host();
    h.state = "enrolled";
    auto a = appraise_quote(h, info(100'001, 4, 1), pcrs(2));
    EXPECT_TRUE(a.hits.empty());
    EXPECT_TRUE(a.new_golden.empty());
}

TEST(Findings, StatusIsTheWorstOpenSeverity) {
    auto f = [](const char* rule) { return host_finding(rule, "h", "d", 1); };
    EXPECT_EQ(status_of(std::vector<finding_record>{}), "affirming");
    EXPECT_EQ(status_of({f("reboot")}), "affirming");
    // The exact counts the verifier computes a status from.
    EXPECT_EQ(status_of(open_finding_counts{0, 0, 5}), "affirming");
    EXPECT_EQ(status_of(open_finding_counts{0, 1, 0}), "warning");
    EXPECT_EQ(status_of(open_finding_counts{1, 100'000, 0}), "contraindicated");
    EXPECT_EQ(status_of({f("reboot"), f("host-dark")}), "warning");
    EXPECT_EQ(status_of({f("report-chain-gap"), f("pcr-changed")}), "contraindicated");
    for (const char* v : {"quote-invalid", "nonce-mismatch", "pcr-changed", "clock-rollback", "report-rollback",
                          "report-signature-invalid", "ek-changed", "ek-duplicated", "attestation-overdue",
                          "location-rounds-missed"})
        EXPECT_EQ(std::string(rule_severity(v)), "violation") << v;
    EXPECT_EQ(std::string(rule_severity("host-dark")), "warning");
    EXPECT_EQ(std::string(rule_severity("report-chain-gap")), "warning");
    EXPECT_EQ(std::string(rule_severity("reboot")), "info");
    const auto x = f("reboot");
    EXPECT_EQ(x.subject_kind, "host");
    EXPECT_EQ(x.subject, "h");
    EXPECT_EQ(x.host, "h");
}

}  // namespace
}  // namespace custos::verifier
