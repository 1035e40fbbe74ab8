#include "tools/custos/audit_verify.hpp"

#include <boost/json.hpp>

#include <iterator>
#include <map>
#include <set>

#include "attest/ek_cert.hpp"
#include "attest/messages.hpp"
#include "attest/quote_verify.hpp"
#include "attest/tpm_public.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/jwt.hpp"
#include "crypto/ossl.hpp"
#include "crypto/strict_json.hpp"
#include "tlog/entry.hpp"
#include "tools/custos/audit_location.hpp"
#include "tools/custos/audit_mirror.hpp"
#include "tools/custos/chain_check.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

constexpr unsigned max_depth = 16;
// A key released to a host must follow one of its results by at most this long (the verifier's own limit,
// [models] max_appraisal_age_s, is 120 s by default; a bundle exports a model's holders from 600 s before).
constexpr std::int64_t release_appraisal_window_s = 600;

// A check that failed: not a malformed bundle.
error failed(const std::string& what) { return make_error(errc::mismatch, what); }

struct proven_entry {
    std::int64_t index = 0;
    std::string body;
    tlog::parsed_entry e;
};

result<std::vector<proven_entry>> check_entries(const json::array& a, const std::string& where, const tlog::checkpoint& cp) {
    std::vector<proven_entry> out;
    std::set<std::int64_t> seen;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string at = where + "[" + std::to_string(i) + "]";
        CUSTOS_TRY(o, sjson::object_reader::of(a[i], at));
        CUSTOS_TRY(index, o.i64("index"));
        if (!seen.insert(index).second) return failed(at + ": log entry " + std::to_string(index) + " is in the bundle twice");
        CUSTOS_TRY(body, o.b64("body"));
        CUSTOS_TRY(p, o.arr("proof"));
        CUSTOS_TRY(proof, proof_from_json(*p, at));
        if (!tlog::check_record(proof, cp.size, cp.root, index, tlog::leaf_hash(body)))
            return failed("log entry " + std::to_string(index) + ": its inclusion proof does not verify against the checkpoint (size " +
                          std::to_string(cp.size) + "): the entry or its proof was altered");
        std::string text(body.begin(), body.end());
        auto e = tlog::parse_entry(text);
        if (!e) return failed("log entry " + std::to_string(index) + ": " + e.err().message);
        out.push_back(proven_entry{index, std::move(text), std::move(e).value()});
    }
    return out;
}

