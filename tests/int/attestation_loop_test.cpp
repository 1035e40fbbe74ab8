// The attestation loop against a real verifier (HTTPS, SQLite) and real swtpms: enrollment, rounds,
// findings fired and not fired, forged/replayed/cross-host evidence, report chains.
#include <gtest/gtest.h>

#include "crypto/jwt.hpp"
#include "tests/int/verifier_harness.hpp"

namespace custos::test {
namespace {

using verifier::finding_record;

std::vector<std::string> rules_of(const std::vector<finding_record>& fs) {
    std::vector<std::string> out;
    for (const auto& f : fs) out.push_back(f.rule);
    std::sort(out.begin(), out.end());
    return out;
}

class AttestationLoop : public two_hosts {
protected:
    void enroll_both() {
        enroll(*a_);
        enroll(*b_);
    }
};

TEST_F(AttestationLoop, EnrollmentIssuesAnAgentCertificateNamingHostAndAk) {
    std::string body;
    ASSERT_EQ(a_->enroll(*v_, v_->token("host-a"), &body), 200u) << body;
    auto j = parse_json(body).as_object();
    auto cert = x509::load_pem(as_bytes(std::string(j["certificate"].as_string())));
    ASSERT_TRUE(cert.ok());
    const auto id = x509::describe(cert->get());
    EXPECT_EQ(id.subject.cn, "host-a");
    EXPECT_EQ(id.subject.ou, "agent");
    auto h = v_->host("host-a");
    ASSERT_TRUE(h.has_value());
    ASSERT_EQ(id.uris.size(), 2u);
    EXPECT_EQ(id.uris[0], "urn:custos:host:host-a");
    EXPECT_EQ(id.uris[1], "urn:custos:ak:" + h->ak_name);
    EXPECT_EQ(h->state, "enrolled");
    EXPECT_EQ(h->cert_sha256, id.sha256);
    EXPECT_EQ(j["report_head"].as_object()["seq"].to_number<std::uint64_t>(), 0u);
    EXPECT_TRUE(v_->findings("host-a").empty());
}

TEST_F(AttestationLoop, TokensAreOneTimeAndBoundToTheirHost) {
    const std::string t = v_->token("host-a");
    std::string body;
    EXPECT_EQ(a_->enroll(*v_, v_->token("host-b"), &body), 401u) << body;  // a token made for host-b
    EXPECT_NE(body.find("another host id"), std::string::npos) << body;
    ASSERT_EQ(a_->enroll(*v_, t, &body), 200u) << body;
    EXPECT_EQ(a_->enroll(*v_, t, &body), 401u);
    EXPECT_NE(body.find("already used"), std::string::npos) << body;
    EXPECT_EQ(a_->enroll(*v_, "host-a.AAAA", &body), 401u);
    EXPECT_NE(body.find("not known"), std::string::npos) << body;
}

TEST_F(AttestationLoop, ActivationWithTheWrongSecretIsRefusedAndBurnsTheEnrollment) {
    auto c = v_->client(false);
    unsigned st = 0;
    const std::string b = post(*c, "/v1/enroll", a_->enroll_body("host-a", v_->token("host-a")), &st);
    ASSERT_EQ(st, 200u) << b;
    const std::string eid(parse_json(b).as_object()["enrollment_id"].as_string());
    const std::string wrong = R"({"enrollment_id":")" + eid + R"(","secret":")" + to_base64(bytes(32, 7)) + R"("})";
    std::string ab = post(*c, "/v1/enroll/activate", wrong, &st);
    EXPECT_EQ(st, 401u);
    EXPECT_NE(ab.find("not in the same TPM"), std::string::npos) << ab;
    ab = post(*c, "/v1/enroll/activate", wrong, &st);
    EXPECT_EQ(st, 401u);
    EXPECT_NE(ab.find("no pending enrollment"), std::string::npos) << ab;
    EXPECT_FALSE(v_->host("host-a").has_value());
}

TEST_F(AttestationLoop, AnotherTpmUnderAnEnrolledNameRaisesEkChanged) {
    ASSERT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
    const auto before = *v_->host("host-a");
    // host-b's TPM (enrolled nowhere) tries to take the name host-a.
    auto c = v_->client(false);
    unsigned st = 0;
    const std::string body = post(*c, "/v1/enroll", b_->enroll_body("host-a", v_->token("host-a")), &st);
    EXPECT_EQ(st, 409u) << body;
    EXPECT_NE(body.find("ek-changed"), std::string::npos) << body;
    const auto fs = v_->findings("host-a");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "ek-changed");
    EXPECT_EQ(fs[0].subject_kind, "host");
    EXPECT_EQ(fs[0].host, "host-a");
    // The enrolled identity is untouched; the same TPM re-enrolling is fine.
    EXPECT_EQ(v_->host("host-a")->ek_sha256, before.ek_sha256);
    EXPECT_EQ(v_->host("host-a")->cert_sha256, before.cert_sha256);
    EXPECT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
}

TEST_F(AttestationLoop, OneTpmUnderTwoNamesRaisesEkDuplicated) {
    ASSERT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
    auto c = v_->client(false);
    unsigned st = 0;
    const std::string body = post(*c, "/v1/enroll", a_->enroll_body("host-z", v_->token("host-z")), &st);
    EXPECT_EQ(st, 409u) << body;
    EXPECT_NE(body.find("ek-duplicated"), std::string::npos) << body;
    const auto fs = v_->findings("host-z");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "ek-duplicated");
    EXPECT_EQ(fs[0].severity, "violation");
    EXPECT_NE(fs[0].detail.find("host-a"), std::string::npos);
    EXPECT_FALSE(v_->host("host-z").has_value());
}

