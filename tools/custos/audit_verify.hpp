// `custos audit verify`: an evidence bundle (GET /v1/export, docs/transparency-log.md) checked offline
// from the roots the auditor brings — the TPM makers' CA bundle, the log's public key and, optionally, the
// landmarks' own key list — in this order, stopping at the first item that fails: the checkpoint's
// signature; every entry's inclusion proof; the result key named by the log; for each host (the bundle's,
// or every host a model's key went to), the EK certificate chain, the AK's attributes and its hash in the
// logged enrollment, the report chain with its keys' binding quotes and every logged chain head on it,
// every round's signed result in the log, each attestation round's quote over its nonce and evidence, each
// location round replayed (audit_location.hpp); for a model, that every hand-out followed a passing round
// at a site the model was approved for, with a location proof where the site has landmarks.
#pragma once

#include <openssl/x509_vfy.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"
#include "tlog/note.hpp"
#include "tools/custos/audit_location.hpp"

namespace custos::cli {

struct bundle_report {
    std::string subject;  // "host H" or "model M"
    std::int64_t checkpoint_size = 0;
    std::size_t entries = 0, rounds = 0, results = 0, rounds_missing = 0, reports = 0, chain_heads = 0, keys = 0;
    std::size_t hosts = 0, location_rounds = 0, statements = 0, untrusted_statements = 0;
    std::map<std::string, std::size_t> location_physics;  // location rounds by their light-speed verdict
    std::size_t releases = 0, refusals = 0, releases_unproven = 0;  // a model's key hand-outs checked
    std::int64_t from = 0, to = 0;  // the window the bundle covers (Unix seconds)
    // What each check rests on, in words, for the printed summary.
    std::vector<std::string> hardware, log, verifier_word;
};

// errc::invalid_argument / parse / structure: the bundle is malformed; anything else: a check failed (the
// message names the item). On success, what was proven and on what it rests.
// `landmarks`: the auditor's own landmark list (--landmarks), or null to take the log's registrations.
result<bundle_report> verify_bundle(std::string_view bundle, X509_STORE* ek_cas, const tlog::note_verifier& log_key,
                                    const std::map<std::string, landmark_fact>* landmarks = nullptr);

// The bundle against the auditor's own mirror (`custos audit fetch --state DIR`): its checkpoint must be the
// mirror's tree at that size, and every mirrored entry about its subject in its window (up to the smaller
// of the two sizes) must be in it — an operator who leaves an entry out of a bundle (a key release, a
// finding) is caught. errc::mismatch naming the first entry missing; the count of entries compared.
struct mirror_check {
    std::int64_t compared_up_to = 0;  // entries below this index (the bundle's checkpoint) were compared
    std::int64_t behind = 0;          // how many entries the mirror holds past the bundle's checkpoint
    std::size_t entries = 0;          // mirrored entries the bundle must hold, all found
};
result<mirror_check> check_against_mirror(std::string_view bundle, const std::filesystem::path& state);

}  // namespace custos::cli
