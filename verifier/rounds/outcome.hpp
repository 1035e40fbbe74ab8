// What a verifier use case (verifier/rounds/) hands back to the HTTP handler that called it. A use case
// gathers facts from the store inside the handler's transaction, decides with pure functions and writes;
// the handler parsed the request into a typed message (attest/messages.hpp) before, and after it commits
// and answers. Which HTTP status a refusal becomes is decided in one place: http_status below.
#pragma once

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <vector>

#include "verifier/store.hpp"

namespace custos::verifier {

enum class refusal_kind {
    not_found,      // 404: what the request names does not exist (nothing is recorded)
    forbidden,      // 403: policy says no (a key or lease refused)
    conflict,       // 409: the request contradicts what the verifier holds (a nonce, a chain, a round)
    unprocessable,  // 422: well-formed evidence that does not verify (a quote)
    unavailable,    // 503: the verifier lacks what it needs (a key it was not given)
};
unsigned http_status(refusal_kind k) noexcept;

struct refusal {
    refusal_kind kind = refusal_kind::conflict;
    std::string code;    // machine-readable ("nonce-mismatch", "lease-expired", ...)
    std::string detail;  // a sentence naming what was wrong
};

struct outcome {
    std::optional<refusal> refused;
    // A refusal that recorded something (its finding, a revoked lease) keeps its writes: the handler
    // commits them. One that did not (an unknown round, a lease that is not this host's) is rolled back.
    bool keep_writes = true;
    boost::json::object answer;          // the fields of the reply
    std::vector<finding_record> raised;  // published by the handler after its commit
    // The round as kept for auditors beside its appraisal (appraisal_record::round_evidence) and the kind
    // its result's log entry names; empty when the use case keeps none.
    std::string round_evidence, round_kind;
};

inline outcome refused(refusal_kind kind, std::string code, std::string detail, bool keep_writes) {
    outcome o;
    o.refused = refusal{kind, std::move(code), std::move(detail)};
    o.keep_writes = keep_writes;
    return o;
}

}  // namespace custos::verifier