TEST_F(AttestationLoop, ARoundOnAHealthyHostIsAffirmingWithAVerifiableResult) {
    enroll_both();
    unsigned st = 0;
    std::string body;
    auto r = a_->round(&st, &body);
    ASSERT_EQ(st, 200u) << body;
    EXPECT_EQ(r["status"].as_string(), "affirming");
    EXPECT_EQ(r["next_round_s"].to_number<int>(), 5);
    auto pub = ossl::load_public_pem(as_bytes(text_of(v_->dir() / "keys/result.pub.pem")));
    ASSERT_TRUE(pub.ok());
    auto ok = jwt::verify_es256(std::string(r["result"].as_string()), pub->get());
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    auto claims = parse_json(ok->claims_json).as_object();
    EXPECT_EQ(claims["sub"].as_string(), "host-a");
    EXPECT_EQ(claims["ear.status"].as_string(), "affirming");
    EXPECT_TRUE(v_->findings("host-a").empty());
    EXPECT_EQ(v_->host("host-a")->status, "affirming");
}

TEST_F(AttestationLoop, ApprovedHostWithAnExtendedPcrIsContraindicated) {
    enroll_both();
    add_site();
    approve("host-a");
    unsigned st = 0;
    a_->round(&st);  // takes the golden values
    ASSERT_EQ(st, 200u);
    EXPECT_FALSE(v_->host("host-a")->golden_pcrs.empty());
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_TRUE(v_->findings("host-a").empty());  // unchanged state: no pcr-changed
    a_->extend_pcr(7);
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r["status"].as_string(), "contraindicated");
    const auto fs = v_->findings("host-a");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "pcr-changed");
    EXPECT_NE(fs[0].detail.find("sha256:7"), std::string::npos) << fs[0].detail;
    // The same change seen again does not pile up findings; host-b is untouched.
    a_->round(&st);
    EXPECT_EQ(v_->findings("host-a").size(), 1u);
    EXPECT_TRUE(v_->findings("host-b").empty());
    // Approving again takes new golden values and closes the finding.
    approve("host-a");
    r = a_->round(&st);
    EXPECT_EQ(r["status"].as_string(), "affirming");
}

TEST_F(AttestationLoop, AReplayedRoundIsRejectedAsNonceMismatch) {
    enroll_both();
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    const std::string replay = a_->last_attest_body();
    std::string body = post(a_->client(), "/v1/attest", replay, &st);
    EXPECT_EQ(st, 422u) << body;
    EXPECT_EQ(rules_of(v_->findings("host-a")), std::vector<std::string>{"nonce-mismatch"});
    EXPECT_EQ(v_->host("host-a")->status, "contraindicated");
}

