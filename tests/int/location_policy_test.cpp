// Location proofs and export-control policy against a real verifier (HTTPS, SQLite), a real swtpm, real
// landmark servers in-process and the delay-relay binary: within / outside / unproven / impossible rounds
// and the findings each leaves, refused proofs, the fleet snapshot evaluated offline (library and CLI)
// against the verifier's own policy findings, and model-key release held back by a policy violation.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "attest/bound_key.hpp"
#include "attest/report_ext.hpp"
#include "policy/engine.hpp"
#include "policy/geo.hpp"
#include "policy/location_proof.hpp"
#include "tests/int/verifier_harness.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/files.hpp"
#include "tools/custos-landmark/landmark_server.hpp"
#include "verifier/policy_appraisal.hpp"
#include "weights/sealed.hpp"
#include "tests/support/pci_view.hpp"

namespace custos::test {
namespace {

using namespace std::chrono_literals;
using verifier::finding_record;

constexpr double site_lat = 37.5, site_lon = 127.0;    // Seoul
constexpr double far_lat = 1.35, far_lon = 103.82;      // Singapore, about 4,600 km away
constexpr int relay_delay_ms = 20;                      // one way: a round trip through it is at least 40 ms

// A landmark server on 127.0.0.1, with its own key.
struct landmark_node {
    std::string id;
    double lat = 0, lon = 0;
    bytes public_key;
    std::unique_ptr<landmark::server> srv;
    std::string direct() const { return "127.0.0.1:" + std::to_string(srv->port()); }
};

// The delay-relay binary in front of one landmark (--listen 127.0.0.1:0, port read from --port-file).
class relay_process {
public:
    relay_process(std::uint16_t target_port, int delay_ms) {
        port_file_ = dir_.path() / "relay.port";
        proc_.emplace(std::vector<std::string>{CUSTOS_DELAY_RELAY_PATH, "--listen", "127.0.0.1:0", "--to",
                                               "127.0.0.1:" + std::to_string(target_port), "--delay-ms",
                                               std::to_string(delay_ms), "--port-file", port_file_.string()},
                      dir_.path() / "relay.log");
        wait_until([&] { return fs::exists(port_file_) || !proc_->running(); }, 10s);
        const std::string text = read_text(port_file_);
        if (text.empty()) throw std::runtime_error("delay-relay did not start: " + proc_->log());
        port_ = static_cast<std::uint16_t>(std::stoi(text));
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    temp_dir dir_{"custos-location-relay"};
    fs::path port_file_;
    std::optional<daemon_process> proc_;
    std::uint16_t port_ = 0;
};


std::string detail_of(const json::object& o) {
    return o.contains("detail") && o.at("detail").is_string() ? std::string(o.at("detail").as_string()) : "";
}

// The landmarks of a POST /v1/location answer by id.
std::map<std::string, json::object> by_id(const json::object& answer) {
    std::map<std::string, json::object> out;
    for (const auto& l : answer.at("landmarks").as_array()) out[std::string(l.at("id").as_string())] = l.as_object();
    return out;
}

// The stored proof's "errors" (what the agent reported, then every refused statement's reason).
std::vector<std::string> stored_errors(const verifier::host_location_record& r) {
    std::vector<std::string> out;
    const json::value detail = parse_json(r.detail_json);
    for (const auto& e : detail.at("errors").as_array()) out.emplace_back(e.as_string());
    return out;
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

class LocationRound : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_GE(sodium_init(), 0);
        auto t = swtpm::start();
        // A long report interval: host-dark (3 intervals without evidence) must not fire on a slow machine.
        v_ = std::make_unique<verifier_instance>(std::vector<const swtpm*>{t.get()}, 30);
        a_ = std::make_unique<sim_host>("host-a", std::move(t));
        ASSERT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
        op_ = v_->client();
        unsigned st = 0;
        post(*op_, "/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})", &st);
        ASSERT_EQ(st, 201u);
        // 1500 km: a loopback round trip of up to ~9.9 ms still proves "within".
        post(*op_, "/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":1500})", &st);
        ASSERT_EQ(st, 201u);
        post(*op_, "/v1/sites", R"({"id":"dc2","entity":"acme","country":"JP","lat":35.68,"lon":139.69,"max_km":1500})", &st);
        ASSERT_EQ(st, 201u);
        const std::string b = post(*op_, "/v1/hosts/host-a/approve", R"({"site":"dc1"})", &st);
        ASSERT_EQ(st, 200u) << b;
    }

    landmark_node& start_landmark(const std::string& id, double lat, double lon) {
        const fs::path key = dir_.path() / (id + ".key");
        EXPECT_TRUE(landmark::write_new_key(key).ok());
        auto sk = landmark::load_key(key);
        EXPECT_TRUE(sk.ok());
        landmark_node n;
        n.id = id;
        n.lat = lat;
        n.lon = lon;
        n.public_key = landmark::public_key(*sk);
        landmark::server_config c;
        c.listen = "127.0.0.1:0";
        c.id = id;
        c.lat = lat;
        c.lon = lon;
        auto s = landmark::server::start(c, std::move(sk).value());
        if (!s) throw std::runtime_error("landmark: " + s.err().message);
        n.srv = std::move(s).value();
        return landmarks_.emplace_back(std::move(n));
    }

