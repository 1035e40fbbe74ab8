// `custos audit verify`: an evidence bundle (GET /v1/export, docs/transparency-log.md) checked offline
// from three roots the auditor brings — the TPM makers' CA bundle, the log's public key and nothing else —
// in this order, stopping at the first item that fails: the checkpoint's signature; every entry's inclusion
// proof; the result key named by the log; for a host, the EK certificate chain, the AK's attributes and
// its hash in the logged enrollment, every round's quote over its nonce and evidence with the AK and the
// round's and result's hashes in the logged result, every result's signature, the report chain with its
// keys' binding quotes, and every logged chain head against the chain.
#pragma once

#include <openssl/x509_vfy.h>

#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"
#include "tlog/note.hpp"

namespace custos::cli {

struct bundle_report {
    std::string subject;  // "host H" or "model M"
    std::int64_t checkpoint_size = 0;
    std::size_t entries = 0, rounds = 0, results = 0, rounds_missing = 0, reports = 0, chain_heads = 0, keys = 0;
    // What each check rests on, in words, for the printed summary.
    std::vector<std::string> hardware, log, verifier_word;
};

// errc::invalid_argument / parse / structure: the bundle is malformed; anything else: a check failed (the
// message names the item). On success, what was proven and on what it rests.
result<bundle_report> verify_bundle(std::string_view bundle, X509_STORE* ek_cas, const tlog::note_verifier& log_key);

}  // namespace custos::cli
