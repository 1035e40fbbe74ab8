// verifier/rounds: the pure decisions of the verifier's use cases, without HTTP or a store: whose nonce
// opens a round, which rounds count, what a round does with its report key, where a binding may continue
// the chain, what becomes of each report, and the location verdict from landmark statements.
#include <gtest/gtest.h>
#include <sodium.h>

#include "attest/wire.hpp"
#include "policy/location_proof.hpp"
#include "tests/support/landmark_statements.hpp"
#include "verifier/rounds/attestation.hpp"
#include "verifier/rounds/location.hpp"
#include "verifier/rounds/reports.hpp"

namespace custos::verifier {
namespace {

using keypair = test::ed25519_keypair;

host_record host_at(std::uint64_t seq, bytes head) {
    host_record h;
    h.id = "h1";
    h.state = "approved";
    h.site = "s1";
    h.chain_seq = seq;
    h.chain_hash = std::move(head);
    return h;
}

TEST(RoundNonce, OnlyAnUnusedUnexpiredNonceOfThisHostOpensARound) {
    EXPECT_FALSE(nonce_refusal(store_tx::challenge{"h1", 200}, "h1", 100, 30));
    const auto unknown = nonce_refusal(std::nullopt, "h1", 100, 30);
    ASSERT_TRUE(unknown);
    EXPECT_NE(unknown->find("already used"), std::string::npos) << *unknown;
    const auto other = nonce_refusal(store_tx::challenge{"h2", 200}, "h1", 100, 30);
    ASSERT_TRUE(other);
    EXPECT_NE(other->find("issued to host \"h2\""), std::string::npos) << *other;
    const auto late = nonce_refusal(store_tx::challenge{"h1", 99}, "h1", 100, 30);
    ASSERT_TRUE(late);
    EXPECT_NE(late->find("expired"), std::string::npos) << *late;
    // The last second of its life still opens it.
    EXPECT_FALSE(nonce_refusal(store_tx::challenge{"h1", 100}, "h1", 100, 30));
}

TEST(RoundCounts, ARoundLeavingOutALogTheHostKeepsIsNotItsChallengedQuote) {
    EXPECT_EQ(missing_logs(std::nullopt, false, false), "");  // nothing shown yet: nothing owed
    host_measurement_record m;
    m.boot_reference = "ref";
    m.ima_count = 0;
    EXPECT_EQ(missing_logs(m, true, false), "");
    EXPECT_EQ(missing_logs(m, false, false), "boot event log");
    m.ima_count = 12;
    EXPECT_EQ(missing_logs(m, true, false), "IMA list");
    EXPECT_EQ(missing_logs(m, false, false), "boot event log and IMA list");
    EXPECT_EQ(missing_logs(m, true, true), "");
}

TEST(RoundReboot, TheIMAStatesOwnBootDecidesNotTheHostClock) {
    host_record h;
    h.have_clock = true;
    h.reset_count = 8;  // moved by a key binding after the reboot
    host_measurement_record m;
    m.have_reset = true;
    m.reset_count = 7;  // the IMA state was built in boot 7
    EXPECT_TRUE(rebooted_since(m, h, 8));
    EXPECT_FALSE(rebooted_since(m, h, 7));
    // A state from before the boot was recorded falls back to the host's clock.
    m.have_reset = false;
    EXPECT_FALSE(rebooted_since(m, h, 8));
    EXPECT_TRUE(rebooted_since(m, h, 9));
    EXPECT_FALSE(rebooted_since(std::nullopt, host_record{}, 3));  // no clock yet: the first round
}

TEST(RoundKey, ANewKeyIsBoundAnOldBootsKeyRetiredTheRestKept) {
    EXPECT_EQ(round_key_action(std::nullopt, 4), round_key_step::bind);
    report_key_record k;
    k.reset_count = 4;
    k.until_seq = report_key_open;
    EXPECT_EQ(round_key_action(k, 4), round_key_step::keep);
    EXPECT_EQ(round_key_action(k, 5), round_key_step::retire);  // replayed or stolen: no agent outlives a reset
    k.until_seq = 10;                                          // already retired: nothing more to do
    EXPECT_EQ(round_key_action(k, 5), round_key_step::keep);
}

TEST(BindingChain, ABindingContinuesTheStoredChainOrIsRefused) {
    const host_record h = host_at(5, bytes(32, 0xaa));
    EXPECT_FALSE(binding_chain_refusal(h, 5, bytes(32, 0xaa), bytes(32, 0xaa)));
    EXPECT_FALSE(binding_chain_refusal(h, 9, bytes(32, 0x99), std::nullopt));  // ahead: reports still to come
    const auto fork = binding_chain_refusal(h, 5, bytes(32, 0xbb), bytes(32, 0xaa));
    ASSERT_TRUE(fork);
    EXPECT_NE(fork->find("forked or rewritten"), std::string::npos) << *fork;
    const auto gone = binding_chain_refusal(h, 3, bytes(32, 3), std::nullopt);
    ASSERT_TRUE(gone);
    EXPECT_NE(gone->find("does not hold"), std::string::npos) << *gone;
    EXPECT_TRUE(binding_chain_refusal(h, 0, bytes(32, 1), bytes(32, 0)));  // the chain's start is all zeros
}

class ReportVerdict : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_GE(sodium_init(), 0); }
    // Report `seq` by `k` after `prev`, checked as ingestion checks it before its transaction.
    checked_report make(const keypair& k, std::uint64_t seq, const bytes& prev, const std::string& host = "h1") {
        attest::report r;
        r.host = host;
        r.seq = seq;
        r.prev = prev;
        r.time = 1764000000;
        r.clock = 1000 * seq;
        r.key = k.pk;
        const bytes body = attest::encode_report(r);
        attest::reports_request msg;
        msg.reports.push_back({body, attest::sign_report(body, k.sk)});
        return std::move(check_reports(std::move(msg)).front());
    }
    static report_key_record key_of(const keypair& k, std::uint64_t from, std::uint64_t until = report_key_open) {
        report_key_record rec;
        rec.key = k.pk;
        rec.from_seq = from;
        rec.until_seq = until;
        return rec;
    }
    keypair k_;
};

