// Model-key release and lease renewal (POST /v1/keys, POST /v1/leases/renew) as use cases: the facts
// release_denial (verifier/rounds/key_release.hpp) decides on, read in the request's transaction; the
// creation proof of the host's PCR-bound key checked; the data key wrapped to that key as a lease.
#pragma once

#include <optional>
#include <string>

#include "attest/messages.hpp"
#include "verifier/rounds/key_release.hpp"
#include "verifier/rounds/outcome.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {

// Everything release_denial needs, read in `tx`. `model_holder` keeps the model record f.model points to.
result<release_facts> gather_release_facts(service_context& ctx, store_tx& tx, const host_record& h,
                                           const std::string& model_id, std::optional<model_record>& model_holder,
                                           std::int64_t now);

// A key request. A model nobody registered is not_found and leaves nothing behind (made-up ids must not be
// a way to fill the store with findings); the verifier without its recipient key is unavailable. Every
// other refusal (the nonce, release_denial, the creation proof) is forbidden and raises one open
// key-request-denied per host and model (repeats counted on it). Released: a lease, answered as
// {"lease","model","model_root","wrapped_key","expires_in_s"}.
result<outcome> release_model_key(service_context& ctx, store_tx& tx, const host_record& h, const attest::key_request& msg,
                                  std::int64_t now);

// A lease renewal: the same conditions as a release, without a new proof. A lease that is not this host's
// is not_found; a revoked or lapsed one is forbidden (request the key again); one whose conditions no
// longer hold is revoked and refused like a key request.
result<outcome> renew_lease(service_context& ctx, store_tx& tx, const host_record& h, const attest::lease_renewal& msg,
                            std::int64_t now);

}  // namespace custos::verifier
