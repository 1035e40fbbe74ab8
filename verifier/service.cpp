#include "verifier/service.hpp"


#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "attest/ek_cert.hpp"
#include "attest/gpu_attestation.hpp"
#include "attest/pcr_selection.hpp"
#include "crypto/digest.hpp"
#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/address.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/api_fleet.hpp"
#include "verifier/chain_integrity.hpp"
#include "verifier/findings.hpp"
#include "verifier/gpu_attestation_appraisal.hpp"
#include "verifier/log_events.hpp"
#include "verifier/transparency_log.hpp"
#include "verifier/rounds/location.hpp"

namespace custos::verifier {
namespace {

result<std::string> read_text(const std::filesystem::path& p, const char* what) {
    auto b = read_file(p, 1 << 20);
    if (!b) return with_context(std::move(b).err(), std::string("reading the ") + what);
    return std::string(b->begin(), b->end());
}

// Gauges from the store at scrape time: compute per host and per model, GPUs per host.
result<std::string> compute_metrics(store_tx& tx) {
    std::string out;
    auto gauge = [&](const char* name, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    };
    auto line = [&](const char* name, const char* label, const std::string& key, double v) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        out += std::string(name) + "{" + label + "=\"" + key + "\"} " + buf + "\n";
    };
    for (const char* by : {"host", "model"}) {
        CUSTOS_TRY(totals, compute_totals(tx, by));
        const std::string n = std::string("custos_compute_") ;
        const std::string ops = n + "ops_by_" + by, busy = n + "busy_seconds_by_" + by, energy = n + "energy_millijoules_by_" + by;
        gauge(ops.c_str(), "upper bound of operations delivered (busy seconds x peak dense ops/s)");
        for (const auto& t : totals) line(ops.c_str(), by, t.key, t.total.ops);
        gauge(busy.c_str(), "utilisation-weighted GPU busy seconds");
        for (const auto& t : totals) line(busy.c_str(), by, t.key, t.total.busy_s);
        gauge(energy.c_str(), "GPU energy counted from the driver's counters");
        for (const auto& t : totals) line(energy.c_str(), by, t.key, static_cast<double>(t.total.energy_mj));
    }
    CUSTOS_TRY(gpus, tx.list_gpus(std::nullopt));
    std::map<std::string, std::uint64_t> per_host;
    for (const auto& g : gpus) ++per_host[g.host_id];
    gauge("custos_gpus_by_host", "GPU serials registered to each host");
    for (const auto& [h, n] : per_host) line("custos_gpus_by_host", "host", h, static_cast<double>(n));
    return out;
}

std::string connection_metrics(const net::connection_stats& s) {
    return "# HELP custos_connections_open HTTPS connections open now\n# TYPE custos_connections_open gauge\n"
           "custos_connections_open " + std::to_string(s.open) +
           "\n# HELP custos_connections_refused_total connections closed at accept because max_connections were open\n"
           "# TYPE custos_connections_refused_total counter\ncustos_connections_refused_total " + std::to_string(s.refused) +
           "\n# HELP custos_accept_errors_total accept() failures, each followed by a back-off\n"
           "# TYPE custos_accept_errors_total counter\ncustos_accept_errors_total " + std::to_string(s.accept_errors) + "\n";
}

// Whether a request that succeeded may have changed what the policy engine reads: every write except
// enrollment (hosts not yet approved are not in the fleet it sees), the agents' challenges, report keys and
// location proofs (none is an input), and their rounds and reports, which run the engine themselves when
// they change its input. Anything not named here counts as a change: a new route errs on the safe side.
bool changes_policy_inputs(const std::string& route) {
    if (route.rfind("GET ", 0) == 0) return false;
    for (const char* own : {"POST /v1/enroll", "POST /v1/enroll/activate", "POST /v1/challenge", "POST /v1/attest",
                            "POST /v1/report-key", "POST /v1/reports", "POST /v1/location"})
        if (route == own) return false;
    return true;
}

}  // namespace

service_context::~service_context() {
    if (alerts) alerts->stop();
}

void service_context::fleet_changed() {
    auto tx = db->begin();
    if (tx && (*tx)->bump_fleet_generation() && (*tx)->commit()) return;
    // The next sweep (every few seconds) runs the engine whatever the generation.
    spdlog::error("the fleet generation could not be moved on: {}", tx ? "write failed" : tx.err().message);
}

void service_context::publish(const std::vector<finding_record>& raised) {
    for (const auto& f : raised) {
        stats.count_finding(f.rule);
        if (alerts) alerts->emit(f);
    }
}

