#include "attest/messages.hpp"

#include <boost/json.hpp>

#include <set>

#include "attest/report_ext.hpp"
#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace json = boost::json;

namespace {

constexpr std::size_t max_nonce_size = 64;
constexpr std::size_t max_blob_size = 4096;  // a marshalled TPM structure of a creation proof
constexpr std::size_t gpu_max_report_bytes = 0x2000;  // NVML's attestation report buffer
constexpr std::size_t gpu_max_chain_bytes = 0x2800;   // twice NVML's chain buffer (PEM text)

result<bytes> nonce_of(const sjson::object_reader& o) {
    CUSTOS_TRY(n, o.b64("nonce"));
    if (n.size() < 16 || n.size() > max_nonce_size) return o.bad("nonce", "must be 16 to 64 bytes");
    return n;
}

}  // namespace

bool valid_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 63) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (!alnum(id[0])) return false;
    for (char c : id)
        if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

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
    if (!r.gpus.empty()) {
        json::array gpus;
        for (const auto& g : r.gpus) {
            json::object x{{"serial", g.serial}, {"pci_bus_id", g.pci_bus_id}};
            if (g.error.empty()) {
                x["report"] = to_base64(g.report);
                x["chain"] = g.chain;
            } else {
                x["error"] = g.error;
            }
            gpus.push_back(std::move(x));
        }
        o["gpus"] = std::move(gpus);
    }
    return json::serialize(o);
}

result<attest_request> parse_attest_request(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "attest request"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "attest request"));
    CUSTOS_TRY_VOID(o.only({"nonce", "evidence", "quote", "logs", "gpus"}));
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
    if (o.has("gpus")) {
        CUSTOS_TRY(gpus, o.arr("gpus"));
        if (gpus->size() > max_round_gpus) return o.bad("gpus", "lists more than 64 GPUs");
        std::set<std::string> serials;
        for (std::size_t i = 0; i < gpus->size(); ++i) {
            CUSTOS_TRY(g, sjson::object_reader::of((*gpus)[i], "attest request: gpus[" + std::to_string(i) + "]"));
            CUSTOS_TRY_VOID(g.only({"serial", "pci_bus_id", "report", "chain", "error"}));
            round_gpu_evidence x;
            CUSTOS_TRY(serial, g.str("serial"));
            CUSTOS_TRY(bus, g.str("pci_bus_id"));
            auto printable = [](const std::string& s, bool spaces) {
                for (unsigned char c : s)
                    if (c < (spaces ? 0x20 : 0x21) || c >= 0x7f) return false;
                return true;
            };
            if (serial.empty() || serial.size() > 64 || !printable(serial, false))
                return g.bad("serial", "must be 1 to 64 printable ASCII characters without spaces");
            if (!canonical_pci_bus(bus)) return g.bad("pci_bus_id", "is not a PCI address");
            if (!serials.insert(serial).second) return g.bad("serial", "appears twice");
            x.serial = serial;
            x.pci_bus_id = bus;
            if (g.has("error")) {
                if (g.has("report") || g.has("chain")) return g.bad("error", "comes without a report and a chain");
                CUSTOS_TRY(e, g.str("error"));
                if (e.empty() || e.size() > 256 || !printable(e, true))
                    return g.bad("error", "must be 1 to 256 printable ASCII characters");
                x.error = e;
            } else {
                CUSTOS_TRY(rep, g.b64("report"));
                if (rep.empty() || rep.size() > gpu_max_report_bytes) return g.bad("report", "must be 1 to 8192 bytes");
                CUSTOS_TRY(chain, g.str("chain"));
                if (chain.empty() || chain.size() > gpu_max_chain_bytes) return g.bad("chain", "must be 1 to 10240 bytes of PEM");
                x.report = std::move(rep);
                x.chain = chain;
            }
            r.gpus.push_back(std::move(x));
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

json::object signed_report_json(const signed_report& r) {
    return json::object{{"report", to_base64(r.body)}, {"sig", to_base64(r.signature)}};
}

result<signed_report> signed_report_from_json(const json::value& v, const std::string& what) {
    CUSTOS_TRY(o, sjson::object_reader::of(v, what));
    CUSTOS_TRY_VOID(o.only({"report", "sig"}));
    CUSTOS_TRY(body, o.b64("report"));
    if (body.size() > max_report_size) return o.bad("report", "is larger than " + std::to_string(max_report_size) + " bytes");
    CUSTOS_TRY(sig, o.b64("sig"));
    return signed_report{std::move(body), std::move(sig)};
}

std::string encode_reports_request(const reports_request& r) {
    json::array a;
    a.reserve(r.reports.size());
    for (const auto& x : r.reports) a.push_back(signed_report_json(x));
    return json::serialize(json::object{{"reports", std::move(a)}});
}

result<reports_request> parse_reports_request(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "reports request", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "reports request"));
    CUSTOS_TRY_VOID(o.only({"reports"}));
    CUSTOS_TRY(arr, o.arr("reports"));
    if (arr->size() > max_reports_per_request)
        return o.bad("reports", "holds more than " + std::to_string(max_reports_per_request) + " reports");
    reports_request r;
    r.reports.reserve(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
        CUSTOS_TRY(x, signed_report_from_json((*arr)[i], "reports request: reports[" + std::to_string(i) + "]"));
        r.reports.push_back(std::move(x));
    }
    return r;
}