TEST_F(ReportVerdict, TheNextReportIsAcceptedAndTheSameOneAgainIsADuplicate) {
    const host_record h = host_at(2, bytes(32, 0x22));
    const auto r = make(k_, 3, bytes(32, 0x22));
    ASSERT_TRUE(r.signature_ok) << r.problem;
    const auto v = judge_report(h, r, key_of(k_, 1), std::nullopt);
    EXPECT_EQ(v.fate, report_fate::accepted);
    EXPECT_EQ(v.rule, "");
    const host_record after = host_at(3, attest::report_hash(r.sent.body));
    EXPECT_EQ(judge_report(after, r, key_of(k_, 1), attest::report_hash(r.sent.body)).fate, report_fate::duplicate);
}

TEST_F(ReportVerdict, EachWayAReportFailsIsNamedWithItsRule) {
    const host_record h = host_at(2, bytes(32, 0x22));
    // Never bound, or outside its key's window: whoever holds a retired key cannot extend the chain.
    auto v = judge_report(h, make(k_, 3, bytes(32, 0x22)), std::nullopt, std::nullopt);
    EXPECT_EQ(v.fate, report_fate::rejected);
    EXPECT_EQ(v.rule, "report-signature-invalid");
    v = judge_report(h, make(k_, 3, bytes(32, 0x22)), key_of(k_, 1, 2), std::nullopt);
    EXPECT_EQ(v.fate, report_fate::rejected);
    EXPECT_NE(v.reason.find("retired"), std::string::npos) << v.reason;
    // Another host's report, a broken signature.
    EXPECT_EQ(judge_report(h, make(k_, 3, bytes(32, 0x22), "h2"), key_of(k_, 1), std::nullopt).rule, "report-signature-invalid");
    auto bad = make(k_, 3, bytes(32, 0x22));
    bad.sent.signature[0] ^= 1;
    bad = std::move(check_reports(attest::reports_request{{bad.sent}}).front());
    v = judge_report(h, bad, key_of(k_, 1), std::nullopt);
    EXPECT_EQ(v.fate, report_fate::rejected);
    EXPECT_EQ(v.rule, "report-signature-invalid");
    // A different report under a stored number, or one that does not follow the stored head.
    v = judge_report(h, make(k_, 2, bytes(32, 0x11)), key_of(k_, 1), bytes(32, 0x22));
    EXPECT_EQ(v.rule, "report-rollback");
    EXPECT_NE(v.reason.find("differs from the stored report"), std::string::npos) << v.reason;
    v = judge_report(h, make(k_, 3, bytes(32, 0x33)), key_of(k_, 1), std::nullopt);
    EXPECT_EQ(v.rule, "report-rollback");
    EXPECT_NE(v.reason.find("does not extend"), std::string::npos) << v.reason;
    // A report past a hole is stored, and the hole is a finding.
    v = judge_report(h, make(k_, 6, bytes(32, 0x55)), key_of(k_, 1), std::nullopt);
    EXPECT_EQ(v.fate, report_fate::accepted);
    EXPECT_EQ(v.rule, "report-chain-gap");
    EXPECT_NE(v.reason.find("reports 3 to 5 are missing"), std::string::npos) << v.reason;
}

