#include "agent/daemon.hpp"

#include "agent/answers.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <random>

#include "attest/gpu_attestation.hpp"
#include "attest/ima_log.hpp"
#include "attest/messages.hpp"
#include "attest/report_ext.hpp"
#include "attest/tpm_public.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"
#include "crypto/x509.hpp"

namespace custos::agent {
namespace fs = std::filesystem;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

result<json::value> json_answer(const net::http_reply& r, const char* what) {
    auto v = sjson::parse(r.body, what);
    if (!v) return make_error(errc::parse, std::string(what) + ": HTTP " + std::to_string(r.status) + ", body is not JSON");
    return std::move(v).value();
}


}  // namespace

const char* state_name(agent_state s) noexcept {
    switch (s) {
    case agent_state::unenrolled: return "unenrolled";
    case agent_state::enrolling: return "enrolling";
    case agent_state::attesting: return "attesting";
    case agent_state::degraded: return "degraded";
    }
    return "?";
}

daemon::daemon(agent_config cfg) : cfg_(std::move(cfg)), dev_(cfg_.tcti), report_interval_s_(cfg_.report_interval_s) {}

void daemon::set_state(agent_state s, const std::string& why) {
    if (s == state_) return;
    spdlog::info("agent state {} → {}: {}", state_name(state_), state_name(s), why);
    state_ = s;
    sd_notifyf(0, "STATUS=%s", state_name(s));
}

result<net::https_client*> daemon::client() {
    if (!client_) {
        net::https_client_options o;
        o.ca_file = (cfg_.state_dir / "ca.pem").string();
        o.cert_file = (cfg_.state_dir / "client.pem").string();
        o.key_file = (cfg_.state_dir / "client.key").string();
        CUSTOS_TRY(c, net::https_client::create(cfg_.verifier_url, o));
        client_ = std::move(c);
    }
    return client_.get();
}

result<void> daemon::enroll() {
    set_state(agent_state::enrolling, "no agent certificate in " + cfg_.state_dir.string());
    if (cfg_.enroll_token.empty())
        return make_error(errc::invalid_argument, "this host is not enrolled and no enroll_token is configured; ask the "
                                                  "operator for one (custos-verifier enroll-token --host-id " + cfg_.host_id + ")");
    // The EK with a certificate: P-384 (what swtpm and newer TPMs carry), then RSA-2048, then P-256.
    std::optional<attest::ek_kind> kind;
    bytes ek_cert;
    for (auto k : {attest::ek_kind::ecc_p384, attest::ek_kind::rsa2048, attest::ek_kind::ecc_p256}) {
        CUSTOS_TRY(c, dev_.read_ek_certificate(k));
        if (c) {
            kind = k;
            ek_cert = std::move(*c);
            break;
        }
    }
    if (!kind) return make_error(errc::tpm, "the TPM has no EK certificate at any TCG NV index");
    CUSTOS_TRY(ek, dev_.ek_public(*kind));
    CUSTOS_TRY(ak, dev_.create_ak(*kind, attest::ak_alg::ecc_p256));
    CUSTOS_TRY(tls_key, x509::generate_p256());
    CUSTOS_TRY(csr, x509::make_csr_pem(tls_key.get(), {cfg_.host_id, "agent", "custos"}));

    net::https_client_options o;
    o.ca_file = cfg_.ca_file;
    CUSTOS_TRY(c, net::https_client::create(cfg_.verifier_url, o));
    json::object req{{"host_id", cfg_.host_id},
                     {"token", cfg_.enroll_token},
                     {"ek_cert", to_base64(ek_cert)},
                     {"ek_public", to_base64(attest::marshal_public(ek))},
                     {"ak_public", to_base64(attest::marshal_public(ak.pub))},
                     {"csr", csr}};
    CUSTOS_TRY(r1, c->request("POST", "/v1/enroll", json::serialize(req)));
    if (r1.status != 200) return make_error(errc::mismatch, "enrollment refused: HTTP " + std::to_string(r1.status) + ": " + net::reply_detail(r1));
    CUSTOS_TRY(a1, json_answer(r1, "enroll answer"));
    CUSTOS_TRY(o1, sjson::object_reader::of(a1, "enroll answer"));
    CUSTOS_TRY(eid, o1.str("enrollment_id"));
    attest::credential_blob blob;
    CUSTOS_TRY(id_object, o1.b64("id_object"));
    CUSTOS_TRY(enc, o1.b64("encrypted_secret"));
    blob.id_object = std::move(id_object);
    blob.encrypted_secret = std::move(enc);
    CUSTOS_TRY(secret, dev_.activate_credential(ak, blob));
    json::object act{{"enrollment_id", eid}, {"secret", to_base64(secret.view())}};
    CUSTOS_TRY(r2, c->request("POST", "/v1/enroll/activate", json::serialize(act)));
    if (r2.status != 200) return make_error(errc::mismatch, "activation refused: HTTP " + std::to_string(r2.status) + ": " + net::reply_detail(r2));
    CUSTOS_TRY(a2, json_answer(r2, "activate answer"));
    CUSTOS_TRY(o2, sjson::object_reader::of(a2, "activate answer"));
    CUSTOS_TRY(cert, o2.str("certificate"));
    CUSTOS_TRY(ca, o2.str("ca"));
    CUSTOS_TRY(head, o2.obj("report_head"));
    CUSTOS_TRY(head_seq, head.u64("seq"));
    CUSTOS_TRY(head_hash, head.hex("hash", 32));
    CUSTOS_TRY(key_pem, x509::private_key_to_pem(tls_key.get()));
    CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "ak.key", attest::serialize_ak_key(ak), 0600));
    CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "client.key", key_pem, 0600));
    CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "ca.pem", ca, 0644));
    // The certificate last: its presence means "enrolled".
    CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "client.pem", cert, 0644));
    CUSTOS_TRY_VOID(spool_->adopt({head_seq, head_hash}));
    spdlog::info("enrolled as {} (EK {}, AK under it)", cfg_.host_id, attest::ek_kind_name(*kind));
    return {};
}