    // POST /v1/landmarks as the operator; returns the status.
    unsigned register_landmark(const landmark_node& l, const std::string& address, const std::string& site = "dc1") {
        json::object o{{"id", l.id},       {"lat", l.lat},         {"lon", l.lon}, {"public_key", to_base64(l.public_key)},
                       {"address", address}, {"sites", json::array{json::value(site)}}};
        unsigned st = 0;
        const std::string b = post(*op_, "/v1/landmarks", json::serialize(o), &st);
        EXPECT_TRUE(st == 200 || st == 201) << b;
        return st;
    }

    relay_process& relay_to(const landmark_node& l) { return relays_.emplace_back(l.srv->port(), relay_delay_ms); }

    // One attestation round; its answer's "location" object (the test fails without one).
    json::value location_round() {
        unsigned st = 0;
        std::string body;
        auto r = a_->round(&st, &body);
        EXPECT_EQ(st, 200u) << body;
        EXPECT_TRUE(r.contains("location")) << body;
        return r.contains("location") ? r.at("location") : json::value(json::object{});
    }

    std::vector<finding_record> open_location_findings() {
        std::vector<finding_record> out;
        for (const char* rule : {"location-outside", "location-unproven", "location-impossible"})
            for (auto& f : open_only(v_->findings("host-a", rule))) out.push_back(std::move(f));
        return out;
    }

    temp_dir dir_{"custos-location-int"};
    std::unique_ptr<verifier_instance> v_;
    std::unique_ptr<sim_host> a_;
    std::unique_ptr<net::https_client> op_;
    std::deque<landmark_node> landmarks_;  // a deque: references stay valid as it grows
    std::deque<relay_process> relays_;
};

TEST_F(LocationRound, LandmarksAtTheSiteOnLoopbackProveWithinAndTheProofIsStored) {
    // No landmarks for the site yet: the attest answer opens no location round.
    unsigned st = 0;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_FALSE(r.contains("location"));
    EXPECT_FALSE(v_->location("host-a").has_value());
    if (auto got = op_->request("GET", "/v1/hosts/host-a"); got.ok()) {
        EXPECT_TRUE(parse_json(got->body).at("location").is_null()) << got->body;
    } else {
        ADD_FAILURE() << got.err().message;
    }

    // Two landmarks registered at the site's own coordinates (the host really is there: loopback).
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    auto& b = start_landmark("lm-seoul-2", site_lat, site_lon);
    EXPECT_EQ(register_landmark(a, a.direct()), 201u);
    EXPECT_EQ(register_landmark(b, b.direct()), 201u);
    const json::value loc = location_round();
    const auto& lo = loc.as_object();
    ASSERT_EQ(lo.at("landmarks").as_array().size(), 2u);
    EXPECT_EQ(lo.at("landmarks").as_array()[0].at("id").as_string(), "lm-seoul-1");
    EXPECT_EQ(lo.at("landmarks").as_array()[0].at("address").as_string(), a.direct());
    EXPECT_EQ(lo.at("landmarks").as_array()[1].at("id").as_string(), "lm-seoul-2");
    EXPECT_EQ(lo.at("samples").to_number<unsigned>(), v_->cfg().location_samples);
    EXPECT_EQ(lo.at("timeout_ms").to_number<unsigned>(), v_->cfg().location_timeout_ms);
    EXPECT_GT(lo.at("expires_in_s").to_number<std::int64_t>(), 0);
    EXPECT_EQ(from_base64(std::string(lo.at("round").as_string()))->size(), policy::location_nonce_size);

    agent::location_attempt attempt;
    auto ans = a_->locate(loc, &st, &attempt);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    EXPECT_TRUE(attempt.errors.empty()) << attempt.errors.front();
    EXPECT_EQ(attempt.proofs.size(), 2u * v_->cfg().location_samples);
    EXPECT_EQ(a.srv->statements_signed() + b.srv->statements_signed(), attempt.proofs.size());
    EXPECT_EQ(ans.at("verdict").as_string(), "within") << json::serialize(ans);
    EXPECT_EQ(ans.at("refused").to_number<unsigned>(), 0u);
    ASSERT_TRUE(ans.at("max_km_from_site").is_number());
    EXPECT_LE(ans.at("max_km_from_site").to_number<double>(), 1500.0);
    EXPECT_EQ(ans.at("min_km_from_site").to_number<double>(), 0.0);  // the site is inside every cap
    for (const auto& [id, l] : by_id(ans)) {
        EXPECT_EQ(l.at("samples").to_number<unsigned>(), v_->cfg().location_samples) << id;
        EXPECT_GE(l.at("rtt_ms").to_number<double>(), 0.0) << id;
        EXPECT_EQ(l.at("km_from_site").to_number<double>(), 0.0) << id;
    }
    EXPECT_EQ(ans.at("status").as_string(), "affirming");
    EXPECT_TRUE(open_location_findings().empty());

    const auto stored = v_->location("host-a");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->verdict, "within");
    ASSERT_TRUE(stored->max_km.has_value());
    EXPECT_DOUBLE_EQ(*stored->max_km, ans.at("max_km_from_site").to_number<double>());
    EXPECT_TRUE(stored_errors(*stored).empty());
    EXPECT_EQ(v_->host("host-a")->status, "affirming");