std::string member_text(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// An operator entry's request object (empty when absent).
const json::object& request_of(const tlog::parsed_entry& e) {
    static const json::object none;
    const auto* r = e.members.if_contains("request");
    return r && r->is_object() ? r->as_object() : none;
}

double number_or(const json::object& o, std::string_view key, double fallback) {
    const auto* v = o.if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : fallback;
}

// The latest value at an index before `before` in an index-ordered map.
template <class T>
const T* latest_before(const std::map<std::int64_t, T>& m, std::int64_t before) {
    auto it = m.lower_bound(before);
    if (it == m.begin()) return nullptr;
    return &std::prev(it)->second;
}

// The logged registrations of sites and landmarks, by id and log index.
struct registrations {
    std::map<std::string, std::map<std::int64_t, site_fact>> sites;
    std::map<std::string, std::map<std::int64_t, std::pair<landmark_fact, std::set<std::string>>>> landmarks;

    std::map<std::string, landmark_fact> landmarks_before(std::int64_t index) const {
        std::map<std::string, landmark_fact> out;
        for (const auto& [id, m] : landmarks)
            if (const auto* l = latest_before(m, index)) out.emplace(id, l->first);
        return out;
    }
    // Whether a landmark registered before `index` serves `site` (sites are only ever added to a landmark).
    bool site_has_landmarks(const std::string& site, std::int64_t index) const {
        for (const auto& [id, m] : landmarks)
            for (auto it = m.begin(); it != m.end() && it->first < index; ++it)
                if (it->second.second.count(site)) return true;
        return false;
    }
};

result<registrations> read_registrations(const std::vector<proven_entry>& es) {
    registrations r;
    for (const auto& e : es) {
        const std::string action = e.e.text("action");
        const std::string subject = e.e.text("subject");
        const auto& rq = request_of(e.e);
        const std::string at = "log entry " + std::to_string(e.index);
        if (e.e.type != "operator" || (action != "site.put" && action != "landmark.put"))
            return failed(at + " is not a site or landmark registration");
        if (member_text(rq, "id") != subject) return failed(at + ": its request is not about " + subject);
        if (action == "site.put") {
            r.sites[subject][e.index] = site_fact{subject, number_or(rq, "lat", 1000), number_or(rq, "lon", 1000), number_or(rq, "max_km", -1)};
            continue;
        }
        auto key = from_base64(member_text(rq, "public_key"));
        if (!key) return failed(at + ": landmark " + subject + "'s public_key is not base64");
        std::set<std::string> sites;
        if (const auto* ss = rq.if_contains("sites"); ss && ss->is_array())
            for (const auto& s : ss->as_array())
                if (s.is_string()) sites.insert(std::string(s.as_string()));
        // Sites are added, never taken away: a landmark serves every site any registration named.
        if (const auto* prev = latest_before(r.landmarks[subject], e.index)) sites.insert(prev->second.begin(), prev->second.end());
        r.landmarks[subject][e.index] = {landmark_fact{number_or(rq, "lat", 1000), number_or(rq, "lon", 1000), std::move(*key)}, sites};
    }
    return r;
}

// What one host's checked evidence says, for a model's release checks.
struct result_fact {
    std::int64_t time = 0;
    std::string status, kind;
    bool round_checked = false;  // its round's evidence was in the bundle and verified
    std::string location;        // a location round's verdict (the verifier's, replayed)
    std::string physics;         // and the auditor's bound with light in vacuum
    bool replay = false;         // its evidence is an earlier result's: a replayed round, never a fresh one
};
struct host_facts {
    std::map<std::int64_t, result_fact> results;  // by log index
    std::map<std::int64_t, std::string> approvals;  // host.approve entries: log index → site
    std::set<std::int64_t> decommissions;           // host.decommission entries: log index
};

struct context {
    const tlog::checkpoint* cp = nullptr;
    EVP_PKEY* result_key = nullptr;
    X509_STORE* ek_cas = nullptr;
    const registrations* regs = nullptr;
    const std::map<std::string, landmark_fact>* trusted = nullptr;
    bundle_report* rep = nullptr;
};

std::set<std::string> open_rules(const std::string& claims_json) {
    std::set<std::string> out;
    auto c = sjson::parse(claims_json, "claims", 8);
    if (!c || !c->is_object()) return out;
    const auto* fs = c->as_object().if_contains("custos.findings");
    if (fs && fs->is_array())
        for (const auto& f : fs->as_array())
            if (f.is_object()) out.insert(member_text(f.as_object(), "rule"));
    return out;
}

// A host's part of a bundle (the bundle itself for a host; each of `hosts` for a model), checked.
result<host_facts> verify_host(const context& cx, const sjson::object_reader& o, const std::string& where) {
    bundle_report& rep = *cx.rep;
    CUSTOS_TRY(ho, o.obj("host"));
    CUSTOS_TRY(host, ho.str("id"));
    const std::string in = where.empty() ? "" : where + " (host " + host + "): ";
    CUSTOS_TRY(ea, o.arr("entries"));
    CUSTOS_TRY(entries, check_entries(*ea, where.empty() ? "entries" : where + ".entries", *cx.cp));
    rep.entries += entries.size();
    for (const auto& e : entries)
        if (e.e.text("host") != host) return failed(in + "log entry " + std::to_string(e.index) + " is not about host " + host);
    host_facts facts;

    // The host's TPM: the EK certificate from the makers' roots, the AK as enrolled.
    CUSTOS_TRY(ek_der, ho.b64("ek_cert"));
    CUSTOS_TRY(ak_bytes, ho.b64("ak_public"));
    auto cert = attest::parse_certificate(ek_der);
    if (!cert) return failed(in + "EK certificate: " + cert.err().message);
    if (auto c = attest::verify_certificate_chain(cert->get(), cx.ek_cas); !c) return failed(in + "EK certificate chain: " + c.err().message);
    auto spki = ossl::public_to_der(X509_get0_pubkey(cert->get()));
    if (!spki) return failed(in + "EK certificate key: " + spki.err().message);
    const std::string ek_sha = to_hex(sha256(*spki));
    const proven_entry* enrolled = nullptr;
    for (const auto& e : entries)
        if (e.e.type == "host.enrolled") enrolled = &e;  // the latest enrollment
    if (!enrolled) return failed(in + "no host.enrolled entry for host " + host + " is in the bundle");
    if (enrolled->e.text("ek_sha256") != ek_sha)
        return failed(in + "EK certificate: its key is not the one host " + host + " enrolled with (log entry " + std::to_string(enrolled->index) + ")");
    auto ak = attest::unmarshal_public(ak_bytes);
    if (!ak) return failed(in + "AK public area: " + ak.err().message);
    if (auto a = attest::check_ak_attributes(ak->publicArea); !a) return failed(in + "AK: " + a.err().message);
    if (enrolled->e.text("ak_public_sha256") != to_hex(sha256(ak_bytes)))
        return failed(in + "AK: it is not the AK host " + host + " enrolled with (log entry " + std::to_string(enrolled->index) + ")");
    CUSTOS_TRY(ak_key, attest::public_to_pkey(ak->publicArea));

    // The report chain first: a location round's statements must be answered by a key it binds. A window of
    // it starts after the head a logged result (its anchor, among the entries) recorded before the window.
    CUSTOS_TRY(cv, o.value("chain"));
    std::optional<chain_anchor> anchor;
    {
        CUSTOS_TRY(co, sjson::object_reader::of(*cv, "chain"));
        const auto* av = co.raw().if_contains("anchor");
        if (av && !av->is_null()) {
            CUSTOS_TRY(ai, co.i64("anchor"));
            const proven_entry* a = nullptr;
            for (const auto& e : entries)
                if (e.index == ai && e.e.type == "result") a = &e;
            if (!a) return failed(in + "the report chain starts after log entry " + std::to_string(ai) + ", which is not a result in the bundle");
            const auto* seq_v = a->e.members.if_contains("chain_seq");
            auto hash = from_hex(a->e.text("chain_hash"));
            if (!seq_v || !seq_v->is_int64() || seq_v->as_int64() <= 0 || !hash || hash->size() != 32)
                return failed(in + "log entry " + std::to_string(ai) + " records no chain head to start the report chain from");
            anchor = chain_anchor{static_cast<std::uint64_t>(seq_v->as_int64()), std::move(*hash)};
        } else {
            CUSTOS_TRY(from_seq, co.u64("from_seq"));
            if (from_seq != 1)
                return failed(in + "the report chain starts at report " + std::to_string(from_seq) +
                              " with no logged result before it to link it to");
        }
    }
    auto chain = check_chain_export(*cv, "chain", anchor ? &*anchor : nullptr);
    if (!chain) return chain.err().code == errc::mismatch || chain.err().code == errc::signature
                           ? failed(in + "report " + chain.err().message)
                           : chain.err();
    if (chain->host != host) return failed(in + "the report chain is host " + chain->host + "'s, not " + host + "'s");
    {
        CUSTOS_TRY(co, sjson::object_reader::of(*cv, "chain"));
        CUSTOS_TRY(chain_ak, co.b64("ak_public"));
        if (!equal_ct(chain_ak, ak_bytes)) return failed(in + "the report chain's AK is not the host's");
    }

    std::map<std::string, const proven_entry*> by_round, by_token;
    for (const auto& e : entries) {
        if (e.e.type == "operator" && e.e.text("action") == "host.approve") facts.approvals[e.index] = e.e.text("subject");
        if (e.e.type == "operator" && e.e.text("action") == "host.decommission") facts.decommissions.insert(e.index);
        if (e.e.type != "result") continue;
        // A nonce is used once: evidence an earlier result already named is a replay the verifier recorded
        // (its refusal and finding), never a fresh round.
        const std::string rh = e.e.text("round_sha256");
        const bool replay = !rh.empty() && !by_round.emplace(rh, &e).second;
        by_token[e.e.text("token_sha256")] = &e;
        const auto* seq_v = e.e.members.if_contains("chain_seq");
        const std::string head = e.e.text("chain_hash");
        if (!seq_v || !seq_v->is_int64()) return failed(in + "log entry " + std::to_string(e.index) + ": no chain position");
        const auto seq = seq_v->as_int64();
        // Results logged before round kinds were recorded had evidence only for attestation rounds.
        std::string kind = e.e.text("round_kind");
        if (kind.empty() && !e.e.text("round_sha256").empty()) kind = "attest";
        facts.results[e.index] = result_fact{e.e.time, e.e.text("status"), kind, false, {}, {}, replay};
        if (seq == 0) continue;
        const auto useq = static_cast<std::uint64_t>(seq);
        if (anchor && useq == anchor->seq && head == to_hex(anchor->hash)) continue;  // the anchor, or a round with no reports since
        if (useq < chain->first_seq || useq - chain->first_seq >= chain->hashes.size())
            return failed(in + "log entry " + std::to_string(e.index) + ": report " + std::to_string(seq) + " is not in the chain");
        if (to_hex(chain->hashes[useq - chain->first_seq]) != head)
            return failed(in + "log entry " + std::to_string(e.index) + ": report " + std::to_string(seq) +
                          " in the chain is not the one the log recorded");
        ++rep.chain_heads;
    }

    // Rounds: each quote over its nonce and evidence, each location proof replayed, each tied to a logged
    // result, each result signed.
    CUSTOS_TRY(rounds, o.arr("rounds"));
    std::set<std::string> checked;  // the round evidence verified, by its hash
    std::set<std::int64_t> rounds_seen;
    for (std::size_t i = 0; i < rounds->size(); ++i) {
        const std::string at = in + "round " + std::to_string(i);
        CUSTOS_TRY(r, sjson::object_reader::of((*rounds)[i], at));
        CUSTOS_TRY(token, r.str("token"));
        const auto logged = by_token.find(to_hex(sha256(as_bytes(token))));
        if (logged == by_token.end()) return failed(at + ": its signed result is not in the log");
        auto t = jwt::verify_es256(token, cx.result_key);
        if (!t) return failed(at + ": signed result: " + t.err().message);
        ++rep.results;
        const proven_entry& le = *logged->second;
        if (!rounds_seen.insert(le.index).second) return failed(at + ": it repeats the round of log entry " + std::to_string(le.index));
        const auto* rv = r.raw().if_contains("round");
        if (!rv || rv->is_null()) continue;  // a result with no round of its own
        CUSTOS_TRY(round_bytes, r.b64("round"));
        if (le.e.text("round_sha256") != to_hex(sha256(round_bytes)))
            return failed(at + ": its evidence is not what log entry " + std::to_string(le.index) + " names (nonce, evidence, quote or statements altered)");
        auto& fact = facts.results[le.index];
        const std::string_view text(reinterpret_cast<const char*>(round_bytes.data()), round_bytes.size());
        if (le.e.text("round_kind") == "location") {
            location_round_input li;
            li.kept = text;
            if (const auto* site = latest_before(facts.approvals, le.index))
                if (const auto* reg = cx.regs->sites.count(*site) ? latest_before(cx.regs->sites.at(*site), le.index) : nullptr)
                    li.site = *reg;
            li.logged = cx.regs->landmarks_before(le.index);
            li.trusted = cx.trusted;
            li.keys = &chain->bound;
            const auto* seq_v = le.e.members.if_contains("chain_seq");
            li.chain_seq = static_cast<std::uint64_t>(seq_v->as_int64());
            li.time = le.e.time;
            li.open_rules = open_rules(t->claims_json);
            auto lc = check_location_round(li);
            if (!lc) return lc.err().code == errc::mismatch ? failed(at + " (location, log entry " + std::to_string(le.index) + "): " + lc.err().message)
                                                            : with_context(std::move(lc).err(), at);
            fact.round_checked = true;
            fact.location = lc->verdict;
            fact.physics = lc->physics;
            checked.insert(le.e.text("round_sha256"));
            ++rep.location_rounds;
            ++rep.location_physics[lc->physics];
            rep.statements += lc->counted;
            rep.untrusted_statements += lc->untrusted;
            continue;
        }
        auto msg = attest::parse_attest_request(text);
        if (!msg) return failed(at + ": " + msg.err().message);
        const bytes qualification = attest::evidence_qualification(msg->nonce, msg->evidence);
        attest::quote_input qi;
        qi.attest = msg->quote.attest;
        qi.signature = msg->quote.signature;
        qi.ak = ak_key.get();
        qi.qualification = qualification;
        auto q = attest::verify_quote(qi);
        if (!q.ok()) return failed(at + " (log entry " + std::to_string(le.index) + "): quote: " + q.err().message);
        fact.round_checked = true;
        ++rep.rounds;
        checked.insert(le.e.text("round_sha256"));
    }
    if (by_round.size() > checked.size()) rep.rounds_missing += by_round.size() - checked.size();
    rep.reports += chain->summary.reports;
    rep.keys += chain->keys;
    ++rep.hosts;
    return facts;
}

// The latest result of a fresh round (not a replay) of `kind` logged before index `before`.
const result_fact* latest_round(const std::map<std::int64_t, result_fact>& results, std::int64_t before, std::string_view kind) {
    for (auto it = results.lower_bound(before); it != results.begin();) {
        --it;
        if (it->second.kind == kind && !it->second.replay) return &it->second;
    }
    return nullptr;
}

// A model's key went only where it was allowed: for every release and renewal in the bundle, the host's
// evidence is there and verified, its latest result before it was affirming or warning (and its round
// verified), its site was one the model was approved for, and where that site had landmarks, its latest
// location round before it was `within`.
result<void> check_releases(const std::vector<proven_entry>& entries, const std::map<std::string, host_facts>& hosts,
                            const registrations& regs, bundle_report& rep) {
    std::map<std::int64_t, std::string> approved_sites;  // model.approve_site: index → site
    for (const auto& e : entries)
        if (e.e.type == "operator" && e.e.text("action") == "model.approve_site")
            approved_sites[e.index] = member_text(request_of(e.e), "site");
    for (const auto& e : entries) {
        if (e.e.type == "key.refused") ++rep.refusals;
        if (e.e.type != "key.released" && e.e.type != "lease.renewed") continue;
        const std::string host = e.e.text("host");
        const std::string at = "log entry " + std::to_string(e.index) + " (" + e.e.type + " to host " + host + ")";
        const auto h = hosts.find(host);
        if (h == hosts.end()) return failed(at + ": the bundle holds no evidence of that host");
        const auto* r = latest_before(h->second.results, e.index);
        const result_fact* attest_r = latest_round(h->second.results, e.index, "attest");
        if (!r || !attest_r || e.e.time - attest_r->time > release_appraisal_window_s)
            return failed(at + ": no attestation round of the host in the " + std::to_string(release_appraisal_window_s) + " s before it");
        if (r->status != "affirming" && r->status != "warning")
            return failed(at + ": the host's latest result before it was \"" + r->status + "\"");
        if (!attest_r->round_checked) ++rep.releases_unproven;
        const std::string* site = latest_before(h->second.approvals, e.index);
        if (!site) return failed(at + ": no logged approval puts the host at a site before it");
        const auto approved_at = std::prev(h->second.approvals.lower_bound(e.index))->first;
        const auto decommissioned = h->second.decommissions.lower_bound(approved_at);
        if (decommissioned != h->second.decommissions.end() && *decommissioned < e.index)
            return failed(at + ": the host was decommissioned (log entry " + std::to_string(*decommissioned) + ") before it");
        bool allowed = false;
        for (auto it = approved_sites.begin(); it != approved_sites.end() && it->first < e.index; ++it)
            if (it->second == *site) allowed = true;
        if (!allowed) return failed(at + ": the host's site " + *site + " is not one the model was approved for before it");
        if (regs.site_has_landmarks(*site, e.index)) {
            const result_fact* loc = latest_round(h->second.results, e.index, "location");
            if (!loc || !loc->round_checked) return failed(at + ": site " + *site + " has landmarks, but no verified location round of the host precedes it");
            if (e.e.time - loc->time > release_appraisal_window_s)
                return failed(at + ": the host's latest location round was " + std::to_string(e.e.time - loc->time) +
                              " s before it (at most " + std::to_string(release_appraisal_window_s) + ")");
            if (loc->location != "within")
                return failed(at + ": the host's latest location round before it was \"" + loc->location + "\", not within site " + *site);
            // The verifier's verdict follows its configured speed; the hand-out must hold by light in vacuum.
            if (loc->physics != "within")
                return failed(at + ": the host's latest location round is \"within\" by the verifier's signal speed, but \"" +
                              loc->physics + "\" by light in vacuum with the landmarks you trust");
        }
        ++rep.releases;
    }
    return {};
}

}  // namespace