TEST_F(AttestationLoop, EvidenceOfOneHostPostedByAnotherIsRejected) {
    enroll_both();
    // host-b fetches a nonce; host-a's TPM quotes over it; host-b posts it as its own.
    const bytes nonce = b_->challenge();
    const bytes ev = b_->evidence();
    const std::string forged = b_->attest_body(nonce, ev, a_->quote(attest::evidence_qualification(nonce, ev)));
    unsigned st = 0;
    const std::string body = post(b_->client(), "/v1/attest", forged, &st);
    EXPECT_EQ(st, 422u) << body;
    const auto fs = v_->findings("host-b");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "quote-invalid");
    EXPECT_NE(fs[0].detail.find("signature"), std::string::npos) << fs[0].detail;
    EXPECT_TRUE(v_->findings("host-a").empty());
    // A nonce issued to host-b cannot be answered by host-a either.
    const bytes nb = b_->challenge();
    const bytes eva = a_->evidence();
    post(a_->client(), "/v1/attest", a_->attest_body(nb, eva, a_->quote(attest::evidence_qualification(nb, eva))), &st);
    EXPECT_EQ(st, 422u);
    EXPECT_EQ(rules_of(v_->findings("host-a")), std::vector<std::string>{"nonce-mismatch"});
}

TEST_F(AttestationLoop, EvidenceChangedAfterQuotingIsQuoteInvalid) {
    enroll_both();
    const bytes nonce = a_->challenge();
    const bytes ev = a_->evidence();
    auto q = a_->quote(attest::evidence_qualification(nonce, ev));
    bytes other = ev;
    const std::string t(ev.begin(), ev.end());
    other[t.find("\"time\":") + 8] ^= 1;  // still JSON, a different time
    unsigned st = 0;
    post(a_->client(), "/v1/attest", a_->attest_body(nonce, other, q), &st);
    EXPECT_EQ(st, 422u);
    const auto fs = v_->findings("host-a");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "quote-invalid");
    EXPECT_NE(fs[0].detail.find("qualification"), std::string::npos) << fs[0].detail;
}

TEST_F(AttestationLoop, ARebootIsAnInfoFindingAndStaysAffirming) {
    enroll_both();
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    a_->tpm().restart();
    // swtpm restarted on the same port: the device reconnects per operation.
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r["status"].as_string(), "affirming");
    const auto fs = v_->findings("host-a");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "reboot");
    EXPECT_EQ(fs[0].severity, "info");
}

TEST_F(AttestationLoop, ReportChainsAcceptDuplicatesAndFlagRollbackGapAndForgery) {
    enroll_both();
    ASSERT_EQ(a_->bind_key(), 200u);
    auto r1 = a_->make_report();
    auto r2 = a_->make_report();
    EXPECT_EQ(a_->send_reports({r1, r2}), (std::vector<std::string>{"accepted", "accepted"}));
    // A resend after a lost acknowledgement: acknowledged, not counted twice.
    EXPECT_EQ(a_->send_reports({r2}), (std::vector<std::string>{"duplicate"}));
    EXPECT_TRUE(v_->findings("host-a").empty());
    {
        auto tx = v_->ctx().db->begin();
        EXPECT_EQ(*(*tx)->count_reports("host-a"), 2u);
    }
    // A different report 2: rollback.
    auto forked = a_->make_report(2, attest::report_hash(r1.first));
    EXPECT_EQ(a_->send_reports({forked}), (std::vector<std::string>{"rejected"}));
    EXPECT_EQ(rules_of(v_->findings("host-a")), std::vector<std::string>{"report-rollback"});
    // Report 3 with a wrong prev: rollback (fork) too; report 5 after 2: gap, accepted.
    auto r3 = a_->make_report();
    auto r4 = a_->make_report();
    auto r5 = a_->make_report();
    (void)r3;
    (void)r4;
    EXPECT_EQ(a_->send_reports({r5}), (std::vector<std::string>{"accepted"}));
    EXPECT_EQ(rules_of(v_->findings("host-a", "report-chain-gap")), std::vector<std::string>{"report-chain-gap"});
    // A flipped signature bit.
    auto r6 = a_->make_report();
    r6.second[5] ^= 1;
    EXPECT_EQ(a_->send_reports({r6}), (std::vector<std::string>{"rejected"}));
    EXPECT_EQ(v_->findings("host-a", "report-signature-invalid").size(), 1u);
    auto tx = v_->ctx().db->begin();
    EXPECT_EQ(*(*tx)->count_reports("host-a"), 3u);
}

