// The agent's side of attested model-key release: a PCR-bound TPM key made at start, key requests with a
// creation proof, leases renewed before they lapse and dropped (data key zeroed) when they lapse, are
// refused or revoked, and the weights server's source of decrypted files. Every release, drop and
// hand-out becomes an event in the next signed report.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/weights_server.hpp"
#include "attest/report_ext.hpp"
#include "attest/tpm_device.hpp"
#include "net/https_client.hpp"
#include "weights/sealed_open.hpp"

namespace custos::agent {

class model_keys final : public weights_source {
public:
    using clock = std::chrono::steady_clock;

    model_keys(const attest::tpm_device& dev, std::filesystem::path model_dir);

    // The sealed models under model_dir: every subdirectory holding index.json (its name is the model id).
    std::vector<std::string> models_on_disk() const;
    // Makes the PCR-bound key (once per agent start, in the boot state of this start).
    result<void> ensure_bound_key(attest::ek_kind parent);
    // challenge → TPM2_CertifyCreation → POST /v1/keys → TPM unwrap → sealed model opened with the key.
    // A refusal is an error with errc::mismatch naming the verifier's reason.
    result<void> request(net::https_client& c, const attest::ak_key& ak, const std::string& model);
    // Renews leases that are due, drops the ones that lapsed or that the verifier refused to renew.
    // Returns the models dropped (the caller tells the weights server).
    std::vector<std::string> maintain(net::https_client* c);
    void drop(const std::string& model, const std::string& why);
    bool holding(const std::string& model);

    // weights_source (called from the weights server's threads).
    bool holds_lease(const std::string& model) override;
    source_answer open_file(const std::string& model, const std::string& rel, unsigned peer_uid) override;
    void record_hand_out(const hand_out& h);

    // What the next report carries: events since the last call, and the models whose weights were handed
    // out in that interval or are held by processes served under a lease still running.
    void drain(std::vector<attest::report_event>& events, std::vector<std::string>& models);

private:
    struct lease {
        std::string id;
        std::optional<weights::sealed_model> model;
        clock::time_point expires;
        clock::time_point renew_at;
        bool handed_out = false;
    };
    void event(const std::string& kind, const std::string& model, const std::string& detail);  // mu_ held
    void drop_locked(const std::string& model, const std::string& why);

    const attest::tpm_device& dev_;
    std::filesystem::path model_dir_;
    std::optional<attest::bound_key> bound_;
    std::mutex mu_;
    std::map<std::string, lease> leases_;
    std::vector<attest::report_event> events_;
    std::set<std::string> handed_out_;
};

}  // namespace custos::agent