namespace {
// A [policy] profiles name with a slash or a .toml ending is a file (relative to the config's directory);
// any other is a built-in profile.
bool profile_names_a_file(const std::string& name) { return name.find('/') != std::string::npos || name.ends_with(".toml"); }
}  // namespace

result<std::unique_ptr<service>> service::create(verifier_config cfg, std::string listen) {
    auto ctx = std::make_unique<service_context>();
    ctx->cfg = std::move(cfg);
    const auto& c = ctx->cfg;
    CUSTOS_TRY(addr, net::split_host_port(listen.empty() ? c.listen : listen));
    CUSTOS_TRY(sel, attest::parse_pcr_selection(c.pcr_selection));
    ctx->selection = sel;

    if (!c.runtime_policy.empty()) {
        const auto path = c.resolve(c.runtime_policy);
        CUSTOS_TRY(text, read_file(path, std::size_t(1) << 30));
        auto p = attest::parse_runtime_policy(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
        if (!p) return make_error(p.err().code, path.string() + ": " + p.err().message);
        ctx->runtime = std::move(*p);
    }
    ctx->gpu_root_pem = std::string(attest::nvidia_device_root_pem());
    if (!c.gpu_attestation_root.empty()) {
        CUSTOS_TRY(root, read_text(c.resolve(c.gpu_attestation_root), "[gpu] attestation_root"));
        ctx->gpu_root_pem = std::move(root);
    }
    ctx->gpu_chains = std::make_shared<gpu_chain_cache>();
    if (c.chip_table.empty()) {
        ctx->chips = &policy::chip_table::builtin();
    } else {
        CUSTOS_TRY(t, policy::chip_table::load(c.resolve(c.chip_table)));
        ctx->loaded_chips = std::move(t);
        ctx->chips = &*ctx->loaded_chips;
    }
    for (const auto& name : c.policy_profiles) {
        auto p = policy::load_profile(profile_names_a_file(name) ? c.resolve(name).string() : name);
        if (!p) return with_context(std::move(p).err(), "[policy] profiles");
        ctx->profiles.push_back(std::move(p).value());
    }
    CUSTOS_TRY(ca_pem, read_text(c.resolve(c.ca_cert), "CA certificate"));
    CUSTOS_TRY(ca, x509::load_pem(as_bytes(ca_pem)));
    ctx->ca_cert = std::move(ca);
    ctx->ca_pem = std::move(ca_pem);
    CUSTOS_TRY(ca_key_pem, read_text(c.resolve(c.ca_key), "CA key"));
    CUSTOS_TRY(ca_key, x509::load_private_pem(as_bytes(ca_key_pem)));
    ctx->ca_key = std::move(ca_key);
    CUSTOS_TRY(rk_pem, read_text(c.resolve(c.result_key), "result-signing key"));
    CUSTOS_TRY(rk, x509::load_private_pem(as_bytes(rk_pem)));
    ctx->result_key = std::move(rk);

    // The EK CA bundle may be added after init; without it the service runs but refuses enrollment.
    const auto ek_path = c.resolve(c.ek_ca_file);
    if (auto ek = read_file(ek_path, 4 << 20); !ek) {
        ctx->ek_cas_error = "enrollment is off: no TPM manufacturer CA bundle at " + ek_path.string() +
                            " (set [enroll] ek_ca_file in verifier.toml)";
        spdlog::warn("{}", ctx->ek_cas_error);
    } else if (auto store = attest::load_ca_bundle(*ek); !store) {
        return with_context(std::move(store).err(), "EK CA bundle " + ek_path.string());
    } else {
        ctx->ek_cas = std::move(store).value();
    }

    if (auto rk = weights::load_recipient_private(c.resolve(c.recipient_key)); rk) {
        ctx->recipient = std::move(rk).value();
    } else {
        ctx->recipient_error = "model registration is off: " + rk.err().message;
        spdlog::warn("{}", ctx->recipient_error);
    }
    CUSTOS_TRY(db, open_configured_store(c));
    ctx->db = std::move(db);
    spdlog::info("store: {} (schema version {})", ctx->db->backend(), ctx->db->schema_version());
    {
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        bytes r(4);
        RAND_bytes(r.data(), static_cast<int>(r.size()));
        ctx->replica_id = std::string(host) + ":" + std::to_string(::getpid()) + ":" + to_hex(r);
    }
    ctx->db->set_log_enabled(c.log_enabled);
    {
        auto key = load_or_create_log_key(c.resolve(c.log_key), c.resolve(c.log_pub), "custos-verifier/log");
        if (!key) return with_context(std::move(key).err(), "[log] key");
        ctx->log_key = std::move(key).value();
        spdlog::info("transparency log {}: key {}", c.log_enabled ? "on" : "OFF", ctx->log_key->verifier().to_string());
        // What this process decides by, so an auditor sees when a policy, allow-list or key changed.
        started_inputs in{ctx->replica_id, {}};
        const auto digest_of = [&](const std::string& name, const std::filesystem::path& file) -> result<void> {
            CUSTOS_TRY(b, read_file(c.resolve(file), std::size_t(1) << 30));
            in.digests.emplace_back(name, to_hex(sha256(b)));
            return {};
        };
        CUSTOS_TRY_VOID(digest_of("result_pub", c.result_pub));
        if (!c.runtime_policy.empty()) CUSTOS_TRY_VOID(digest_of("runtime_policy", c.runtime_policy));
        if (!c.chip_table.empty()) CUSTOS_TRY_VOID(digest_of("chip_table", c.chip_table));
        for (const auto& name : c.policy_profiles) {
            if (profile_names_a_file(name)) CUSTOS_TRY_VOID(digest_of("profile:" + name, name));
            else in.digests.emplace_back("profile:" + name, "builtin");
        }
        CUSTOS_TRY(tx, ctx->db->begin());
        CUSTOS_TRY_VOID(tx->append_log(started_entry(in, unix_now())));
        CUSTOS_TRY_VOID(tx->commit());
    }
    service_context* shared = ctx.get();
    ctx->alerts = std::make_unique<alert_sink>(ctx->db.get(), c.webhooks,
                                               c.webhook_ca_file.empty() ? std::string() : c.resolve(c.webhook_ca_file).string(),
                                               retry_policy{}, [shared] { return shared->leading.load(); });

    auto svc = std::unique_ptr<service>(new service());
    svc->ctx_ = std::move(ctx);
    svc->listen_host_ = addr.host;
    svc->listen_port_ = addr.port;
    return svc;
}

service::~service() { stop(); }

result<void> service::start() {
    auto& c = ctx_->cfg;
    net::https_server_options o;
    o.cert_pem_path = c.resolve(c.tls_cert).string();
    o.key_pem_path = c.resolve(c.tls_key).string();
    o.client_ca_pem_path = c.resolve(c.ca_cert).string();
    o.body_limit = c.body_limit;
    o.read_timeout = std::chrono::milliseconds(c.read_timeout_ms);
    o.threads = c.threads;
    o.max_connections = c.max_connections;
    service_context& ctx = *ctx_;
    o.observer = [&ctx](const std::string& route, unsigned status, std::chrono::nanoseconds took) {
        ctx.stats.observe_request(route, status, took);
        if (status < 300 && changes_policy_inputs(route)) ctx.fleet_changed();
    };
    CUSTOS_TRY(srv, net::https_server::create(o));
    server_ = std::move(srv);

    register_enroll_routes(*server_, *ctx_);
    register_agent_routes(*server_, *ctx_);
    register_report_routes(*server_, *ctx_);
    register_fleet_routes(*server_, *ctx_->db);
    register_gpu_routes(*server_, *ctx_);
    register_model_routes(*server_, *ctx_);
    register_policy_routes(*server_, *ctx_);
    register_location_routes(*server_, *ctx_);
    register_log_routes(*server_, *ctx_);
    register_export_routes(*server_, *ctx_);
    // For a load balancer's health check: healthy only while the database takes a write transaction (a
    // replica that cannot write can answer no agent). No credential, and nothing about the fleet.
    server_->route("GET", "/healthz", net::auth::none, [&ctx](const net::http_request&, const net::request_context&) {
        auto tx = ctx.db->begin();
        // A statement too: on PostgreSQL a transaction begins with its first statement.
        auto probe = tx ? (*tx)->generations() : result<fleet_generations>(std::move(tx).err());
        if (!probe) {
            spdlog::warn("health check: the database is unavailable: {}", probe.err().message);
            return json_reply(503, boost::json::object{{"status", "unavailable"}, {"database", "unavailable"}});
        }
        return json_reply(200, boost::json::object{{"status", "ok"}, {"database", "ok"}});
    });
    server_->route("GET", "/metrics", net::auth::client_cert,
                   [&ctx, srv = server_.get()](const net::http_request&, const net::request_context& rc) {
                       if (auto deny = require_operator(rc)) return *deny;
                       std::map<std::string, std::uint64_t> by_state;
                       auto tx = ctx.db->begin();
                       if (!tx) return error_reply(tx.err());
                       auto hosts = (*tx)->list_hosts();
                       if (!hosts) return error_reply(hosts.err());
                       for (const auto& s : {"enrolled", "approved", "decommissioned", "affirming", "warning",
                                             "contraindicated", "unknown"})
                           by_state[s] = 0;
                       for (const auto& h : *hosts) {
                           ++by_state[h.state];
                           if (h.state != "decommissioned") ++by_state[h.status];
                       }
                       std::string text = ctx.stats.render(by_state);
                       auto extra = compute_metrics(**tx);
                       if (!extra) return error_reply(extra.err());
                       text += *extra;
                       text += connection_metrics(srv->stats());
                       text += "# HELP custos_leader 1 while this replica leads the background work (sweeps, retention, "
                               "webhooks)\n# TYPE custos_leader gauge\ncustos_leader " +
                               std::string(ctx.leading.load() ? "1" : "0") + "\n";
                       auto pending = (*tx)->count_outbox();
                       if (!pending) return error_reply(pending.err());
                       text += "# HELP custos_webhook_deliveries_pending webhook deliveries in the outbox (all replicas)\n"
                               "# TYPE custos_webhook_deliveries_pending gauge\ncustos_webhook_deliveries_pending " +
                               std::to_string(*pending) + "\n";
                       if (ctx.alerts)
                           text += "# HELP custos_webhook_deliveries_total webhook deliveries by this replica, by result\n"
                                   "# TYPE custos_webhook_deliveries_total counter\n"
                                   "custos_webhook_deliveries_total{result=\"delivered\"} " + std::to_string(ctx.alerts->delivered()) +
                                   "\ncustos_webhook_deliveries_total{result=\"given_up\"} " + std::to_string(ctx.alerts->failed()) + "\n";
                       return net::http_response{200, "text/plain; version=0.0.4", text};
                   });
    CUSTOS_TRY_VOID(server_->listen(listen_host_, listen_port_));
    server_->run();
    {
        std::lock_guard lock(mu_);
        stopping_ = false;
    }
    dark_thread_ = std::thread([this] { dark_loop(); });
    log_thread_ = std::thread([this] { log_loop(); });
    spdlog::info("custos-verifier listening on {}:{}", listen_host_, server_->bound_port());
    return {};
}

std::uint16_t service::port() const { return server_ ? server_->bound_port() : 0; }

void service::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (dark_thread_.joinable()) dark_thread_.join();
    if (log_thread_.joinable()) log_thread_.join();
    if (server_) server_->stop();
    // Another replica takes the background work at its next period rather than after the lease runs out.
    if (ctx_ && ctx_->leading.exchange(false)) {
        if (auto tx = ctx_->db->begin(); tx && (*tx)->give_up_lead(ctx_->replica_id) && (*tx)->commit())
            spdlog::info("replica {}: gave up the lead", ctx_->replica_id);
    }
}