    // The operator sees the same proof in GET /v1/hosts/<id>.
    auto got = op_->request("GET", "/v1/hosts/host-a");
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->status, 200u) << got->body;
    const auto shown = parse_json(got->body).at("location").as_object();
    EXPECT_EQ(shown.at("verdict").as_string(), "within");
    EXPECT_EQ(shown.at("time").to_number<std::int64_t>(), stored->time);
    EXPECT_DOUBLE_EQ(shown.at("max_km_from_site").to_number<double>(), *stored->max_km);
    EXPECT_EQ(shown.at("detail").at("landmarks").as_array().size(), 2u);
}

// Hole 5 of the hostile-host work: a round that expired unanswered used to raise nothing, so a host could
// keep its place unproven for ever by not answering.
TEST_F(LocationRound, UnansweredRoundsAreUnprovenThenAViolationAndAnAnswerEndsBoth) {
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    EXPECT_EQ(register_landmark(a, a.direct()), 201u);
    const std::int64_t now = verifier::unix_now();
    for (unsigned i = 1; i <= 3; ++i) {
        location_round();  // opened, never answered
        ASSERT_TRUE(verifier::check_dark_hosts(v_->ctx(), now + 1000 * i).ok());  // past the round's expiry
        EXPECT_EQ(open_only(v_->findings("host-a", "location-unproven")).size(), 1u) << i;
        const auto missed = open_only(v_->findings("host-a", "location-rounds-missed"));
        ASSERT_EQ(missed.size(), i < 3 ? 0u : 1u) << i;
        if (i == 3) {
            EXPECT_EQ(missed[0].severity, "violation");
        }
    }
    EXPECT_EQ(v_->host("host-a")->location_misses, 3u);
    // An answered round ends the run and, being within, both findings.
    unsigned st = 0;
    auto ans = a_->locate(location_round(), &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    EXPECT_EQ(ans.at("verdict").as_string(), "within") << json::serialize(ans);
    EXPECT_TRUE(open_only(v_->findings("host-a", "location-unproven")).empty());
    EXPECT_TRUE(open_only(v_->findings("host-a", "location-rounds-missed")).empty());
    EXPECT_EQ(v_->host("host-a")->location_misses, 0u);
    EXPECT_EQ(v_->host("host-a")->location_due_at, 0);
}

TEST_F(LocationRound, OnlyAFarLandmarkAnsweringQuicklyIsOutsideOnceAndALaterWithinRoundResolvesIt) {
    // The site's own landmarks only through the relay; one ~4,600 km away reached directly.
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    auto& b = start_landmark("lm-seoul-2", site_lat, site_lon);
    auto& far = start_landmark("lm-singapore", far_lat, far_lon);
    register_landmark(a, relay_to(a).address());
    register_landmark(b, relay_to(b).address());
    register_landmark(far, far.direct());
    const double far_km = policy::great_circle_km(site_lat, site_lon, far_lat, far_lon);
    ASSERT_GT(far_km, 4500.0);

    unsigned st = 0;
    auto ans = a_->locate(location_round(), &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    EXPECT_EQ(ans.at("verdict").as_string(), "outside") << json::serialize(ans);
    EXPECT_GT(ans.at("min_km_from_site").to_number<double>(), 1500.0);
    auto lms = by_id(ans);
    // Through the relay the round trip is at least twice its one-way delay.
    EXPECT_GE(lms.at("lm-seoul-1").at("rtt_ms").to_number<double>(), 2.0 * relay_delay_ms);
    EXPECT_GE(lms.at("lm-seoul-2").at("rtt_ms").to_number<double>(), 2.0 * relay_delay_ms);
    EXPECT_NEAR(lms.at("lm-singapore").at("km_from_site").to_number<double>(), far_km, 1e-6);
    EXPECT_EQ(ans.at("status").as_string(), "contraindicated");

    auto open = open_location_findings();
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].rule, "location-outside");
    EXPECT_EQ(open[0].severity, "violation");
    EXPECT_EQ(open[0].subject_kind, "host");
    EXPECT_EQ(open[0].subject, "host-a");
    EXPECT_NE(open[0].detail.find("from site dc1 (allowed: within 1500 km)"), std::string::npos) << open[0].detail;
    const std::int64_t outside_id = open[0].id;
    EXPECT_EQ(v_->location("host-a")->verdict, "outside");
    EXPECT_EQ(v_->host("host-a")->status, "contraindicated");

    // The same fact again: still one open finding, the same one.
    ans = a_->locate(location_round(), &st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(ans.at("verdict").as_string(), "outside");
    open = open_location_findings();
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].id, outside_id);

    // The site's landmarks reached directly, the far one gone: within, and location-outside is resolved.
    EXPECT_EQ(register_landmark(a, a.direct()), 200u);
    EXPECT_EQ(register_landmark(b, b.direct()), 200u);
    far.srv->stop();
    const json::value loc = location_round();
    EXPECT_EQ(loc.at("landmarks").as_array()[0].at("address").as_string(), a.direct());
    agent::location_attempt attempt;
    ans = a_->locate(loc, &st, &attempt);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    ASSERT_EQ(attempt.errors.size(), 1u);
    EXPECT_NE(attempt.errors[0].find("lm-singapore"), std::string::npos) << attempt.errors[0];
    EXPECT_EQ(ans.at("verdict").as_string(), "within") << json::serialize(ans);
    EXPECT_EQ(by_id(ans).at("lm-singapore").at("samples").to_number<unsigned>(), 0u);
    EXPECT_TRUE(by_id(ans).at("lm-singapore").at("rtt_ms").is_null());
    EXPECT_TRUE(open_location_findings().empty());
    const auto all = v_->findings("host-a", "location-outside");
    ASSERT_EQ(all.size(), 1u);
    EXPECT_FALSE(all[0].open);
    EXPECT_GT(all[0].resolved_at, 0);
    const auto stored = v_->location("host-a");
    EXPECT_EQ(stored->verdict, "within");
    EXPECT_TRUE(any_contains(stored_errors(*stored), "lm-singapore")) << stored->detail_json;
    EXPECT_EQ(v_->host("host-a")->status, "affirming");
}

