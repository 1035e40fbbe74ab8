#include "verifier/log_events.hpp"

#include <boost/json/object.hpp>

#include "crypto/digest.hpp"
#include "tlog/entry.hpp"

namespace custos::verifier {

namespace json = boost::json;

actor actor_of(const net::request_context& rc) { return actor{rc.client_cn, rc.client_ou, rc.client_sha256}; }

namespace {

log_entry make(std::string type, std::string host, std::string subject, std::int64_t time, const tlog::entry_writer& w) {
    return log_entry{std::move(type), std::move(host), std::move(subject), time, w.finish()};
}

}  // namespace

log_entry finding_raised_entry(const finding_record& f) {
    tlog::entry_writer w("finding.raised", f.time);
    w.num("id", f.id).str("rule", f.rule).str("severity", f.severity).str("subject_kind", f.subject_kind)
        .str("subject", f.subject).str("host", f.host).str("ref", f.ref).str("detail", f.detail);
    return make("finding.raised", f.host, f.subject, f.time, w);
}

log_entry finding_resolved_entry(const finding_record& f) {
    tlog::entry_writer w("finding.resolved", f.resolved_at);
    w.num("id", f.id).str("rule", f.rule).str("subject_kind", f.subject_kind).str("subject", f.subject).str("host", f.host);
    return make("finding.resolved", f.host, f.subject, f.resolved_at, w);
}

log_entry gpu_event_entry(const gpu_event_record& e) {
    tlog::entry_writer w("gpu." + e.event, e.time);
    w.str("serial", e.serial).str("host", e.host_id).str("detail", e.detail);
    return make("gpu." + e.event, e.host_id, e.serial, e.time, w);
}

log_entry result_entry(const host_record& h, std::int64_t now, std::string_view token, byte_view round_evidence,
                       std::string_view round_kind) {
    tlog::entry_writer w("result", now);
    w.str("host", h.id).str("status", h.status).hex("token_sha256", sha256(as_bytes(token)));
    if (!round_evidence.empty()) w.hex("round_sha256", sha256(round_evidence)).str("round_kind", round_kind);
    w.num("chain_seq", static_cast<std::int64_t>(h.chain_seq)).hex("chain_hash", h.chain_hash);
    return make("result", h.id, "", now, w);
}

log_entry enrollment_entry(const host_record& h, std::int64_t now) {
    tlog::entry_writer w("host.enrolled", now);
    w.str("host", h.id).str("ek_sha256", h.ek_sha256).str("ak_name", h.ak_name).hex("ak_public_sha256", sha256(h.ak_public))
        .str("cert_sha256", h.cert_sha256);
    return make("host.enrolled", h.id, "", now, w);
}

log_entry report_key_entry(const std::string& host, byte_view key, std::uint64_t prev_seq, std::int64_t now) {
    tlog::entry_writer w("report_key.bound", now);
    w.str("host", host).hex("key", key).num("prev_seq", static_cast<std::int64_t>(prev_seq));
    return make("report_key.bound", host, "", now, w);
}

log_entry golden_entry(const host_record& h, std::int64_t now) {
    tlog::entry_writer w("golden.taken", now);
    w.str("host", h.id).hex("golden_pcrs_sha256", sha256(as_bytes(h.golden_pcrs)));
    return make("golden.taken", h.id, "", now, w);
}

log_entry key_entry(std::string_view type, const std::string& host, const std::string& model, const std::string& lease,
                    std::string_view detail, std::int64_t now) {
    tlog::entry_writer w(type, now);
    w.str("host", host).str("model", model).str("lease", lease).str("detail", detail);
    return make(std::string(type), host, model, now, w);
}

log_entry operator_entry(const actor& who, std::string_view action, const std::string& host, const std::string& subject,
                         const json::value& request, std::int64_t now) {
    tlog::entry_writer w("operator", now);
    w.obj("actor", json::object{{"name", who.name}, {"role", who.role}, {"cert_sha256", who.cert_sha256}})
        .str("action", action).str("host", host).str("subject", subject);
    w.obj("request", request.is_object() ? request.as_object() : json::object{{"value", request}});
    return make("operator", host, subject, now, w);
}

log_entry started_entry(const started_inputs& in, std::int64_t now) {
    tlog::entry_writer w("verifier.started", now);
    json::object d;
    for (const auto& [name, hex] : in.digests) d[name] = hex;
    w.str("replica", in.replica).obj("inputs_sha256", std::move(d));
    return make("verifier.started", "", "", now, w);
}

}  // namespace custos::verifier