bool service::lead(std::chrono::milliseconds ttl) {
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    bool lead = false;
    if (auto tx = ctx_->db->begin(); tx) {
        auto l = (*tx)->take_lead(ctx_->replica_id, now_ms, ttl.count());
        if (l && (*tx)->commit()) lead = *l;
        else spdlog::error("replica {}: the lead could not be taken or renewed", ctx_->replica_id);
    } else {
        spdlog::error("replica {}: {}", ctx_->replica_id, tx.err().message);
    }
    if (lead != ctx_->leading.exchange(lead)) {
        if (lead) spdlog::info("replica {} leads the background work (sweeps, retention, webhooks)", ctx_->replica_id);
        else spdlog::warn("replica {}: another replica leads the background work", ctx_->replica_id);
        if (lead && ctx_->alerts) ctx_->alerts->wake();
    }
    return lead;
}

void service::dark_loop() {
    const auto period = std::chrono::seconds(std::max(1u, std::min(5u, ctx_->cfg.report_interval_s)));
    // A lease of three periods: a leader that stops renewing (killed, hung, cut off from the database) is
    // replaced within that; one that stops cleanly gives it up at once.
    const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(3 * period);
    std::int64_t last_prune = 0;
    std::unique_lock lock(mu_);
    for (bool first = true; first || !cv_.wait_for(lock, period, [this] { return stopping_; }); first = false) {
        lock.unlock();
        if (!lead(ttl)) {
            lock.lock();
            continue;
        }
        if (auto r = check_dark_hosts(*ctx_, unix_now()); !r) spdlog::error("host-dark check: {}", r.err().message);
        if (auto r = sweep_policy(*ctx_, unix_now()); !r) spdlog::error("policy sweep: {}", r.err().message);
        if (const auto now = unix_now(); now - last_prune >= 300) {
            last_prune = now;
            if (auto r = prune_retention(*ctx_, now); !r) spdlog::error("retention: {}", r.err().message);
        }
        lock.lock();
    }
}