TEST_F(AttestationLoop, ReportsSignedWithAnUnboundKeyAreRejected) {
    enroll_both();
    auto r1 = a_->make_report();  // no binding quote yet
    EXPECT_EQ(a_->send_reports({r1}), (std::vector<std::string>{"rejected"}));
    const auto fs = v_->findings("host-a");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].rule, "report-signature-invalid");
    EXPECT_NE(fs[0].detail.find("no quote of this host has bound"), std::string::npos);
    // host-b cannot post host-a's (bound) reports either. The binding is the one the agent spools ahead of
    // r1: its key signs from report 1 on.
    const bytes head1 = a_->head_hash();
    a_->set_head(0, bytes(32, 0));
    ASSERT_EQ(a_->bind_key(), 200u);
    a_->set_head(1, head1);
    EXPECT_EQ(b_->send_reports({r1}), (std::vector<std::string>{"rejected"}));
    EXPECT_EQ(v_->findings("host-b", "report-signature-invalid").size(), 1u);
    EXPECT_EQ(a_->send_reports({r1}), (std::vector<std::string>{"accepted"}));
    // After a re-enrollment the old binding no longer counts: the next report needs a fresh binding.
    ASSERT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
    auto r2 = a_->make_report();
    EXPECT_EQ(a_->send_reports({r2}), (std::vector<std::string>{"rejected"}));
    const bytes head2 = a_->head_hash();
    a_->set_head(1, head1);
    ASSERT_EQ(a_->bind_key(), 200u);
    a_->set_head(2, head2);
    EXPECT_EQ(a_->send_reports({r2}), (std::vector<std::string>{"accepted"}));
}

TEST_F(AttestationLoop, ABindingQuoteOverAnotherKeyIsQuoteInvalid) {
    enroll_both();
    // Post a binding for a key the quote does not cover: take host-a's valid binding body, swap the key.
    std::string body;
    json::object o;
    const bytes nonce = a_->challenge();
    o["report_key"] = to_base64(bytes(32, 9));
    o["prev_seq"] = 0;
    o["prev_hash"] = to_hex(bytes(32, 0));
    o["nonce"] = to_base64(nonce);
    o["quote"] = a_->quote(attest::report_key_qualification(nonce, a_->report_key(), 0, bytes(32, 0)));
    unsigned st = 0;
    body = post(a_->client(), "/v1/report-key", json::serialize(o), &st);
    EXPECT_EQ(st, 422u) << body;
    EXPECT_EQ(rules_of(v_->findings("host-a")), std::vector<std::string>{"quote-invalid"});
}

TEST_F(AttestationLoop, HostDarkFiresAfterThreeIntervalsAndResolvesOnEvidence) {
    enroll_both();
    unsigned st = 0;
    a_->round(&st);
    b_->round(&st);
    const std::int64_t now = verifier::unix_now();
    auto raised = verifier::check_dark_hosts(v_->ctx(), now + 5);  // within 3 × 2 s
    ASSERT_TRUE(raised.ok());
    EXPECT_TRUE(raised->empty());
    raised = verifier::check_dark_hosts(v_->ctx(), now + 7);
    ASSERT_TRUE(raised.ok());
    ASSERT_EQ(raised->size(), 2u);
    EXPECT_EQ((*raised)[0].rule, "host-dark");
    EXPECT_EQ((*raised)[0].severity, "warning");
    EXPECT_EQ(v_->host("host-a")->status, "warning");
    // Still dark: no second finding.
    raised = verifier::check_dark_hosts(v_->ctx(), now + 9);
    EXPECT_TRUE(raised->empty());
    // Evidence resolves it.
    a_->round(&st);
    EXPECT_TRUE(v_->findings("host-a", "host-dark")[0].resolved_at > 0);
    EXPECT_FALSE(v_->findings("host-a", "host-dark")[0].open);
    EXPECT_EQ(v_->host("host-a")->status, "affirming");
    EXPECT_TRUE(v_->findings("host-b", "host-dark")[0].open);
}

