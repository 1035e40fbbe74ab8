// Attested model-key release and the GPU registry against a real verifier (HTTPS, SQLite) and real
// swtpms: model registration checks, release only to an attested host at an approved site, creation-proof
// checks, the TPM's refusal after a PCR change, lease renewal, revocation and expiry; GPU findings through
// signed reports.
#include <gtest/gtest.h>

#include <thread>

#include "attest/bound_key.hpp"
#include "attest/report_ext.hpp"
#include "tests/int/verifier_harness.hpp"
#include "verifier/findings.hpp"
#include "weights/sealed.hpp"
#include "weights/sealed_open.hpp"

namespace custos::test {
namespace {

class KeyRelease : public two_hosts {
protected:
    void SetUp() override {
        two_hosts::SetUp();
        enroll(*a_);
        enroll(*b_);
        op_ = v_->client();
        unsigned st = 0;
        post(*op_, "/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})", &st);
        for (const char* site : {"dc1", "dc2"}) {
            post(*op_, "/v1/sites", std::string(R"({"id":")") + site + R"(","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", &st);
            ASSERT_EQ(st, 201u);
        }
        // A model sealed to this verifier's recipient key.
        fs::create_directories(dir_.path() / "model");
        std::ofstream(dir_.path() / "model/weights.bin") << std::string(100000, 'w') << "end";
        std::ofstream(dir_.path() / "model/config.json") << R"({"arch":"test"})";
        auto pub = weights::load_recipient_public(v_->dir() / "keys/recipient.pub");
        ASSERT_TRUE(pub.ok()) << pub.err().message;
        auto m = weights::seal_model(dir_.path() / "model", "llm-1", *pub, sealed(), {});
        ASSERT_TRUE(m.ok()) << m.err().message;
    }
    fs::path sealed() const { return dir_.path() / "sealed"; }
    std::string model_body(const std::string& id, const fs::path& dir) const {
        return json::serialize(json::object{{"id", id},
                                            {"closed_weights", true},
                                            {"training_ops", 1e25},
                                            {"index", text_of(dir / "index.json")},
                                            {"key_sealed", to_base64(as_bytes(text_of(dir / "key.sealed")))}});
    }
    void register_model(const std::string& site = "dc1") {
        unsigned st = 0;
        const std::string b = post(*op_, "/v1/models", model_body("llm-1", sealed()), &st);
        ASSERT_EQ(st, 201u) << b;
        post(*op_, "/v1/models/llm-1/approve", R"({"site":")" + site + R"("})", &st);
        ASSERT_EQ(st, 200u);
    }
    // challenge → certify → POST /v1/keys with `key`'s proof (or `proof_of`'s public area, to forge).
    json::object ask(sim_host& h, const attest::bound_key& key, unsigned* status, const std::string& model = "llm-1",
                     const attest::bound_key* send_public_of = nullptr, bool stale_nonce = false) {
        bytes nonce = h.challenge();
        bytes signed_nonce = stale_nonce ? bytes(32, 7) : nonce;
        auto proof = h.dev().certify_creation(h.ak(), key, signed_nonce);
        EXPECT_TRUE(proof.ok()) << (proof.ok() ? "" : proof.err().message);
        if (send_public_of) proof->key_public = attest::marshal_public(send_public_of->pub);
        json::object req{{"model", model},
                         {"nonce", to_base64(nonce)},
                         {"key_public", to_base64(proof->key_public)},
                         {"creation_data", to_base64(proof->creation_data)},
                         {"attest", to_base64(proof->attest)},
                         {"signature", to_base64(proof->signature)}};
        const std::string b = post(h.client(), "/v1/keys", json::serialize(req), status);
        return parse_json(b).as_object();
    }
    attest::bound_key bound_key(sim_host& h) {
        auto k = h.dev().create_bound_key(attest::ek_kind::ecc_p384, *attest::parse_pcr_selection("sha256:0,1,2,3,4,5,6,7"));
        EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.err().message);
        return *k;
    }
    std::string detail(const json::object& o) const { return o.contains("detail") ? std::string(o.at("detail").as_string()) : ""; }

    temp_dir dir_{"custos-key-release"};
    std::unique_ptr<net::https_client> op_;
};

TEST_F(KeyRelease, AttestedHostAtAnApprovedSiteGetsAKeyOnlyItsTpmInThatBootStateUnwraps) {
    register_model();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    const auto key = bound_key(*a_);
    auto r = ask(*a_, key, &st);
    ASSERT_EQ(st, 200u) << json::serialize(r);
    const auto wrapped = from_base64(std::string(r["wrapped_key"].as_string()));
    ASSERT_TRUE(wrapped.ok());
    auto dek = a_->dev().unwrap_with_bound_key(key, *wrapped);
    ASSERT_TRUE(dek.ok()) << dek.err().message;
    // The key opens the sealed copy and decrypts its files exactly.
    auto root = from_hex(std::string(r["model_root"].as_string()));
    weights::digest d{};
    std::copy(root->begin(), root->end(), d.begin());
    auto m = weights::sealed_model::open(sealed(), *dek, "llm-1", d);
    ASSERT_TRUE(m.ok()) << m.err().message;
    auto fd = weights::decrypt_to_sealed_memfd(*m, "weights.bin");
    ASSERT_TRUE(fd.ok()) << fd.err().message;
    std::string got(100003, '\0');
    ASSERT_EQ(::pread((*fd)->fd, got.data(), got.size(), 0), 100003);
    EXPECT_EQ(got, std::string(100000, 'w') + "end");
    // The lease is on record; a changed PCR makes the TPM refuse the same wrapped key.
    auto lr = op_->request("GET", "/v1/leases");
    ASSERT_TRUE(lr.ok());
    EXPECT_NE(lr->body.find("host-a"), std::string::npos);
    a_->extend_pcr(7);
    auto again = a_->dev().unwrap_with_bound_key(key, *wrapped);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.err().code, errc::mismatch) << again.err().message;
}

TEST_F(KeyRelease, UnapprovedHostSiteOrModelIsDeniedWithAFinding) {
    register_model();
    unsigned st = 0;
    const auto key = bound_key(*a_);
    auto r = ask(*a_, key, &st);  // enrolled, not approved
    EXPECT_EQ(st, 403u);
    EXPECT_NE(detail(r).find("not approved to a site"), std::string::npos) << detail(r);
    approve("host-a", "dc2");  // a site the model is not approved for
    a_->round(&st);
    r = ask(*a_, key, &st);
    EXPECT_EQ(st, 403u);
    EXPECT_NE(detail(r).find("not approved for site dc2"), std::string::npos) << detail(r);
    r = ask(*a_, key, &st, "no-such-model");
    EXPECT_EQ(st, 404u);
    EXPECT_NE(detail(r).find("no model \"no-such-model\" is registered"), std::string::npos) << detail(r);
    const auto fs = v_->findings("host-a", "key-request-denied");
    EXPECT_FALSE(fs.empty());
    for (const auto& f : fs) EXPECT_EQ(f.severity, "info");
    // Approved at the model's site: released.
    approve("host-a", "dc1");
    a_->round(&st);
    ask(*a_, key, &st);
    EXPECT_EQ(st, 200u);
}

// The attack that got a key released to a host with an open violation: refusals for made-up model ids
// added an open finding each until the violation fell out of the newest 1,000 (status) and 10,000
// (release) the verifier read. Both are exact questions now, and made-up ids add nothing.
TEST_F(KeyRelease, FloodsOfRefusalsOrOpenFindingsNeverReleaseAKeyPastAViolation) {
    register_model();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    a_->extend_pcr(7);  // the violation root wants to hide
    a_->round(&st);
    ASSERT_EQ(v_->findings("host-a", "pcr-changed").size(), 1u);
    const auto key = bound_key(*a_);
    const std::size_t before = v_->findings("host-a").size();
    for (int i = 0; i < 40; ++i) {
        auto r = ask(*a_, key, &st, "made-up-" + std::to_string(i));
        EXPECT_EQ(st, 404u) << json::serialize(r);
    }
    EXPECT_EQ(v_->findings("host-a").size(), before);
    // More open findings than any list the verifier used to read, all newer than the violation (as if a
    // large fleet, or an older version's flood, had left them).
    {
        auto tx = v_->ctx().db->begin();
        ASSERT_TRUE(tx.ok());
        const std::int64_t now = verifier::unix_now();
        for (int i = 0; i < 10'100; ++i) {
            auto f = verifier::host_finding("ima-unknown-file", i % 2 ? "host-a" : "host-b", "file " + std::to_string(i), now + 1);
            ASSERT_TRUE((*tx)->insert_finding(f).ok());
        }
        ASSERT_TRUE((*tx)->commit().ok());
    }
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(std::string(r["status"].as_string()), "contraindicated");
    r = ask(*a_, key, &st);
    EXPECT_EQ(st, 403u) << json::serialize(r);
    EXPECT_NE(detail(r).find("pcr-changed"), std::string::npos) << detail(r);
}

TEST_F(KeyRelease, CreationProofsForAnotherNonceAnotherKeyOrAnotherBootStateAreRefused) {
    register_model();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    const auto key = bound_key(*a_);
    auto r = ask(*a_, key, &st, "llm-1", nullptr, /*stale_nonce=*/true);
    EXPECT_EQ(st, 403u);
    EXPECT_NE(detail(r).find("creation proof: structure"), std::string::npos) << detail(r);
    const auto other = bound_key(*a_);
    r = ask(*a_, other, &st, "llm-1", &key);  // other's certification, key's public area
    EXPECT_EQ(st, 403u);
    EXPECT_NE(detail(r).find("creation proof"), std::string::npos) << detail(r);
    // A key made after PCR 16 moved still matches (PCR 16 is not in the policy); one made after PCR 7
    // moved carries a policy the verifier did not appraise.
    a_->extend_pcr(16);
    const auto fine = bound_key(*a_);
    ask(*a_, fine, &st);
    EXPECT_EQ(st, 200u);
    a_->extend_pcr(7);
    const auto stale = bound_key(*a_);
    r = ask(*a_, stale, &st);
    EXPECT_EQ(st, 403u);
    EXPECT_NE(detail(r).find("authPolicy"), std::string::npos) << detail(r);
}

TEST_F(KeyRelease, AHostThatFailsAppraisalLosesItsLeaseAndCannotRenew) {
    register_model();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    const auto key = bound_key(*a_);
    auto r = ask(*a_, key, &st);
    ASSERT_EQ(st, 200u);
    const std::string lease(r["lease"].as_string());
    auto renewed = parse_json(post(a_->client(), "/v1/leases/renew", R"({"lease":")" + lease + R"("})", &st));
    EXPECT_EQ(st, 200u) << json::serialize(renewed);
    EXPECT_TRUE(v_->findings("host-a", "key-held-by-failing-host").empty());
    a_->extend_pcr(7);
    a_->round(&st);
    const auto held = v_->findings("host-a", "key-held-by-failing-host");
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].severity, "violation");
    EXPECT_NE(held[0].detail.find("pcr-changed"), std::string::npos) << held[0].detail;
    auto refused = parse_json(post(a_->client(), "/v1/leases/renew", R"({"lease":")" + lease + R"("})", &st)).as_object();
    EXPECT_EQ(st, 403u);
    EXPECT_EQ(refused["error"].as_string(), "lease-revoked");
    // And no new key while it fails.
    ask(*a_, key, &st);
    EXPECT_EQ(st, 403u);
    // Another host's lease renewal of host-a's lease is not found.
    approve("host-b");
    b_->round(&st);
    post(b_->client(), "/v1/leases/renew", R"({"lease":")" + lease + R"("})", &st);
    EXPECT_EQ(st, 404u);
}

