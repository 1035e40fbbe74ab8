// custos fleet, run in-process against a real HTTPS server serving the fleet API over a real SQLite store:
// human and --json output, exit codes (0 ok, 1 refused, 2 usage or unreachable), credentials from
// options or the environment.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <boost/json.hpp>

#include <fstream>

#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_server.hpp"
#include "tests/support/cli_runner.hpp"
#include "tests/support/process.hpp"
#include "verifier/api_fleet.hpp"
#include "verifier/store.hpp"

namespace custos {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using test::run_cli;

class FleetCli : public ::testing::Test {
protected:
    void SetUp() override {
        // The credential directories as `custos-verifier init` writes them: cert.pem, key.pem, ca.pem.
        auto ca_key = x509::generate_p256().value();
        x509::cert_request cr;
        cr.subject = {"test CA", "ca"};
        cr.kind = x509::cert_kind::ca;
        auto ca = x509::make_ca(ca_key.get(), cr).value();
        const std::string ca_pem = x509::to_pem(ca.get()).value();
        auto issue = [&](const fs::path& d, x509::dn subject, x509::cert_kind kind) {
            fs::create_directories(d);
            auto key = x509::generate_p256().value();
            x509::cert_request r;
            r.subject = std::move(subject);
            r.kind = kind;
            if (kind == x509::cert_kind::server) r.ips = {"127.0.0.1"};
            auto cert = x509::issue(ca.get(), ca_key.get(), key.get(), r).value();
            ASSERT_TRUE(write_file_atomic(d / "cert.pem", x509::to_pem(cert.get()).value()).ok());
            ASSERT_TRUE(write_file_atomic(d / "key.pem", x509::private_key_to_pem(key.get()).value(), 0600).ok());
            ASSERT_TRUE(write_file_atomic(d / "ca.pem", ca_pem).ok());
        };
        issue(dir_.path() / "server", {"verifier", "server"}, x509::cert_kind::server);
        issue(dir_.path() / "operator", {"alice", "operator"}, x509::cert_kind::client);
        issue(dir_.path() / "agent", {"gpu-1", "agent"}, x509::cert_kind::client);

        db_ = verifier::open_sqlite_store(dir_.path() / "verifier.db").value();
        net::https_server_options o;
        o.cert_pem_path = (dir_.path() / "server/cert.pem").string();
        o.key_pem_path = (dir_.path() / "server/key.pem").string();
        o.client_ca_pem_path = (dir_.path() / "server/ca.pem").string();
        srv_ = net::https_server::create(o).value();
        verifier::register_fleet_routes(*srv_, *db_);
        ASSERT_TRUE(srv_->listen("127.0.0.1", 0).ok());
        srv_->run();
        url_ = "https://127.0.0.1:" + std::to_string(srv_->bound_port());

        verifier::host_record h;
        h.id = "gpu-1";
        h.state = "enrolled";
        h.ek_sha256 = std::string(64, 'e');
        h.ak_name = "000b" + std::string(64, 'a');
        h.enrolled_at = 1764000000;
        h.last_seen = 1764000060;
        h.chain_seq = 12;
        h.status = "contraindicated";
        h.status_at = 1764000060;
        auto tx = db_->begin().value();
        ASSERT_TRUE(tx->put_host(h).ok());
        verifier::finding_record f{0, "pcr-changed", "violation", "host", "gpu-1", "gpu-1", 1764000030,
                                   "PCR sha256:4 changed", true, 0, ""};
        ASSERT_TRUE(tx->insert_finding(f).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    void TearDown() override {
        if (srv_) srv_->stop();
        ::unsetenv("CUSTOS_VERIFIER");
        ::unsetenv("CUSTOS_CREDENTIAL");
    }

    // custos fleet --verifier URL --credential DIR <args...>
    test::cli_outcome fleet(std::vector<std::string> args, const std::string& credential = "operator") {
        args.insert(args.begin(), {"fleet", "--verifier", url_, "--credential", (dir_.path() / credential).string()});
        return run_cli(args);
    }
    json::object get(const std::string& target_json_cmd_host = "") {
        auto r = target_json_cmd_host.empty() ? fleet({"hosts", "--json"}) : fleet({"host", target_json_cmd_host, "--json"});
        EXPECT_EQ(r.rc, 0) << r.err;
        return json::parse(r.out).as_object();
    }
    std::string write(const std::string& name, const std::string& text) {
        const fs::path p = dir_.path() / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }
    static void expect_refused(const test::cli_outcome& r, int rc, const std::string& says) {
        EXPECT_EQ(r.rc, rc) << r.out << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    }

    test::temp_dir dir_{"custos-fleet-cli"};
    std::unique_ptr<verifier::store> db_;
    std::unique_ptr<net::https_server> srv_;
    std::string url_;
};

TEST_F(FleetCli, ListsHostsAsAnAlignedTableOrTheVerifiersJson) {
    auto r = fleet({"hosts"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out,
              "HOST   STATE     STATUS           SITE  CHAIN  FINDINGS  LAST SEEN (UTC)\n"
              "gpu-1  enrolled  contraindicated  -     12     1         2025-11-24 16:01:00\n");
    auto j = fleet({"hosts", "--json"});
    ASSERT_EQ(j.rc, 0) << j.err;
    EXPECT_EQ(j.out, R"({"hosts":[{"id":"gpu-1","state":"enrolled","site":null,"status":"contraindicated","status_at":1764000060,)"
                     R"("enrolled_at":1764000000,"approved_at":0,"last_seen":1764000060,"ak_name":"000b)" +
                         std::string(64, 'a') + R"(","ek_sha256":")" + std::string(64, 'e') +
                         R"(","chain_seq":12,"open_findings":1}]})" + "\n");
}

