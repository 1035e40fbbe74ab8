// The auditor's replay of a location round (tools/custos/audit_location.hpp) over rounds built here the way
// the verifier keeps them: real Ed25519 landmark and agent keys, statements signed as custos-landmark signs
// them, the verdict drawn by policy::bound_location. A verifier that lies about any input or output — a
// site moved, a landmark's key swapped, a speed faster than light, a statement counted that does not
// verify or was answered by an unbound key, a verdict the statements do not give, a finding left out of the
// signed result — is named; an honest round passes and is bounded again by light in vacuum.
#include "tools/custos/audit_location.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/json.hpp>

#include "attest/messages.hpp"
#include "crypto/base64.hpp"
#include "policy/geo.hpp"
#include "policy/location_proof.hpp"
#include "tests/support/landmark_statements.hpp"

namespace custos::cli {
namespace {
namespace json = boost::json;

using keypair = test::ed25519_keypair;

constexpr std::int64_t now = 1'800'000'000;
const site_fact seoul{"s1", 37.5665, 126.978, 50};

class AuditLocation : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_GE(sodium_init(), 0);
        round_.resize(32);
        randombytes_buf(round_.data(), round_.size());
        lm_["lm-near"].lat = 37.56;  // in Seoul
        lm_["lm-near"].lon = 126.97;
        lm_["lm-far"].lat = 1.35;  // Singapore, ~4,600 km away
        lm_["lm-far"].lon = 103.82;
        keys_.push_back(attest::chain_key{agent_.pk, 1, attest::key_window_open, "{}"});
        for (auto& [id, l] : lm_) logged_[id] = landmark_fact{l.lat, l.lon, l.keys.pk};
    }

    struct lm {
        double lat = 0, lon = 0;
        keypair keys;
    };

    // A statement of landmark `id` for the round, answered by `agent`, with a round trip of `rtt_ms`.
    attest::location_proof_request::proof statement(const std::string& id, double rtt_ms, const keypair* agent = nullptr,
                                                    std::int64_t at = now) {
        return test::signed_statement(lm_.at(id).keys, agent ? *agent : agent_, id, round_, rtt_ms, at);
    }

    // The round as the verifier keeps it, judged honestly (or with `speed`) from the statements at `accepted`.
    json::object kept(const std::vector<attest::location_proof_request::proof>& proofs, std::vector<std::size_t> accepted,
                      double speed = policy::light_vacuum_km_per_ms) {
        attest::location_proof_request req{round_, proofs, {}};
        std::map<std::string, double> rtt;
        for (auto i : accepted) {
            auto s = policy::parse_landmark_statement(proofs[i].statement);
            const double ms = static_cast<double>(s->t_recv_us - s->t_send_us) / 1000.0;
            rtt[s->landmark_id] = rtt.count(s->landmark_id) ? std::min(rtt[s->landmark_id], ms) : ms;
        }
        std::vector<policy::landmark_rtt> in;
        for (auto& [id, ms] : rtt) in.push_back({lm_.at(id).lat, lm_.at(id).lon, ms});
        json::object o{{"request", json::parse(attest::encode_location_proof_request(req))},
                       {"site", json::object{{"id", seoul.id}, {"lat", seoul.lat}, {"lon", seoul.lon}, {"max_km", seoul.max_km}}},
                       {"speed_km_per_ms", speed}};
        json::array ls, acc;
        for (auto& [id, l] : lm_) ls.push_back(json::object{{"id", id}, {"lat", l.lat}, {"lon", l.lon}, {"public_key", to_base64(l.keys.pk)}});
        for (auto i : accepted) acc.push_back(i);
        o["landmarks"] = std::move(ls);
        o["accepted"] = std::move(acc);
        o["verdict"] = "unproven";
        o["max_km_from_site"] = nullptr;
        o["min_km_from_site"] = nullptr;
        if (!in.empty()) {
            auto b = policy::bound_location(seoul.lat, seoul.lon, seoul.max_km, in, speed);
            EXPECT_TRUE(b.ok());
            o["verdict"] = b->verdict;
            if (b->max_km_from_site) o["max_km_from_site"] = *b->max_km_from_site;
            if (b->min_km_from_site) o["min_km_from_site"] = *b->min_km_from_site;
        }
        return o;
    }