result<void> daemon::bind_report_key() {
    report_pk_.assign(crypto_sign_PUBLICKEYBYTES, 0);
    report_sk_ = secret_bytes(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(report_pk_.data(), report_sk_.data());
    // The quote is made when the binding is sent, over the verifier's nonce: a quote made now, offline,
    // would prove nothing about when it was made.
    json::object req{{"report_key", to_base64(report_pk_)},
                     {"prev_seq", spool_->head().seq},
                     {"prev_hash", to_hex(spool_->head().hash)}};
    CUSTOS_TRY_VOID(spool_->add_binding(json::serialize(req)));
    spdlog::info("new report key; it signs from report {} on once bound", spool_->head().seq + 1);
    return {};
}

result<void> daemon::send_binding(net::https_client& c, const std::string& spooled) {
    CUSTOS_TRY(v, sjson::parse(spooled, "spooled binding"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "spooled binding"));
    // A binding spooled by an older agent carries a quote without a nonce, which the verifier no longer
    // takes; the key it bound died with that agent.
    if (o.has("quote")) return make_error(errc::unsupported, "a binding spooled by an earlier agent version (no nonce)");
    CUSTOS_TRY(key, o.b64("report_key"));
    CUSTOS_TRY(prev_seq, o.u64("prev_seq"));
    CUSTOS_TRY(prev, o.hex("prev_hash", 32));
    CUSTOS_TRY(a1, fetch_challenge(c));
    CUSTOS_TRY(sel, attest::parse_pcr_selection(a1.pcr_selection));
    const bytes& nonce = a1.nonce;
    CUSTOS_TRY(q, dev_.quote(*ak_, attest::report_key_qualification(nonce, key, prev_seq, prev), sel));
    attest::key_binding_request req;
    req.report_key = key;
    req.prev_seq = prev_seq;
    req.prev_hash = prev;
    req.nonce = nonce;
    req.quote = attest::wire_quote{q.attest, q.signature, attest::pcrs_to_json(q.pcrs)};
    CUSTOS_TRY(r, c.request("POST", "/v1/report-key", attest::encode_key_binding_request(req)));
    if (r.status >= 500 || r.status == 401) return unreachable("report-key", r);
    if (r.status != 200) spdlog::error("report key binding refused: HTTP {}: {}", r.status, net::reply_detail(r));
    else spdlog::info("report key bound (signs from report {} on)", prev_seq + 1);
    return {};
}

result<void> daemon::open_inventory() {
    if (cfg_.chip_table.empty()) {
        chips_ = policy::chip_table::builtin();
    } else {
        CUSTOS_TRY(t, policy::chip_table::load(cfg_.chip_table));
        chips_ = std::move(t);
    }
    CUSTOS_TRY(reader, inventory_reader::open(cfg_.nvml_library, cfg_.sysfs_root));
    inventory_ = std::move(reader);
    CUSTOS_TRY(counters, compute_counters::open(cfg_.state_dir));
    counters_ = std::move(counters);
    return {};
}

// The GPU section of the next report: a fresh inventory, and the counters advanced by the time since the
// previous sample at the utilisation seen now.
static attest::report_ext daemon_inventory_ext(const inventory_reader& reader, compute_counters& counters,
                                        const policy::chip_table& chips, double dt, double max_dt) {
    attest::report_ext e;
    auto inv = reader.read();
    if (!inv) {
        spdlog::error("reading the GPU inventory: {}", inv.err().message);
        e.inventory_error = inv.err().message.substr(0, 256);
        return e;
    }
    if (auto s = counters.sample(*inv, chips, dt, max_dt); !s) spdlog::error("compute counters: {}", s.err().message);
    return counters.to_ext(*inv, chips);
}

result<void> daemon::make_report() {
    CUSTOS_TRY(tpm_clock, dev_.read_clock());
    const auto now = clock_type::now();
    const double dt = last_sample_ ? std::chrono::duration<double>(now - *last_sample_).count() : 0.0;
    last_sample_ = now;
    attest::report_ext ext = daemon_inventory_ext(*inventory_, *counters_, *chips_, dt, 10.0 * std::max(report_interval_s_, 6u));
    if (keys_) keys_->drain(ext.events, ext.models);
    attest::report r;
    r.host = cfg_.host_id;
    r.seq = spool_->head().seq + 1;
    r.prev = spool_->head().hash;
    r.time = unix_now();
    r.clock = tpm_clock;
    r.key = report_pk_;
    r.ext = attest::encode_report_ext(ext);
    const bytes body = attest::encode_report(r);
    const bytes sig = attest::sign_report(body, report_sk_);
    return spool_->add_report(r.seq, body, sig);
}

// Each NVML GPU's attestation report for this round (its nonce derived from the verifier's), or why it
// cannot give one: a GPU without confidential computing keeps working, the verifier marks it unattested.
void daemon::gpu_evidence(const bytes& round_nonce, std::vector<attest::round_gpu_evidence>& out) {
    const nvml* lib = inventory_ ? inventory_->library() : nullptr;
    if (!lib) return;
    auto inv = inventory_->read();
    if (!inv) return;  // the report says why
    for (const auto& g : inv->gpus) {
        if (g.serial.empty() || out.size() >= attest::max_round_gpus) continue;
        attest::round_gpu_evidence e;
        e.serial = g.serial;
        e.pci_bus_id = g.pci_bus_id;
        auto a = lib->attest(g.pci_bus_id, attest::gpu_round_nonce(round_nonce, g.serial));
        if (a) {
            e.report = std::move(a->report);
            e.chain = std::move(a->chain);
        } else {
            e.error = a.err().message.substr(0, 256);
            for (auto& c : e.error)
                if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
            spdlog::debug("GPU {}: no attestation report: {}", g.serial, e.error);
        }
        out.push_back(std::move(e));
    }
}

result<void> daemon::round() {
    CUSTOS_TRY(c, client());
    CUSTOS_TRY(a1, fetch_challenge(*c));
    const bytes& nonce = a1.nonce;
    const std::string& sel_text = a1.pcr_selection;
    CUSTOS_TRY(sel, attest::parse_pcr_selection(sel_text));
    if (sel_text != selection_) {
        selection_ = sel_text;
        CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "selection.txt", selection_, 0644));
    }
    attest::evidence e;
    e.host = cfg_.host_id;
    e.time = unix_now();
    e.report_key = report_pk_;
    e.head_seq = spool_->head().seq;
    e.head_hash = spool_->head().hash;
    const bytes ev = attest::encode_evidence(e);
    CUSTOS_TRY(q, dev_.quote(*ak_, attest::evidence_qualification(nonce, ev), sel));
    attest::attest_request req;
    req.nonce = nonce;
    req.evidence = ev;
    req.quote = attest::wire_quote{q.attest, q.signature, attest::pcrs_to_json(q.pcrs)};
    measurement_logs(req);
    gpu_evidence(nonce, req.gpus);
    const std::string body = attest::encode_attest_request(req);
    // Kept as sent, for audit: what this host last proved and to whom.
    CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "last-attest.json", body, 0600));
    CUSTOS_TRY(r2, c->request("POST", "/v1/attest", body));
    if (r2.status >= 500) return unreachable("attest", r2);
    auto a2 = parse_attest_answer(r2.body);
    if (!a2) {
        if (r2.status != 200) spdlog::error("attestation round refused: HTTP {}: {}", r2.status, net::reply_detail(r2));
        return make_error(errc::parse, "attest answer (HTTP " + std::to_string(r2.status) + "): " + a2.err().message);
    }
    if (a2->next_round_s) attest_interval_s_ = *a2->next_round_s;
    if (r2.status != 200) {
        spdlog::error("attestation round refused: HTTP {}: {}", r2.status, net::reply_detail(r2));
        return {};  // a definitive answer: the verifier has recorded the finding
    }
    if (a2->ima_next && *a2->ima_next != ima_next_) {
        ima_next_ = *a2->ima_next;
        CUSTOS_TRY_VOID(write_file_atomic(cfg_.state_dir / "ima-next.txt", std::to_string(ima_next_), 0644));
    }
    spdlog::info("attestation round: {}", a2->status.empty() ? std::string("?") : a2->status);
    if (a2->location) {
        // A failed proof is the verifier's to judge (location-unproven); the round itself succeeded.
        if (auto l = locate(*c, json::value(*a2->location)); !l) spdlog::error("location proof: {}", l.err().message);
    }
    return {};
}

