// GET /v1/export?host=H|model=M[&from=T&to=T]: an evidence bundle (operator or auditor role), built from
// one read snapshot. It holds the latest signed checkpoint and every log entry about the subject that the
// checkpoint covers (from T to T), each with its inclusion proof, the verifier.started entries (the result
// key and policy digests in force), and the logged registrations of the sites and landmarks involved. For
// a host it adds what the entries commit to: the EK certificate and AK public area, each round kept
// (attestation: nonce, evidence, quote; location: the landmarks' statements and the verdict's inputs) with
// its signed result, and the report chain over the window — from the head the last logged result before it
// recorded (its "anchor", included among the entries) — with the quotes that bound its keys. A model's bundle adds
// the same for every host that received or renewed its key in the window.
// `custos audit verify` checks all of it offline (docs/transparency-log.md, "Evidence bundles").
#include <boost/json.hpp>

#include <charconv>
#include <optional>
#include <set>

#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/file_io.hpp"
#include "tlog/entry.hpp"
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
constexpr std::size_t max_reports = 2'000'000;
constexpr std::size_t max_chain_page = 10'000;
// A model's key holders are exported from this long before the window: the release decision looked at
// the host's latest appraisal and location proof, which came before it.
constexpr std::int64_t holder_lead_s = 600;

result<std::int64_t> time_param(const std::map<std::string, std::string>& q, const char* key, std::int64_t fallback) {
    const auto it = q.find(key);
    if (it == q.end()) return fallback;
    std::int64_t v = 0;
    const auto& s = it->second;
    if (s.empty() || std::from_chars(s.data(), s.data() + s.size(), v).ptr != s.data() + s.size() || v < 0)
        return make_error(errc::invalid_argument, std::string("query parameter \"") + key + "\" is not Unix seconds");
    return v;
}

// One bundle, from one read transaction. A method that fails leaves the reply in `failure`.
class bundle_builder {
public:
    bundle_builder(store_tx& tx, std::int64_t size) : tx_(tx), size_(size) {}
    std::optional<net::http_response> failure;

    // Entries with their inclusion proofs against the checkpoint's tree. Enrollments and operator writes
    // about a host are kept whatever the window: they are what the window's evidence is checked against.
    std::optional<json::array> proven(const std::vector<sequenced_log_entry>& es, std::int64_t from, std::int64_t to,
                                      std::int64_t also = -1) {
        json::array out;
        for (const auto& e : es) {
            const bool always = e.entry.type == "host.enrolled" || e.entry.type == "operator" || e.index == also;
            if (e.index >= size_ || (!always && (e.entry.time < from || e.entry.time > to))) continue;
            if (++entries_ > max_entries) return fail(net::json_error(413, "too-large", "more than " + std::to_string(max_entries) +
                                                                                       " log entries; export a window at a time (from=, to=)"));
            auto p = tlog::prove_record(size_, e.index, log_hash_reader(tx_));
            if (!p) return fail(error_reply(p.err()));
            out.push_back(json::object{{"index", e.index}, {"body", to_base64(as_bytes(e.entry.body))}, {"proof", hashes_json(*p)}});
        }
        return out;
    }

    // The log's entries about a host or subject (all types, or one), refused past the bundle's limit.
    std::optional<std::vector<sequenced_log_entry>> about(const std::string& host, const std::string& subject, const std::string& type) {
        auto es = tx_.log_entries_about(host, subject, type, 0, max_entries + 1);
        if (!es) return fail(error_reply(es.err()));
        if (es->size() > max_entries)
            return fail(net::json_error(413, "too-large", "more than " + std::to_string(max_entries) + " log entries are about " +
                                                              (host.empty() ? subject : host) + "; export a window at a time (from=, to=)"));
        return std::move(es).value();
    }

