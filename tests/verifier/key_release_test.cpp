// verifier/key_release: release_denial, the one place that decides whether a model key may be released.
#include "verifier/rounds/key_release.hpp"

#include <gtest/gtest.h>

namespace custos::verifier {
namespace {

finding_record violation(std::int64_t id, std::string rule, std::string kind, std::string subject, std::string host) {
    finding_record f;
    f.id = id;
    f.rule = std::move(rule);
    f.severity = "violation";
    f.subject_kind = std::move(kind);
    f.subject = std::move(subject);
    f.host = std::move(host);
    return f;
}

// Host h1 at site dc1 (KR) of entity acme, affirming a minute ago, model m1 approved for dc1.
class ReleaseDenial : public ::testing::Test {
protected:
    void SetUp() override {
        host_.id = "h1";
        host_.state = "approved";
        host_.site = "dc1";
        host_.status = "affirming";
        host_.last_quote_at = 940;
        model_.id = "m1";
        f_.host = &host_;
        f_.model = &model_;
        f_.latest = appraisal_record{"h1", 940, "affirming", "", {}};
        f_.model_sites = {"dc1"};
        f_.site = site_record{"dc1", "acme", "KR", 37.5, 127.0, 50};
        f_.entity = entity_record{"acme", "KR", "uveu"};
        f_.now = 1000;
    }
    std::string denial() {
        auto d = release_denial(f_);
        return d ? *d : std::string();
    }
    host_record host_;
    model_record model_;
    release_facts f_;
};

TEST_F(ReleaseDenial, AnAffirmingApprovedHostAtAnApprovedSiteGetsTheKey) {
    EXPECT_EQ(denial(), "");
    f_.latest->status = "warning";  // a warning does not hold a key back
    host_.status = "warning";
    f_.open_findings = {violation(1, "location-unproven", "host", "h1", "h1")};
    f_.open_findings[0].severity = "warning";
    EXPECT_EQ(denial(), "");
}

TEST_F(ReleaseDenial, EachFailedConditionIsNamed) {
    host_.state = "enrolled";
    EXPECT_EQ(denial(), "host h1 is enrolled, not approved to a site");
    host_.state = "approved";
    f_.model = nullptr;
    EXPECT_EQ(denial(), "no such model is registered");
    f_.model = &model_;
    f_.now = 1000 + 200;
    EXPECT_EQ(denial(), "host h1's latest appraisal is 260 s old (at most 120 s): attest again first");
    f_.now = 1000;
    f_.latest->time = 990;  // an appraisal row that is no round's (a location proof) is not a challenged quote
    host_.last_quote_at = 700;
    EXPECT_EQ(denial(), "host h1's last challenged quote is 300 s old (at most 120 s): attest again first");
    host_.last_quote_at = 0;
    EXPECT_EQ(denial(), "host h1's last challenged quote is missing (at most 120 s): attest again first");
    host_.last_quote_at = 940;
    f_.model_sites = {"dc2"};
    EXPECT_EQ(denial(), "model m1 is not approved for site dc1");
    f_.model_sites = {"dc1"};
    f_.site.reset();
    EXPECT_EQ(denial(), "host h1's site dc1 is not on record");
}

TEST_F(ReleaseDenial, AViolationAboutTheSiteEntityOrCountryHoldsTheKeyBackOneAboutAnotherDoesNot) {
    for (const auto& [kind, subject] : std::vector<std::pair<std::string, std::string>>{
             {"site", "dc1"}, {"entity", "acme"}, {"country", "KR"}, {"model", "m1"}}) {
        f_.open_findings = {violation(7, "some-rule", kind, subject, "")};
        EXPECT_EQ(denial(), "a violation stands for " + kind + " " + subject + ": some-rule (finding 7)");
    }
    f_.open_findings = {violation(7, "some-rule", "site", "dc2", ""), violation(8, "some-rule", "entity", "other", ""),
                        violation(9, "some-rule", "country", "SG", ""), violation(10, "prohibited-chip", "host", "h2", "h2"),
                        violation(11, "some-rule", "model", "m2", ""), violation(12, "key-request-denied", "model", "m1", "h2")};
    EXPECT_EQ(denial(), "");
    f_.open_findings[0].subject = "dc1";
    f_.open_findings[0].open = false;  // resolved
    EXPECT_EQ(denial(), "");
}

TEST_F(ReleaseDenial, AtASiteWithLandmarksOnlyARecentWithinProofReleases) {
    f_.location_required = true;
    f_.max_location_age_s = 180;
    EXPECT_EQ(denial(), "host h1 has not proved its location at site dc1 yet");
    host_location_record l;
    l.host_id = "h1";
    l.time = 900;
    l.verdict = "outside";
    f_.location = l;
    EXPECT_EQ(denial(), "host h1's latest location proof is outside, not within site dc1");
    f_.location->verdict = "within";
    EXPECT_EQ(denial(), "");
    f_.location->time = 700;
    EXPECT_EQ(denial(), "host h1's latest location proof is 300 s old (at most 180 s): answer a location round first");
    f_.location_required = false;  // a site without landmarks asks for none
    EXPECT_EQ(denial(), "");
}

TEST_F(ReleaseDenial, AFailingStatusNamesTheHostsOwnEarliestViolation) {
    f_.latest->status = "contraindicated";
    host_.status = "contraindicated";
    EXPECT_EQ(denial(), "host h1's latest appraisal is contraindicated");
    // The entity's violation came first, but the host's own explain its status; of those the earliest is
    // the cause (key-held-by-failing-host followed from prohibited-chip).
    f_.open_findings = {violation(9, "key-held-by-failing-host", "model", "m1", "h1"),
                        violation(3, "uveu-us-share", "entity", "acme", ""),
                        violation(4, "prohibited-chip", "host", "h1", "h1")};
    EXPECT_EQ(denial(), "host h1's latest appraisal is contraindicated (a violation stands for host h1: prohibited-chip (finding 4))");
    f_.latest->status = "affirming";  // the host turned contraindicated after its latest appraisal
    EXPECT_EQ(denial(), "host h1 is contraindicated now (a violation stands for host h1: prohibited-chip (finding 4))");
    f_.open_findings.pop_back();
    f_.open_findings.erase(f_.open_findings.begin());
    EXPECT_EQ(denial(), "host h1 is contraindicated now (a violation stands for entity acme: uveu-us-share (finding 3))");
}

}  // namespace
}  // namespace custos::verifier
