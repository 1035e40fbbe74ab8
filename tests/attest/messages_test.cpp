// attest/messages: the agent's requests as typed messages. Each round-trips through the one codec both
// sides use, and each malformed body is refused with the field named, before the verifier reads its store.
#include "attest/messages.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "crypto/base64.hpp"

namespace custos::attest {
namespace {

std::string message_of(const error& e) { return e.message; }

template <class T>
std::string refusal(const result<T>& r) {
    return r ? std::string("(parsed)") : message_of(r.err());
}

TEST(ReportsRequest, RoundTripsAndBoundsTheBatch) {
    reports_request r;
    r.reports.push_back({bytes{1, 2, 3}, bytes(64, 9)});
    r.reports.push_back({bytes{4}, bytes(64, 8)});
    auto back = parse_reports_request(encode_reports_request(r));
    ASSERT_TRUE(back.ok()) << back.err().message;
    ASSERT_EQ(back->reports.size(), 2u);
    EXPECT_EQ(back->reports[1].body, bytes{4});
    EXPECT_EQ(back->reports[0].signature, bytes(64, 9));

    reports_request big;
    big.reports.assign(max_reports_per_request + 1, {bytes{1}, bytes{2}});
    EXPECT_NE(refusal(parse_reports_request(encode_reports_request(big))).find("more than 256"), std::string::npos);
    EXPECT_NE(refusal(parse_reports_request(R"({"reports":[{"report":"AQ==","sig":"AQ==","x":1}]})")).find("x"),
              std::string::npos);
    EXPECT_NE(refusal(parse_reports_request(R"({"reports":[{"report":"not base64!","sig":"AQ=="}]})")).find("reports[0]"),
              std::string::npos);
    EXPECT_FALSE(parse_reports_request(R"({"reports":{}})").ok());
    EXPECT_FALSE(parse_reports_request(R"({"reports":[],"more":[]})").ok());
}

TEST(LocationProofRequest, RoundTripsAndRefusesABadRound) {
    location_proof_request r;
    r.round = bytes(32, 7);
    r.proofs.push_back({bytes{1, 2}, bytes(64, 3)});
    r.errors = {"lm-a: connection refused"};
    auto back = parse_location_proof_request(encode_location_proof_request(r));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->round, r.round);
    ASSERT_EQ(back->proofs.size(), 1u);
    EXPECT_EQ(back->proofs[0].statement, (bytes{1, 2}));
    EXPECT_EQ(back->errors, r.errors);

    r.round = bytes(31, 7);
    EXPECT_NE(refusal(parse_location_proof_request(encode_location_proof_request(r))).find("round"), std::string::npos);
    EXPECT_NE(refusal(parse_location_proof_request(R"({"round":")" + to_base64(bytes(32, 1)) + R"(","proofs":[],"errors":[1]})"))
                  .find("errors"),
              std::string::npos);
    // What the agent could not measure is cut short and capped, not refused.
    location_proof_request chatty;
    chatty.round = bytes(32, 1);
    chatty.errors.assign(100, std::string(1000, 'e'));
    back = parse_location_proof_request(encode_location_proof_request(chatty));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->errors.size(), max_location_errors);
    EXPECT_EQ(back->errors[0].size(), max_location_error_text);
}

TEST(KeyRequest, RoundTripsAndRefusesABadModelIdOrEmptyProof) {
    key_request r;
    r.model = "llm-7b.v2";
    r.nonce = bytes(32, 1);
    r.proof = {bytes(90, 2), bytes(80, 3), bytes(120, 4), bytes(70, 5)};
    auto back = parse_key_request(encode_key_request(r));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->model, r.model);
    EXPECT_EQ(back->nonce, r.nonce);
    EXPECT_EQ(back->proof.attest, r.proof.attest);
    EXPECT_EQ(back->proof.signature, r.proof.signature);

    auto bad = r;
    bad.model = "../etc";
    EXPECT_NE(refusal(parse_key_request(encode_key_request(bad))).find("model"), std::string::npos);
    bad = r;
    bad.proof.creation_data.clear();
    EXPECT_NE(refusal(parse_key_request(encode_key_request(bad))).find("creation_data"), std::string::npos);
    bad = r;
    bad.nonce = bytes(8, 1);
    EXPECT_NE(refusal(parse_key_request(encode_key_request(bad))).find("nonce"), std::string::npos);
}

TEST(LeaseRenewal, RoundTripsAndBoundsTheId) {
    auto back = parse_lease_renewal(encode_lease_renewal({"0123abcd"}));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->lease, "0123abcd");
    EXPECT_FALSE(parse_lease_renewal(encode_lease_renewal({""})).ok());
    EXPECT_FALSE(parse_lease_renewal(encode_lease_renewal({std::string(129, 'a')})).ok());
    EXPECT_FALSE(parse_lease_renewal(R"({"lease":1})").ok());
}

}  // namespace
}  // namespace custos::attest