result<bundle_report> verify_bundle(std::string_view bundle, X509_STORE* ek_cas, const tlog::note_verifier& log_key,
                                    const std::map<std::string, landmark_fact>* landmarks) {
    CUSTOS_TRY(v, sjson::parse(bundle, "the bundle", max_depth));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "the bundle"));
    CUSTOS_TRY(format, o.str("format"));
    if (format != "custos-evidence/1") return make_error(errc::unsupported, "the bundle's format is \"" + format + "\", not custos-evidence/1");
    bundle_report rep;

    // 1. The checkpoint, with the key the auditor brought.
    CUSTOS_TRY(note, o.str("checkpoint"));
    auto text = tlog::open_note(note, log_key);
    if (!text) return failed("checkpoint: " + text.err().message);
    auto cp = tlog::parse_checkpoint(*text);
    if (!cp) return failed("checkpoint: " + cp.err().message);
    if (cp->origin != log_key.name) return failed("checkpoint: it is for the log \"" + cp->origin + "\", not \"" + log_key.name + "\"");
    rep.checkpoint_size = cp->size;
    rep.log.push_back("checkpoint of " + std::to_string(cp->size) + " entries signed by " + log_key.name);

    // 2. Every entry is in the log the checkpoint signs.
    CUSTOS_TRY(sa, o.arr("verifier_started"));
    CUSTOS_TRY(ra, o.arr("registrations"));
    CUSTOS_TRY(starts, check_entries(*sa, "verifier_started", *cp));
    CUSTOS_TRY(reg_entries, check_entries(*ra, "registrations", *cp));
    rep.entries = starts.size() + reg_entries.size();
    for (const auto& e : starts)
        if (e.e.type != "verifier.started") return failed("log entry " + std::to_string(e.index) + " is not a verifier.started entry");
    CUSTOS_TRY(regs, read_registrations(reg_entries));
    CUSTOS_TRY(subject, o.obj("subject"));
    const std::string host = subject.has("host") ? *subject.str("host") : "";
    const std::string model = subject.has("model") ? *subject.str("model") : "";
    if (host.empty() == model.empty()) return make_error(errc::structure, "the bundle's subject names neither one host nor one model");
    rep.subject = host.empty() ? "model " + model : "host " + host;
    CUSTOS_TRY(window_from, o.i64("from"));
    CUSTOS_TRY(window_to, o.i64("to"));
    rep.from = window_from;
    rep.to = window_to;

    // 3. The result key: one a started verifier named in the log.
    CUSTOS_TRY(result_pub, o.str("result_pub"));
    const std::string pub_hash = to_hex(sha256(as_bytes(result_pub)));
    bool named = false;
    for (const auto& s : starts) {
        const auto* in = s.e.members.if_contains("inputs_sha256");
        if (in && in->is_object() && member_text(in->as_object(), "result_pub") == pub_hash) named = true;
    }
    if (!named) return failed("result_pub: no verifier.started entry in the log names this result key");
    auto result_key = ossl::load_public_pem(as_bytes(result_pub));
    if (!result_key) return failed("result_pub: " + result_key.err().message);

    // 4. The hosts: a host bundle is one; a model's names each host its key went to.
    context cx{&*cp, result_key->get(), ek_cas, &regs, landmarks, &rep};
    if (!host.empty()) {
        CUSTOS_TRY(facts, verify_host(cx, o, ""));
        (void)facts;
    } else {
        CUSTOS_TRY(ea, o.arr("entries"));
        CUSTOS_TRY(entries, check_entries(*ea, "entries", *cp));
        rep.entries += entries.size();
        for (const auto& e : entries)
            if (e.e.text("model") != model && e.e.text("subject") != model)
                return failed("log entry " + std::to_string(e.index) + " is not about " + rep.subject);
        CUSTOS_TRY(ha, o.arr("hosts"));
        std::map<std::string, host_facts> hosts;
        for (std::size_t i = 0; i < ha->size(); ++i) {
            const std::string at = "hosts[" + std::to_string(i) + "]";
            CUSTOS_TRY(ho, sjson::object_reader::of((*ha)[i], at));
            CUSTOS_TRY(facts, verify_host(cx, ho, at));
            CUSTOS_TRY(id, ho.obj("host"));
            hosts[*id.str("id")] = std::move(facts);
        }
        CUSTOS_TRY_VOID(check_releases(entries, hosts, regs, rep));
    }

    // What each check rests on.
    rep.log.push_back(std::to_string(rep.entries) + " log entries, each with an inclusion proof");
    rep.log.push_back("the result-signing key, named by a logged verifier start");
    if (rep.hosts) {
        rep.hardware.push_back(std::to_string(rep.hosts) + " host(s): EK certificate chains to the TPM makers' CA bundle given");
        rep.hardware.push_back("AK attributes: fixedTPM, fixedParent, restricted signing key");
        rep.hardware.push_back(std::to_string(rep.rounds) + " rounds: each quote signed by the AK over its nonce and evidence");
        rep.hardware.push_back(std::to_string(rep.reports) + " reports signed by " + std::to_string(rep.keys) +
                               " report keys, each bound by a quote of the AK");
        rep.log.push_back(std::to_string(rep.results) + " signed results, each in the log with the round it answered");
        rep.log.push_back(std::to_string(rep.chain_heads) + " chain heads the logged results recorded, each on the chain");
        rep.verifier_word.push_back("that the AK lives in the same TPM as the EK (checked by credential activation at enrollment)");
        rep.verifier_word.push_back("that each round's nonce was fresh (the verifier issued it) and that its appraisal followed policy");
    }
    if (rep.location_rounds) {
        std::string phys;
        for (const auto& [verdict, n] : rep.location_physics) phys += (phys.empty() ? "" : ", ") + std::to_string(n) + " " + verdict;
        rep.hardware.push_back(std::to_string(rep.location_rounds) + " location rounds: " + std::to_string(rep.statements) +
                               " landmark statements, each signed by its landmark and answered by a report key the AK bound; "
                               "by light in vacuum: " + phys);
        rep.log.push_back("each location round's verdict follows from its statements, the site and the landmarks as "
                          "registered in the log, and its signed result carries the verdict's finding");
        if (landmarks)
            rep.log.push_back("the landmarks' keys and places: yours (--landmarks)" +
                              (rep.untrusted_statements ? "; " + std::to_string(rep.untrusted_statements) +
                                                              " statements came from landmarks your list does not hold and bound nothing"
                                                        : std::string()));
        else
            rep.verifier_word.push_back("the landmarks' keys and places, as the operator registered them in the log "
                                        "(pass --landmarks FILE with the landmarks' own list to check them)");
    }
    if (rep.rounds_missing)
        rep.verifier_word.push_back(std::to_string(rep.rounds_missing) +
                                    " logged rounds whose evidence was pruned by retention: only their hashes remain");
    if (!model.empty()) {
        rep.log.push_back(std::to_string(rep.releases) + " key releases and renewals, each to a host whose evidence is here, "
                          "at a site the model was approved for, after a passing attestation round and, where its site "
                          "has landmarks, a location round within it; " + std::to_string(rep.refusals) + " refusals");
        if (rep.releases_unproven)
            rep.verifier_word.push_back(std::to_string(rep.releases_unproven) +
                                        " releases whose preceding round's evidence is not in the bundle (pruned)");
        rep.verifier_word.push_back("that the log holds every event about the model, and that each released key was "
                                    "wrapped to a key in the host's TPM (its certification by the AK is not kept)");
    }
    return rep;
}

