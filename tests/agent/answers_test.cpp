// agent/answers: the agent's reading of the verifier's answers. Whoever answers in the verifier's place
// controls these bytes: each malformed or out-of-range answer is an error naming the field, never a throw,
// and never a number the agent's clock arithmetic cannot hold.
#include "agent/answers.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace custos::agent {
namespace {

template <class T>
std::string why(const result<T>& r) {
    return r ? std::string("(accepted)") : r.err().message;
}

const std::string b64_32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

TEST(Answers, ChallengeAttestAndReportsAreReadWithinRange) {
    auto c = parse_challenge_answer(R"({"nonce":")" + b64_32 + R"(","expires_in_s":30,"pcr_selection":"sha256:0"})");
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_EQ(c->nonce.size(), 32u);
    EXPECT_FALSE(parse_challenge_answer(R"({"nonce":"AAAA"})").ok());
    auto a = parse_attest_answer(R"({"status":"affirming","next_round_s":60,"ima_next":5,"unknown":[1]})");
    ASSERT_TRUE(a.ok()) << a.err().message;
    EXPECT_EQ(a->next_round_s, 60u);
    EXPECT_NE(why(parse_attest_answer(R"({"next_round_s":0})")).find("next_round_s"), std::string::npos);
    EXPECT_NE(why(parse_attest_answer(R"({"next_round_s":1e300})")).find("next_round_s"), std::string::npos);
    EXPECT_FALSE(parse_attest_answer(R"({"location":[]})").ok());
    auto r = parse_reports_answer(R"({"results":[{"seq":1,"status":"accepted"}],"next_report_s":5})", 1);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->results[0].status, "accepted");
    // Fewer results than reports sent: nothing may leave the spool on such an answer.
    EXPECT_NE(why(parse_reports_answer(R"({"results":[]})", 1)).find("0 results for 1"), std::string::npos);
}

TEST(Answers, ALocationRoundIsBoundedBeforeTheAgentDialsAnything) {
    auto obj = [](const std::string& text) { return boost::json::parse(text).as_object(); };
    auto ok = parse_location_round(
        obj(R"({"round":")" + b64_32 + R"(","samples":3,"timeout_ms":2000,"landmarks":[{"id":"lm-1","address":"127.0.0.1:9"}]})"));
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->samples, 3u);
    ASSERT_EQ(ok->landmarks.size(), 1u);
    EXPECT_EQ(ok->landmarks[0].address, "127.0.0.1:9");
    EXPECT_NE(why(parse_location_round(obj(R"({"round":"AAAA","samples":3,"timeout_ms":2000,"landmarks":[]})"))).find("round"),
              std::string::npos);
    EXPECT_NE(why(parse_location_round(obj(R"({"round":")" + b64_32 + R"(","samples":65,"timeout_ms":2000,"landmarks":[]})")))
                  .find("samples"),
              std::string::npos);
    EXPECT_NE(why(parse_location_round(obj(R"({"round":")" + b64_32 + R"(","samples":1,"timeout_ms":0,"landmarks":[]})")))
                  .find("timeout_ms"),
              std::string::npos);
    EXPECT_NE(why(parse_location_round(obj(R"({"round":")" + b64_32 +
                                           R"(","samples":1,"timeout_ms":5,"landmarks":[{"id":"","address":"x:1"}]})")))
                  .find("id"),
              std::string::npos);
    EXPECT_EQ(*parse_location_answer(R"({"verdict":"within"})"), "within");
    EXPECT_FALSE(parse_location_answer(R"({"verdict":1})").ok());
}

TEST(Answers, AKeyOrRenewalAnswerWithATTLPastADayIsRefused) {
    const std::string key = R"({"lease":"ab12","model":"m1","model_root":")" + std::string(64, '0') +
                            R"(","wrapped_key":"AAEC","expires_in_s":)";
    auto k = parse_key_answer(key + "300}");
    ASSERT_TRUE(k.ok()) << k.err().message;
    EXPECT_EQ(k->lease, "ab12");
    EXPECT_EQ(k->expires_in_s, 300u);
    EXPECT_EQ(k->wrapped_key, (bytes{0, 1, 2}));
    // 2^64 - 1 seconds added to the agent's steady clock would overflow it: refused, naming the field.
    EXPECT_NE(why(parse_key_answer(key + "18446744073709551615}")).find("expires_in_s"), std::string::npos);
    EXPECT_FALSE(parse_key_answer(key + "0}").ok());
    EXPECT_FALSE(parse_key_answer(key + "-5}").ok());
    EXPECT_EQ(*parse_renew_answer(R"({"lease":"ab12","expires_in_s":86400})"), 86400u);
    EXPECT_NE(why(parse_renew_answer(R"({"expires_in_s":86401})")).find("expires_in_s"), std::string::npos);
    EXPECT_FALSE(parse_renew_answer("not json").ok());
}

}  // namespace
}  // namespace custos::agent
