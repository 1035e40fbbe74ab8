// verifier/api_fleet: the operator API over a real HTTPS server with mutual TLS and a real SQLite store.
// Every endpoint: 401 without a client certificate, 403 with an agent's, and refused input leaves the
// stored state exactly as it was.
#include "verifier/api_fleet.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_client.hpp"
#include "net/https_server.hpp"
#include "tests/support/process.hpp"
#include "verifier/api_common.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

enum class who { anonymous, agent, operator_ };

// A private CA, a server certificate for 127.0.0.1, an operator and an agent client certificate, the store
// and the server with only the fleet routes.
class FleetApi : public ::testing::Test {
protected:
    void SetUp() override {
        auto ca_key = x509::generate_p256().value();
        x509::cert_request cr;
        cr.subject = {"test CA", "ca"};
        cr.kind = x509::cert_kind::ca;
        auto ca = x509::make_ca(ca_key.get(), cr).value();
        ASSERT_TRUE(write_file_atomic(dir_.path() / "ca.pem", x509::to_pem(ca.get()).value()).ok());
        auto issue = [&](const std::string& name, x509::dn subject, x509::cert_kind kind) {
            auto key = x509::generate_p256().value();
            x509::cert_request r;
            r.subject = std::move(subject);
            r.kind = kind;
            if (kind == x509::cert_kind::server) r.ips = {"127.0.0.1"};
            auto cert = x509::issue(ca.get(), ca_key.get(), key.get(), r).value();
            ASSERT_TRUE(write_file_atomic(dir_.path() / (name + ".pem"), x509::to_pem(cert.get()).value()).ok());
            ASSERT_TRUE(write_file_atomic(dir_.path() / (name + ".key"), x509::private_key_to_pem(key.get()).value(), 0600).ok());
        };
        issue("server", {"verifier", "server"}, x509::cert_kind::server);
        issue("operator", {"alice", "operator"}, x509::cert_kind::client);
        issue("agent", {"h1", "agent"}, x509::cert_kind::client);

        db_ = open_sqlite_store(dir_.path() / "verifier.db").value();
        net::https_server_options o;
        o.cert_pem_path = (dir_.path() / "server.pem").string();
        o.key_pem_path = (dir_.path() / "server.key").string();
        o.client_ca_pem_path = (dir_.path() / "ca.pem").string();
        srv_ = net::https_server::create(o).value();
        register_fleet_routes(*srv_, *db_);
        ASSERT_TRUE(srv_->listen("127.0.0.1", 0).ok());
        srv_->run();
    }
    void TearDown() override {
        if (srv_) srv_->stop();
    }

    net::http_reply call(who w, const std::string& method, const std::string& target, const std::string& body = "") {
        net::https_client_options o;
        o.ca_file = (dir_.path() / "ca.pem").string();
        if (w != who::anonymous) {
            const std::string name = w == who::agent ? "agent" : "operator";
            o.cert_file = (dir_.path() / (name + ".pem")).string();
            o.key_file = (dir_.path() / (name + ".key")).string();
        }
        auto c = net::https_client::create("https://127.0.0.1:" + std::to_string(srv_->bound_port()), o);
        EXPECT_TRUE(c.ok()) << c.err().message;
        if (!c) return {};
        auto r = (*c)->request(method, target, body);
        EXPECT_TRUE(r.ok()) << r.err().message;
        return r ? *r : net::http_reply{};
    }
    net::http_reply op(const std::string& method, const std::string& target, const std::string& body = "") {
        return call(who::operator_, method, target, body);
    }
    static json::object obj(const net::http_reply& r) {
        boost::system::error_code ec;
        auto v = json::parse(r.body, ec);
        EXPECT_FALSE(ec) << r.body;
        return !ec && v.is_object() ? v.as_object() : json::object{};
    }
    static std::string detail(const net::http_reply& r) {
        auto o = obj(r);
        return o.contains("detail") ? std::string(o["detail"].as_string()) : "";
    }

