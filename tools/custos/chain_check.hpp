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
    std::vector<bytes> hashes;  // hashes[i]: the hash of report i + 1
    std::vector<attest::chain_key> bound;  // the report keys, each bound by a quote that verified
};

// errc::structure for a malformed export, errc::signature / mismatch for a binding or chain that fails
// (the message names the key or report and the step). `ak`, when given, must be the export's AK (the
// bundle's own check); otherwise the export's ak_public is used.
result<chain_check> check_chain_export(const boost::json::value& v, const std::string& where);

}  // namespace custos::cli