    result<location_round_check> check(const json::object& k, std::set<std::string> rules = {},
                                       const std::map<std::string, landmark_fact>* trusted = nullptr) {
        text_ = json::serialize(k);
        location_round_input in;
        in.kept = text_;
        in.site = site_;
        in.logged = logged_;
        in.trusted = trusted;
        in.keys = &keys_;
        in.chain_seq = 4;
        in.time = now;
        in.open_rules = std::move(rules);
        return check_location_round(in);
    }

    void expect_refused(const json::object& k, const std::string& what, std::set<std::string> rules = {}) {
        auto r = check(k, std::move(rules));
        ASSERT_FALSE(r.ok()) << what;
        EXPECT_EQ(r.err().code, errc::mismatch) << r.err().message;
        EXPECT_NE(r.err().message.find(what), std::string::npos) << r.err().message;
    }

    keypair agent_;
    bytes round_;
    std::map<std::string, lm> lm_;
    std::map<std::string, landmark_fact> logged_;
    std::vector<attest::chain_key> keys_;
    std::optional<site_fact> site_ = seoul;
    std::string text_;
};

TEST_F(AuditLocation, AnHonestWithinRoundPassesAndLightBoundsItWithin) {
    const auto k = kept({statement("lm-near", 0.05), statement("lm-near", 0.2), statement("lm-far", 80)}, {0, 1, 2});
    ASSERT_EQ(k.at("verdict").as_string(), "within");
    auto r = check(k);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->verdict, "within");
    EXPECT_EQ(r->physics, "within");
    EXPECT_EQ(r->counted, 3u);
    EXPECT_EQ(r->not_counted, 0u);
}

TEST_F(AuditLocation, AnOutsideRoundMustCarryItsFindingAndAWithinOneMustNot) {
    // Only Singapore answers, at once: the host is there, not in Seoul.
    const auto out = kept({statement("lm-far", 0.1)}, {0});
    ASSERT_EQ(out.at("verdict").as_string(), "outside");
    auto ok = check(out, {"location-outside"});
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->physics, "outside");
    expect_refused(out, "does not list an open location-outside finding");
    const auto in = kept({statement("lm-near", 0.1)}, {0});
    expect_refused(in, "lists an open location-outside finding", {"location-outside"});
}

TEST_F(AuditLocation, AVerdictTheCountedStatementsDoNotGiveIsNamed) {
    auto k = kept({statement("lm-far", 0.1)}, {0});
    k["verdict"] = "within";
    k["max_km_from_site"] = 10.0;
    k["min_km_from_site"] = 0.0;
    expect_refused(k, "the statements it counted give \"outside\"");
    // The right verdict with made-up distances.
    auto d = kept({statement("lm-near", 0.1)}, {0});
    d["max_km_from_site"] = 1.0;
    expect_refused(d, "distances from site s1");
    // A statement left uncounted that would have moved the verdict: the verifier refused the near one.
    auto u = kept({statement("lm-near", 0.1), statement("lm-far", 200)}, {1});
    u["verdict"] = "within";
    expect_refused(u, "give \"unproven\"");
}

TEST_F(AuditLocation, ACountedStatementThatDoesNotVerifyOrIsAnsweredByAnUnboundKeyIsNamed) {
    auto proofs = std::vector{statement("lm-near", 0.1)};
    proofs[0].sig[5] ^= 1;
    expect_refused(kept(proofs, {0}), "statement 0 (landmark lm-near): counted, but");
    keypair stranger;
    expect_refused(kept({statement("lm-near", 0.1, &stranger)}, {0}), "not the host's current report key");
    // The host's key, retired before this point of the chain.
    keys_[0].until_seq = 3;
    expect_refused(kept({statement("lm-near", 0.1)}, {0}), "not the host's current report key at chain position 4");
    keys_[0].until_seq = attest::key_window_open;
    // A statement from last week replayed into this round.
    expect_refused(kept({statement("lm-near", 0.1, nullptr, now - 7 * 86400)}, {0}), "s from the round's result");
}