void service::log_loop() {
    // Entries are numbered within about this of their commit; checkpoints follow at their own interval.
    constexpr auto period = std::chrono::milliseconds(250);
    constexpr std::size_t batch = 1000;
    std::int64_t last_checkpoint = 0;
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
        if (!ctx_->leading.load()) continue;
        lock.unlock();
        for (;;) {
            auto n = sequence_log(*ctx_->db, batch);
            if (!n) spdlog::error("transparency log: sequencing failed: {}", n.err().message);
            if (!n || *n < batch) break;
        }
        if (const auto now = unix_now(); now - last_checkpoint >= ctx_->cfg.checkpoint_interval_s) {
            if (auto c = sign_checkpoint(*ctx_->db, *ctx_->log_key, now); !c)
                spdlog::error("transparency log: signing a checkpoint failed: {}", c.err().message);
            else if (*c)
                last_checkpoint = now;
        }
        lock.lock();
    }
}

result<std::size_t> prune_retention(service_context& ctx, std::int64_t now) {
    constexpr std::size_t batch = 10'000;  // short transactions: requests wait for the writer lock
    constexpr std::int64_t day = 86'400;
    std::size_t total = 0;
    for (;;) {
        CUSTOS_TRY(tx, ctx.db->begin());
        std::size_t n = 0;
        if (ctx.cfg.resolved_findings_days) {
            CUSTOS_TRY(f, tx->prune_resolved_findings(now - ctx.cfg.resolved_findings_days * day, batch));
            n += f;
        }
        if (ctx.cfg.appraisals_days) {
            CUSTOS_TRY(a, tx->prune_appraisals(now - ctx.cfg.appraisals_days * day, batch));
            n += a;
        }
        CUSTOS_TRY_VOID(tx->commit());
        total += n;
        if (n < batch) break;
    }
    if (total) spdlog::info("retention: {} resolved findings and superseded appraisals pruned", total);
    return total;
}

