// verifier/chain_integrity: the quoted report-chain head against the stored chain, the gap it turns into,
// and report-key windows.
#include "verifier/chain_integrity.hpp"

#include <gtest/gtest.h>

namespace custos::verifier {
namespace {

host_record at(std::uint64_t seq, std::uint8_t fill) {
    host_record h;
    h.id = "h1";
    h.chain_seq = seq;
    h.chain_hash = bytes(32, fill);
    return h;
}

TEST(QuotedHead, TheStoredHeadIsQuietAndSettlesAnOldClaim) {
    auto h = at(5, 0xaa);
    h.quoted_head_seq = 5;
    h.quoted_head_at = 100;
    const auto c = check_quoted_head(h, 5, bytes(32, 0xaa), bytes(32, 0xaa), 200);
    EXPECT_FALSE(c.hit);
    EXPECT_EQ(c.quoted_head_seq, 0u);
    EXPECT_EQ(c.quoted_head_at, 0);
}

TEST(QuotedHead, AHeadBehindOrBesideTheStoredChainIsARollback) {
    const auto h = at(5, 0xaa);
    auto behind = check_quoted_head(h, 3, bytes(32, 0x33), bytes(32, 0x33), 200);
    ASSERT_TRUE(behind.hit);
    EXPECT_EQ(behind.hit->rule, "report-rollback");
    EXPECT_NE(behind.hit->detail.find("behind the 5 reports"), std::string::npos) << behind.hit->detail;
    auto fork = check_quoted_head(h, 5, bytes(32, 0xbb), bytes(32, 0xaa), 200);
    ASSERT_TRUE(fork.hit);
    EXPECT_NE(fork.hit->detail.find("forked"), std::string::npos);
    // A stored report the verifier cannot find is no match either.
    EXPECT_TRUE(check_quoted_head(h, 4, bytes(32, 1), std::nullopt, 200).hit);
}

TEST(QuotedHead, AClaimAheadStartsTheClockOnceAndAGapFollowsTheGrace) {
    auto h = at(2, 0x22);
    auto c = check_quoted_head(h, 5, bytes(32, 5), std::nullopt, 1000);
    EXPECT_FALSE(c.hit);
    EXPECT_EQ(c.quoted_head_seq, 5u);
    EXPECT_EQ(c.quoted_head_at, 1000);
    h.quoted_head_seq = c.quoted_head_seq;
    h.quoted_head_at = c.quoted_head_at;
    // A later, higher claim keeps the first time: the oldest missing report is what is overdue.
    c = check_quoted_head(h, 8, bytes(32, 8), std::nullopt, 1010);
    EXPECT_EQ(c.quoted_head_seq, 8u);
    EXPECT_EQ(c.quoted_head_at, 1000);
    h.quoted_head_seq = 8;
    EXPECT_FALSE(chain_gap_due(h, 1030, 30));
    auto gap = chain_gap_due(h, 1031, 30);
    ASSERT_TRUE(gap);
    EXPECT_EQ(gap->rule, "report-chain-gap");
    EXPECT_EQ(gap->detail, chain_gap_detail("h1", 8));
    // Once the chain reached the claim nothing is due, and a new claim starts a new clock.
    h.chain_seq = 8;
    EXPECT_FALSE(chain_gap_due(h, 5000, 30));
    c = check_quoted_head(h, 9, bytes(32, 9), std::nullopt, 6000);
    EXPECT_EQ(c.quoted_head_at, 6000);
}

TEST(KeyWindow, AKeySignsOnlyItsPartOfTheChain) {
    EXPECT_NE(key_window_refusal(std::nullopt, 1)->find("no quote of this host has bound"), std::string::npos);
    report_key_record k;
    k.from_seq = 3;
    EXPECT_FALSE(key_window_refusal(k, 3));
    EXPECT_FALSE(key_window_refusal(k, 1'000'000));
    EXPECT_NE(key_window_refusal(k, 2)->find("from report 3 on"), std::string::npos);
    k.until_seq = 7;
    k.retire_reason = "a newer agent start bound its own key";
    EXPECT_FALSE(key_window_refusal(k, 7));
    EXPECT_EQ(*key_window_refusal(k, 8), "report 8 is signed with a key retired after report 7 (a newer agent start bound its own key)");
}

}  // namespace
}  // namespace custos::verifier