    // Everything the API can change, as one comparable string.
    std::string snapshot() {
        auto tx = db_->begin().value();
        std::string s;
        const auto hosts = tx->list_hosts().value();
        const auto entities = tx->list_entities().value();
        const auto sites = tx->list_sites().value();
        const auto findings = tx->list_findings(finding_filter{}).value();
        for (const auto& h : hosts)
            s += "host " + h.id + " " + h.state + " " + h.site + " " + std::to_string(h.approved_at) + " " + h.golden_pcrs +
                 " " + (h.golden_from_operator ? "op" : "-") + " " + h.status + "\n";
        for (const auto& e : entities) s += "entity " + e.id + " " + e.hq + " " + e.status + "\n";
        for (const auto& x : sites)
            s += "site " + x.id + " " + x.entity + " " + x.country + " " + std::to_string(x.lat) + " " + std::to_string(x.lon) +
                 " " + std::to_string(x.max_km) + "\n";
        for (const auto& f : findings)
            s += "finding " + std::to_string(f.id) + " " + f.rule + " " + (f.open ? "open" : "closed") + "\n";
        return s;
    }

    static std::string ek_of(const std::string& id) { return std::string(64 - id.size(), 'e') + id; }
    void put_host(const std::string& id, const std::string& state = "enrolled") {
        host_record h;
        h.id = id;
        h.state = state;
        h.ek_sha256 = ek_of(id);  // one live host per EK
        h.ak_name = "000b" + std::string(64, 'a');
        h.enrolled_at = 1764000000;
        h.last_seen = 1764000100;
        h.chain_seq = 7;
        h.status = "contraindicated";
        h.status_at = 1764000100;
        auto tx = db_->begin().value();
        ASSERT_TRUE(tx->put_host(h).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    std::int64_t add_finding(const std::string& host, const std::string& rule, std::int64_t time, bool open = true) {
        finding_record f{0, rule, rule == "reboot" ? "info" : "violation", "host", host, host, time, rule + " detail", open, 0, ""};
        auto tx = db_->begin().value();
        auto id = tx->insert_finding(f).value();
        if (!open) {
            EXPECT_TRUE(tx->resolve_findings(host, rule, time + 1).ok());
        }
        EXPECT_TRUE(tx->commit().ok());
        return id;
    }
    void seed_site() {
        ASSERT_EQ(op("POST", "/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})").status, 201u);
        ASSERT_EQ(op("POST", "/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127,"max_km":5})").status, 201u);
    }
    host_record host(const std::string& id) {
        auto tx = db_->begin().value();
        auto h = tx->get_host(id).value();
        EXPECT_TRUE(h.has_value());
        return h ? *h : host_record{};
    }

    custos::test::temp_dir dir_{"custos-fleet-api"};
    std::unique_ptr<store> db_;
    std::unique_ptr<net::https_server> srv_;
};

struct endpoint {
    const char* method;
    const char* target;
    const char* body;
};
const endpoint every_endpoint[] = {
    {"GET", "/v1/hosts", ""},
    {"GET", "/v1/hosts/h1", ""},
    {"POST", "/v1/hosts/h1/approve", R"({"site":"dc1"})"},
    {"POST", "/v1/hosts/h1/decommission", "{}"},
    {"POST", "/v1/sites", R"({"id":"dc2","entity":"acme","country":"DE","lat":50,"lon":8,"max_km":3})"},
    {"POST", "/v1/entities", R"({"id":"beta","hq":"DE","status":"nveu"})"},
    {"GET", "/v1/sites", ""},
    {"GET", "/v1/entities", ""},
    {"GET", "/v1/findings?open=1", ""},
};

TEST_F(FleetApi, EveryEndpointNeedsTheOperatorCertificate) {
    seed_site();
    put_host("h1");
    add_finding("h1", "pcr-changed", 1764000200);
    const std::string before = snapshot();
    for (const auto& e : every_endpoint) {
        SCOPED_TRACE(std::string(e.method) + " " + e.target);
        auto anon = call(who::anonymous, e.method, e.target, e.body);
        EXPECT_EQ(anon.status, 401u) << anon.body;
        auto agent = call(who::agent, e.method, e.target, e.body);
        EXPECT_EQ(agent.status, 403u) << agent.body;
        EXPECT_EQ(obj(agent)["error"], "forbidden");
        EXPECT_NE(detail(agent).find("\"agent\""), std::string::npos) << agent.body;
        EXPECT_EQ(snapshot(), before);
    }
    // The same requests with the operator's certificate all succeed.
    for (const auto& e : every_endpoint) {
        auto r = op(e.method, e.target, e.body);
        EXPECT_TRUE(r.status == 200 || r.status == 201) << e.method << " " << e.target << ": " << r.status << " " << r.body;
    }
    EXPECT_NE(snapshot(), before);
}

TEST_F(FleetApi, ListsHostsWithTheirOpenFindingCount) {
    EXPECT_EQ(op("GET", "/v1/hosts").body, R"({"hosts":[]})");
    put_host("h2");
    put_host("h1");
    add_finding("h1", "pcr-changed", 1764000200);
    add_finding("h1", "reboot", 1764000201, false);
    auto r = op("GET", "/v1/hosts");
    ASSERT_EQ(r.status, 200u);
    const std::string h = R"({"id":"ID","state":"enrolled","site":null,"status":"contraindicated","status_at":1764000100,)"
                          R"("enrolled_at":1764000000,"approved_at":0,"last_seen":1764000100,"ak_name":"000b)" +
                          std::string(64, 'a') + R"(","ek_sha256":"EKV","chain_seq":7,"open_findings":N})";
    auto with = [&](const char* id, const char* n) {
        std::string s = h;
        s.replace(s.find("ID"), 2, id);
        s.replace(s.find("EKV"), 3, ek_of(id));
        s.replace(s.find(":N}"), 3, std::string(":") + n + "}");
        return s;
    };
    EXPECT_EQ(r.body, R"({"hosts":[)" + with("h1", "1") + "," + with("h2", "0") + "]}");
}

