// GET /v1/export?host=H|model=M[&from=T&to=T]: an evidence bundle (operator or auditor role), built from
// one read snapshot. It holds the latest signed checkpoint and every log entry about the subject that the
// checkpoint covers (from T to T), each with its inclusion proof, and the verifier.started entries (the
// result key and policy digests in force). For a host it adds what the entries commit to: the EK
// certificate and AK public area, each attestation round kept (nonce, evidence, quote) with its signed
// result, the result-signing public key, and the whole report chain with the quotes that bound its keys.
// `custos audit verify` checks all of it offline (docs/transparency-log.md, "Evidence bundles").
#include <boost/json.hpp>

#include <charconv>
#include <set>

#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "tlog/entry.hpp"
#include "crypto/file_io.hpp"
#include "tlog/note.hpp"
#include "verifier/api_common.hpp"
#include "verifier/api_fleet.hpp"
#include "verifier/service.hpp"
#include "verifier/transparency_log.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::size_t max_entries = 1'000'000;
constexpr std::size_t max_rounds = 100'000;
constexpr std::size_t max_chain_page = 10'000;

result<std::int64_t> time_param(const std::map<std::string, std::string>& q, const char* key, std::int64_t fallback) {
    const auto it = q.find(key);
    if (it == q.end()) return fallback;
    std::int64_t v = 0;
    const auto& s = it->second;
    if (s.empty() || std::from_chars(s.data(), s.data() + s.size(), v).ptr != s.data() + s.size() || v < 0)
        return make_error(errc::invalid_argument, std::string("query parameter \"") + key + "\" is not Unix seconds");
    return v;
}

// Entries with their inclusion proofs against a tree of `size`.
result<json::array> proven(store_tx& tx, const std::vector<sequenced_log_entry>& es, std::int64_t size, std::int64_t from,
                           std::int64_t to) {
    json::array out;
    for (const auto& e : es) {
        // A host's enrollment is kept whatever the window: it is what the window's evidence is checked against.
        const bool always = e.entry.type == "host.enrolled";
        if (e.index >= size || (!always && (e.entry.time < from || e.entry.time > to))) continue;
        CUSTOS_TRY(p, tlog::prove_record(size, e.index, log_hash_reader(tx)));
        json::array proof;
        for (const auto& h : p) proof.push_back(json::string(to_base64(h)));
        out.push_back(json::object{{"index", e.index}, {"body", to_base64(as_bytes(e.entry.body))}, {"proof", std::move(proof)}});
    }
    return out;
}

net::http_response export_bundle(service_context& ctx, const std::string& target) {
    auto q = query_params(target, {"host", "model", "from", "to"});
    if (!q) return error_reply(q.err());
    const std::string host = q->count("host") ? (*q)["host"] : "", model = q->count("model") ? (*q)["model"] : "";
    if (host.empty() == model.empty()) return net::json_error(400, "bad-request", "give exactly one of host= and model=");
    if (!valid_id(host.empty() ? model : host)) return net::json_error(400, "bad-request", "not a valid host or model id");
    auto from = time_param(*q, "from", 0);
    if (!from) return error_reply(from.err());
    auto to = time_param(*q, "to", INT64_MAX);
    if (!to) return error_reply(to.err());
    auto pub = read_file(ctx.cfg.resolve(ctx.cfg.result_pub), 64 * 1024);
    if (!pub) return error_reply(pub.err());

    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto cp = (*tx)->latest_checkpoint();
    if (!cp) return error_reply(cp.err());
    if (!*cp) return net::json_error(409, "no-checkpoint", "the log has no signed checkpoint yet; try again in a few seconds");
    const std::int64_t size = (*cp)->size;
    // One more than the most a bundle holds: past that the answer would be a truncated list.
    auto about = (*tx)->log_entries_about(host, model, "", 0, max_entries + 1);
    if (!about) return error_reply(about.err());
    if (about->size() > max_entries)
        return net::json_error(413, "too-large", "more than " + std::to_string(max_entries) + " log entries are about " +
                                                     (host.empty() ? model : host) + "; export a window at a time (from=, to=)");
    auto started = (*tx)->log_entries_about("", "", "verifier.started", 0, max_entries);
    if (!started) return error_reply(started.err());
    auto entries = proven(**tx, *about, size, *from, *to);
    if (!entries) return error_reply(entries.err());
    auto starts = proven(**tx, *started, size, 0, INT64_MAX);
    if (!starts) return error_reply(starts.err());
    json::object out{{"format", "custos-evidence/1"},
                     {"subject", host.empty() ? json::object{{"model", model}} : json::object{{"host", host}}},
                     {"from", *from},
                     {"to", *to},
                     {"checkpoint", (*cp)->note},
                     {"entries", std::move(*entries)},
                     {"verifier_started", std::move(*starts)},
                     {"result_pub", std::string(pub->begin(), pub->end())}};
    if (!host.empty()) {
        auto h = (*tx)->get_host(host);
        if (!h) return error_reply(h.err());
        if (!*h) return net::json_error(404, "not-found", "no host \"" + host + "\"");
        out["host"] = json::object{{"id", host}, {"ek_cert", to_base64((*h)->ek_cert)}, {"ak_public", to_base64((*h)->ak_public)}};
        auto rounds = (*tx)->list_appraisals(host, *from, *to, max_rounds + 1);
        if (!rounds) return error_reply(rounds.err());
        if (rounds->size() > max_rounds)
            return net::json_error(413, "too-large", "more than " + std::to_string(max_rounds) + " rounds of " + host +
                                                         " fall in the window; export a shorter one (from=, to=)");
        // Only rounds whose result the checkpoint covers: the rest are proven by the next export.
        std::set<std::string> logged;
        for (const auto& e : *about)
            if (e.index < size && e.entry.type == "result")
                if (auto p = tlog::parse_entry(e.entry.body)) logged.insert(p->text("token_sha256"));
        json::array rs;
        for (const auto& a : *rounds)
            if (logged.count(to_hex(sha256(as_bytes(a.token)))))
                rs.push_back(json::object{{"time", a.time}, {"status", a.status}, {"token", a.token},
                                      {"round", a.round_evidence.empty() ? json::value(nullptr) : json::value(to_base64(a.round_evidence))}});
        out["rounds"] = std::move(rs);
        // The whole chain: every report the log's entries name follows from report 1.
        json::array reports;
        json::object chain;
        for (std::uint64_t seq = 1;;) {
            auto page = report_chain_json(**tx, **h, seq, max_chain_page);
            if (!page) return error_reply(page.err());
            for (auto& r : page->at("reports").as_array()) reports.push_back(std::move(r));
            const auto& next = page->at("next_from_seq");
            if (chain.empty()) chain = *page;
            if (next.is_null()) {
                chain["keys"] = page->at("keys");
                break;
            }
            seq = next.to_number<std::uint64_t>();
        }
        chain["from_seq"] = 1;
        chain["reports"] = std::move(reports);
        chain["next_from_seq"] = nullptr;
        out["chain"] = std::move(chain);
    }
    return json_reply(200, out);
}

}  // namespace

void register_export_routes(net::https_server& srv, service_context& ctx) {
    srv.route("GET", "/v1/export", net::auth::client_cert, [&ctx](const net::http_request& req, const net::request_context& rc) {
        if (auto deny = require_operator_or_auditor(rc)) return *deny;
        return export_bundle(ctx, req.target);
    });
}

}  // namespace custos::verifier
