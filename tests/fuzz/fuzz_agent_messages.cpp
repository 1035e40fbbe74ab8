// Fuzz target: the typed messages of a round and a report-key binding (attest/messages.hpp; the others have
// fuzz_reports_request, fuzz_location_proof and fuzz_key_request), the decoders
// the verifier runs on every agent request. What parses re-encodes to something that parses to the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json/serialize.hpp>

#include "attest/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::attest;
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 1) {
        auto r = parse_attest_request(body);
        if (!r) return 0;
        auto again = parse_attest_request(encode_attest_request(*r));
        if (!again || again->nonce != r->nonce || again->evidence != r->evidence || again->quote.attest != r->quote.attest ||
            again->quote.signature != r->quote.signature || again->boot_log != r->boot_log || again->ima_from != r->ima_from ||
            again->ima != r->ima || boost::json::serialize(again->quote.pcrs) != boost::json::serialize(r->quote.pcrs))
            __builtin_trap();
    } else {
        auto r = parse_key_binding_request(body);
        if (!r) return 0;
        auto again = parse_key_binding_request(encode_key_binding_request(*r));
        if (!again || again->report_key != r->report_key || again->prev_seq != r->prev_seq || again->prev_hash != r->prev_hash ||
            again->nonce != r->nonce || again->quote.attest != r->quote.attest || again->quote.signature != r->quote.signature)
            __builtin_trap();
    }
    return 0;
}