TEST_F(FleetCli, ShowsOneHostAndItsFindings) {
    auto r = fleet({"host", "gpu-1"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("host:          gpu-1\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("status:        contraindicated (since 2025-11-24 16:01:00)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("report chain:  seq 12, 0 reports stored\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("golden PCRs:   not set (taken from the next valid quote)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pcr-changed  gpu-1    yes   PCR sha256:4 changed\n"), std::string::npos) << r.out;
    auto j = get("gpu-1");
    EXPECT_EQ(j["id"], "gpu-1");
    EXPECT_EQ(j["findings"].as_array().size(), 1u);
    expect_refused(fleet({"host", "nope"}), 1, "custos: fleet: the verifier refused (HTTP 404): no host \"nope\"\n");
    // A path-changing id is encoded, so the verifier sees (and refuses) the id as typed.
    expect_refused(fleet({"host", "../sites"}), 1, "(HTTP 400): \"..%2Fsites\" is not a host id");
}

TEST_F(FleetCli, ManagesEntitiesSitesApprovalAndDecommissioning) {
    auto e = fleet({"entity", "add", "acme", "--hq", "US", "--status", "uveu"});
    ASSERT_EQ(e.rc, 0) << e.err;
    EXPECT_EQ(e.out, "entity acme saved\n");
    auto ej = fleet({"entity", "add", "acme", "--hq", "NL", "--status", "nveu", "--json"});
    EXPECT_EQ(ej.out, "{\"id\":\"acme\",\"hq\":\"NL\",\"status\":\"nveu\"}\n");
    expect_refused(fleet({"entity", "add", "beta", "--hq", "USA", "--status", "none"}), 1, "hq");
    expect_refused(fleet({"entity", "add", "beta", "--hq", "US", "--status", "eu"}), 2, "status");  // CLI11 refuses it

    expect_refused(fleet({"site", "add", "dc1", "--entity", "nobody", "--country", "KR", "--lat", "37", "--lon", "127", "--max-km", "5"}),
                   1, "(HTTP 404): no entity \"nobody\"");
    auto s = fleet({"site", "add", "dc1", "--entity", "acme", "--country", "ZA", "--lat", "-33.9", "--lon", "18.4", "--max-km", "2.5"});
    ASSERT_EQ(s.rc, 0) << s.err;
    EXPECT_EQ(s.out, "site dc1 saved\n");
    expect_refused(fleet({"site", "add", "dc2", "--entity", "acme", "--country", "KR", "--lat", "97", "--lon", "127", "--max-km", "5"}),
                   1, "lat");
    expect_refused(fleet({"site", "add", "dc2", "--entity", "acme", "--country", "KR", "--lat", "north", "--lon", "127", "--max-km", "5"}),
                   2, "--lat");
    {
        auto tx = db_->begin().value();
        auto site = tx->get_site("dc1").value();
        ASSERT_TRUE(site.has_value());
        EXPECT_EQ(site->lat, -33.9);
        EXPECT_EQ(site->max_km, 2.5);
        EXPECT_FALSE(tx->get_site("dc2").value().has_value());
    }

    expect_refused(fleet({"approve", "gpu-1", "--site", "dc9"}), 1, "no site \"dc9\"");
    auto a = fleet({"approve", "gpu-1", "--site", "dc1"});
    ASSERT_EQ(a.rc, 0) << a.err;
    EXPECT_EQ(a.out, "host gpu-1 approved at site dc1\n");
    auto h = get("gpu-1");
    EXPECT_EQ(h["state"], "approved");
    EXPECT_EQ(h["site"], "dc1");
    EXPECT_EQ(h["status"], "affirming");
    EXPECT_TRUE(h["findings"].as_array().empty());  // approval resolved them

    const std::string golden = R"({"sha256":{"0":")" + std::string(64, 'c') + R"("}})";
    auto g = fleet({"approve", "gpu-1", "--site", "dc1", "--golden-pcrs", write("golden.json", golden), "--json"});
    ASSERT_EQ(g.rc, 0) << g.err;
    EXPECT_EQ(json::parse(g.out).as_object()["state"], "approved");
    EXPECT_EQ(json::serialize(get("gpu-1")["golden_pcrs"]), golden);
    expect_refused(fleet({"approve", "gpu-1", "--site", "dc1", "--golden-pcrs", write("bad.json", "{\"sha256\":")}), 2,
                   "is not JSON");
    expect_refused(fleet({"approve", "gpu-1", "--site", "dc1", "--golden-pcrs", (dir_.path() / "absent.json").string()}), 2,
                   "--golden-pcrs");
    expect_refused(fleet({"approve", "gpu-1", "--site", "dc1", "--golden-pcrs", write("short.json", R"({"sha256":{"0":"00"}})")}),
                   1, "golden_pcrs");

    auto d = fleet({"decommission", "gpu-1"});
    ASSERT_EQ(d.rc, 0) << d.err;
    EXPECT_EQ(d.out, "host gpu-1 decommissioned\n");
    EXPECT_EQ(get("gpu-1")["state"], "decommissioned");
    expect_refused(fleet({"approve", "gpu-1", "--site", "dc1"}), 1, "(HTTP 409)");
    expect_refused(fleet({"decommission", "gpu-9"}), 1, "no host \"gpu-9\"");
}

TEST_F(FleetCli, FiltersFindings) {
    {
        auto tx = db_->begin().value();
        verifier::finding_record f{0, "reboot", "info", "host", "gpu-2", "gpu-2", 1764000090, "TPM restarted", true, 0, ""};
        ASSERT_TRUE(tx->insert_finding(f).ok());
        ASSERT_TRUE(tx->resolve_findings("gpu-2", std::nullopt, 1764000095).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    auto all = fleet({"findings"});
    ASSERT_EQ(all.rc, 0) << all.err;
    EXPECT_EQ(all.out,
              "ID  TIME (UTC)           SEVERITY   RULE         SUBJECT  OPEN  DETAIL\n"
              "2   2025-11-24 16:01:30  info       reboot       gpu-2    no    TPM restarted\n"
              "1   2025-11-24 16:00:30  violation  pcr-changed  gpu-1    yes   PCR sha256:4 changed\n");
    auto open = fleet({"findings", "--open", "--json"});
    ASSERT_EQ(open.rc, 0) << open.err;
    auto fs = json::parse(open.out).as_object()["findings"].as_array();
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].as_object()["rule"], "pcr-changed");
    auto by_host = json::parse(fleet({"findings", "--host", "gpu-2", "--json"}).out).as_object()["findings"].as_array();
    ASSERT_EQ(by_host.size(), 1u);
    EXPECT_EQ(by_host[0].as_object()["rule"], "reboot");
    EXPECT_EQ(fleet({"findings", "--rule", "host-dark"}).out, "no findings\n");
    // "&" in a value is encoded, not taken as another parameter.
    expect_refused(fleet({"findings", "--host", "gpu-1&open=1"}), 1, "(HTTP 400): query parameter host is not a host id");
}

TEST_F(FleetCli, ExitCodesForMissingCredentialsWrongRoleAndUnreachableVerifier) {
    auto none = run_cli({"fleet", "--verifier", url_, "hosts"});
    expect_refused(none, 2, "no operator credential: pass --credential DIR");
    auto agent = fleet({"hosts"}, "agent");
    expect_refused(agent, 1, "(HTTP 403): this endpoint is for operators");
    auto empty_dir = fleet({"hosts"}, "nowhere");
    EXPECT_EQ(empty_dir.rc, 2) << empty_dir.err;
    srv_->stop();
    auto down = fleet({"hosts"});
    expect_refused(down, 2, "custos: fleet: verifier " + url_ + " unreachable: ");
    expect_refused(run_cli({"fleet", "hosts", "extra"}), 2, "extra");
    EXPECT_EQ(run_cli({"fleet"}).rc, 2);
}

TEST_F(FleetCli, TakesTheVerifierAndCredentialFromTheEnvironment) {
    ::setenv("CUSTOS_VERIFIER", url_.c_str(), 1);
    ::setenv("CUSTOS_CREDENTIAL", (dir_.path() / "operator").c_str(), 1);
    auto r = run_cli({"fleet", "hosts", "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(json::parse(r.out).as_object()["hosts"].as_array().size(), 1u);
    // An option beats the environment.
    auto other = run_cli({"fleet", "--verifier", "https://127.0.0.1:1", "hosts"});
    EXPECT_EQ(other.rc, 2);
    EXPECT_NE(other.err.find("https://127.0.0.1:1 unreachable"), std::string::npos) << other.err;
}

}  // namespace
}  // namespace custos
