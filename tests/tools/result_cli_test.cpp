// custos result verify: a verifier's signed result checked offline; every failure names its step, prints
// nothing on stdout, and exits 1 (check failed) or 2 (bad input).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "crypto/base64.hpp"
#include "crypto/jwt.hpp"
#include "crypto/x509.hpp"
#include "tests/support/cli_runner.hpp"
#include "tests/support/process.hpp"

namespace custos {
namespace {

namespace fs = std::filesystem;
using test::run_cli;

const std::string claims =
    R"({"iss":"custos-verifier","sub":"gpu-1","iat":1764000000,"eat_profile":"tag:custos.dev,2026:ear-v1",)"
    R"("ear.status":"warning","custos.findings":[{"rule":"report-chain-gap","severity":"warning"},)"
    R"({"rule":"reboot","severity":"info"}]})";

class ResultCli : public ::testing::Test {
protected:
    void SetUp() override {
        key_ = std::move(x509::generate_p256()).value();
        pub_ = write("result.pub.pem", *ossl::public_to_pem(key_.get()));
        token_ = *jwt::sign_es256(key_.get(), claims);
    }
    std::string write(const std::string& name, const std::string& text) {
        const fs::path p = dir_.path() / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }
    test::cli_outcome verify(const std::string& token, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"result", "verify", token, "--verifier-pub", pub_};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_cli(args);
    }
    static void expect_failure(const test::cli_outcome& r, int rc, const std::string& stderr_prefix) {
        EXPECT_EQ(r.rc, rc) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_EQ(r.err.rfind(stderr_prefix, 0), 0u) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
    }

    test::temp_dir dir_{"custos-result-cli"};
    ossl::pkey_ptr key_;
    std::string pub_, token_;
};

TEST_F(ResultCli, ValidTokenPrintsTheSummary) {
    auto r = verify(token_);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "result: valid\nhost: gpu-1\nstatus: warning\nissued: 2025-11-24T16:00:00Z\nfindings: 2\n");
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(ResultCli, JsonPrintsTheVerifiedClaims) {
    auto r = verify(token_, {"--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, claims + "\n");
}

TEST_F(ResultCli, TokenFromAFileOrStdin) {
    auto r = verify("@" + write("token.jwt", token_ + "\n"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("host: gpu-1\n"), std::string::npos);
    // stdin needs a real process.
    auto p = test::run_process({CUSTOS_CLI_PATH, "result", "verify", "-", "--verifier-pub", pub_}, {},
                               std::chrono::seconds(30), token_ + "\n");
    ASSERT_EQ(p.exit_code, 0) << p.err;
    EXPECT_EQ(p.out, "result: valid\nhost: gpu-1\nstatus: warning\nissued: 2025-11-24T16:00:00Z\nfindings: 2\n");
    auto missing = verify("@" + (dir_.path() / "absent.jwt").string());
    expect_failure(missing, 2, "custos: result verify: TOKEN: ");
}

TEST_F(ResultCli, TamperedClaimsFailTheSignatureStep) {
    const auto d1 = token_.find('.'), d2 = token_.rfind('.');
    std::string forged = claims;
    forged.replace(forged.find("warning"), 7, "affirming");
    const std::string tampered = token_.substr(0, d1 + 1) + to_base64url(as_bytes(forged)) + token_.substr(d2);
    expect_failure(verify(tampered), 1,
                   "custos: result verify: signature: the JWT signature does not verify with the verifier's key");
    std::string flipped = token_;
    flipped[d1 + 5] = flipped[d1 + 5] == 'a' ? 'b' : 'a';
    const auto r = verify(flipped);
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_TRUE(r.out.empty());
}

TEST_F(ResultCli, AnotherVerifiersKeyFails) {
    auto other = x509::generate_p256();
    pub_ = write("other.pub.pem", *ossl::public_to_pem(other->get()));
    expect_failure(verify(token_), 1, "custos: result verify: signature: ");
}

TEST_F(ResultCli, AlgNoneIsRefusedAtTheStructureStep) {
    const auto d1 = token_.find('.'), d2 = token_.rfind('.');
    const std::string none =
        to_base64url(as_bytes(R"({"alg":"none","typ":"JWT"})")) + token_.substr(d1, d2 - d1) + ".";
    expect_failure(verify(none), 1,
                   "custos: result verify: structure: JWT header: algorithm \"none\" is not accepted (only ES256)");
    const std::string hs = to_base64url(as_bytes(R"({"alg":"HS256","typ":"JWT"})")) + token_.substr(d1);
    expect_failure(verify(hs), 1, "custos: result verify: structure: JWT header: algorithm \"HS256\"");
}

TEST_F(ResultCli, GarbageIsBadInput) {
    expect_failure(verify("garbage"), 2,
                   "custos: result verify: structure: a JWT has three base64url parts separated by '.'");
    expect_failure(verify("a!.b.c"), 2, "custos: result verify: structure: a JWT part is not valid base64url");
    expect_failure(verify("   "), 2, "custos: result verify: TOKEN is empty");
}

TEST_F(ResultCli, UnusableKeysAreBadInput) {
    pub_ = (dir_.path() / "absent.pem").string();
    expect_failure(verify(token_), 2, "custos: result verify: --verifier-pub: ");
    pub_ = write("junk.pem", "not a key\n");
    expect_failure(verify(token_), 2, "custos: result verify: --verifier-pub " + pub_ + ": not a PEM public key");
    ossl::pkey_ptr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    pub_ = write("p384.pem", *ossl::public_to_pem(p384.get()));
    expect_failure(verify(token_), 2,
                   "custos: result verify: --verifier-pub " + pub_ + ": the verifier key is not a P-256 public key");
}

TEST_F(ResultCli, MissingClaimsShowAsQuestionMarks) {
    token_ = *jwt::sign_es256(key_.get(), R"({"iat":1.5,"custos.findings":"none"})");
    auto r = verify(token_);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "result: valid\nhost: ?\nstatus: ?\nissued: ?\nfindings: 0\n");
}

}  // namespace
}  // namespace custos