void daemon::measurement_logs(attest::attest_request& req) {
    std::error_code ec;
    if (!cfg_.boot_log.empty() && fs::exists(cfg_.boot_log, ec)) {
        if (auto b = read_file(cfg_.boot_log, 64u << 20); b) req.boot_log = std::move(b).value();
        else spdlog::error("boot event log: {}", b.err().message);
    }
    if (!cfg_.ima_log.empty() && fs::exists(cfg_.ima_log, ec)) {
        auto l = read_file(cfg_.ima_log, std::size_t(1) << 30);
        if (!l) {
            spdlog::error("IMA list: {}", l.err().message);
            return;
        }
        auto entries = attest::parse_ima_log(*l);
        if (!entries) {
            // The verifier judges a list it cannot read (event-log-mismatch); send it whole.
            spdlog::error("IMA list: {}", entries.err().message);
            req.ima_from = 0;
            req.ima = std::move(l).value();
            return;
        }
        // A list shorter than what was accepted started again (a reboot): send it from the start.
        const std::uint64_t from = ima_next_ <= entries->size() ? ima_next_ : 0;
        const std::vector<attest::ima_entry> fresh(entries->begin() + static_cast<std::ptrdiff_t>(from), entries->end());
        req.ima_from = from;
        req.ima = attest::serialize_ima_log(fresh);
    }
}

