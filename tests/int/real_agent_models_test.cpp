// The real custos-agent with a sealed model at a site with a landmark, against the real custos-verifier:
// the agent proves its location through a real landmark server, gets the model key only then, serves the
// weights over its socket (`custos weights open`), renews its lease, drops the key when the operator
// revokes the lease (and is given a new one while it keeps passing), and drops it when the verifier is gone
// and the lease lapses, after which nothing more is served.
#include <unistd.h>

#include <functional>
#include <regex>
#include <thread>

#include "tests/int/real_agent.hpp"
#include "tests/support/files.hpp"
#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"
#include "tools/custos-landmark/landmark_server.hpp"

namespace custos::test {
namespace {

class RealAgentModels : public RealAgent {
protected:
    void edit_config(const fs::path& toml) override {
        rewrite(toml, {{"\nattest_interval_s = [0-9]+", "\nattest_interval_s = 2"},
                       {"\nreport_interval_s = [0-9]+", "\nreport_interval_s = 1"},
                       {"\nlease_ttl_s = [0-9]+", "\nlease_ttl_s = 6"}});
    }

    // A landmark a few km from site s1, serving on loopback (the agent measures well under 1 ms to it).
    void start_landmark() {
        const fs::path key = dir_.path() / "lm.key";
        ASSERT_TRUE(landmark::write_new_key(key).ok());
        auto sk = landmark::load_key(key);
        ASSERT_TRUE(sk.ok()) << sk.err().message;
        std::ofstream(dir_.path() / "lm.pub") << to_base64(landmark::public_key(*sk)) << "\n";
        landmark::server_config c;
        c.listen = "127.0.0.1:0";
        c.id = "lm-1";
        c.lat = 37.56;
        c.lon = 126.97;
        auto s = landmark::server::start(c, std::move(sk).value());
        ASSERT_TRUE(s.ok()) << s.err().message;
        landmark_ = std::move(s).value();
    }

    // Seals a two-file model for the verifier's recipient key into the agent's model directory.
    void seal_model() {
        const fs::path src = dir_.path() / "model";
        fs::create_directories(src / "layers");
        layer_.resize(300000);
        for (std::size_t i = 0; i < layer_.size(); ++i) layer_[i] = static_cast<char>((i * 2654435761u) >> 13);
        std::ofstream(src / "layers/0.bin", std::ios::binary) << layer_;
        std::ofstream(src / "config.json") << "{\"arch\":\"test\"}\n";
        auto s = cli({"weights", "seal", src.string(), "--model-id", "m1", "--recipient", (vdir_ / "keys/recipient.pub").string(),
                      "--out", (dir_.path() / "sealed").string()});
        ASSERT_EQ(s.exit_code, 0) << s.err;
        fs::create_directories(dir_.path() / "models");
        fs::copy(dir_.path() / "sealed", dir_.path() / "models/m1", fs::copy_options::recursive);
    }

    void operator_setup() {
        for (auto args : std::vector<std::vector<std::string>>{
                 {"fleet", "entity", "add", "e1", "--hq", "KR", "--status", "uveu"},
                 {"fleet", "site", "add", "s1", "--entity", "e1", "--country", "KR", "--lat", "37.5665", "--lon", "126.978",
                  "--max-km", "50"},
                 {"fleet", "landmark", "add", "lm-1", "--lat", "37.56", "--lon", "126.97", "--public-key",
                  (dir_.path() / "lm.pub").string(), "--address", "127.0.0.1:" + std::to_string(landmark_->port()), "--site", "s1"},
                 {"fleet", "model", "add", (dir_.path() / "sealed").string(), "--model-id", "m1"},
                 {"fleet", "model", "approve", "m1", "--site", "s1"}}) {
            auto r = cli(args);
            ASSERT_EQ(r.exit_code, 0) << args[1] << " " << args[2] << ": " << r.err;
        }
    }