TEST_F(AttestationLoop, EveryProtectedEndpointRefusesMissingAndWrongCredentials) {
    enroll_both();
    const std::vector<std::pair<std::string, std::string>> agent_routes = {
        {"POST", "/v1/challenge"}, {"POST", "/v1/attest"}, {"POST", "/v1/report-key"}, {"POST", "/v1/reports"}};
    const std::vector<std::pair<std::string, std::string>> operator_routes = {
        {"GET", "/metrics"},           {"GET", "/v1/hosts"},     {"GET", "/v1/hosts/host-a"},
        {"GET", "/v1/findings"},       {"POST", "/v1/sites"},    {"POST", "/v1/entities"},
        {"POST", "/v1/hosts/host-a/approve"}, {"POST", "/v1/hosts/host-a/decommission"}};
    auto anon = v_->client(false);
    auto op = v_->client(true);
    for (const auto& [m, p] : agent_routes) {
        EXPECT_EQ(anon->request(m, p, "{}")->status, 401u) << p;
        EXPECT_EQ(op->request(m, p, "{}")->status, 403u) << p;  // an operator is not an agent
    }
    for (const auto& [m, p] : operator_routes) {
        EXPECT_EQ(anon->request(m, p, "{}")->status, 401u) << p;
        EXPECT_EQ(a_->client().request(m, p, "{}")->status, 403u) << p;  // an agent is not an operator
    }
    EXPECT_EQ(anon->request("GET", "/healthz")->status, 200u);
    EXPECT_EQ(v_->host("host-a")->state, "enrolled");
}

TEST_F(AttestationLoop, MalformedAndOversizedBodiesChangeNothing) {
    enroll_both();
    ASSERT_EQ(a_->bind_key(), 200u);
    EXPECT_EQ(a_->send_reports({a_->make_report()}), (std::vector<std::string>{"accepted"}));
    const auto before = *v_->host("host-a");
    const std::vector<std::string> bad = {"", "{", "[]", R"({"nonce":1})", R"({"reports":[{"report":"!!","sig":""}]})",
                                          R"({"reports":{}})", R"({"reports":[],"x":1})", std::string(3 << 20, 'a'),
                                          R"({"nonce":"AA==","nonce":"AA==","evidence":"","quote":{}})"};
    for (const auto& path : {"/v1/attest", "/v1/reports", "/v1/report-key", "/v1/enroll", "/v1/enroll/activate"}) {
        for (const auto& b : bad) {
            auto r = a_->client().request("POST", path, b);
            if (!r) continue;  // the server may close the connection on an oversized body
            EXPECT_TRUE(r->status == 400u || r->status == 413u) << path << " " << b.substr(0, 40) << " → " << r->status;
        }
    }
    const auto after = *v_->host("host-a");
    EXPECT_EQ(after.chain_seq, before.chain_seq);
    EXPECT_EQ(after.chain_hash, before.chain_hash);
    EXPECT_EQ(after.status, before.status);
    EXPECT_TRUE(v_->findings("host-a").empty());
    auto tx = v_->ctx().db->begin();
    EXPECT_EQ(*(*tx)->count_reports("host-a"), 1u);
}

TEST_F(AttestationLoop, MetricsCountAppraisalsFindingsAndLatencies) {
    enroll_both();
    unsigned st = 0;
    a_->round(&st);
    post(a_->client(), "/v1/attest", a_->last_attest_body(), &st);  // replay → nonce-mismatch
    auto r = v_->client()->request("GET", "/metrics");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200u);
    EXPECT_NE(r->body.find("custos_hosts{state=\"enrolled\"} 2"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("custos_findings_total{rule=\"nonce-mismatch\"} 1"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("custos_appraisals_total{status=\"affirming\"} 1"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("custos_request_duration_seconds_count{route=\"POST /v1/attest\"} 2"), std::string::npos)
        << r->body;
}

}  // namespace
}  // namespace custos::test

namespace custos::test {
namespace {

TEST_F(AttestationLoop, OperatorSuppliedGoldenValuesAreEnforcedFromTheFirstQuote) {
    enroll_both();
    add_site();
    auto op = v_->client();
    unsigned st = 0;
    // The operator's reference for PCR 0 differs from what host-a's TPM will quote.
    const std::string golden = R"({"site":"dc1","golden_pcrs":{"sha256":{"0":")" + std::string(64, 'a') + R"("}}})";
    std::string body = post(*op, "/v1/hosts/host-a/approve", golden, &st);
    ASSERT_EQ(st, 200u) << body;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r["status"].as_string(), "contraindicated");
    auto fs = v_->findings("host-a", "pcr-changed");
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].detail.find("sha256:0"), std::string::npos) << fs[0].detail;
    EXPECT_TRUE(v_->host("host-a")->golden_from_operator);
    // A malformed reference is refused and changes nothing.
    body = post(*op, "/v1/hosts/host-b/approve", R"({"site":"dc1","golden_pcrs":{"sha256":{"0":"00"}}})", &st);
    EXPECT_EQ(st, 400u) << body;
    EXPECT_EQ(v_->host("host-b")->state, "enrolled");
}

}  // namespace
}  // namespace custos::test
