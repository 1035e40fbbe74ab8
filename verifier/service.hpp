// The verifier service: loads keys and configuration, opens the store, registers every API route on the
// HTTPS server, runs the host-dark watcher, and publishes findings (log lines, webhooks, metrics).
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <boost/json/object.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "attest/runtime_policy.hpp"
#include "crypto/ossl.hpp"
#include "net/https_server.hpp"
#include "policy/chips.hpp"
#include "policy/profile.hpp"
#include "tlog/note.hpp"
#include "verifier/gpu_registry.hpp"
#include "verifier/config.hpp"
#include "verifier/metrics.hpp"
#include "verifier/rounds/outcome.hpp"
#include "verifier/store.hpp"
#include "weights/recipient_key.hpp"

namespace custos::verifier {

class gpu_chain_cache;

class alert_sink;

// What every handler needs; owned by the service, shared read-only (store and sinks are thread-safe).
struct service_context {
    verifier_config cfg;
    std::unique_ptr<store> db;
    ossl::x509_ptr ca_cert;
    ossl::pkey_ptr ca_key;
    std::string ca_pem;
    ossl::pkey_ptr result_key;
    ossl::x509_store_ptr ek_cas;  // null when ek_ca_file is missing: enrollment is then refused
    std::string ek_cas_error;     // why it is null
    TPML_PCR_SELECTION selection{};
    std::optional<weights::recipient_private_key> recipient;  // opens key.sealed of registered models
    std::string recipient_error;                                // why it is absent
    std::string gpu_root_pem;                         // [gpu] attestation_root, or NVIDIA's pinned root
    std::shared_ptr<gpu_chain_cache> gpu_chains;      // verified GPU certificate chains
    std::optional<policy::chip_table> loaded_chips;  // [gpu] chip_table, when set
    const policy::chip_table* chips = nullptr;        // that, or the built-in table
    std::vector<policy::profile> profiles;            // [policy] profiles, loaded at start
    std::optional<attest::runtime_policy> runtime;    // [measurements] runtime_policy, loaded at start
    metrics stats;
    std::unique_ptr<alert_sink> alerts;
    std::optional<tlog::note_signer> log_key;  // signs the transparency log's checkpoints
    // This process among those sharing the store (host:pid:random), and whether it leads the background
    // work now (store::take_lead; renewed by the watcher every period).
    std::string replica_id;
    std::atomic<bool> leading{false};