TEST_F(LocationRound, EveryLandmarkBehindTheRelayIsUnprovenAWarning) {
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    auto& b = start_landmark("lm-seoul-2", site_lat, site_lon);
    auto& far = start_landmark("lm-singapore", far_lat, far_lon);
    for (auto* l : {&a, &b, &far}) register_landmark(*l, relay_to(*l).address());
    unsigned st = 0;
    auto ans = a_->locate(location_round(), &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    // Every cap is at least 40 ms / 2 × 299.792 km/ms ≈ 5,996 km wide: it holds the site and points far off.
    EXPECT_EQ(ans.at("verdict").as_string(), "unproven") << json::serialize(ans);
    EXPECT_EQ(ans.at("min_km_from_site").to_number<double>(), 0.0);
    EXPECT_GT(ans.at("max_km_from_site").to_number<double>(), 1500.0);
    for (const auto& [id, l] : by_id(ans)) {
        EXPECT_GE(l.at("rtt_ms").to_number<double>(), 2.0 * relay_delay_ms) << id;
        EXPECT_GE(l.at("radius_km").to_number<double>(), 2.0 * relay_delay_ms / 2 * policy::light_vacuum_km_per_ms) << id;
    }
    const auto open = open_location_findings();
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].rule, "location-unproven");
    EXPECT_EQ(open[0].severity, "warning");
    EXPECT_EQ(ans.at("status").as_string(), "warning");
    EXPECT_EQ(v_->host("host-a")->status, "warning");
    EXPECT_EQ(v_->location("host-a")->verdict, "unproven");
}

TEST_F(LocationRound, LandmarksOnOppositeSidesOfTheEarthBothAnsweringOnLoopbackAreImpossible) {
    // Seoul and Buenos Aires are ~19,000 km apart: two loopback round trips (each well under 60 ms) give caps
    // that cannot meet.
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    auto& ba = start_landmark("lm-buenos-aires", -34.6, -58.4);
    register_landmark(a, a.direct());
    register_landmark(ba, ba.direct());
    unsigned st = 0;
    auto ans = a_->locate(location_round(), &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    EXPECT_EQ(ans.at("verdict").as_string(), "impossible") << json::serialize(ans);
    EXPECT_TRUE(ans.at("max_km_from_site").is_null());
    EXPECT_TRUE(ans.at("min_km_from_site").is_null());
    const auto open = open_location_findings();
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].rule, "location-impossible");
    EXPECT_EQ(open[0].severity, "violation");
    const auto stored = v_->location("host-a");
    EXPECT_EQ(stored->verdict, "impossible");
    EXPECT_FALSE(stored->max_km.has_value());
    auto got = op_->request("GET", "/v1/hosts/host-a");
    ASSERT_TRUE(got.ok());
    const auto shown = parse_json(got->body).at("location").as_object();
    EXPECT_EQ(shown.at("verdict").as_string(), "impossible");
    EXPECT_TRUE(shown.at("max_km_from_site").is_null());
    EXPECT_TRUE(shown.at("min_km_from_site").is_null());
}

