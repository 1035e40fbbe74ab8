// Integration-test plumbing for the attestation loop: a real verifier service (initialised DIR, real
// SQLite, real HTTPS on a free port) and simulated hosts, each with its own swtpm, that speak the
// protocol step by step so tests can forge, replay and reorder messages.
#pragma once

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/landmark_client.hpp"
#include "attest/report_ext.hpp"
#include "attest/tpm_device.hpp"
#include "attest/tpm_public.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/swtpm.hpp"
#include "verifier/api_common.hpp"
#include "verifier/cli.hpp"
#include "verifier/config.hpp"
#include "verifier/init.hpp"
#include "verifier/service.hpp"
#include "tests/support/pci_view.hpp"

namespace custos::test {

namespace json = boost::json;
namespace fs = std::filesystem;

inline json::value parse_json(const std::string& s) {
    boost::system::error_code ec;
    auto v = json::parse(s, ec);
    EXPECT_FALSE(ec) << s;
    return v;
}

inline std::string text_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A verifier initialised in a temp dir whose EK CA bundle trusts the given swtpm CAs.
class verifier_instance {
public:
    // policy_profiles: the [policy] profiles to run under (empty: what init wrote).
    explicit verifier_instance(const std::vector<const swtpm*>& tpms, unsigned report_interval_s = 2,
                               const std::vector<std::string>& policy_profiles = {}) {
        verifier::init_options o;
        o.dir = dir_.path() / "v";
        fs::create_directories(dir_.path());
        std::string bundle;
        for (const auto* t : tpms) bundle += text_of(t->ca_cert());
        const fs::path ek = dir_.path() / "ek-ca.pem";
        std::ofstream(ek) << bundle;
        o.ek_ca_file = ek;
        auto r = verifier::init_verifier_dir(o);
        if (!r) throw std::runtime_error("init: " + r.err().message);
        auto cfg = verifier::load_verifier_config(o.dir / "verifier.toml");
        if (!cfg) throw std::runtime_error("config: " + cfg.err().message);
        cfg->report_interval_s = report_interval_s;
        cfg->attest_interval_s = 5;
        cfg->threads = 2;
        if (!policy_profiles.empty()) cfg->policy_profiles = policy_profiles;
        cfg_ = *cfg;
        start();
    }
    ~verifier_instance() { stop(); }

    void start() {
        auto s = verifier::service::create(cfg_, "127.0.0.1:" + std::to_string(port_));
        if (!s) throw std::runtime_error("service: " + s.err().message);
        svc_ = std::move(s).value();
        if (auto st = svc_->start(); !st) throw std::runtime_error("start: " + st.err().message);
        port_ = svc_->port();
    }
    void stop() {
        if (svc_) svc_->stop();
        svc_.reset();
    }

    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    const fs::path& dir() const { return cfg_.dir; }
    fs::path config_file() const { return cfg_.dir / "verifier.toml"; }
    verifier::service_context& ctx() { return svc_->context(); }
    const verifier::verifier_config& cfg() const { return cfg_; }
    // For settings a test changes between stop() and start().
    verifier::verifier_config& mutable_cfg() { return cfg_; }

    std::string token(const std::string& host) {
        auto& db = *ctx().db;
        bytes raw(32, 0);
        randombytes_buf(raw.data(), raw.size());
        const std::string t = host + "." + to_base64url(raw);
        verifier::enroll_token_record rec;
        rec.token_hash = sha256(as_bytes(t));
        rec.host_id = host;
        rec.created_at = verifier::unix_now();
        rec.expires_at = rec.created_at + 600;
        auto tx = db.begin();
        EXPECT_TRUE(tx.ok());
        EXPECT_TRUE((*tx)->insert_token(rec).ok());
        EXPECT_TRUE((*tx)->commit().ok());
        return t;
    }

    // An https client with the operator credential, or with none.
    std::unique_ptr<net::https_client> client(bool operator_cert = true) const {
        net::https_client_options o;
        o.ca_file = (cfg_.dir / "operator/ca.pem").string();
        if (operator_cert) {
            o.cert_file = (cfg_.dir / "operator/cert.pem").string();
            o.key_file = (cfg_.dir / "operator/key.pem").string();
        }
        auto c = net::https_client::create(url(), o);
        if (!c) throw std::runtime_error("client: " + c.err().message);
        return std::move(c).value();
    }

