// Closed models, the sites they are approved for, and their key leases.
// One aggregate of the store's transaction interface (store.hpp: store_tx is every aggregate at once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::verifier {

struct model_record {
    std::string id;
    std::string root;  // hex model root
    bool closed_weights = false;
    double training_ops = 0;  // operations spent training it before registration
    std::string index_json;   // the sealed index as uploaded
    bytes key_sealed;         // key.sealed as uploaded (sealed to the verifier's recipient key)
    std::int64_t added_at = 0;
};

struct lease_record {
    std::string id;  // hex, 16 random bytes
    std::string host_id;
    std::string model_id;
    std::string key_name;  // hex TPM name of the bound key the DEK was wrapped to
    std::int64_t issued_at = 0;
    std::int64_t expires_at = 0;
    std::int64_t revoked_at = 0;  // 0 = not revoked
    std::string revoke_reason;
};

class model_store {
public:
    // Models and their key leases.
    virtual result<void> put_model(const model_record& m) = 0;
    virtual result<std::optional<model_record>> get_model(const std::string& id) = 0;
    virtual result<std::vector<model_record>> list_models() = 0;
    virtual result<void> approve_model_site(const std::string& model_id, const std::string& site_id, std::int64_t now) = 0;
    virtual result<std::vector<std::string>> model_sites(const std::string& model_id) = 0;  // sorted
    virtual result<void> insert_lease(const lease_record& l) = 0;
    virtual result<std::vector<lease_record>> active_leases(const std::optional<std::string>& host_id, std::int64_t now) = 0;
    virtual result<std::optional<lease_record>> get_lease(const std::string& id) = 0;
    // Every lease of a host for a model (active, lapsed or revoked), newest first, at most 1000.
    virtual result<std::vector<lease_record>> host_model_leases(const std::string& host_id, const std::string& model_id) = 0;
    virtual result<void> revoke_lease(const std::string& id, std::int64_t now, const std::string& reason) = 0;
    virtual result<void> renew_lease(const std::string& id, std::int64_t expires_at) = 0;

protected:
    ~model_store() = default;
};

}  // namespace custos::verifier