    void start_agent() {
        agent_ = std::make_unique<daemon_process>(
            std::vector<std::string>{CUSTOS_AGENT_PATH, "--allow-root", "--host-id", "gpu-r", "--verifier-url", url_, "--ca-file",
                                     (vdir_ / "ca/ca.pem").string(), "--state-dir", (dir_.path() / "agent").string(), "--tcti",
                                     tpm_->tcti(), "--enroll-token", token_, "--report-interval", "1", "--model-dir",
                                     (dir_.path() / "models").string(), "--weights-socket", socket_.string(),
                                     "--weights-allow-uid", std::to_string(::getuid())},
            dir_.path() / "agent.log");
    }

    // The active leases of gpu-r as (id, expires_at).
    std::vector<std::pair<std::string, std::int64_t>> leases() {
        std::vector<std::pair<std::string, std::int64_t>> out;
        const json::value v = get("/v1/leases");
        if (!v.is_object()) return out;
        for (const auto& l : v.at("leases").as_array())
            if (l.at("host").as_string() == "gpu-r")
                out.emplace_back(std::string(l.at("id").as_string()), l.at("expires_at").to_number<std::int64_t>());
        return out;
    }

    // `custos weights open` over the agent's socket: the served bytes, or nullopt (and why) when refused.
    std::optional<std::string> open_layer(std::string* why = nullptr) {
        const fs::path out = dir_.path() / "served.bin";
        fs::remove(out);
        auto r = cli({"weights", "open", "--socket", socket_.string(), "--model", "m1", "--file", "layers/0.bin", "--out",
                      out.string(), "--timeout", "10"});
        if (r.exit_code != 0) {
            if (why) *why = r.err;
            return std::nullopt;
        }
        std::ifstream in(out, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }

    // `custos fleet export` with the auditor's credential, then `custos audit verify` of the file.
    process_result export_bundle(const std::string& flag, const std::string& id, const fs::path& out) {
        return run_process({CUSTOS_CLI_PATH, "fleet", "export", flag, id, "--out", out.string()},
                           {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "auditor").string()}});
    }
    process_result audit_verify(const fs::path& bundle, const fs::path& landmarks, bool with_mirror = false) {
        std::vector<std::string> args{CUSTOS_CLI_PATH, "audit", "verify", bundle.string(), "--ek-ca", (dir_.path() / "ek-ca.pem").string(),
                                      "--log-key", (vdir_ / "keys/log.pub").string(), "--landmarks", landmarks.string()};
        if (with_mirror) args.insert(args.end(), {"--state", (dir_.path() / "mirror").string()});
        return run_process(args);
    }
    process_result audit_fetch() {
        return run_process({CUSTOS_CLI_PATH, "audit", "fetch", "--state", (dir_.path() / "mirror").string(), "--log-key",
                            (vdir_ / "keys/log.pub").string()},
                           {{"CUSTOS_VERIFIER", url_}, {"CUSTOS_CREDENTIAL", (vdir_ / "auditor").string()}});
    }