    std::vector<verifier::finding_record> findings(const std::string& host, const std::string& rule = {}) {
        verifier::finding_filter f;
        f.host = host;
        if (!rule.empty()) f.rule = rule;
        auto tx = ctx().db->begin();
        EXPECT_TRUE(tx.ok());
        auto r = (*tx)->list_findings(f);
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : std::vector<verifier::finding_record>{};
    }
    std::optional<verifier::host_record> host(const std::string& id) {
        auto tx = ctx().db->begin();
        auto h = (*tx)->get_host(id);
        EXPECT_TRUE(h.ok());
        return h.ok() ? *h : std::nullopt;
    }

    // The host's latest location proof as stored (no operator endpoint shows it).
    std::optional<verifier::host_location_record> location(const std::string& host_id) {
        auto tx = ctx().db->begin();
        EXPECT_TRUE(tx.ok());
        if (!tx.ok()) return std::nullopt;
        auto l = (*tx)->get_host_location(host_id);
        EXPECT_TRUE(l.ok());
        return l.ok() ? *l : std::nullopt;
    }

private:
    temp_dir dir_{"custos-verifier-int"};
    verifier::verifier_config cfg_;
    std::unique_ptr<verifier::service> svc_;
    std::uint16_t port_ = 0;
};

inline std::string post(net::https_client& c, const std::string& path, const std::string& body, unsigned* status) {
    auto r = c.request("POST", path, body);
    if (!r) {
        ADD_FAILURE() << path << ": " << r.err().message;
        *status = 0;
        return {};
    }
    *status = r->status;
    return r->body;
}

// One GPU host's TPM and the protocol steps its agent takes.
class sim_host {
public:
    sim_host(std::string id, std::unique_ptr<swtpm> tpm) : id_(std::move(id)), tpm_(std::move(tpm)), dev_(tpm_->tcti()) {
        auto ak = dev_.create_ak(attest::ek_kind::ecc_p384, attest::ak_alg::ecc_p256);
        if (!ak) throw std::runtime_error("AK: " + ak.err().message);
        ak_ = *ak;
        auto k = x509::generate_p256();
        if (!k) throw std::runtime_error("key: " + k.err().message);
        tls_key_ = std::move(k).value();
        report_pk_.resize(crypto_sign_PUBLICKEYBYTES);
        report_sk_ = secret_bytes(crypto_sign_SECRETKEYBYTES);
        crypto_sign_keypair(report_pk_.data(), report_sk_.data());
    }

    const std::string& id() const { return id_; }
    swtpm& tpm() { return *tpm_; }
    attest::tpm_device& dev() { return dev_; }
    const bytes& report_key() const { return report_pk_; }
    const attest::ak_key& ak() const { return ak_; }

    // The enroll request body for `as_host` (this TPM's EK and AK).
    std::string enroll_body(const std::string& as_host, const std::string& token) {
        auto cert = dev_.read_ek_certificate(attest::ek_kind::ecc_p384);
        auto ekp = dev_.ek_public(attest::ek_kind::ecc_p384);
        auto csr = x509::make_csr_pem(tls_key_.get(), {as_host, "agent", "custos"});
        EXPECT_TRUE(cert.ok() && cert->has_value() && ekp.ok() && csr.ok());
        json::object o;
        o["host_id"] = as_host;
        o["token"] = token;
        o["ek_cert"] = to_base64(**cert);
        o["ek_public"] = to_base64(attest::marshal_public(*ekp));
        o["ak_public"] = to_base64(attest::marshal_public(ak_.pub));
        o["csr"] = *csr;
        return json::serialize(o);
    }