TEST_F(FleetApi, ShowsOneHostWithClockGoldenValuesAndFindings) {
    put_host("h1");
    const auto fid = add_finding("h1", "pcr-changed", 1764000200);
    add_finding("h1", "reboot", 1764000201, false);
    {
        auto tx = db_->begin().value();
        auto h = *tx->get_host("h1").value();
        h.have_clock = true;
        h.clock = 123456;
        h.reset_count = 3;
        h.restart_count = 1;
        h.golden_pcrs = R"({"sha256":{"0":")" + std::string(64, '0') + R"("}})";
        ASSERT_TRUE(tx->put_host(h).ok());
        ASSERT_TRUE(tx->insert_appraisal({"h1", 1764000300, "contraindicated", "a.b.c", {}}).ok());
        report_record rep{"h1", 1, bytes(32, 1), bytes{'{', '}'}, bytes(64, 2), bytes(32, 3), 1764000301};
        ASSERT_TRUE(tx->insert_report(rep).ok());
        ASSERT_TRUE(tx->commit().ok());
    }
    auto r = op("GET", "/v1/hosts/h1");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto o = obj(r);
    EXPECT_EQ(o["id"], "h1");
    EXPECT_EQ(o["open_findings"], 1);
    EXPECT_EQ(json::serialize(o["golden_pcrs"]), R"({"sha256":{"0":")" + std::string(64, '0') + R"("}})");
    EXPECT_EQ(json::serialize(o["clock"]), R"({"have_clock":true,"clock":123456,"reset_count":3,"restart_count":1})");
    EXPECT_EQ(o["reports"], 1);
    EXPECT_EQ(json::serialize(o["latest_appraisal"]), R"({"time":1764000300,"status":"contraindicated","token":"a.b.c"})");
    ASSERT_EQ(o["findings"].as_array().size(), 1u);
    EXPECT_EQ(json::serialize(o["findings"].as_array()[0]),
              R"({"id":)" + std::to_string(fid) +
                  R"(,"rule":"pcr-changed","severity":"violation","subject_kind":"host","subject":"h1","host":"h1",)"
                  R"("time":1764000200,"detail":"pcr-changed detail","open":true})");

    put_host("h2");
    auto fresh = obj(op("GET", "/v1/hosts/h2"));
    EXPECT_TRUE(fresh["golden_pcrs"].is_null());
    EXPECT_TRUE(fresh["latest_appraisal"].is_null());
    EXPECT_EQ(json::serialize(fresh["clock"]), R"({"have_clock":false,"clock":0,"reset_count":0,"restart_count":0})");
    EXPECT_EQ(fresh["reports"], 0);

    auto missing = op("GET", "/v1/hosts/nope");
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(detail(missing), "no host \"nope\"");
    auto bad = op("GET", "/v1/hosts/-bad");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_NE(detail(bad).find("\"-bad\" is not a host id"), std::string::npos) << bad.body;
    EXPECT_EQ(op("GET", "/v1/hosts/").status, 404u);  // the prefix alone is no route
    EXPECT_EQ(op("GET", "/v1/hosts/h1/extra").status, 404u);
}