TEST_F(KeyRelease, LeasesLapseWithoutRenewal) {
    v_->ctx().cfg.lease_ttl_s = 2;
    register_model();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);
    const auto key = bound_key(*a_);
    auto r = ask(*a_, key, &st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r["expires_in_s"].as_int64(), 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(3100));
    auto refused = parse_json(post(a_->client(), "/v1/leases/renew", R"({"lease":")" + std::string(r["lease"].as_string()) + R"("})", &st)).as_object();
    EXPECT_EQ(st, 403u);
    EXPECT_EQ(refused["error"].as_string(), "lease-expired");
    auto lr = op_->request("GET", "/v1/leases");
    ASSERT_TRUE(lr.ok());
    EXPECT_EQ(parse_json(lr->body).at("leases").as_array().size(), 0u);
}

TEST_F(KeyRelease, ModelRegistrationRefusesKeysThatDoNotBelongToTheModel) {
    unsigned st = 0;
    // The index names llm-1; registering it as llm-2 is refused.
    std::string b = post(*op_, "/v1/models", model_body("llm-2", sealed()), &st);
    EXPECT_EQ(st, 400u);
    EXPECT_NE(b.find("for model \\\"llm-1\\\""), std::string::npos) << b;
    // llm-2's key.sealed next to llm-1's index: a key cannot be registered under another model.
    auto pub = weights::load_recipient_public(v_->dir() / "keys/recipient.pub");
    ASSERT_TRUE(weights::seal_model(dir_.path() / "model", "llm-2", *pub, dir_.path() / "sealed2", {}).ok());
    json::object mixed{{"id", "llm-1"}, {"index", text_of(sealed() / "index.json")},
                       {"key_sealed", to_base64(as_bytes(text_of(dir_.path() / "sealed2/key.sealed")))}};
    b = post(*op_, "/v1/models", json::serialize(mixed), &st);
    EXPECT_EQ(st, 400u);
    EXPECT_NE(b.find("another model"), std::string::npos) << b;
    // Sealed to another recipient: does not open.
    auto other = weights::generate_recipient_key();
    ASSERT_TRUE(weights::seal_model(dir_.path() / "model", "llm-3", other->pub, dir_.path() / "sealed3", {}).ok());
    b = post(*op_, "/v1/models", model_body("llm-3", dir_.path() / "sealed3"), &st);
    EXPECT_EQ(st, 400u);
    EXPECT_NE(b.find("does not open"), std::string::npos) << b;
    // Registered once; the same id with other weights is a conflict; the same again is fine.
    post(*op_, "/v1/models", model_body("llm-1", sealed()), &st);
    EXPECT_EQ(st, 201u);
    post(*op_, "/v1/models", model_body("llm-1", sealed()), &st);
    EXPECT_EQ(st, 200u);
    std::ofstream(dir_.path() / "model/extra.bin") << "more";
    ASSERT_TRUE(weights::seal_model(dir_.path() / "model", "llm-1", *pub, dir_.path() / "sealed4", {}).ok());
    post(*op_, "/v1/models", model_body("llm-1", dir_.path() / "sealed4"), &st);
    EXPECT_EQ(st, 409u);
    // Agents cannot register models.
    post(a_->client(), "/v1/models", model_body("llm-1", sealed()), &st);
    EXPECT_EQ(st, 403u);
}