    // A host's part of a bundle: identity, entries, rounds, chain. Notes the sites it was approved to.
    std::optional<json::object> host_part(const std::string& id, std::int64_t from, std::int64_t to) {
        auto h = tx_.get_host(id);
        if (!h) return fail(error_reply(h.err()));
        if (!*h) return fail(net::json_error(404, "not-found", "no host \"" + id + "\""));
        auto es = about(id, "", "");
        if (!es) return std::nullopt;
        // Only rounds whose result the checkpoint covers: the rest are proven by the next export. The chain
        // runs from the head the last logged result before the window recorded (the anchor) to the head the
        // first one after it recorded: every head a result in the window names lies between.
        std::set<std::string> logged;
        std::int64_t anchor = -1;
        std::uint64_t first_seq = 1, last_seq = UINT64_MAX;
        for (const auto& e : *es) {
            if (e.index >= size_) continue;
            auto p = tlog::parse_entry(e.entry.body);
            if (!p) continue;
            if (e.entry.type == "operator" && p->text("action") == "host.approve") sites.insert(e.entry.subject);
            if (e.entry.type != "result") continue;
            logged.insert(p->text("token_sha256"));
            const auto* seq = p->members.if_contains("chain_seq");
            const std::uint64_t at = seq && seq->is_int64() && seq->as_int64() > 0 ? static_cast<std::uint64_t>(seq->as_int64()) : 0;
            if (e.entry.time < from && at > 0) {
                anchor = e.index;
                first_seq = at + 1;
            }
            if (e.entry.time > to && last_seq == UINT64_MAX) last_seq = std::max<std::uint64_t>(at, first_seq - 1);
        }
        auto entries = proven(*es, from, to, anchor);
        if (!entries) return std::nullopt;
        auto rounds = tx_.list_appraisals(id, from, to, max_rounds + 1);
        if (!rounds) return fail(error_reply(rounds.err()));
        rounds_ += rounds->size();
        if (rounds_ > max_rounds)
            return fail(net::json_error(413, "too-large", "more than " + std::to_string(max_rounds) +
                                                              " rounds fall in the window; export a shorter one (from=, to=)"));
        json::array rs;
        for (const auto& a : *rounds)
            if (logged.count(to_hex(sha256(as_bytes(a.token)))))
                rs.push_back(json::object{{"time", a.time}, {"status", a.status}, {"token", a.token},
                                          {"round", a.round_evidence.empty() ? json::value(nullptr) : json::value(to_base64(a.round_evidence))}});
        auto chain = chain_window(**h, first_seq, last_seq);
        if (!chain) return std::nullopt;
        (*chain)["anchor"] = anchor < 0 ? json::value(nullptr) : json::value(anchor);
        return json::object{{"host", json::object{{"id", id}, {"ek_cert", to_base64((*h)->ek_cert)}, {"ak_public", to_base64((*h)->ak_public)}}},
                            {"entries", std::move(*entries)},
                            {"rounds", std::move(rs)},
                            {"chain", std::move(*chain)}};
    }

    // The logged registrations (operator site.put and landmark.put entries) of `sites` and of every landmark
    // that serves one of them.
    std::optional<json::array> registrations() {
        std::vector<sequenced_log_entry> keep;
        auto take = [&](const std::string& subject, const char* action, const std::set<std::string>* serving) {
            auto es = about("", subject, "operator");
            if (!es) return false;
            bool serves = serving == nullptr;
            std::vector<sequenced_log_entry> mine;
            for (auto& e : *es) {
                auto p = tlog::parse_entry(e.entry.body);
                if (!p || p->text("action") != action) continue;
                if (serving) {
                    const auto* rq = p->members.if_contains("request");
                    const auto* ss = rq && rq->is_object() ? rq->as_object().if_contains("sites") : nullptr;
                    if (ss && ss->is_array())
                        for (const auto& s : ss->as_array())
                            if (s.is_string() && serving->count(std::string(s.as_string()))) serves = true;
                }
                mine.push_back(std::move(e));
            }
            if (serves) keep.insert(keep.end(), mine.begin(), mine.end());
            return true;
        };
        for (const auto& s : sites)
            if (!take(s, "site.put", nullptr)) return std::nullopt;
        if (!sites.empty()) {
            auto lms = tx_.list_landmarks();
            if (!lms) return fail(error_reply(lms.err()));
            for (const auto& l : *lms)
                if (!take(l.id, "landmark.put", &sites)) return std::nullopt;
        }
        return proven(keep, 0, INT64_MAX);
    }

