#include "attest/messages.hpp"

#include <boost/json.hpp>

#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace json = boost::json;

namespace {

constexpr std::size_t max_nonce_size = 64;

result<bytes> nonce_of(const sjson::object_reader& o) {
    CUSTOS_TRY(n, o.b64("nonce"));
    if (n.size() < 16 || n.size() > max_nonce_size) return o.bad("nonce", "must be 16 to 64 bytes");
    return n;
}

}  // namespace

json::object wire_quote_json(const wire_quote& q) {
    return json::object{{"attest", to_base64(q.attest)}, {"signature", to_base64(q.signature)}, {"pcrs", q.pcrs}};
}

std::string encode_attest_request(const attest_request& r) {
    json::object o{{"nonce", to_base64(r.nonce)}, {"evidence", to_base64(r.evidence)}, {"quote", wire_quote_json(r.quote)}};
    json::object logs;
    if (r.boot_log) logs["boot"] = to_base64(*r.boot_log);
    if (r.ima_from) {
        logs["ima_from"] = *r.ima_from;
        logs["ima"] = to_base64(r.ima);
    }
    if (!logs.empty()) o["logs"] = std::move(logs);
    return json::serialize(o);
}

result<attest_request> parse_attest_request(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "attest request"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "attest request"));
    CUSTOS_TRY_VOID(o.only({"nonce", "evidence", "quote", "logs"}));
    attest_request r;
    CUSTOS_TRY(nonce, nonce_of(o));
    r.nonce = std::move(nonce);
    CUSTOS_TRY(ev, o.b64("evidence"));
    if (ev.size() > max_evidence_size) return o.bad("evidence", "is larger than " + std::to_string(max_evidence_size) + " bytes");
    r.evidence = std::move(ev);
    CUSTOS_TRY(qv, o.value("quote"));
    CUSTOS_TRY(q, quote_from_json(*qv, "attest request: quote"));
    r.quote = std::move(q);
    if (o.has("logs")) {
        CUSTOS_TRY(l, o.obj("logs"));
        CUSTOS_TRY_VOID(l.only({"boot", "ima_from", "ima"}));
        if (l.has("boot")) {
            CUSTOS_TRY(b, l.b64("boot"));
            r.boot_log = std::move(b);
        }
        if (l.has("ima") != l.has("ima_from")) return l.bad(l.has("ima") ? "ima_from" : "ima", "must come with the other");
        if (l.has("ima")) {
            CUSTOS_TRY(from, l.u64("ima_from"));
            CUSTOS_TRY(b, l.b64("ima"));
            r.ima_from = from;
            r.ima = std::move(b);
        }
    }
    return r;
}

std::string encode_key_binding_request(const key_binding_request& r) {
    return json::serialize(json::object{{"report_key", to_base64(r.report_key)},
                                        {"prev_seq", r.prev_seq},
                                        {"prev_hash", to_hex(r.prev_hash)},
                                        {"nonce", to_base64(r.nonce)},
                                        {"quote", wire_quote_json(r.quote)}});
}

result<key_binding_request> parse_key_binding_request(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "report-key request"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "report-key request"));
    CUSTOS_TRY_VOID(o.only({"report_key", "prev_seq", "prev_hash", "nonce", "quote"}));
    key_binding_request r;
    CUSTOS_TRY(key, o.b64("report_key"));
    if (key.size() != report_key_size) return o.bad("report_key", "must be 32 bytes");
    r.report_key = std::move(key);
    CUSTOS_TRY(prev_seq, o.u64("prev_seq"));
    if (prev_seq >= static_cast<std::uint64_t>(INT64_MAX)) return o.bad("prev_seq", "is out of range");
    r.prev_seq = prev_seq;
    CUSTOS_TRY(prev, o.hex("prev_hash", 32));
    r.prev_hash = std::move(prev);
    CUSTOS_TRY(nonce, nonce_of(o));
    r.nonce = std::move(nonce);
    CUSTOS_TRY(qv, o.value("quote"));
    CUSTOS_TRY(q, quote_from_json(*qv, "report-key request: quote"));
    r.quote = std::move(q);
    return r;
}

}  // namespace custos::attest
