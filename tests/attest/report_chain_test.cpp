// attest/report_chain: the offline chain check an auditor runs; each failure names the report and the step.
#include "attest/report_chain.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "attest/wire.hpp"

namespace custos::attest {
namespace {

struct keypair {
    bytes pk = bytes(32);
    secret_bytes sk = secret_bytes(64);
    keypair() { crypto_sign_keypair(pk.data(), sk.data()); }
};

class ReportChain : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_GE(sodium_init(), 0); }
    // Reports from..to by `k`, continuing `prev`.
    void add(const keypair& k, std::uint64_t count) {
        for (std::uint64_t i = 0; i < count; ++i) {
            report r;
            r.host = "h1";
            r.seq = reports_.size() + 1;
            r.prev = prev_;
            r.time = 1764000000;
            r.clock = 1000 * r.seq;
            r.key = k.pk;
            const bytes body = encode_report(r);
            reports_.push_back({body, sign_report(body, k.sk)});
            prev_ = report_hash(body);
        }
    }
    result<chain_summary> check() { return verify_report_chain("h1", 0, bytes(32, 0), reports_, keys_); }
    std::string failure() {
        auto c = check();
        return c ? std::string() : c.err().message;
    }
    std::vector<signed_report> reports_;
    std::vector<chain_key> keys_;
    bytes prev_ = bytes(32, 0);
};

TEST_F(ReportChain, TwoKeysEachInItsWindowVerify) {
    keypair k1, k2;
    add(k1, 3);
    add(k2, 2);
    keys_ = {{k1.pk, 1, 3, ""}, {k2.pk, 4, key_window_open, ""}};
    auto c = check();
    ASSERT_TRUE(c.ok()) << c.err().message;
    EXPECT_EQ(c->reports, 5u);
    EXPECT_EQ(c->last_seq, 5u);
    EXPECT_EQ(c->head, prev_);
}

TEST_F(ReportChain, EachTamperingIsNamed) {
    keypair k1, k2;
    add(k1, 3);
    add(k2, 2);
    keys_ = {{k1.pk, 1, 2, ""}, {k2.pk, 4, key_window_open, ""}};
    EXPECT_NE(failure().find("report 3: window: report 3 is signed with a key retired after report 2"), std::string::npos)
        << failure();
    keys_[0].until_seq = 3;
    ASSERT_EQ(failure(), "");
    auto saved = reports_;
    reports_[1].signature[0] ^= 1;
    EXPECT_NE(failure().find("report 2: signature"), std::string::npos) << failure();
    reports_ = saved;
    reports_.erase(reports_.begin() + 1);
    EXPECT_NE(failure().find("report 2: seq"), std::string::npos) << failure();
    reports_ = saved;
    reports_[2].body.back() ^= 0;  // unchanged: still fine
    std::swap(reports_[3], reports_[4]);
    EXPECT_NE(failure().find("report 4: seq"), std::string::npos) << failure();
    reports_ = saved;
    keys_.pop_back();
    EXPECT_NE(failure().find("report 4: key"), std::string::npos) << failure();
    EXPECT_FALSE(verify_report_chain("h2", 0, bytes(32, 0), saved, {{k1.pk, 1, 3, ""}, {k2.pk, 4, key_window_open, ""}}).ok());
    EXPECT_FALSE(verify_report_chain("h1", 0, bytes(32, 1), saved, {{k1.pk, 1, 3, ""}, {k2.pk, 4, key_window_open, ""}}).ok());
}

TEST_F(ReportChain, ABindingIsRequiredAndMustParse) {
    keypair k;
    chain_key c{k.pk, 1, key_window_open, ""};
    auto r = verify_key_binding(c, nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("no binding quote"), std::string::npos);
    c.binding = R"({"kind":"telepathy","nonce":"AA==","quote":{"attest":"AA==","signature":"AA==","pcrs":{}}})";
    EXPECT_FALSE(verify_key_binding(c, nullptr).ok());
}

}  // namespace
}  // namespace custos::attest