    // The auditor's view, offline: the model's bundle holds gpu-r's evidence for every hand-out, and its
    // location rounds replay to `within` from the landmark's own key; a statement altered, the landmark's
    // key swapped in the auditor's list, or the key holder's evidence left out, is named.
    void audit_bundles() {
        const fs::path model = dir_.path() / "m1.bundle.json", host = dir_.path() / "gpu-r.bundle.json";
        const fs::path lms = dir_.path() / "landmarks.json", wrong = dir_.path() / "wrong-landmarks.json";
        std::ofstream(lms) << "[{\"id\":\"lm-1\",\"lat\":37.56,\"lon\":126.97,\"public_key\":\"" << read_text(dir_.path() / "lm.pub").substr(0, 44)
                           << "\"}]";
        std::ofstream(wrong) << "[{\"id\":\"lm-1\",\"lat\":37.56,\"lon\":126.97,\"public_key\":\"" << to_base64(bytes(32, 9)) << "\"}]";
        // Exported once the checkpoint covers a hand-out.
        ASSERT_TRUE(wait_until(
            [&] {
                if (export_bundle("--model", "m1", model).exit_code != 0) return false;
                const std::string text = read_text(model);
                return text.find("\"hosts\":[{") != std::string::npos;
            },
            20s))
            << read_text(model);
        auto ok = audit_verify(model, lms);
        ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
        EXPECT_NE(ok.out.find("bundle: valid (model m1)"), std::string::npos) << ok.out;
        EXPECT_NE(ok.out.find("key releases and renewals, each to a host whose evidence is here"), std::string::npos) << ok.out;
        EXPECT_EQ(ok.out.find(" 0 key releases"), std::string::npos) << ok.out;
        EXPECT_NE(ok.out.find("by light in vacuum:"), std::string::npos) << ok.out;
        EXPECT_NE(ok.out.find("the landmarks' keys and places: yours (--landmarks)"), std::string::npos) << ok.out;

        ASSERT_EQ(export_bundle("--host", "gpu-r", host).exit_code, 0);
        auto hv = audit_verify(host, lms);
        ASSERT_EQ(hv.exit_code, 0) << hv.out << hv.err;
        EXPECT_TRUE(std::regex_search(hv.out, std::regex("[1-9][0-9]* location rounds: [1-9][0-9]* landmark statements"))) << hv.out;
        EXPECT_NE(hv.out.find(" within"), std::string::npos) << hv.out;
        EXPECT_EQ(hv.out.find(" outside"), std::string::npos) << hv.out;

        auto swapped = audit_verify(host, wrong);
        EXPECT_EQ(swapped.exit_code, 1) << swapped.out;
        EXPECT_NE(swapped.err.find("landmark lm-1: the verifier's key or place for it is not the one in your landmark list"),
                  std::string::npos) << swapped.err;

        // One byte of a landmark's statement changed in the bundle.
        auto v = sjson::parse(read_text(host), "bundle");
        ASSERT_TRUE(v);
        bool altered = false;
        for (auto& r : v->as_object()["rounds"].as_array()) {
            auto& round = r.as_object()["round"];
            if (altered || !round.is_string()) continue;
            auto b = *from_base64(round.as_string());
            std::string text(b.begin(), b.end());
            const auto at = text.find("\"statement\":\"");
            if (at == std::string::npos) continue;
            char& c = text[at + 20];
            c = c == 'A' ? 'B' : 'A';
            round = to_base64(as_bytes(text));
            altered = true;
        }
        ASSERT_TRUE(altered) << "no location round in the host's bundle";
        std::ofstream(dir_.path() / "altered.json") << json::serialize(*v);
        auto bad = audit_verify(dir_.path() / "altered.json", lms);
        EXPECT_EQ(bad.exit_code, 1) << bad.out;
        EXPECT_NE(bad.err.find("its evidence is not what log entry"), std::string::npos) << bad.err;

        // Against the auditor's mirror: complete as exported. An entry of the key holder's, or a landmark's
        // registration, left out is named — neither is needed by the bundle's own checks. A bundle newer than
        // the mirror cannot be compared until the mirror catches up.
        ASSERT_EQ(audit_fetch().exit_code, 0);
        auto complete = audit_verify(model, lms, true);
        ASSERT_EQ(complete.exit_code, 0) << complete.out << complete.err;
        EXPECT_NE(complete.out.find("complete against your mirror"), std::string::npos) << complete.out;
        const auto drop = [&](const std::function<json::array&(json::object&)>& list, const std::string& type, const fs::path& out) {
            auto b = sjson::parse(read_text(model), "bundle");
            auto& es = list(b->as_object());
            for (auto it = es.begin(); it != es.end(); ++it) {
                const auto body = *from_base64(it->at("body").as_string());
                if (std::string(body.begin(), body.end()).find(type) == std::string::npos) continue;
                es.erase(it);
                std::ofstream(out) << json::serialize(*b);
                return true;
            }
            return false;
        };
        ASSERT_TRUE(drop([](json::object& b) -> json::array& { return b["hosts"].as_array()[0].as_object()["entries"].as_array(); },
                         "\"type\":\"report_key.bound\"", dir_.path() / "dropped-host-entry.json"));
        auto dropped = audit_verify(dir_.path() / "dropped-host-entry.json", lms, true);
        EXPECT_EQ(dropped.exit_code, 1) << dropped.out;
        EXPECT_NE(dropped.err.find("(report_key.bound) belongs in host gpu-r's entries"), std::string::npos) << dropped.err;
        ASSERT_TRUE(drop([](json::object& b) -> json::array& { return b["registrations"].as_array(); }, "\"landmark.put\"",
                         dir_.path() / "dropped-landmark.json"));
        auto unregistered = audit_verify(dir_.path() / "dropped-landmark.json", lms, true);
        EXPECT_EQ(unregistered.exit_code, 1) << unregistered.out;
        std::this_thread::sleep_for(3s);
        ASSERT_EQ(export_bundle("--model", "m1", dir_.path() / "newer.json").exit_code, 0);
        auto newer = audit_verify(dir_.path() / "newer.json", lms, true);
        EXPECT_EQ(newer.exit_code, 2) << newer.out << newer.err;
        EXPECT_NE(newer.err.find("run custos audit fetch"), std::string::npos) << newer.err;

        // The key holder's evidence left out of the model's bundle.
        auto m = sjson::parse(read_text(model), "bundle");
        ASSERT_TRUE(m);
        m->as_object()["hosts"] = json::array{};
        std::ofstream(dir_.path() / "no-hosts.json") << json::serialize(*m);
        auto none = audit_verify(dir_.path() / "no-hosts.json", lms);
        EXPECT_EQ(none.exit_code, 1) << none.out;
        EXPECT_NE(none.err.find("to host gpu-r): the bundle holds no evidence of that host"), std::string::npos) << none.err;
    }

