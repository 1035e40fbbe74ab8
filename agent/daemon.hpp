// The custos agent: an explicit state machine (unenrolled → enrolling → attesting ⇄ degraded) that enrolls
// once, binds a fresh in-memory report key at every start, makes signed reports into its spool every
// interval, answers challenged rounds, and sends whatever is spooled when the verifier is reachable.
#pragma once

#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "agent/compute_counters.hpp"
#include "agent/landmark_client.hpp"
#include "agent/config.hpp"
#include "attest/messages.hpp"
#include "agent/gpu_inventory.hpp"
#include "agent/model_keys.hpp"
#include "agent/weights_server.hpp"
#include "agent/spool.hpp"
#include "attest/tpm_device.hpp"
#include "crypto/bytes.hpp"
#include "net/https_client.hpp"

namespace custos::agent {

enum class agent_state { unenrolled, enrolling, attesting, degraded };
const char* state_name(agent_state s) noexcept;

class daemon {
public:
    explicit daemon(agent_config cfg);
    // Enrolls if needed, binds the report key, then loops until SIGTERM/SIGINT (which the caller has
    // blocked in every thread). once: one report and one round, flush the spool, return.
    // Returns 0 on a clean stop (or a successful --once), 1 when --once could not reach or satisfy the verifier,
    // 2 on configuration or state errors.
    int run(bool once, const sigset_t& stop_signals);

private:
    result<void> open_inventory();
    result<void> enroll();
    result<void> bind_report_key();  // a new report key; its binding is spooled ahead of the reports it signs
    // Sends one spooled binding: a challenge, then a quote over it, the key and the chain head it continues.
    result<void> send_binding(net::https_client& c, const std::string& spooled);
    result<void> make_report();
    result<void> round();      // challenge → quote → attest (→ a location proof when the verifier asks)
    void gpu_evidence(const bytes& round_nonce, std::vector<attest::round_gpu_evidence>& out);
    result<void> locate(net::https_client& c, const boost::json::value& request);
    // The boot event log and the IMA entries from ima_next_, read after the quote (the IMA list only grows,
    // so it holds at least what the quote covers); absent files are left out.
    void measurement_logs(attest::attest_request& req);  // the boot log and the IMA entries the verifier lacks
    result<void> flush();      // sends what is spooled
    result<void> open_models();  // bound key and weights socket, when model_dir / weights_socket are set
    void serve_models(bool verifier_reachable);  // key requests for models without a lease; renewals; drops
    result<net::https_client*> client();
    void set_state(agent_state s, const std::string& why);

    agent_config cfg_;
    attest::tpm_device dev_;
    std::optional<spool> spool_;
    std::optional<attest::ak_key> ak_;
    std::unique_ptr<net::https_client> client_;
    agent_state state_ = agent_state::unenrolled;
    bytes report_pk_;
    secret_bytes report_sk_;
    std::string selection_ = "sha256:0,1,2,3,4,5,6,7,10";
    std::uint64_t ima_next_ = 0;  // the first IMA entry the verifier has not accepted yet
    unsigned report_interval_s_;
    unsigned attest_interval_s_ = 60;
    std::optional<policy::chip_table> chips_;
    std::optional<inventory_reader> inventory_;
    std::optional<compute_counters> counters_;
    std::optional<std::chrono::steady_clock::time_point> last_sample_;
    std::unique_ptr<model_keys> keys_;
    std::optional<weights_server> weights_;
    std::map<std::string, std::chrono::steady_clock::time_point> next_key_try_;
};

}  // namespace custos::agent