result<std::vector<finding_record>> check_dark_hosts(service_context& ctx, std::int64_t now) {
    const std::int64_t limit = static_cast<std::int64_t>(ctx.cfg.dark_after_intervals) * ctx.cfg.report_interval_s;
    std::vector<finding_record> raised;
    CUSTOS_TRY(tx, ctx.db->begin());
    CUSTOS_TRY(hosts, tx->list_hosts());
    for (auto& h : hosts) {
        if (h.state == "decommissioned") continue;
        const std::size_t before = raised.size();
        const std::int64_t since = h.last_seen ? h.last_seen : h.enrolled_at;
        if (now - since > limit)
            CUSTOS_TRY_VOID(raise_finding(
                *tx,
                host_finding("host-dark", h.id,
                             "no valid evidence from host \"" + h.id + "\" for more than " + std::to_string(limit) +
                                 " s (" + std::to_string(ctx.cfg.dark_after_intervals) +
                                 " report intervals): the host is down, cut off, or its agent was stopped",
                             now),
                raised, on_repeat::ignore));
        // Silence on challenges, whatever reports arrive, and reports a quote claimed that never came.
        CUSTOS_TRY(late, check_attestation_overdue(*tx, h, now, ctx.overdue_window_s(), raised));
        (void)late;
        if (auto gap = chain_gap_due(h, now, ctx.chain_gap_grace_s()))
            CUSTOS_TRY_VOID(raise_finding(*tx, host_finding(gap->rule, h.id, gap->detail, now), raised, on_repeat::ignore));
        const bool missed = h.location_due_at != 0 && h.location_due_at < now;
        if (missed) CUSTOS_TRY_VOID(location_round_missed(ctx, *tx, h, now, raised));
        if (raised.size() != before || missed) {
            CUSTOS_TRY(open, refresh_status(*tx, h, now, raised));
            (void)open;
            CUSTOS_TRY_VOID(tx->put_host(h));
        }
    }
    CUSTOS_TRY_VOID(tx->commit());
    ctx.publish(raised);
    return raised;
}

}  // namespace custos::verifier