TEST_F(AuditLocation, InputsOtherThanTheLoggedOrTrustedOnesAreNamed) {
    const auto k = kept({statement("lm-near", 0.1)}, {0});
    site_ = site_fact{"s1", 1.35, 103.82, 50};  // the log has the site in Singapore
    expect_refused(k, "site s1: the round used a place or max_km other than the log's registration");
    site_ = site_fact{"s2", seoul.lat, seoul.lon, 50};
    expect_refused(k, "but the log has the host at site s2");
    site_.reset();
    expect_refused(k, "no logged approval");
    site_ = seoul;
    auto fast = kept({statement("lm-far", 40)}, {0}, 2 * policy::light_vacuum_km_per_ms);
    expect_refused(fast, "faster than light");
    keypair other;
    logged_["lm-near"].key = other.pk;
    expect_refused(k, "landmark lm-near: the round used a key or place other than the log's registration");
    logged_.erase("lm-near");
    expect_refused(k, "no logged registration precedes the round");
}

TEST_F(AuditLocation, TheAuditorsOwnLandmarkListOverridesTheLogsAndUntrustedStatementsBoundNothing) {
    const auto k = kept({statement("lm-near", 0.1), statement("lm-far", 80)}, {0, 1});
    std::map<std::string, landmark_fact> mine{{"lm-far", logged_["lm-far"]}};
    auto r = check(k, {}, &mine);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->verdict, "within");
    EXPECT_EQ(r->untrusted, 1u);
    EXPECT_EQ(r->physics, "unproven") << "Singapore's 80 ms alone cannot put the host in Seoul";
    keypair other;
    mine["lm-near"] = landmark_fact{37.56, 126.97, other.pk};
    auto bad = check(k, {}, &mine);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("not the one in your landmark list"), std::string::npos) << bad.err().message;
}

// The light-speed bound is the auditor's own: it counts every genuine statement, and light's speed,
// whatever the verifier counted and whatever speed it was configured with.
TEST_F(AuditLocation, PhysicsCountsEveryGenuineStatementAtTheSpeedOfLight) {
    // Singapore answered at once, but the verifier counted only Seoul's slow answer: "unproven" to it.
    const auto left_out = kept({statement("lm-near", 80), statement("lm-far", 0.1)}, {0});
    ASSERT_EQ(left_out.at("verdict").as_string(), "unproven");
    auto r = check(left_out, {"location-unproven"});
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->physics, "outside") << "the statement the verifier left out proves the host is in Singapore";
    // A verifier bounding with a tenth of light's speed calls a host 150-odd km away "within".
    const auto slow = kept({statement("lm-near", 1.0)}, {0}, policy::light_vacuum_km_per_ms / 10);
    ASSERT_EQ(slow.at("verdict").as_string(), "within");
    auto s = check(slow);
    ASSERT_TRUE(s.ok()) << s.err().message;
    EXPECT_EQ(s->physics, "unproven");
}

TEST_F(AuditLocation, MalformedRoundsAndLandmarkListsAreStructureErrors) {
    auto k = kept({statement("lm-near", 0.1)}, {0});
    k["accepted"] = json::array{5};
    auto r = check(k);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::structure) << r.err().message;
    k.erase("verdict");
    EXPECT_FALSE(check(k).ok());
    EXPECT_FALSE(parse_landmark_list("{\"landmarks\": 3}").ok());
    EXPECT_FALSE(parse_landmark_list("[{\"id\":\"a\",\"lat\":1,\"lon\":2,\"public_key\":\"AAAA\"}]").ok());
    const std::string one = "{\"id\":\"a\",\"lat\":1,\"lon\":2,\"public_key\":\"" + to_base64(bytes(32, 1)) + "\",\"address\":\"x:1\"}";
    auto twice = parse_landmark_list("[" + one + "," + one + "]");
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.err().message.find("twice"), std::string::npos);
    auto ok = parse_landmark_list("{\"landmarks\":[" + one + "]}");
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->at("a").lat, 1.0);
}

}  // namespace
}  // namespace custos::cli