std::string encode_location_proof_request(const location_proof_request& r) {
    json::array proofs, errors;
    for (const auto& p : r.proofs) proofs.push_back(json::object{{"statement", to_base64(p.statement)}, {"sig", to_base64(p.sig)}});
    for (const auto& e : r.errors) errors.emplace_back(e);
    return json::serialize(json::object{{"round", to_base64(r.round)}, {"proofs", std::move(proofs)}, {"errors", std::move(errors)}});
}

result<location_proof_request> parse_location_proof_request(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "location proof", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "location proof"));
    CUSTOS_TRY_VOID(o.only({"round", "proofs", "errors"}));
    location_proof_request r;
    CUSTOS_TRY(round, o.b64("round"));
    if (round.size() != location_round_size) return o.bad("round", "must be " + std::to_string(location_round_size) + " bytes");
    r.round = std::move(round);
    CUSTOS_TRY(proofs, o.arr("proofs"));
    if (proofs->size() > max_location_proofs)
        return o.bad("proofs", "holds more than " + std::to_string(max_location_proofs) + " statements");
    for (std::size_t i = 0; i < proofs->size(); ++i) {
        CUSTOS_TRY(e, sjson::object_reader::of((*proofs)[i], "location proof: proofs[" + std::to_string(i) + "]"));
        CUSTOS_TRY_VOID(e.only({"statement", "sig"}));
        CUSTOS_TRY(st, e.b64("statement"));
        CUSTOS_TRY(sig, e.b64("sig"));
        r.proofs.push_back({std::move(st), std::move(sig)});
    }
    if (o.has("errors")) {
        CUSTOS_TRY(errs, o.arr("errors"));
        for (const auto& e : *errs) {
            if (!e.is_string()) return o.bad("errors", "must be an array of strings");
            // What the agent could not measure is told to the operator, not judged: kept short and few.
            if (r.errors.size() < max_location_errors)
                r.errors.emplace_back(std::string(e.as_string()).substr(0, max_location_error_text));
        }
    }
    return r;
}

std::string encode_key_request(const key_request& r) {
    return json::serialize(json::object{{"model", r.model},
                                        {"nonce", to_base64(r.nonce)},
                                        {"key_public", to_base64(r.proof.key_public)},
                                        {"creation_data", to_base64(r.proof.creation_data)},
                                        {"attest", to_base64(r.proof.attest)},
                                        {"signature", to_base64(r.proof.signature)}});
}

result<key_request> parse_key_request(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "key request"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "key request"));
    CUSTOS_TRY_VOID(o.only({"model", "nonce", "key_public", "creation_data", "attest", "signature"}));
    key_request r;
    CUSTOS_TRY(model, o.str("model"));
    if (!valid_id(model)) return o.bad("model", "is not a model id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})");
    r.model = std::move(model);
    CUSTOS_TRY(nonce, nonce_of(o));
    r.nonce = std::move(nonce);
    for (auto [key, out] : {std::pair<const char*, bytes*>{"key_public", &r.proof.key_public},
                            {"creation_data", &r.proof.creation_data},
                            {"attest", &r.proof.attest},
                            {"signature", &r.proof.signature}}) {
        CUSTOS_TRY(b, o.b64(key));
        if (b.empty() || b.size() > max_blob_size) return o.bad(key, "must be 1 to " + std::to_string(max_blob_size) + " bytes");
        *out = std::move(b);
    }
    return r;
}

std::string encode_lease_renewal(const lease_renewal& r) { return json::serialize(json::object{{"lease", r.lease}}); }

result<lease_renewal> parse_lease_renewal(std::string_view body) {
    CUSTOS_TRY(v, sjson::parse(body, "lease renewal"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "lease renewal"));
    CUSTOS_TRY_VOID(o.only({"lease"}));
    CUSTOS_TRY(id, o.str("lease"));
    if (id.empty() || id.size() > 128) return o.bad("lease", "must be 1 to 128 characters");
    return lease_renewal{std::move(id)};
}

}  // namespace custos::attest