    std::set<std::string> sites;  // the sites the bundle's hosts were approved to and its model approved for

private:
    std::nullopt_t fail(net::http_response r) {
        failure = std::move(r);
        return std::nullopt;
    }

    // Reports first..last of the chain (last: UINT64_MAX for the head), with every key and its binding.
    std::optional<json::object> chain_window(const host_record& h, std::uint64_t first, std::uint64_t last) {
        json::array reports;
        json::object chain;
        for (std::uint64_t seq = first; seq <= last;) {
            auto page = report_chain_json(tx_, h, seq, max_chain_page);
            if (!page) return fail(error_reply(page.err()));
            for (auto& r : page->at("reports").as_array()) {
                if (r.at("seq").to_number<std::uint64_t>() > last) break;
                if (++reports_ > max_reports)
                    return fail(net::json_error(413, "too-large", "more than " + std::to_string(max_reports) +
                                                                      " reports fall in the window; export a shorter one (from=, to=)"));
                reports.push_back(std::move(r));
            }
            const auto& next = page->at("next_from_seq");
            if (chain.empty()) chain = *page;
            chain["keys"] = page->at("keys");
            if (next.is_null()) break;
            seq = next.to_number<std::uint64_t>();
        }
        if (chain.empty()) {
            auto page = report_chain_json(tx_, h, first, 1);
            if (!page) return fail(error_reply(page.err()));
            chain = *page;
        }
        chain["from_seq"] = first;
        chain["reports"] = std::move(reports);
        chain["next_from_seq"] = nullptr;
        return chain;
    }

    store_tx& tx_;
    std::int64_t size_;
    std::size_t entries_ = 0, rounds_ = 0, reports_ = 0;
};

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
    bundle_builder b(**tx, (*cp)->size);
    auto started = b.about("", "", "verifier.started");
    if (!started) return *b.failure;
    auto starts = b.proven(*started, 0, INT64_MAX);
    if (!starts) return *b.failure;
    json::object out{{"format", "custos-evidence/1"},
                     {"subject", host.empty() ? json::object{{"model", model}} : json::object{{"host", host}}},
                     {"from", *from},
                     {"to", *to},
                     {"checkpoint", (*cp)->note},
                     {"verifier_started", std::move(*starts)},
                     {"result_pub", std::string(pub->begin(), pub->end())}};
    if (!host.empty()) {
        auto part = b.host_part(host, *from, *to);
        if (!part) return *b.failure;
        for (auto& [k, v] : *part) out[k] = std::move(v);
    } else {
        auto m = (*tx)->get_model(model);
        if (!m) return error_reply(m.err());
        if (!*m) return net::json_error(404, "not-found", "no model \"" + model + "\"");
        auto es = b.about("", model, "");
        if (!es) return *b.failure;
        auto entries = b.proven(*es, *from, *to);
        if (!entries) return *b.failure;
        // Every host the key went to in the window, with its evidence from a little before.
        std::set<std::string> holders;
        for (const auto& e : *es) {
            if (e.index >= (*cp)->size || e.entry.time < *from || e.entry.time > *to) continue;
            if (e.entry.type == "key.released" || e.entry.type == "lease.renewed") holders.insert(e.entry.host);
            if (e.entry.type == "operator")
                if (auto p = tlog::parse_entry(e.entry.body); p && p->text("action") == "model.approve_site")
                    if (const auto* rq = p->members.if_contains("request"); rq && rq->is_object())
                        if (const auto* s = rq->as_object().if_contains("site"); s && s->is_string()) b.sites.insert(std::string(s->as_string()));
        }
        json::array hosts;
        for (const auto& h : holders) {
            auto part = b.host_part(h, *from > holder_lead_s ? *from - holder_lead_s : 0, *to);
            if (!part) return *b.failure;
            hosts.push_back(std::move(*part));
        }
        out["entries"] = std::move(*entries);
        out["hosts"] = std::move(hosts);
    }
    auto regs = b.registrations();
    if (!regs) return *b.failure;
    out["registrations"] = std::move(*regs);
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