    // Full enrollment; returns the final HTTP status (200 on success) and stores the certificate.
    unsigned enroll(verifier_instance& v, const std::string& token, std::string* body_out = nullptr) {
        auto c = v.client(false);
        unsigned st = 0;
        const std::string b = post(*c, "/v1/enroll", enroll_body(id_, token), &st);
        if (body_out) *body_out = b;
        if (st != 200) return st;
        auto j = parse_json(b).as_object();
        attest::credential_blob blob;
        blob.id_object = *from_base64(std::string(j["id_object"].as_string()));
        blob.encrypted_secret = *from_base64(std::string(j["encrypted_secret"].as_string()));
        auto secret = dev_.activate_credential(ak_, blob);
        EXPECT_TRUE(secret.ok()) << (secret.ok() ? "" : secret.err().message);
        json::object a;
        a["enrollment_id"] = j["enrollment_id"];
        a["secret"] = to_base64(secret->view());
        const std::string ab = post(*c, "/v1/enroll/activate", json::serialize(a), &st);
        if (body_out) *body_out = ab;
        if (st != 200) return st;
        auto r = parse_json(ab).as_object();
        cert_pem_ = std::string(r["certificate"].as_string());
        EXPECT_TRUE(write_file_atomic(tpm_->dir() / "client.pem", cert_pem_, 0600).ok());
        EXPECT_TRUE(write_file_atomic(tpm_->dir() / "client.key", *x509::private_key_to_pem(tls_key_.get()), 0600).ok());
        net::https_client_options o;
        o.ca_file = (v.dir() / "ca/ca.pem").string();
        o.cert_file = (tpm_->dir() / "client.pem").string();
        o.key_file = (tpm_->dir() / "client.key").string();
        client_ = std::move(net::https_client::create(v.url(), o)).value();
        return st;
    }

    net::https_client& client() { return *client_; }

    bytes challenge(unsigned* status = nullptr) {
        unsigned st = 0;
        const std::string b = post(*client_, "/v1/challenge", "{}", &st);
        if (status) *status = st;
        if (st != 200) return {};
        return *from_base64(std::string(parse_json(b).as_object()["nonce"].as_string()));
    }

    bytes evidence() const {
        attest::evidence e;
        e.host = id_;
        e.time = verifier::unix_now();
        e.report_key = report_pk_;
        e.head_seq = seq_;
        e.head_hash = head_;
        return attest::encode_evidence(e);
    }

    // A quote over the verifier's default selection with the given qualification, as wire JSON.
    json::object quote(byte_view qualification) {
        auto sel = attest::parse_pcr_selection(verifier::verifier_config{}.pcr_selection);
        auto q = dev_.quote(ak_, qualification, *sel);
        EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.err().message);
        return attest::quote_to_json(q->attest, q->signature, q->pcrs);
    }

    std::string attest_body(const bytes& nonce, const bytes& ev, json::object quote_json) const {
        json::object o;
        o["nonce"] = to_base64(nonce);
        o["evidence"] = to_base64(ev);
        o["quote"] = std::move(quote_json);
        if (!logs.empty()) o["logs"] = logs;
        return json::serialize(o);
    }
    // Sent as the attest request's "logs" when not empty ({"boot":b64, "ima_from":N, "ima":b64}).
    json::object logs;

    // challenge → quote → attest; returns the answer's JSON (and the status).
    json::object round(unsigned* status = nullptr, std::string* body_out = nullptr) {
        const bytes nonce = challenge();
        const bytes ev = evidence();
        unsigned st = 0;
        last_attest_body_ = attest_body(nonce, ev, quote(attest::evidence_qualification(nonce, ev)));
        const std::string b = post(*client_, "/v1/attest", last_attest_body_, &st);
        if (status) *status = st;
        if (body_out) *body_out = b;
        return parse_json(b).as_object();
    }
    const std::string& last_attest_body() const { return last_attest_body_; }

    // A signed report continuing this host's own chain (or with explicit seq/prev to forge).
    std::pair<bytes, bytes> make_report(std::optional<std::uint64_t> seq = {}, std::optional<bytes> prev = {},
                                        std::string ext = "{}") {
        attest::report r;
        r.host = id_;
        r.seq = seq.value_or(seq_ + 1);
        r.prev = prev.value_or(head_);
        r.time = verifier::unix_now();
        r.clock = seq ? 999 : 1000;  // a forged report differs from the genuine one with that number
        r.key = report_pk_;
        r.ext = std::move(ext);
        bytes body = attest::encode_report(r);
        bytes sig = attest::sign_report(body, report_sk_);
        if (!seq) {
            seq_ = r.seq;
            head_ = attest::report_hash(body);
        }
        return {body, sig};
    }

