// The verifier service: loads keys and configuration, opens the store, registers every API route on the
// HTTPS server, runs the host-dark watcher, and publishes findings (log lines, webhooks, metrics).
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/ossl.hpp"
#include "net/https_server.hpp"
#include "policy/chips.hpp"
#include "verifier/gpu_registry.hpp"
#include "verifier/config.hpp"
#include "verifier/metrics.hpp"
#include "verifier/store.hpp"
#include "weights/recipient_key.hpp"

namespace custos::verifier {

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
    std::optional<policy::chip_table> loaded_chips;  // [gpu] chip_table, when set
    const policy::chip_table* chips = nullptr;        // that, or the built-in table
    metrics stats;
    std::unique_ptr<alert_sink> alerts;

    ~service_context();
    std::int64_t duplicate_window_s() const {
        return cfg.duplicate_window_s ? cfg.duplicate_window_s : 2 * static_cast<std::int64_t>(cfg.report_interval_s);
    }
    compute_thresholds thresholds() const {
        return {cfg.model_ops_threshold, cfg.host_ops_threshold, cfg.entity_ops_threshold, cfg.country_ops_threshold};
    }
    // After a commit: counts the findings and hands them to the alert sink.
    void publish(const std::vector<finding_record>& raised);
};

// Route registration, one function per API module.
void register_enroll_routes(net::https_server& srv, service_context& ctx);
void register_agent_routes(net::https_server& srv, service_context& ctx);   // challenge, attest, report-key
void register_report_routes(net::https_server& srv, service_context& ctx);  // reports
void register_gpu_routes(net::https_server& srv, service_context& ctx);     // GPU registry, compute (operator)
void register_model_routes(net::https_server& srv, service_context& ctx);   // models, leases, key requests

// The host-dark rule over every host at `now`; returns the findings it raised (already committed).
result<std::vector<finding_record>> check_dark_hosts(service_context& ctx, std::int64_t now);

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
    std::unique_ptr<service_context> ctx_;
    std::unique_ptr<net::https_server> server_;
    std::string listen_host_;
    std::uint16_t listen_port_ = 0;
    std::thread dark_thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
};

// "HOST:PORT" / "[v6]:PORT" → host, port.
result<std::pair<std::string, std::uint16_t>> split_listen(const std::string& listen);

}  // namespace custos::verifier
