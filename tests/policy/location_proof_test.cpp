// Location proofs end to end in-process: a real landmark server (tools/custos-landmark) on loopback, the
// agent's client (agent/landmark_client), and the verifier's pure check of each statement, plus refusals
// of tampered, replayed, foreign and truncated statements.
#include "policy/location_proof.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "agent/landmark_client.hpp"
#include "tests/support/process.hpp"
#include "tools/custos-landmark/landmark_server.hpp"

namespace custos::policy {
namespace {

struct keypair {
    bytes pk = bytes(crypto_sign_PUBLICKEYBYTES);
    secret_bytes sk{crypto_sign_SECRETKEYBYTES};
    keypair() { crypto_sign_keypair(pk.data(), sk.data()); }
};

class LocationProof : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_GE(sodium_init(), 0);
        test::temp_dir d;
        const auto key_file = d.path() / "landmark.key";
        ASSERT_TRUE(landmark::write_new_key(key_file).ok());
        auto sk = landmark::load_key(key_file);
        ASSERT_TRUE(sk.ok()) << sk.err().message;
        landmark_pk_ = landmark::public_key(*sk);
        EXPECT_FALSE(landmark::write_new_key(key_file).ok()) << "a landmark key is never overwritten";
        landmark::server_config c;
        c.listen = "127.0.0.1:0";
        c.id = "lm-seoul";
        c.lat = 37.57;
        c.lon = 126.98;
        auto s = landmark::server::start(c, std::move(sk).value());
        ASSERT_TRUE(s.ok()) << s.err().message;
        srv_ = std::move(s).value();
        round_.resize(32);
        randombytes_buf(round_.data(), round_.size());
    }

    agent::location_attempt prove(unsigned samples) {
        return agent::prove_location(round_, agent_.pk, agent_.sk,
                                     {{"lm-seoul", "127.0.0.1:" + std::to_string(srv_->port())}}, samples,
                                     std::chrono::milliseconds(2000));
    }

    keypair agent_;
    bytes landmark_pk_, round_;
    std::unique_ptr<landmark::server> srv_;
};

TEST_F(LocationProof, SamplesVerifyAndMeasureALoopbackRoundTrip) {
    const auto a = prove(5);
    ASSERT_TRUE(a.errors.empty()) << a.errors.front();
    ASSERT_EQ(a.proofs.size(), 5u);
    EXPECT_EQ(srv_->statements_signed(), 5u);
    for (const auto& p : a.proofs) {
        auto s = verify_landmark_statement(p.statement, p.signature, landmark_pk_, round_, agent_.pk);
        ASSERT_TRUE(s.ok()) << s.err().message;
        EXPECT_EQ(s->statement.landmark_id, "lm-seoul");
        EXPECT_GE(s->rtt_ms, 0.0);
        EXPECT_LT(s->rtt_ms, 1000.0);  // loopback
        EXPECT_EQ(s->statement.agent_key, agent_.pk);
    }
    // Every landmark nonce is fresh.
    EXPECT_NE(parse_landmark_statement(a.proofs[0].statement)->landmark_nonce,
              parse_landmark_statement(a.proofs[1].statement)->landmark_nonce);
}

TEST_F(LocationProof, TamperedReplayedForeignAndTruncatedStatementsAreRefused) {
    const auto a = prove(1);
    ASSERT_EQ(a.proofs.size(), 1u);
    const auto& p = a.proofs[0];
    // A later t_recv (a longer RTT) or any other edited byte breaks the landmark's signature.
    bytes edited = p.statement;
    edited[edited.size() - 1] ^= 1;
    auto e = verify_landmark_statement(edited, p.signature, landmark_pk_, round_, agent_.pk);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.err().code, errc::signature);
    // Another landmark's key.
    keypair other;
    auto f = verify_landmark_statement(p.statement, p.signature, other.pk, round_, agent_.pk);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.err().code, errc::signature);
    // Another round's nonce: a replay.
    bytes round2 = round_;
    round2[0] ^= 0xff;
    auto r = verify_landmark_statement(p.statement, p.signature, landmark_pk_, round2, agent_.pk);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::mismatch);
    // Answered by another key than the host's.
    auto k = verify_landmark_statement(p.statement, p.signature, landmark_pk_, round_, other.pk);
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.err().code, errc::mismatch);
    // Truncated.
    bytes cut(p.statement.begin(), p.statement.end() - 3);
    auto t = verify_landmark_statement(cut, p.signature, landmark_pk_, round_, agent_.pk);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.err().code, errc::parse);
}

TEST_F(LocationProof, AStatementWhoseAgentSignatureIsWrongIsRefusedEvenIfTheLandmarkSignedIt) {
    // A landmark that signs whatever it is handed (not ours: ours checks the answer first) cannot make a
    // bad agent signature pass the verifier.
    keypair lm;
    landmark_statement s;
    s.landmark_id = "lm-x";
    s.round_nonce = round_;
    s.landmark_nonce = bytes(32, 7);
    s.agent_key = agent_.pk;
    s.agent_sig = bytes(64, 1);
    s.t_send_us = 1000;
    s.t_recv_us = 2500;
    const bytes b = encode_landmark_statement(s);
    auto v = verify_landmark_statement(b, sign_statement(b, lm.sk), lm.pk, round_, agent_.pk);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.err().code, errc::signature);
    EXPECT_NE(v.err().message.find("agent"), std::string::npos) << v.err().message;
    // Signed properly by the agent it passes, with RTT 1.5 ms.
    const bytes m = location_answer_message(s.round_nonce, s.landmark_nonce);
    crypto_sign_detached(s.agent_sig.data(), nullptr, m.data(), m.size(), agent_.sk.data());
    const bytes b2 = encode_landmark_statement(s);
    auto ok = verify_landmark_statement(b2, sign_statement(b2, lm.sk), lm.pk, round_, agent_.pk);
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_DOUBLE_EQ(ok->rtt_ms, 1.5);
    // t_recv before t_send is a structure error, found before any signature is checked.
    s.t_recv_us = 999;
    const bytes b3 = encode_landmark_statement(s);
    auto bad = verify_landmark_statement(b3, bytes(64, 0), lm.pk, round_, agent_.pk);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.err().code, errc::structure);
}

TEST_F(LocationProof, AnUnreachableLandmarkIsAnErrorNotACrash) {
    const auto a = agent::prove_location(round_, agent_.pk, agent_.sk, {{"gone", "127.0.0.1:1"}}, 3,
                                         std::chrono::milliseconds(500));
    EXPECT_TRUE(a.proofs.empty());
    ASSERT_EQ(a.errors.size(), 1u);
    EXPECT_NE(a.errors[0].find("gone"), std::string::npos);
}

}  // namespace
}  // namespace custos::policy