    static std::string reports_body(const std::vector<std::pair<bytes, bytes>>& reports) {
        json::array a;
        for (const auto& [body, sig] : reports) a.push_back(json::object{{"report", to_base64(body)}, {"sig", to_base64(sig)}});
        return json::serialize(json::object{{"reports", a}});
    }

    // POST /v1/reports; returns each result's status string.
    std::vector<std::string> send_reports(const std::vector<std::pair<bytes, bytes>>& reports, unsigned* status = nullptr) {
        unsigned st = 0;
        const std::string b = post(*client_, "/v1/reports", reports_body(reports), &st);
        if (status) *status = st;
        std::vector<std::string> out;
        if (st != 200) return out;
        const json::value answer = parse_json(b);
        for (const auto& r : answer.at("results").as_array()) out.emplace_back(r.as_object().at("status").as_string());
        return out;
    }

    // The start-up binding of this host's report key (prev = its chain head), over a fresh challenge.
    unsigned bind_key(std::string* body_out = nullptr) { return bind_key_body(binding_body(challenge()), body_out); }
    // A binding request over `nonce` (any bytes: a test may forge it) for this host's key and chain head.
    std::string binding_body(const bytes& nonce) {
        json::object o;
        o["report_key"] = to_base64(report_pk_);
        o["prev_seq"] = seq_;
        o["prev_hash"] = to_hex(head_);
        o["nonce"] = to_base64(nonce);
        o["quote"] = quote(attest::report_key_qualification(nonce, report_pk_, seq_, head_));
        return json::serialize(o);
    }
    unsigned bind_key_body(const std::string& body, std::string* body_out = nullptr) {
        unsigned st = 0;
        const std::string b = post(*client_, "/v1/report-key", body, &st);
        if (body_out) *body_out = b;
        return st;
    }
    // A new agent start: a new report key, not yet bound. The old one is handed to the caller: root on the
    // host can keep it (from the old process's memory) and try to sign with it later.
    std::pair<bytes, secret_bytes> new_report_key() {
        std::pair<bytes, secret_bytes> old{report_pk_, secret_bytes(report_sk_.view())};
        crypto_sign_keypair(report_pk_.data(), report_sk_.data());
        return old;
    }
    // Signs with a kept key pair, as the attacker would (the chain position is the caller's to choose).
    void use_report_key(const std::pair<bytes, secret_bytes>& k) {
        report_pk_ = k.first;
        report_sk_ = secret_bytes(k.second.view());
    }
    // The chain as this host has it (a test may move it to play an agent that lost or withheld reports).
    std::uint64_t head_seq() const { return seq_; }
    const bytes& head_hash() const { return head_; }
    void set_head(std::uint64_t seq, bytes hash) {
        seq_ = seq;
        head_ = std::move(hash);
    }

    // What the agent does with the "location" of an attest answer (agent/daemon.cpp, locate): the timed
    // exchanges with every landmark it names, signed with this host's report key.
    agent::location_attempt prove_location(const json::value& location) const {
        const auto& o = location.as_object();
        const bytes round = *from_base64(std::string(o.at("round").as_string()));
        std::vector<agent::landmark_target> targets;
        for (const auto& l : o.at("landmarks").as_array())
            targets.push_back({std::string(l.at("id").as_string()), std::string(l.at("address").as_string())});
        return agent::prove_location(round, report_pk_, report_sk_, targets, o.at("samples").to_number<unsigned>(),
                                     std::chrono::milliseconds(o.at("timeout_ms").to_number<unsigned>()));
    }

    // The POST /v1/location body the agent sends for `attempt` in the round `round_b64`.
    static std::string location_body(const std::string& round_b64, const agent::location_attempt& attempt) {
        json::array proofs, errors;
        for (const auto& p : attempt.proofs)
            proofs.push_back(json::object{{"statement", to_base64(p.statement)}, {"sig", to_base64(p.signature)}});
        for (const auto& e : attempt.errors) errors.emplace_back(e);
        return json::serialize(json::object{{"round", round_b64}, {"proofs", std::move(proofs)}, {"errors", std::move(errors)}});
    }