result<void> daemon::locate(net::https_client& c, const json::value& request) {
    if (!request.is_object()) return make_error(errc::structure, "location request: not an object");
    CUSTOS_TRY(lr, parse_location_round(request.as_object()));
    const bytes& round_nonce = lr.round;
    const unsigned samples = lr.samples;
    const unsigned timeout_ms = lr.timeout_ms;
    std::vector<landmark_target> targets;
    for (auto& l : lr.landmarks) targets.push_back({std::move(l.id), std::move(l.address)});
    const auto a = prove_location(round_nonce, report_pk_, report_sk_, targets, static_cast<unsigned>(samples),
                                  std::chrono::milliseconds(timeout_ms));
    attest::location_proof_request body;
    body.round = round_nonce;
    for (const auto& p : a.proofs) body.proofs.push_back({p.statement, p.signature});
    body.errors = a.errors;
    CUSTOS_TRY(r, c.request("POST", "/v1/location", attest::encode_location_proof_request(body)));
    if (r.status >= 500) return unreachable("location", r);
    if (r.status != 200)
        return make_error(errc::mismatch, "refused: HTTP " + std::to_string(r.status) + ": " + net::reply_detail(r));
    CUSTOS_TRY(verdict, parse_location_answer(r.body));
    spdlog::info("location proof: {} ({} statements from {} landmarks)", verdict, a.proofs.size(), targets.size());
    return {};
}