TEST_F(KeyRelease, ACarriedGpuRaisesExactlyGpuMissingAndGpuMovedThroughSignedReports) {
    approve("host-a");
    approve("host-b");
    unsigned st = 0;
    ASSERT_EQ(a_->bind_key(), 200u);
    ASSERT_EQ(b_->bind_key(), 200u);
    auto send = [&](sim_host& h, const std::vector<std::string>& serials, double ops) {
        auto res = h.send_reports({h.make_report({}, {}, inventory_ext(serials, ops))}, &st);
        ASSERT_EQ(st, 200u);
        ASSERT_EQ(res, std::vector<std::string>{"accepted"});
    };
    send(*a_, {"s1", "s2"}, 1e15);
    send(*b_, {"s3"}, 1e15);
    EXPECT_TRUE(v_->findings("host-a").empty());
    EXPECT_TRUE(v_->findings("host-b").empty());
    send(*a_, {"s1"}, 2e15);
    send(*b_, {"s3", "s2"}, 2e15);
    const auto fa = v_->findings("host-a");
    const auto fb = v_->findings("host-b");
    ASSERT_EQ(fa.size(), 1u);
    EXPECT_EQ(fa[0].rule, "gpu-missing");
    EXPECT_EQ(fa[0].subject, "s2");
    ASSERT_EQ(fb.size(), 1u);
    EXPECT_EQ(fb[0].rule, "gpu-moved");
    EXPECT_NE(fb[0].detail.find("host-a"), std::string::npos) << fb[0].detail;
    EXPECT_EQ(v_->host("host-a")->status, "contraindicated");
    EXPECT_EQ(v_->host("host-b")->status, "contraindicated");
    // The registry and the compute sums over the operator API.
    auto g = op_->request("GET", "/v1/gpus/s2");
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(parse_json(g->body).at("host").as_string(), "host-b");
    auto c = op_->request("GET", "/v1/compute?by=host");
    ASSERT_TRUE(c.ok());
    double total = 0;
    const json::value totals = parse_json(c->body);
    for (const auto& t : totals.at("totals").as_array()) total += t.at("ops").to_number<double>();
    // host-a: s1 and s2 at first sight (2e15), then s1 +1e15; host-b: s3 (1e15), then s3 +1e15 and s2 at
    // first sight on host-b (2e15, everything its agent counted for it).
    EXPECT_DOUBLE_EQ(total, 3e15 + 4e15);
    // The operator approves the move: gpu-moved closes on host-b, releases s2 from host-a: gpu-missing closes.
    post(*op_, "/v1/gpu-approvals", R"({"host":"host-b","serials":["s2"]})", &st);
    EXPECT_EQ(st, 200u);
    post(*op_, "/v1/gpu-releases", R"({"host":"host-a","serials":["s2"]})", &st);
    EXPECT_EQ(st, 200u);
    EXPECT_EQ(v_->host("host-a")->status, "affirming");
    EXPECT_EQ(v_->host("host-b")->status, "affirming");
}

}  // namespace
}  // namespace custos::test