TEST_F(FleetApi, ApprovesAHostToASiteAndResolvesItsFindings) {
    seed_site();
    put_host("h1");
    add_finding("h1", "pcr-changed", 1764000200);
    add_finding("h2", "pcr-changed", 1764000200);  // another host's: stays open
    const std::int64_t t0 = unix_now();
    auto r = op("POST", "/v1/hosts/h1/approve", R"({"site":"dc1"})");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto o = obj(r);
    EXPECT_EQ(o["state"], "approved");
    EXPECT_EQ(o["site"], "dc1");
    EXPECT_EQ(o["status"], "affirming");
    EXPECT_EQ(o["open_findings"], 0);
    const auto h = host("h1");
    EXPECT_EQ(h.state, "approved");
    EXPECT_EQ(h.site, "dc1");
    EXPECT_GE(h.approved_at, t0);
    EXPECT_LE(h.approved_at, unix_now());
    EXPECT_EQ(h.golden_pcrs, "");  // set from the next valid quote
    EXPECT_FALSE(h.golden_from_operator);
    auto tx = db_->begin().value();
    finding_filter open;
    open.open_only = true;
    auto still = tx->list_findings(open).value();
    ASSERT_EQ(still.size(), 1u);
    EXPECT_EQ(still[0].host, "h2");
}

TEST_F(FleetApi, ApprovalTakesGoldenValuesFromTheOperator) {
    seed_site();
    put_host("h1");
    const std::string d0(64, 'A'), d7(64, 'b');
    auto r = op("POST", "/v1/hosts/h1/approve",
                R"({"site":"dc1","golden_pcrs":{"sha256":{"7":")" + d7 + R"(","0":")" + d0 + R"("}}})");
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto h = host("h1");
    EXPECT_TRUE(h.golden_from_operator);
    // Normalised: lowercase hex, indices in order.
    EXPECT_EQ(h.golden_pcrs, R"({"sha256":{"0":")" + std::string(64, 'a') + R"(","7":")" + d7 + R"("}})");

    // Approving again without golden values goes back to "from the next quote".
    ASSERT_EQ(op("POST", "/v1/hosts/h1/approve", R"({"site":"dc1"})").status, 200u);
    EXPECT_EQ(host("h1").golden_pcrs, "");
    EXPECT_FALSE(host("h1").golden_from_operator);
}

TEST_F(FleetApi, RefusedApprovalsChangeNothing) {
    seed_site();
    put_host("h1");
    put_host("gone", "decommissioned");
    add_finding("h1", "pcr-changed", 1764000200);
    const std::string before = snapshot();
    struct refusal {
        const char* target;
        std::string body;
        unsigned status;
        const char* says;
    };
    const refusal cases[] = {
        {"/v1/hosts/h1/approve", R"({"site":"dc9"})", 404, "no site \"dc9\""},
        {"/v1/hosts/nope/approve", R"({"site":"dc1"})", 404, "no host \"nope\""},
        {"/v1/hosts/gone/approve", R"({"site":"dc1"})", 409, "decommissioned"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1","extra":1})", 400, "extra"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1")", 400, "approve request"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1","site":"dc1"})", 400, "duplicate"},
        {"/v1/hosts/h1/approve", R"({})", 400, "site"},
        {"/v1/hosts/h1/approve", R"({"site":"../x"})", 400, "site"},
        {"/v1/hosts/h1/approve", R"([])", 400, "approve request"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1","golden_pcrs":{"sha256":{"0":"abcd"}}})", 400, "golden_pcrs"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1","golden_pcrs":{"md5":{"0":"00"}}})", 400, "golden_pcrs"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1","golden_pcrs":{}})", 400, "golden_pcrs"},
        {"/v1/hosts/h1/approve", R"({"site":"dc1","golden_pcrs":"x"})", 400, "golden_pcrs"},
        {"/v1/hosts/h%31/approve", R"({"site":"dc1"})", 400, "is not a host id"},
        {"/v1/hosts/h1/promote", R"({"site":"dc1"})", 404, "approve and decommission"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.target) + " " + c.body);
        auto r = op("POST", c.target, c.body);
        EXPECT_EQ(r.status, c.status) << r.body;
        EXPECT_NE(detail(r).find(c.says), std::string::npos) << r.body;
        EXPECT_EQ(snapshot(), before);
    }
    // Over the 1 MiB body limit: 413 before any handler runs.
    auto big = op("POST", "/v1/hosts/h1/approve", R"({"site":"dc1","pad":")" + std::string(1u << 20, 'x') + "\"}");
    EXPECT_EQ(big.status, 413u);
    EXPECT_EQ(snapshot(), before);
}