result<mirror_check> check_against_mirror(std::string_view bundle, const std::filesystem::path& state) {
    CUSTOS_TRY(info, open_mirror(state));
    CUSTOS_TRY(v, sjson::parse(bundle, "the bundle", max_depth));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "the bundle"));
    CUSTOS_TRY(note, o.str("checkpoint"));
    auto text = tlog::open_note(note, info.key);
    if (!text) return failed("checkpoint: it does not open with the mirror's log key: " + text.err().message);
    CUSTOS_TRY(cp, tlog::parse_checkpoint(*text));
    if (cp.size > info.checkpoint.size)
        return make_error(errc::invalid_argument, "the bundle's checkpoint (" + std::to_string(cp.size) + " entries) is newer than your mirror (" +
                                                      std::to_string(info.checkpoint.size) + "): run custos audit fetch, then verify again");
    mirror_check out;
    out.compared_up_to = cp.size;
    out.behind = info.checkpoint.size - cp.size;
    CUSTOS_TRY(root, mirror_tree_hash(state, cp.size));
    if (root != cp.root)
        return failed("checkpoint: the bundle's tree of " + std::to_string(cp.size) + " entries is not the one your mirror verified: the log was forked");
    CUSTOS_TRY(subject, o.obj("subject"));
    const std::string host = subject.has("host") ? *subject.str("host") : "";
    const std::string model = subject.has("model") ? *subject.str("model") : "";
    CUSTOS_TRY(from, o.i64("from"));
    CUSTOS_TRY(to, o.i64("to"));

    // What the bundle holds: its own entries, each host part's, the registrations.
    const auto indices = [](const json::value* a) {
        std::set<std::int64_t> out;
        if (a && a->is_array())
            for (const auto& e : a->as_array())
                if (e.is_object())
                    if (const auto* i = e.as_object().if_contains("index"); i && i->is_int64()) out.insert(i->as_int64());
        return out;
    };
    const std::set<std::int64_t> top = indices(o.raw().if_contains("entries")), regs = indices(o.raw().if_contains("registrations"));
    std::map<std::string, std::set<std::int64_t>> parts;  // host → its part's entries
    if (!host.empty()) parts[host] = top;
    if (const auto* hs = o.raw().if_contains("hosts"); hs && hs->is_array())
        for (const auto& h : hs->as_array())
            if (h.is_object())
                if (const auto* id = h.as_object().if_contains("host"); id && id->is_object())
                    parts[member_text(id->as_object(), "id")] = indices(h.as_object().if_contains("entries"));

    // Pass 1: the model's key holders in the window, and the sites it was approved for.
    std::set<std::string> holders, sites;
    if (!host.empty()) holders.insert(host);
    const auto in_window = [&](const tlog::parsed_entry& e, std::int64_t lead) { return e.time >= from - lead && e.time <= to; };
    const auto about_model = [&](const tlog::parsed_entry& e) { return !model.empty() && (e.text("model") == model || e.text("subject") == model); };
    CUSTOS_TRY_VOID(for_each_entry(state, [&](std::int64_t index, const std::string& body) {
        if (index >= cp.size) return false;
        auto e = tlog::parse_entry(body);
        if (!e || !about_model(*e)) return true;
        if ((e->type == "key.released" || e->type == "lease.renewed") && in_window(*e, 0)) holders.insert(e->text("host"));
        if (e->type == "operator" && e->text("action") == "model.approve_site") sites.insert(member_text(request_of(*e), "site"));
        return true;
    }));

    // Pass 2: every entry the export must hold is held.
    struct registration {
        std::int64_t index;
        std::string action, subject;
        std::set<std::string> sites;
    };
    std::vector<registration> registrations;
    std::optional<error> missing;
    const auto require = [&](const std::set<std::int64_t>& have, std::int64_t index, const tlog::parsed_entry& e, const std::string& where) {
        ++out.entries;
        if (have.count(index)) return true;
        missing = failed("log entry " + std::to_string(index) + " (" + e.type + ") belongs in " + where + ", but it is not in the bundle");
        return false;
    };
    CUSTOS_TRY_VOID(for_each_entry(state, [&](std::int64_t index, const std::string& body) {
        if (index >= cp.size) return false;
        auto e = tlog::parse_entry(body);
        if (!e) return true;
        const bool always = e->type == "host.enrolled" || e->type == "operator";
        if (e->type == "operator" && (e->text("action") == "site.put" || e->text("action") == "landmark.put")) {
            registration r{index, e->text("action"), e->text("subject"), {}};
            if (const auto* ss = request_of(*e).if_contains("sites"); ss && ss->is_array())
                for (const auto& x : ss->as_array())
                    if (x.is_string()) r.sites.insert(std::string(x.as_string()));
            registrations.push_back(std::move(r));
            return true;
        }
        if (about_model(*e) && (always || in_window(*e, 0)) && !require(top, index, *e, "the model's entries")) return false;
        const std::string h = e->text("host");
        if (!h.empty() && holders.count(h)) {
            if (e->type == "operator" && e->text("action") == "host.approve") sites.insert(e->text("subject"));
            if ((always || in_window(*e, model.empty() ? 0 : 600)) && !require(parts[h], index, *e, "host " + h + "'s entries"))
                return false;
        }
        return true;
    }));
    if (missing) return *missing;
    // The registrations of those sites, and of every landmark that ever served one of them.
    std::set<std::string> serving;
    for (const auto& r : registrations)
        if (r.action == "landmark.put")
            for (const auto& x : r.sites)
                if (sites.count(x)) serving.insert(r.subject);
    for (const auto& r : registrations) {
        const bool needed = r.action == "site.put" ? sites.count(r.subject) > 0 : serving.count(r.subject) > 0;
        if (!needed) continue;
        ++out.entries;
        if (!regs.count(r.index))
            return failed("log entry " + std::to_string(r.index) + " (" + r.action + " " + r.subject +
                          ") belongs in the bundle's registrations, but it is not in the bundle");
    }
    return out;
}

}  // namespace custos::cli
