#include "attest/report_chain.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "attest/quote_verify.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace json = boost::json;

std::optional<std::string> key_window_refusal(std::uint64_t from_seq, std::uint64_t until_seq, std::uint64_t seq,
                                              std::string_view retire_reason) {
    const std::string r = "report " + std::to_string(seq);
    if (seq < from_seq) return r + " is signed with a key bound to sign from report " + std::to_string(from_seq) + " on";
    if (seq > until_seq)
        return r + " is signed with a key retired after report " + std::to_string(until_seq) + " (" +
               (retire_reason.empty() ? std::string("retired") : std::string(retire_reason)) + ")";
    return std::nullopt;
}

result<chain_summary> verify_report_chain(std::string_view host, std::uint64_t after_seq, byte_view after_hash,
                                          const std::vector<signed_report>& reports, const std::vector<chain_key>& keys) {
    chain_summary s;
    s.first_seq = after_seq + 1;
    s.last_seq = after_seq;
    s.head.assign(after_hash.begin(), after_hash.end());
    for (const auto& sr : reports) {
        const std::uint64_t want = s.last_seq + 1;
        const std::string at = "report " + std::to_string(want) + ": ";
        auto r = parse_report(sr.body);
        if (!r) return make_error(errc::parse, at + "parse: " + r.err().message);
        if (r->host != host) return make_error(errc::mismatch, at + "host: it names \"" + r->host + "\"");
        if (r->seq != want) return make_error(errc::mismatch, at + "seq: it is numbered " + std::to_string(r->seq) + " (a gap or a reordering)");
        if (!equal_ct(r->prev, s.head))
            return make_error(errc::mismatch, at + "prev: " + short_hex(r->prev) + " is not the hash of the report before (" +
                                                  short_hex(s.head) + ")");
        const auto k = std::find_if(keys.begin(), keys.end(), [&](const chain_key& c) { return equal_ct(c.key, r->key); });
        if (k == keys.end()) return make_error(errc::mismatch, at + "key: signed with a key no binding names");
        if (auto why = key_window_refusal(k->from_seq, k->until_seq, r->seq))
            return make_error(errc::mismatch, at + "window: " + *why);
        if (auto v = verify_report_signature(sr.body, sr.signature, r->key); !v)
            return make_error(errc::signature, at + "signature: " + v.err().message);
        s.last_seq = r->seq;
        s.head = report_hash(sr.body);
        ++s.reports;
    }
    return s;
}

std::string round_binding(const attest_request& r) {
    return json::serialize(json::object{{"kind", "round"},
                                        {"nonce", to_base64(r.nonce)},
                                        {"evidence", to_base64(r.evidence)},
                                        {"quote", wire_quote_json(r.quote)}});
}

std::string key_binding(const key_binding_request& r) {
    return json::serialize(json::object{{"kind", "report-key"},
                                        {"nonce", to_base64(r.nonce)},
                                        {"prev_seq", r.prev_seq},
                                        {"prev_hash", to_hex(r.prev_hash)},
                                        {"quote", wire_quote_json(r.quote)}});
}

result<void> verify_key_binding(const chain_key& k, EVP_PKEY* ak) {
    if (k.binding.empty())
        return make_error(errc::structure, "key " + short_hex(k.key) + ": no binding quote was recorded (bound before schema 5)");
    CUSTOS_TRY(v, sjson::parse(k.binding, "binding of key " + short_hex(k.key), 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "binding of key " + short_hex(k.key)));
    CUSTOS_TRY(kind, o.str("kind"));
    CUSTOS_TRY(nonce, o.b64("nonce"));
    CUSTOS_TRY(qv, o.value("quote"));
    CUSTOS_TRY(q, quote_from_json(*qv, "binding quote"));
    bytes qualification;
    if (kind == "report-key") {
        CUSTOS_TRY_VOID(o.only({"kind", "nonce", "prev_seq", "prev_hash", "quote"}));
        CUSTOS_TRY(prev_seq, o.u64("prev_seq"));
        CUSTOS_TRY(prev, o.hex("prev_hash", 32));
        if (k.from_seq != prev_seq + 1)
            return make_error(errc::mismatch, "key " + short_hex(k.key) + ": its window starts at " + std::to_string(k.from_seq) +
                                                  " but its binding continues report " + std::to_string(prev_seq));
        qualification = report_key_qualification(nonce, k.key, prev_seq, prev);
    } else if (kind == "round") {
        CUSTOS_TRY_VOID(o.only({"kind", "nonce", "evidence", "quote"}));
        CUSTOS_TRY(evidence_bytes, o.b64("evidence"));
        CUSTOS_TRY(ev, parse_evidence(evidence_bytes));
        if (!equal_ct(ev.report_key, k.key))
            return make_error(errc::mismatch, "key " + short_hex(k.key) + ": the round's evidence names another report key");
        qualification = evidence_qualification(nonce, evidence_bytes);
    } else {
        return o.bad("kind", "must be report-key or round");
    }
    if (ak == nullptr) return make_error(errc::invalid_argument, "key " + short_hex(k.key) + ": no AK to check its binding with");
    quote_input in;
    in.attest = q.attest;
    in.signature = q.signature;
    in.ak = ak;
    in.qualification = qualification;
    auto r = verify_quote(in);
    if (!r.ok()) return make_error(errc::signature, "key " + short_hex(k.key) + ": binding quote: " + r.err().message);
    return {};
}

}  // namespace custos::attest