TEST_F(FleetApi, DecommissionsIdempotently) {
    put_host("h1");
    add_finding("h1", "pcr-changed", 1764000200);
    const std::string before = snapshot();
    EXPECT_EQ(op("POST", "/v1/hosts/nope/decommission", "{}").status, 404u);
    EXPECT_EQ(op("POST", "/v1/hosts/h1/decommission", R"({"now":true})").status, 400u);
    EXPECT_EQ(op("POST", "/v1/hosts/h1/decommission", "").status, 400u);
    EXPECT_EQ(op("POST", "/v1/hosts/h1/decommission", "{").status, 400u);
    EXPECT_EQ(op("POST", "/v1/hosts/h_!/decommission", "{}").status, 400u);
    EXPECT_EQ(op("POST", "/v1/hosts/h1/decommission", "{\"p\":\"" + std::string(1u << 20, 'x') + "\"}").status, 413u);
    EXPECT_EQ(snapshot(), before);
    for (int i = 0; i < 2; ++i) {
        auto r = op("POST", "/v1/hosts/h1/decommission", "{}");
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_EQ(obj(r)["state"], "decommissioned");
        EXPECT_EQ(obj(r)["open_findings"], 1);
        EXPECT_EQ(host("h1").state, "decommissioned");
    }
}

TEST_F(FleetApi, AddsAndReplacesEntitiesAndSites) {
    auto e = op("POST", "/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})");
    EXPECT_EQ(e.status, 201u);
    EXPECT_EQ(e.body, R"({"id":"acme","hq":"US","status":"uveu"})");
    EXPECT_EQ(op("POST", "/v1/entities", R"({"id":"acme","hq":"NL","status":"nveu"})").status, 200u);
    EXPECT_EQ(op("POST", "/v1/entities", R"({"id":"beta","hq":"DE","status":"none"})").status, 201u);
    EXPECT_EQ(op("GET", "/v1/entities").body,
              R"({"entities":[{"id":"acme","hq":"NL","status":"nveu"},{"id":"beta","hq":"DE","status":"none"}]})");

    auto s = op("POST", "/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127,"max_km":5})");
    EXPECT_EQ(s.status, 201u) << s.body;
    EXPECT_EQ(s.body, R"({"id":"dc1","entity":"acme","country":"KR","lat":3.75E1,"lon":1.27E2,"max_km":5E0})");
    EXPECT_EQ(op("POST", "/v1/sites", R"({"id":"dc1","entity":"beta","country":"AQ","lat":-90,"lon":-180,"max_km":0.5})").status, 200u);
    auto list = obj(op("GET", "/v1/sites"));
    ASSERT_EQ(list["sites"].as_array().size(), 1u);
    auto& site = list["sites"].as_array()[0].as_object();
    EXPECT_EQ(site["entity"], "beta");
    EXPECT_EQ(site["country"], "AQ");
    EXPECT_EQ(site["lat"].as_double(), -90.0);
    EXPECT_EQ(site["lon"].as_double(), -180.0);
    EXPECT_EQ(site["max_km"].as_double(), 0.5);
}

