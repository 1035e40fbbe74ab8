// Enrollment: one-time tokens, enrollments waiting for the TPM's answer, and challenge nonces (each
// used once, fleet-wide).
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

struct enroll_token_record {
    bytes token_hash;  // SHA-256 of the token text; the token itself is never stored
    std::string host_id;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
    std::int64_t used_at = 0;  // 0 = unused
};

struct pending_enrollment_record {
    std::string id;  // hex, 16 random bytes
    std::string host_id;
    bytes ek_cert;      // DER
    bytes ek_spki;      // DER SubjectPublicKeyInfo of the EK
    std::string ek_sha256;  // hex SHA-256 of ek_spki: the EK's identity
    bytes ak_public;    // marshalled TPM2B_PUBLIC
    std::string ak_name;  // hex
    std::string csr_pem;
    bytes secret_hash;  // SHA-256 of the MakeCredential secret
    std::int64_t expires_at = 0;
};

class enrollment_store {
public:
    virtual result<void> insert_token(const enroll_token_record& t) = 0;
    virtual result<std::optional<enroll_token_record>> get_token(byte_view token_hash) = 0;
    virtual result<void> mark_token_used(byte_view token_hash, std::int64_t now) = 0;
    virtual result<void> insert_pending(const pending_enrollment_record& p) = 0;
    virtual result<std::optional<pending_enrollment_record>> get_pending(const std::string& id) = 0;
    virtual result<void> delete_pending(const std::string& id) = 0;
    // Challenges: the nonce is the key; take_challenge deletes it and returns what it was issued for.
    virtual result<void> insert_challenge(byte_view nonce, const std::string& host_id, std::int64_t expires_at) = 0;
    struct challenge { std::string host_id; std::int64_t expires_at = 0; };
    virtual result<std::optional<challenge>> take_challenge(byte_view nonce) = 0;
    virtual result<void> purge_challenges(std::int64_t now) = 0;  // drops expired ones

protected:
    ~enrollment_store() = default;
};

}  // namespace custos::verifier