    std::unique_ptr<landmark::server> landmark_;
    std::unique_ptr<daemon_process> agent_;
    fs::path socket_ = dir_.path() / "weights.sock";
    std::string layer_;
};

TEST_F(RealAgentModels, TheAgentProvesItsPlaceGetsServesRenewsAndDropsTheModelKey) {
    start_landmark();
    seal_model();
    operator_setup();
    start_agent();
    ASSERT_TRUE(wait_until([&] { return cli({"fleet", "approve", "gpu-r", "--site", "s1"}).exit_code == 0; }, 30s))
        << agent_->log();

    // Location: the real agent answers the round its attest answer opened, through the real landmark.
    ASSERT_TRUE(wait_until(
        [&] {
            const json::value h = get("/v1/hosts/gpu-r");
            return h.is_object() && h.at("location").is_object() && h.at("location").at("verdict").as_string() == "within";
        },
        40s))
        << json::serialize(get("/v1/hosts/gpu-r")) << "\n" << agent_->log();
    EXPECT_EQ(landmark_->statements_signed() > 0, true);

    // The key, once the host is appraised and proved within its site; the weights served are the model's.
    ASSERT_TRUE(wait_until([&] { return !leases().empty(); }, 40s)) << agent_->log();
    const auto first = leases().front();
    std::string why;
    auto served = open_layer(&why);
    ASSERT_TRUE(served) << why << "\n" << agent_->log();
    EXPECT_EQ(*served, layer_);

    // Renewal: past the lease's first expiry the same lease is active with a later one.
    ASSERT_TRUE(wait_until(
        [&] {
            const auto ls = leases();
            return ls.size() == 1 && ls[0].first == first.first && ls[0].second > first.second;
        },
        20s))
        << agent_->log();

    audit_bundles();

    // Revoked by the operator: the agent drops the key at its next renewal, then asks again and, still
    // passing, is given a new lease.
    auto rv = cli({"fleet", "revoke-lease", first.first});
    ASSERT_EQ(rv.exit_code, 0) << rv.err;
    ASSERT_TRUE(wait_until([&] { return agent_->log().find("the verifier ended lease " + first.first) != std::string::npos; },
                           20s))
        << agent_->log();
    ASSERT_TRUE(wait_until([&] { return !leases().empty() && leases().front().first != first.first; }, 30s)) << agent_->log();
    ASSERT_TRUE(wait_until([&] { return open_layer().has_value(); }, 20s)) << agent_->log();

    // The verifier gone: nothing renews the lease, the key is dropped when it lapses and nothing more is served.
    verifier_->kill9();
    ASSERT_TRUE(wait_until([&] { return agent_->log().find("lapsed without renewal") != std::string::npos; }, 20s))
        << agent_->log();
    EXPECT_FALSE(open_layer(&why).has_value());
    EXPECT_NE(why.find("m1"), std::string::npos) << why;
}

}  // namespace
}  // namespace custos::test