TEST_F(FleetApi, RefusedEntitiesAndSitesChangeNothing) {
    seed_site();
    const std::string before = snapshot();
    struct refusal {
        const char* target;
        std::string body;
        unsigned status;
        const char* says;
    };
    const refusal cases[] = {
        {"/v1/entities", R"({"id":"x","hq":"us","status":"uveu"})", 400, "hq"},
        {"/v1/entities", R"({"id":"x","hq":"USA","status":"uveu"})", 400, "hq"},
        {"/v1/entities", R"({"id":"x","hq":"US","status":"eu"})", 400, "status"},
        {"/v1/entities", R"({"id":"x","hq":"US"})", 400, "status"},
        {"/v1/entities", R"({"id":"x","hq":"US","status":"uveu","ceo":"y"})", 400, "ceo"},
        {"/v1/entities", R"({"id":"x y","hq":"US","status":"uveu"})", 400, "id"},
        {"/v1/entities", R"({"id":"x","hq":"US","status":"uveu"} trailing)", 400, "entity"},
        {"/v1/entities", R"({"id":1,"hq":"US","status":"uveu"})", 400, "id"},
        {"/v1/sites", R"({"id":"dc2","entity":"nobody","country":"KR","lat":1,"lon":1,"max_km":1})", 404, "no entity \"nobody\""},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"kr","lat":1,"lon":1,"max_km":1})", 400, "country"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":90.5,"lon":1,"max_km":1})", 400, "lat"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":1,"lon":-180.1,"max_km":1})", 400, "lon"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":1,"lon":1,"max_km":0})", 400, "max_km"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":1,"lon":1,"max_km":-3})", 400, "max_km"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":"1","lon":1,"max_km":1})", 400, "lat"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":1,"lon":1,"max_km":1,"alt":3})", 400, "alt"},
        // Berlin is not in Korea (the borders allow 25 km for coasts and border lines).
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":52.52,"lon":13.40,"max_km":1})", 400, "in DE"},
        {"/v1/sites", R"({"id":".dc2","entity":"acme","country":"KR","lat":1,"lon":1,"max_km":1})", 400, "id"},
        {"/v1/sites", R"({"id":"dc2","entity":"acme","country":"KR","lat":1,"lon":1})", 400, "max_km"},
        {"/v1/sites", "not json", 400, "site"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.target) + " " + c.body);
        auto r = op("POST", c.target, c.body);
        EXPECT_EQ(r.status, c.status) << r.body;
        EXPECT_NE(detail(r).find(c.says), std::string::npos) << r.body;
        EXPECT_EQ(snapshot(), before);
    }
    for (const char* target : {"/v1/sites", "/v1/entities"}) {
        auto big = op("POST", target, "{\"id\":\"" + std::string((1u << 20) + 1, 'x') + "\"}");
        EXPECT_EQ(big.status, 413u) << target;
    }
    EXPECT_EQ(snapshot(), before);
}

TEST_F(FleetApi, FiltersFindings) {
    put_host("h1");
    put_host("h2");
    const auto a = add_finding("h1", "pcr-changed", 1764000100);
    const auto b = add_finding("h1", "reboot", 1764000200, false);
    const auto c = add_finding("h2", "pcr-changed", 1764000300);
    auto ids = [&](const std::string& query) {
        auto r = op("GET", "/v1/findings" + query);
        EXPECT_EQ(r.status, 200u) << query << ": " << r.body;
        std::vector<std::int64_t> out;
        const json::array fs = obj(r)["findings"].as_array();
        for (const auto& f : fs) out.push_back(f.as_object().at("id").as_int64());
        return out;
    };
    using v = std::vector<std::int64_t>;
    EXPECT_EQ(ids(""), (v{c, b, a}));  // newest first
    EXPECT_EQ(ids("?host=h1"), (v{b, a}));
    EXPECT_EQ(ids("?rule=pcr-changed"), (v{c, a}));
    EXPECT_EQ(ids("?open=1"), (v{c, a}));
    EXPECT_EQ(ids("?open=0"), (v{c, b, a}));
    EXPECT_EQ(ids("?since=1764000200"), (v{c, b}));
    EXPECT_EQ(ids("?limit=1"), (v{c}));
    EXPECT_EQ(ids("?host=h1&rule=pcr-changed&open=1&since=1764000000&limit=5"), (v{a}));
    EXPECT_EQ(ids("?host=h3"), v{});
    auto first = obj(op("GET", "/v1/findings?host=h1&open=1"))["findings"].as_array().at(0).as_object();
    EXPECT_EQ(json::serialize(first), R"({"id":)" + std::to_string(a) +
                                          R"(,"rule":"pcr-changed","severity":"violation","subject_kind":"host",)"
                                          R"("subject":"h1","host":"h1","time":1764000100,"detail":"pcr-changed detail","open":true})");

    const std::pair<const char*, const char*> refused[] = {
        {"?hots=h1", "unknown query parameter \"hots\""},
        {"?host=h1&host=h2", "given twice"},
        {"?host=-x", "host"},
        {"?rule=PCR", "rule"},
        {"?open=yes", "open"},
        {"?since=-1", "since"},
        {"?limit=0", "limit"},
        {"?limit=10001", "limit"},
        {"?limit=abc", "limit"},
    };
    for (const auto& [query, says] : refused) {
        auto r = op("GET", std::string("/v1/findings") + query);
        EXPECT_EQ(r.status, 400u) << query;
        EXPECT_NE(detail(r).find(says), std::string::npos) << query << ": " << r.body;
    }
}

}  // namespace
}  // namespace custos::verifier