result<void> daemon::open_models() {
    if (cfg_.model_dir.empty()) {
        if (!cfg_.weights_socket.empty()) spdlog::warn("weights_socket is set but model_dir is not: no weights to serve");
        return {};
    }
    keys_ = std::make_unique<model_keys>(dev_, cfg_.model_dir);
    const auto models = keys_->models_on_disk();
    spdlog::info("{} sealed model(s) in {}", models.size(), cfg_.model_dir.string());
    CUSTOS_TRY_VOID(keys_->ensure_bound_key(ak_->parent));
    if (!cfg_.weights_socket.empty()) {
        weights_server_config wc;
        wc.socket_path = cfg_.weights_socket;
        wc.allowed_uids = cfg_.weights_allowed_uids;
        model_keys* k = keys_.get();
        wc.on_hand_out = [k](const hand_out& h) { k->record_hand_out(h); };
        if (wc.allowed_uids.empty()) spdlog::warn("weights_allowed_uids is empty: the weights socket serves nobody");
        CUSTOS_TRY(srv, weights_server::start(std::move(wc), *keys_));
        weights_.emplace(std::move(srv));
        spdlog::info("serving decrypted weights on {}", cfg_.weights_socket.string());
    }
    return {};
}

void daemon::serve_models(bool verifier_reachable) {
    if (!keys_) return;
    net::https_client* c = nullptr;
    if (verifier_reachable) {
        if (auto cl = client(); cl) c = *cl;
    }
    for (const auto& m : keys_->maintain(c))
        if (weights_) weights_->drop_model(m);
    if (!c) return;
    const auto now = clock_type::now();
    for (const auto& m : keys_->models_on_disk()) {
        if (keys_->holding(m)) continue;
        auto& next = next_key_try_[m];
        if (now < next) continue;
        if (auto r = keys_->request(*c, *ak_, m); !r) {
            spdlog::error("model {}: {}", m, r.err().message);
            next = now + std::chrono::seconds(attest_interval_s_);  // asked again after the next round
        }
    }
}

result<void> daemon::flush() {
    CUSTOS_TRY(entries, spool_->pending());
    if (entries.empty()) return {};
    CUSTOS_TRY(c, client());
    std::vector<const spool_entry*> reports;
    for (const auto& e : entries) {
        if (!e.binding) {
            reports.push_back(&e);
            continue;
        }
        if (auto b = send_binding(*c, e.json); !b) {
            if (b.err().code == errc::io || b.err().code == errc::tpm) return b;  // try again later
            spdlog::error("dropping a spooled binding: {}", b.err().message);
        }
        CUSTOS_TRY_VOID(spool_->remove(e));
    }
    constexpr std::size_t batch = 64;
    for (std::size_t i = 0; i < reports.size(); i += batch) {
        const std::size_t n = std::min(batch, reports.size() - i);
        attest::reports_request req;
        std::vector<const spool_entry*> sent;
        for (std::size_t k = 0; k < n; ++k) {
            const spool_entry& e = *reports[i + k];
            auto v = sjson::parse(e.json, e.path.string());
            auto sr = v ? attest::signed_report_from_json(*v, e.path.string()) : result<attest::signed_report>(v.err());
            if (!sr) {
                // A damaged file must not hold back every report after it: set aside, and the verifier sees a gap.
                spdlog::error("spooled report {} does not read ({}): set aside", e.seq, sr.err().message);
                CUSTOS_TRY_VOID(spool_->set_aside(e));
                continue;
            }
            req.reports.push_back(std::move(sr).value());
            sent.push_back(&e);
        }
        if (sent.empty()) continue;
        CUSTOS_TRY(r, c->request("POST", "/v1/reports", attest::encode_reports_request(req)));
        if (r.status != 200) return unreachable("reports", r);
        // Nothing leaves the spool unless the answer accounts for every report sent.
        CUSTOS_TRY(a, parse_reports_answer(r.body, sent.size()));
        for (std::size_t k = 0; k < sent.size(); ++k) {
            if (a.results[k].status == "rejected")
                spdlog::error("report {} rejected by the verifier: {}", sent[k]->seq,
                              a.results[k].reason.empty() ? std::string("no reason given") : a.results[k].reason);
            CUSTOS_TRY_VOID(spool_->remove(*sent[k]));
        }
        if (a.next_report_s) report_interval_s_ = *a.next_report_s;
    }
    return {};
}