    ~service_context();
    // attestation-overdue after this long without a valid challenged quote.
    std::int64_t overdue_window_s() const {
        return static_cast<std::int64_t>(cfg.overdue_after_intervals) * cfg.attest_interval_s;
    }
    // report-chain-gap when reports a round's quote claimed are missing this long.
    std::int64_t chain_gap_grace_s() const {
        return cfg.chain_gap_grace_s ? cfg.chain_gap_grace_s : 3 * static_cast<std::int64_t>(cfg.report_interval_s);
    }
    std::int64_t location_max_age_s() const {
        return cfg.location_max_age_s ? cfg.location_max_age_s : 3 * static_cast<std::int64_t>(cfg.attest_interval_s);
    }
    std::int64_t duplicate_window_s() const {
        return cfg.duplicate_window_s ? cfg.duplicate_window_s : 2 * static_cast<std::int64_t>(cfg.report_interval_s);
    }
    compute_thresholds thresholds() const {
        return {cfg.model_ops_threshold, cfg.host_ops_threshold, cfg.entity_ops_threshold, cfg.country_ops_threshold};
    }
    // After a commit: counts the findings and hands them to the alert sink.
    void publish(const std::vector<finding_record>& raised);
    // What the policy engine sees (sites, entities, hosts, GPUs, models, leases) changes with operator
    // writes; each moves the store's fleet generation on after its commit (in a transaction of its own, so
    // every verifier process on the store sees it). An attestation round skips the engine while the
    // generation it last ran at is the current one.
    void fleet_changed();
};

// Route registration, one function per API module.
void register_enroll_routes(net::https_server& srv, service_context& ctx);
void register_agent_routes(net::https_server& srv, service_context& ctx);   // challenge, attest, report-key
void register_report_routes(net::https_server& srv, service_context& ctx);  // reports
void register_gpu_routes(net::https_server& srv, service_context& ctx);     // GPU registry, compute (operator)
void register_model_routes(net::https_server& srv, service_context& ctx);   // models, leases, key requests
void register_policy_routes(net::https_server& srv, service_context& ctx);  // snapshot, policy, landmarks
void register_location_routes(net::https_server& srv, service_context& ctx);  // location proofs (agents)
void register_log_routes(net::https_server& srv, service_context& ctx);  // transparency log (operator, auditor)
void register_export_routes(net::https_server& srv, service_context& ctx);  // evidence bundles (operator, auditor)

// Status, signed result, appraisal row, its log entry, host row, commit; then publish: the answer an agent
// gets for an appraisal (status_code, with `extra` and status, result and findings added). `round_evidence`
// is the round as kept for auditors (appraisal_record), of `round_kind` ("attest": nonce, evidence, quote;
// "location": the proof and the verdict's inputs), empty for other appraisals.
net::http_response finish_appraisal(service_context& ctx, std::unique_ptr<store_tx> tx, host_record& h,
                                    std::vector<finding_record>& raised, std::int64_t now, unsigned status_code,
                                    boost::json::object extra, byte_view round_evidence = {},
                                    std::string_view round_kind = {});
// A use case's refusal answered (rounds/outcome.hpp): its writes committed and its findings published when
// it keeps them, rolled back otherwise; the answer is refusal_reply's.
net::http_response finish_refusal(service_context& ctx, std::unique_ptr<store_tx> tx, const outcome& out);

// The policy engine over the fleet inside `tx` (policy_appraisal.hpp); every host whose findings changed has
// its status refreshed and stored, except `self` (the host the caller is appraising and will store itself).
// if_fleet_changed skips it when nothing it reads was written since it last ran (the attestation round's
// case); always is for callers that changed the fleet inside `tx` themselves.
enum class policy_run { if_fleet_changed, always };
result<void> appraise_policy(service_context& ctx, store_tx& tx, std::int64_t now, std::vector<finding_record>& raised,
                             const std::string& self, policy_run run);
// The engine in a transaction of its own, then published: from the watcher thread (every <= 5 s), the
// backstop for what changes with time alone (a lease lapsing) or outside this process.
result<std::vector<finding_record>> sweep_policy(service_context& ctx, std::int64_t now);

// The sweep over every live host at `now`: host-dark (no evidence at all), attestation-overdue (no challenged
// quote) and report-chain-gap (reports a quote claimed that never came); returns what it raised (committed).
result<std::vector<finding_record>> check_dark_hosts(service_context& ctx, std::int64_t now);
// Retention ([retention]): resolved findings and superseded appraisals past their days, in short
// transactions; open findings, each host's latest appraisal and reports are never pruned. From the watcher
// every 5 minutes; returns how many rows went.
result<std::size_t> prune_retention(service_context& ctx, std::int64_t now);

class service {
public:
    // Loads every key and certificate named in cfg, opens the store. `listen` overrides cfg.listen.
    [[nodiscard]] static result<std::unique_ptr<service>> create(verifier_config cfg, std::string listen = {});
    ~service();
    [[nodiscard]] result<void> start();  // listens, runs the server threads and the dark watcher
    std::uint16_t port() const;
    void stop();  // idempotent
    service_context& context() { return *ctx_; }

private:
    service() = default;
    void dark_loop();
    void log_loop();  // the leader sequences the transparency log and signs its checkpoints
    bool lead(std::chrono::milliseconds ttl);  // takes or renews the lead; logs a change
    std::unique_ptr<service_context> ctx_;
    std::unique_ptr<net::https_server> server_;
    std::string listen_host_;
    std::uint16_t listen_port_ = 0;
    std::thread dark_thread_;
    std::thread log_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

}  // namespace custos::verifier