class LocationVerdict : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_GE(sodium_init(), 0);
        site_.id = "s1";
        site_.lat = 37.57;
        site_.lon = 126.98;
        site_.max_km = 50;
        landmarks_.push_back({"lm-near", 37.50, 127.00, lm_.pk, "127.0.0.1:1", 0});
        landmarks_.push_back({"lm-tokyo", 35.68, 139.69, lm_.pk, "127.0.0.1:2", 0});  // ~1,150 km away
        round_ = bytes(32, 0x5a);
        h_ = host_at(0, bytes(32, 0));
        f_.host = &h_;
        f_.site = &site_;
        f_.landmarks = &landmarks_;
        f_.current_keys = {agent_.pk};
        f_.now = 1764000000;
        f_.window_s = 60;
        f_.speed_km_per_ms = 100;  // c × 2/3 in fibre ≈ 200 km/ms; half for the way there: 100 per ms of RTT
    }
    // A statement of `lm` answered by `agent`, sent at `t_s` with a round trip of `rtt_ms`.
    attest::location_proof_request::proof statement(const keypair& lm, const keypair& agent, const std::string& id,
                                                    double rtt_ms, std::int64_t t_s) const {
        return test::signed_statement(lm, agent, id, round_, rtt_ms, t_s);
    }
    location_judgement judge(std::vector<attest::location_proof_request::proof> proofs) const {
        attest::location_proof_request msg;
        msg.round = round_;
        msg.proofs = std::move(proofs);
        return judge_location(f_, msg);
    }
    keypair lm_, agent_;
    site_record site_;
    std::vector<landmark_record> landmarks_;
    bytes round_;
    host_record h_;
    location_facts f_;
};

TEST_F(LocationVerdict, AShortRoundTripToANearLandmarkIsWithin) {
    const auto j = judge({statement(lm_, agent_, "lm-near", 0.2, f_.now)});
    EXPECT_EQ(j.record.verdict, "within") << j.why;
    EXPECT_EQ(j.rule, "");
    EXPECT_EQ(j.refused, 0u);
    ASSERT_TRUE(j.record.max_km);
    EXPECT_LT(*j.record.max_km, 50.0);
}

TEST_F(LocationVerdict, ALongRoundTripIsOutsideAndRefusedStatementsLeaveItUnproven) {
    // 0.2 ms to Tokyo puts the host within 20 km of Tokyo, far from its site; 80 ms to Seoul bounds nothing.
    const auto tokyo = judge({statement(lm_, agent_, "lm-tokyo", 0.2, f_.now)});
    EXPECT_EQ(tokyo.rule, "location-outside") << tokyo.why;
    EXPECT_EQ(judge({statement(lm_, agent_, "lm-near", 80, f_.now)}).rule, "location-unproven");
    keypair stranger, retired;
    // A key that is not the host's current report key, another landmark's signature, a stale time.
    for (const auto& p : {statement(lm_, retired, "lm-near", 0.2, f_.now), statement(stranger, agent_, "lm-near", 0.2, f_.now),
                          statement(lm_, agent_, "lm-near", 0.2, f_.now - 3600), statement(lm_, agent_, "lm-unknown", 0.2, f_.now)}) {
        const auto j = judge({p});
        EXPECT_EQ(j.record.verdict, "unproven") << j.why;
        EXPECT_EQ(j.rule, "location-unproven");
        EXPECT_EQ(j.refused, 1u);
        EXPECT_NE(j.why.find("statement(s) refused"), std::string::npos) << j.why;
    }
    // No statement at all is unproven too, whatever the agent says.
    EXPECT_EQ(judge({}).rule, "location-unproven");
}

TEST_F(LocationVerdict, SamplesThatBoundNothingLeaveItUnprovenNotAnError) {
    f_.speed_km_per_ms = 0;  // no distance can be drawn from a round trip
    const auto j = judge({statement(lm_, agent_, "lm-near", 0.2, f_.now)});
    EXPECT_EQ(j.record.verdict, "unproven");
    EXPECT_EQ(j.rule, "location-unproven");
    EXPECT_NE(j.why.find("bound nothing"), std::string::npos) << j.why;
}

TEST_F(LocationVerdict, TheShortestRoundTripPerLandmarkCounts) {
    const auto j = judge({statement(lm_, agent_, "lm-near", 80, f_.now), statement(lm_, agent_, "lm-near", 0.2, f_.now)});
    EXPECT_EQ(j.record.verdict, "within") << j.why;
}

}  // namespace
}  // namespace custos::verifier