int daemon::run(bool once, const sigset_t& stop_signals) {
    if (sodium_init() < 0) {
        spdlog::error("libsodium failed to initialise");
        return 2;
    }
    std::error_code ec;
    fs::create_directories(cfg_.state_dir, ec);
    auto sp = spool::open(cfg_.state_dir);
    if (!sp) {
        spdlog::error("{}", sp.err().message);
        return 2;
    }
    spool_.emplace(std::move(sp).value());
    if (auto inv = open_inventory(); !inv) {
        spdlog::error("{}", inv.err().message);
        return 2;
    }
    if (auto s = read_file(cfg_.state_dir / "selection.txt", 4096); s) selection_.assign(s->begin(), s->end());
    if (auto s = read_file(cfg_.state_dir / "ima-next.txt", 64); s) {
        const std::string t(s->begin(), s->end());
        if (!t.empty() && t.size() <= 19 && t.find_first_not_of("0123456789") == std::string::npos) ima_next_ = std::stoull(t);
    }

    if (!fs::exists(cfg_.state_dir / "client.pem")) {
        if (auto e = enroll(); !e) {
            spdlog::error("enrollment failed: {}", e.err().message);
            return e.err().code == errc::invalid_argument ? 2 : 1;
        }
    }
    auto akb = read_file(cfg_.state_dir / "ak.key", 1 << 16);
    if (!akb) {
        spdlog::error("{}", akb.err().message);
        return 2;
    }
    auto ak = attest::parse_ak_key(*akb);
    if (!ak) {
        spdlog::error("{}: {}", (cfg_.state_dir / "ak.key").string(), ak.err().message);
        return 2;
    }
    ak_ = *ak;
    set_state(agent_state::attesting, "enrolled");
    if (auto b = bind_report_key(); !b) {
        spdlog::error("binding the report key: {}", b.err().message);
        return 1;
    }
    if (auto m = open_models(); !m) {
        spdlog::error("model keys: {}", m.err().message);
        return 2;
    }
    sd_notify(0, "READY=1");

    std::uint64_t watchdog_usec = 0;
    const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    std::mt19937_64 rng(std::random_device{}());
    auto next_report = clock_type::now();  // a first report at once: every agent life leaves a trace
    auto next_round = clock_type::now();
    auto next_try = clock_type::now();
    std::chrono::milliseconds backoff{1000};
    bool round_due = true;
    if (once) {
        auto r = make_report();
        auto a = r ? round() : r;
        if (a) serve_models(true);
        auto f = a ? flush() : a;
        if (!f) spdlog::error("{}", f.err().message);
        sd_notify(0, "STOPPING=1");
        return f ? 0 : 1;
    }
    for (;;) {
        const auto now = clock_type::now();
        if (keys_) {  // a lapsed lease is dropped whether or not the verifier can be reached
            for (const auto& m : keys_->maintain(nullptr))
                if (weights_) weights_->drop_model(m);
        }
        if (now >= next_report) {
            if (auto r = make_report(); !r) spdlog::error("making a report: {}", r.err().message);
            next_report = now + std::chrono::seconds(report_interval_s_);
        }
        if (now >= next_round) round_due = true;
        if (now >= next_try) {
            auto ok = flush();
            if (ok && round_due) {
                ok = round();
                if (ok) {
                    round_due = false;
                    next_round = clock_type::now() + std::chrono::seconds(attest_interval_s_);
                }
            }
            serve_models(ok.ok());
            if (ok) {
                set_state(agent_state::attesting, "the verifier answered");
                backoff = std::chrono::milliseconds(1000);
                next_try = next_report;
            } else {
                set_state(agent_state::degraded, ok.err().message);
                client_.reset();
                // Exponential backoff, 1 s doubling to 60 s, ±20 % jitter.
                std::uniform_real_distribution<double> jitter(0.8, 1.2);
                next_try = clock_type::now() + std::chrono::milliseconds(static_cast<long>(backoff.count() * jitter(rng)));
                backoff = std::min(backoff * 2, std::chrono::milliseconds(60'000));
            }
        }
        auto wake = std::min({next_report, next_try, round_due ? next_try : std::max(next_round, next_try)});
        if (watchdog) wake = std::min(wake, clock_type::now() + std::chrono::microseconds(watchdog_usec / 2));
        const auto wait = std::max(std::chrono::nanoseconds(0), wake - clock_type::now());
        timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
        const int sig = sigtimedwait(&stop_signals, nullptr, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            spdlog::info("{} received: stopping ({} entries still spooled)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                         spool_->pending() ? spool_->pending()->size() : 0);
            break;
        }
        if (watchdog) sd_notify(0, "WATCHDOG=1");
    }
    if (weights_) weights_->stop();
    sd_notify(0, "STOPPING=1");
    return 0;
}

}  // namespace custos::agent