    json::object post_location(const std::string& body, unsigned* status, std::string* body_out = nullptr) {
        unsigned st = 0;
        const std::string b = post(*client_, "/v1/location", body, &st);
        if (status) *status = st;
        if (body_out) *body_out = b;
        return parse_json(b).as_object();
    }

    // The whole agent step: prove against the answer's landmarks and post the statements.
    json::object locate(const json::value& location, unsigned* status, agent::location_attempt* attempt_out = nullptr) {
        auto a = prove_location(location);
        const std::string body = location_body(std::string(location.at("round").as_string()), a);
        if (attempt_out) *attempt_out = std::move(a);
        return post_location(body, status);
    }

    void extend_pcr(unsigned pcr) {
        auto r = run_process({"tpm2_pcrextend", std::to_string(pcr) +
                                                    ":sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
                             tpm_->tools_env());
        EXPECT_EQ(r.exit_code, 0) << r.err;
    }

private:
    std::string id_;
    std::unique_ptr<swtpm> tpm_;
    attest::tpm_device dev_;
    attest::ak_key ak_;
    ossl::pkey_ptr tls_key_;
    std::string cert_pem_;
    std::unique_ptr<net::https_client> client_;
    bytes report_pk_;
    secret_bytes report_sk_;
    std::uint64_t seq_ = 0;
    bytes head_ = bytes(32, 0);
    std::string last_attest_body_;
};

// A report ext listing H100s with these serials (each with `ops` counted), as an agent's NVML inventory.
inline std::string inventory_ext(const std::vector<std::string>& serials, double ops = 0) {
    attest::report_ext e;
    e.inventory_source = "nvml";
    e.driver_version = "550.54.15";
    for (const auto& s : serials) {
        attest::gpu_report g;
        g.serial = s;
        g.uuid = "GPU-" + s;
        g.name = "NVIDIA H100 80GB HBM3";
        g.chip = "H100-SXM";
        g.pci_bus_id = "00000000:18:00.0";
        g.ops = ops;
        e.gpus.push_back(g);
    }
    return attest::encode_report_ext(test::with_pci_view(std::move(e)));
}

// The open ones of `fs`.
inline std::vector<verifier::finding_record> open_only(std::vector<verifier::finding_record> fs) {
    std::erase_if(fs, [](const verifier::finding_record& f) { return !f.open; });
    return fs;
}

// A verifier and two simulated hosts (host-a, host-b) on their own swtpms, with the operator steps most
// tests take: an entity and a site, and approving a host to it.
class two_hosts : public ::testing::Test {
protected:
    void SetUp() override {
        auto t1 = swtpm::start();
        auto t2 = swtpm::start();
        v_ = std::make_unique<verifier_instance>(std::vector<const swtpm*>{t1.get(), t2.get()});
        a_ = std::make_unique<sim_host>("host-a", std::move(t1));
        b_ = std::make_unique<sim_host>("host-b", std::move(t2));
    }
    void enroll(sim_host& h) { ASSERT_EQ(h.enroll(*v_, v_->token(h.id())), 200u); }
    // Entity acme (US, UVEU) and its site dc1 in Seoul, 50 km.
    void add_site() {
        auto op = v_->client();
        unsigned st = 0;
        post(*op, "/v1/entities", R"({"id":"acme","hq":"US","status":"uveu"})", &st);
        ASSERT_TRUE(st == 200 || st == 201) << st;
        post(*op, "/v1/sites", R"({"id":"dc1","entity":"acme","country":"KR","lat":37.5,"lon":127.0,"max_km":50})", &st);
        ASSERT_TRUE(st == 200 || st == 201) << st;
    }
    void approve(const std::string& host, const std::string& site = "dc1") {
        auto op = v_->client();
        unsigned st = 0;
        const std::string b = post(*op, "/v1/hosts/" + host + "/approve", R"({"site":")" + site + R"("})", &st);
        ASSERT_EQ(st, 200u) << b;
    }
    std::unique_ptr<verifier_instance> v_;
    std::unique_ptr<sim_host> a_, b_;
};

}  // namespace custos::test
