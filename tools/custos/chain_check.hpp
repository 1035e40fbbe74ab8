// A host's report chain as the verifier exports it (GET /v1/hosts/<id>/reports, the "chain" of an evidence
// bundle), checked offline: every key's binding quote with the host's AK, then the whole chain from report
// 1 (attest/report_chain.hpp). Shared by `custos report verify` and `custos audit verify`.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <vector>

#include "attest/report_chain.hpp"
#include "crypto/ossl.hpp"

namespace custos::cli {

struct chain_check {
    std::string host;
    attest::chain_summary summary;
    std::size_t keys = 0;
    std::vector<bytes> hashes;  // hashes[i]: the hash of report first_seq + i
    std::uint64_t first_seq = 1;
    std::vector<attest::chain_key> bound;  // the report keys, each bound by a quote that verified
};

// errc::structure for a malformed export, errc::signature / mismatch for a binding or chain that fails
// (the message names the key or report and the step). `ak`, when given, must be the export's AK (the
// bundle's own check); otherwise the export's ak_public is used.
// Where a window of the chain starts: the report before its first, as a logged result recorded it.
struct chain_anchor {
    std::uint64_t seq = 0;
    bytes hash;
};
// Without an anchor the export must start at report 1; with one, at anchor.seq + 1, linked to anchor.hash.
result<chain_check> check_chain_export(const boost::json::value& v, const std::string& where,
                                       const chain_anchor* anchor = nullptr);

}  // namespace custos::cli