TEST_F(LocationRound, ReplayedUnknownAndMalformedRoundsAreRefusedAndChangeNothing) {
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    register_landmark(a, a.direct());
    const json::value loc = location_round();
    const std::string round = std::string(loc.at("round").as_string());
    const auto attempt = a_->prove_location(loc);
    ASSERT_FALSE(attempt.proofs.empty());
    const std::string body = sim_host::location_body(round, attempt);
    unsigned st = 0;
    auto ans = a_->post_location(body, &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    ASSERT_EQ(ans.at("verdict").as_string(), "within");
    const auto before = *v_->location("host-a");
    const auto findings_before = v_->findings("host-a").size();

    auto unchanged = [&](const std::string& what) {
        const auto now = v_->location("host-a");
        ASSERT_TRUE(now.has_value()) << what;
        EXPECT_EQ(now->time, before.time) << what;
        EXPECT_EQ(now->verdict, before.verdict) << what;
        EXPECT_EQ(now->detail_json, before.detail_json) << what;
        EXPECT_EQ(v_->findings("host-a").size(), findings_before) << what;
        EXPECT_EQ(v_->host("host-a")->status, "affirming") << what;
    };
    // The same proof again: its round is spent.
    ans = a_->post_location(body, &st);
    EXPECT_EQ(st, 409u);
    EXPECT_EQ(ans.at("error").as_string(), "unknown-round") << json::serialize(ans);
    EXPECT_NE(detail_of(ans).find("already used"), std::string::npos) << detail_of(ans);
    unchanged("replay");
    // A round this verifier never issued, with statements that are otherwise fine.
    bytes forged(32);
    randombytes_buf(forged.data(), forged.size());
    ans = a_->post_location(sim_host::location_body(to_base64(forged), attempt), &st);
    EXPECT_EQ(st, 409u);
    EXPECT_EQ(ans.at("error").as_string(), "unknown-round");
    unchanged("unknown round");
    // An attestation challenge is not a location round (nonces are stored under a domain-separated hash).
    const bytes challenge = a_->challenge();
    ans = a_->post_location(sim_host::location_body(to_base64(challenge), attempt), &st);
    EXPECT_EQ(st, 409u);
    EXPECT_EQ(ans.at("error").as_string(), "unknown-round");
    unchanged("challenge as round");
    // Malformed bodies.
    ans = a_->post_location(sim_host::location_body(to_base64(bytes(31, 1)), attempt), &st);
    EXPECT_EQ(st, 400u);
    EXPECT_NE(detail_of(ans).find("round"), std::string::npos) << detail_of(ans);
    ans = a_->post_location(R"({"round":")" + round + R"(","proofs":[{"statement":"AA==","sig":"AA==","x":1}]})", &st);
    EXPECT_EQ(st, 400u);
    EXPECT_NE(detail_of(ans).find("proofs[0]"), std::string::npos) << detail_of(ans);
    ans = a_->post_location(R"({"round":")" + round + R"(","proofs":[],"extra":true})", &st);
    EXPECT_EQ(st, 400u);
    ans = a_->post_location(R"({"round":")" + round + R"(","proofs":[],"errors":[1]})", &st);
    EXPECT_EQ(st, 400u);
    EXPECT_NE(detail_of(ans).find("errors"), std::string::npos) << detail_of(ans);
    unchanged("malformed");
    // The operator's credential is not an agent's.
    post(*op_, "/v1/location", body, &st);
    EXPECT_EQ(st, 403u);
    unchanged("operator");
}

TEST_F(LocationRound, TamperedStaleForeignAndUnboundStatementsAreRefusedOneByOne) {
    auto& a = start_landmark("lm-seoul-1", site_lat, site_lon);
    auto& other_site = start_landmark("lm-tokyo", 35.68, 139.69);
    auto& unregistered = start_landmark("lm-nowhere", site_lat, site_lon);
    register_landmark(a, a.direct());
    register_landmark(other_site, other_site.direct(), "dc2");
    unsigned st = 0;

    // A first round, kept to replay its statements later.
    const json::value loc1 = location_round();
    const auto first = a_->prove_location(loc1);
    ASSERT_EQ(a_->post_location(sim_host::location_body(std::string(loc1.at("round").as_string()), first), &st)
                  .at("verdict")
                  .as_string(),
              "within");

    // The next round: one valid statement, and five that must each be refused for their own reason.
    const json::value loc2 = location_round();
    const std::string round2 = std::string(loc2.at("round").as_string());
    const auto good = a_->prove_location(loc2);
    ASSERT_FALSE(good.proofs.empty());
    agent::location_attempt mixed;
    mixed.proofs.push_back(good.proofs[0]);
    auto tampered = good.proofs[0];
    tampered.statement.back() ^= 0x01;  // t_recv: a different round trip than the landmark measured
    mixed.proofs.push_back(tampered);
    mixed.proofs.push_back(first.proofs[0]);  // the previous round's
    json::value elsewhere = loc2;  // the same round against landmarks the site does not have
    elsewhere.as_object()["landmarks"] = json::array{json::object{{"id", other_site.id}, {"address", other_site.direct()}},
                                                     json::object{{"id", unregistered.id}, {"address", unregistered.direct()}}};
    const auto foreign = a_->prove_location(elsewhere);
    ASSERT_TRUE(foreign.errors.empty()) << foreign.errors.front();
    mixed.proofs.push_back(foreign.proofs.front());  // lm-tokyo: registered, for dc2
    mixed.proofs.push_back(foreign.proofs.back());   // lm-nowhere: not registered
    // Answered with a key no quote of host-a bound (a helper's key, not the host's report key).
    bytes helper_pk(crypto_sign_PUBLICKEYBYTES);
    secret_bytes helper_sk(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(helper_pk.data(), helper_sk.data());
    const auto helper = agent::prove_location(*from_base64(round2), helper_pk, helper_sk, {{a.id, a.direct()}}, 1, 2000ms);
    ASSERT_EQ(helper.proofs.size(), 1u);
    mixed.proofs.push_back(helper.proofs[0]);

    auto ans = a_->post_location(sim_host::location_body(round2, mixed), &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    // The one valid statement still proves within; the others are counted and named, not used.
    EXPECT_EQ(ans.at("verdict").as_string(), "within") << json::serialize(ans);
    EXPECT_EQ(ans.at("refused").to_number<unsigned>(), 5u);
    EXPECT_EQ(by_id(ans).at("lm-seoul-1").at("samples").to_number<unsigned>(), 1u);
    EXPECT_EQ(by_id(ans).size(), 1u);  // only the site's landmarks are tallied
    const auto stored = v_->location("host-a");
    ASSERT_TRUE(stored.has_value());
    const auto errs = stored_errors(*stored);
    ASSERT_EQ(errs.size(), 5u) << stored->detail_json;
    EXPECT_NE(errs[0].find("the landmark's signature does not verify with its registered key"), std::string::npos) << errs[0];
    EXPECT_NE(errs[1].find("another round's nonce"), std::string::npos) << errs[1];
    EXPECT_NE(errs[2].find("landmark lm-tokyo is not registered for site dc1"), std::string::npos) << errs[2];
    EXPECT_NE(errs[3].find("landmark lm-nowhere is not registered for site dc1"), std::string::npos) << errs[3];
    EXPECT_NE(errs[4].find("answered by a key that is not host host-a's current report key"), std::string::npos) << errs[4];
    EXPECT_TRUE(open_location_findings().empty());

    // A round with nothing but refused statements proves nothing: location-unproven, naming the first reason.
    const json::value loc3 = location_round();
    agent::location_attempt bad;
    bad.proofs = {first.proofs[0], helper.proofs[0]};
    ans = a_->post_location(sim_host::location_body(std::string(loc3.at("round").as_string()), bad), &st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    EXPECT_EQ(ans.at("verdict").as_string(), "unproven");
    EXPECT_EQ(ans.at("refused").to_number<unsigned>(), 2u);
    auto open = open_location_findings();
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].rule, "location-unproven");
    EXPECT_NE(open[0].detail.find("no landmark of site dc1 gave a valid sample"), std::string::npos) << open[0].detail;
    EXPECT_NE(open[0].detail.find("2 statement(s) refused"), std::string::npos) << open[0].detail;
    EXPECT_NE(open[0].detail.find("another round's nonce"), std::string::npos) << open[0].detail;
    // And a good round afterwards resolves it.
    ans = a_->locate(location_round(), &st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(ans.at("verdict").as_string(), "within");
    EXPECT_TRUE(open_location_findings().empty());
}

// ---- Export-control policy through the verifier

using finding_key = std::tuple<std::string, std::string, std::string, std::string>;  // rule, kind, subject, host

std::set<finding_key> keys_of_json(const json::array& fs) {
    std::set<finding_key> out;
    for (const auto& v : fs) {
        const auto& o = v.as_object();
        if (o.at("rule").as_string() == "gpu-unknown") continue;
        out.insert({std::string(o.at("rule").as_string()), std::string(o.at("subject_kind").as_string()),
                    std::string(o.at("subject").as_string()),
                    o.at("host").is_null() ? std::string() : std::string(o.at("host").as_string())});
    }
    return out;
}

std::string inventory_ext(const std::vector<std::tuple<std::string, std::string, std::string>>& gpus) {
    attest::report_ext e;
    e.inventory_source = "nvml";
    e.driver_version = "550.54.15";
    for (const auto& [serial, name, chip] : gpus) {
        attest::gpu_report g;
        g.serial = serial;
        g.uuid = "GPU-" + serial;
        g.name = name;
        g.chip = chip;
        g.pci_bus_id = "00000000:18:00.0";
        e.gpus.push_back(g);
    }
    return attest::encode_report_ext(test::with_pci_view(std::move(e)));
}

const std::vector<std::string> both_profiles = {"ai-diffusion-2025-01", "bis-guidance-2025-05"};

class PolicyInVerifier : public ::testing::Test {
protected:
    void SetUp() override {
        auto t = swtpm::start();
        v_ = std::make_unique<verifier_instance>(std::vector<const swtpm*>{t.get()}, 30, both_profiles);
        a_ = std::make_unique<sim_host>("host-a", std::move(t));
        ASSERT_EQ(a_->enroll(*v_, v_->token("host-a")), 200u);
        op_ = v_->client();
    }
    void operator_post(const std::string& path, const std::string& body, unsigned want) {
        unsigned st = 0;
        const std::string b = post(*op_, path, body, &st);
        ASSERT_EQ(st, want) << path << ": " << b;
    }
    void report(const std::vector<std::tuple<std::string, std::string, std::string>>& gpus) {
        unsigned st = 0;
        auto res = a_->send_reports({a_->make_report({}, {}, inventory_ext(gpus))}, &st);
        ASSERT_EQ(st, 200u);
        ASSERT_EQ(res, std::vector<std::string>{"accepted"});
    }
    std::set<finding_key> open_policy_findings() {
        auto tx = v_->ctx().db->begin();
        EXPECT_TRUE(tx.ok());
        std::set<finding_key> out;
        for (const auto& rule : verifier::policy_rules()) {
            verifier::finding_filter ff;
            ff.rule = rule;
            ff.open_only = true;
            auto fs = (*tx)->list_findings(ff);
            EXPECT_TRUE(fs.ok());
            for (const auto& f : *fs) out.insert({f.rule, f.subject_kind, f.subject, f.host});
        }
        return out;
    }
    json::value get(const std::string& path) {
        auto r = op_->request("GET", path);
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r->status, 200u) << r->body;
        return parse_json(r->body);
    }

    temp_dir dir_{"custos-policy-int"};
    std::unique_ptr<verifier_instance> v_;
    std::unique_ptr<sim_host> a_;
    std::unique_ptr<net::https_client> op_;
};

TEST_F(PolicyInVerifier, TheFleetSnapshotEvaluatedOfflineGivesTheVerifiersOpenPolicyFindings) {
    // acme: a US-headquartered UVEU whose only site is in Korea; gulf: a UVEU headquartered in a Tier-2 country.
    operator_post("/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})", 201);
    operator_post("/v1/entities", R"({"id":"gulf","hq":"AE","status":"uveu"})", 201);
    operator_post("/v1/sites", R"({"id":"kr-1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", 201);
    operator_post("/v1/hosts/host-a/approve", R"({"site":"kr-1"})", 200);
    ASSERT_EQ(a_->bind_key(), 200u);
    report({{"g-h100", "NVIDIA H100 80GB HBM3", "H100-SXM"}, {"g-ascend", "Ascend 910B", "Ascend-910B"}});
    unsigned st = 0;
    a_->round(&st);  // every round re-runs the engine over the fleet as it now stands
    ASSERT_EQ(st, 200u);

    const std::set<finding_key> want = {
        {"prohibited-chip", "host", "host-a", "host-a"},    // bis-guidance-2025-05: Ascend 910B anywhere
        {"uveu-hq-not-tier1", "entity", "gulf", ""},        // ai-diffusion-2025-01: AE is Tier 2
        {"uveu-us-share", "entity", "acme", ""},            // ai-diffusion-2025-01: 0 % of acme's TPP in the US
    };
    EXPECT_EQ(open_policy_findings(), want);
    EXPECT_EQ(v_->host("host-a")->status, "contraindicated");

    // The snapshot, as `custos fleet snapshot --json` gets it, parsed strictly and evaluated offline.
    const json::value snap = get("/v1/fleet/snapshot");
    const fs::path file = dir_.path() / "fleet.json";
    write_text(file, json::serialize(snap));
    auto fleet = policy::parse_fleet(json::serialize(snap), policy::chip_table::builtin());
    ASSERT_TRUE(fleet.ok()) << fleet.err().message << "\n" << json::serialize(snap);
    ASSERT_EQ(fleet->hosts.size(), 1u);
    ASSERT_EQ(fleet->hosts[0].gpus.size(), 2u);
    EXPECT_EQ(fleet->entities.size(), 2u);
    std::set<finding_key> offline;
    for (const auto& name : both_profiles) {
        auto p = policy::load_profile(name);
        ASSERT_TRUE(p.ok()) << p.err().message;
        for (const auto& f : policy::evaluate(*p, *fleet, policy::chip_table::builtin()).findings)
            if (f.rule != "gpu-unknown") offline.insert({f.rule, f.subject_kind, f.subject, f.host});
    }
    EXPECT_EQ(offline, want);

    // The same file through the CLI, profile by profile.
    std::set<finding_key> cli;
    for (const auto& name : both_profiles) {
        auto r = run_process({CUSTOS_CLI_PATH, "policy", "evaluate", "--profile", name, "--fleet", file.string(), "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const auto found = keys_of_json(parse_json(r.out).at("findings").as_array());
        cli.insert(found.begin(), found.end());
    }
    EXPECT_EQ(cli, want);

    // GET /v1/policy: what the engine finds now and what the store holds open agree.
    const json::value view = get("/v1/policy");
    EXPECT_EQ(keys_of_json(view.at("findings").as_array()), want);
    EXPECT_EQ(keys_of_json(view.at("open_findings").as_array()), want);
    EXPECT_EQ(view.at("profiles").as_array().size(), 2u);

    // The fleet changes: gulf moves its headquarters to Tier 1; the next round resolves that finding only.
    operator_post("/v1/entities", R"({"id":"gulf","hq":"GB","status":"uveu"})", 200);
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    auto now_want = want;
    now_want.erase({"uveu-hq-not-tier1", "entity", "gulf", ""});
    EXPECT_EQ(open_policy_findings(), now_want);
    const auto gulf = [&] {
        verifier::finding_filter ff;
        ff.rule = "uveu-hq-not-tier1";
        auto tx = v_->ctx().db->begin();
        return *(*tx)->list_findings(ff);
    }();
    ASSERT_EQ(gulf.size(), 1u);
    EXPECT_FALSE(gulf[0].open);
}

// report_ext's chip field is the agent's label; the verifier reads the reported name in its own chip table.
// A GPU named "Ascend 910B" but labelled H100-SXM is still prohibited, and a label the table does not know
// never reaches the snapshot (which `custos policy evaluate` would then refuse).
TEST_F(PolicyInVerifier, TheVerifierClassifiesAGpuByItsNameNotByTheAgentsChipLabel) {
    operator_post("/v1/entities", R"({"id":"acme","hq":"US","status":"none"})", 201);
    operator_post("/v1/sites", R"({"id":"kr-1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", 201);
    operator_post("/v1/hosts/host-a/approve", R"({"site":"kr-1"})", 200);
    ASSERT_EQ(a_->bind_key(), 200u);
    report({{"g-ascend", "Ascend 910B", "H100-SXM"}, {"g-new", "NVIDIA H100 80GB HBM3", "H100-NEXT"}});
    unsigned st = 0;
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(open_policy_findings(), (std::set<finding_key>{{"prohibited-chip", "host", "host-a", "host-a"}}));
    const json::value snap = get("/v1/fleet/snapshot");
    auto fleet = policy::parse_fleet(json::serialize(snap), policy::chip_table::builtin());
    EXPECT_TRUE(fleet.ok()) << fleet.err().message;
}

// ---- A policy violation holds back a model key

class PolicyKeyRelease : public PolicyInVerifier {
protected:
    void SetUp() override {
        PolicyInVerifier::SetUp();
        fs::create_directories(dir_.path() / "model");
        std::ofstream(dir_.path() / "model/weights.bin") << std::string(4096, 'w');
        std::ofstream(dir_.path() / "model/config.json") << R"({"arch":"test"})";
        auto pub = weights::load_recipient_public(v_->dir() / "keys/recipient.pub");
        ASSERT_TRUE(pub.ok()) << pub.err().message;
        ASSERT_TRUE(weights::seal_model(dir_.path() / "model", "llm-1", *pub, dir_.path() / "sealed", {}).ok());
    }
    void register_model() {
        const fs::path d = dir_.path() / "sealed";
        operator_post("/v1/models",
                      json::serialize(json::object{{"id", "llm-1"},
                                                   {"closed_weights", true},
                                                   {"training_ops", 1e25},
                                                   {"index", text_of(d / "index.json")},
                                                   {"key_sealed", to_base64(as_bytes(text_of(d / "key.sealed")))}}),
                      201);
        operator_post("/v1/models/llm-1/approve", R"({"site":"dc1"})", 200);
    }
    // challenge → certify a fresh PCR-bound key → POST /v1/keys.
    json::object ask(unsigned* status) {
        auto key = a_->dev().create_bound_key(attest::ek_kind::ecc_p384, *attest::parse_pcr_selection("sha256:0,1,2,3,4,5,6,7"));
        EXPECT_TRUE(key.ok()) << (key.ok() ? "" : key.err().message);
        const bytes nonce = a_->challenge();
        auto proof = a_->dev().certify_creation(a_->ak(), *key, nonce);
        EXPECT_TRUE(proof.ok()) << (proof.ok() ? "" : proof.err().message);
        json::object req{{"model", "llm-1"},
                         {"nonce", to_base64(nonce)},
                         {"key_public", to_base64(proof->key_public)},
                         {"creation_data", to_base64(proof->creation_data)},
                         {"attest", to_base64(proof->attest)},
                         {"signature", to_base64(proof->signature)}};
        return parse_json(post(a_->client(), "/v1/keys", json::serialize(req), status)).as_object();
    }
    std::vector<finding_record> denials() { return open_only(v_->findings("host-a", "key-request-denied")); }
};

TEST_F(PolicyKeyRelease, AnEntityViolationDeniesTheKeyNamingTheRuleAndItsResolutionReleasesIt) {
    // A UVEU headquartered in a Tier-2 country: uveu-hq-not-tier1 about the entity, not about the host.
    operator_post("/v1/entities", R"({"id":"acme","hq":"AE","status":"uveu"})", 201);
    operator_post("/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", 201);
    operator_post("/v1/hosts/host-a/approve", R"({"site":"dc1"})", 200);
    register_model();
    unsigned st = 0;
    auto r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r.at("status").as_string(), "affirming");  // the host itself is fine
    ASSERT_EQ(open_policy_findings(), (std::set<finding_key>{{"uveu-hq-not-tier1", "entity", "acme", ""}}));

    auto ans = ask(&st);
    EXPECT_EQ(st, 403u) << json::serialize(ans);
    EXPECT_EQ(ans.at("error").as_string(), "key-request-denied");
    EXPECT_NE(detail_of(ans).find("a violation stands for entity acme: uveu-hq-not-tier1"), std::string::npos)
        << detail_of(ans);
    auto denied = denials();
    ASSERT_EQ(denied.size(), 1u);
    EXPECT_EQ(denied[0].subject_kind, "model");
    EXPECT_EQ(denied[0].subject, "llm-1");
    EXPECT_NE(denied[0].detail.find("uveu-hq-not-tier1"), std::string::npos) << denied[0].detail;
    auto leases = get("/v1/leases");
    EXPECT_TRUE(leases.at("leases").as_array().empty());

    // The entity's headquarters corrected to Tier 1: the next round resolves the finding and the key is released.
    operator_post("/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})", 200);
    a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_TRUE(open_policy_findings().empty());
    ans = ask(&st);
    ASSERT_EQ(st, 200u) << json::serialize(ans);
    EXPECT_TRUE(ans.contains("wrapped_key"));
    leases = get("/v1/leases");
    ASSERT_EQ(leases.at("leases").as_array().size(), 1u);
    const std::string lease(ans.at("lease").as_string());

    // A prohibited chip on the host: the round revokes the lease, renewal and new requests are refused.
    ASSERT_EQ(a_->bind_key(), 200u);
    report({{"g-ascend", "Ascend 910B", "Ascend-910B"}});
    r = a_->round(&st);
    ASSERT_EQ(st, 200u);
    EXPECT_EQ(r.at("status").as_string(), "contraindicated");
    EXPECT_EQ(open_only(v_->findings("host-a", "prohibited-chip")).size(), 1u);
    const auto held = open_only(v_->findings("host-a", "key-held-by-failing-host"));
    ASSERT_EQ(held.size(), 1u);
    EXPECT_NE(held[0].detail.find("prohibited-chip"), std::string::npos) << held[0].detail;
    auto renewed = parse_json(post(a_->client(), "/v1/leases/renew", R"({"lease":")" + lease + R"("})", &st)).as_object();
    EXPECT_EQ(st, 403u);
    EXPECT_EQ(renewed.at("error").as_string(), "lease-revoked");
    EXPECT_NE(detail_of(renewed).find("prohibited-chip"), std::string::npos) << detail_of(renewed);
    ans = ask(&st);
    EXPECT_EQ(st, 403u) << json::serialize(ans);
    // The refusal names the host's failing appraisal and the rule behind it.
    EXPECT_NE(detail_of(ans).find("host host-a"), std::string::npos) << detail_of(ans);
    EXPECT_NE(detail_of(ans).find("a violation stands for host host-a: prohibited-chip"), std::string::npos)
        << detail_of(ans);
    EXPECT_TRUE(get("/v1/leases").at("leases").as_array().empty());
}

}  // namespace
}  // namespace custos::test
