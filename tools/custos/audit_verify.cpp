#include "tools/custos/audit_verify.hpp"

#include <boost/json.hpp>

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
#include "tools/custos/audit_mirror.hpp"
#include "tools/custos/chain_check.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

constexpr unsigned max_depth = 16;

// A check that failed: not a malformed bundle.
error failed(const std::string& what) { return make_error(errc::mismatch, what); }

struct proven_entry {
    std::int64_t index = 0;
    std::string body;
    tlog::parsed_entry e;
};

result<std::vector<proven_entry>> check_entries(const json::array& a, const std::string& where, const tlog::checkpoint& cp) {
    std::vector<proven_entry> out;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string at = where + "[" + std::to_string(i) + "]";
        CUSTOS_TRY(o, sjson::object_reader::of(a[i], at));
        CUSTOS_TRY(index, o.i64("index"));
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

}  // namespace

result<bundle_report> verify_bundle(std::string_view bundle, X509_STORE* ek_cas, const tlog::note_verifier& log_key) {
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
    CUSTOS_TRY(ea, o.arr("entries"));
    CUSTOS_TRY(sa, o.arr("verifier_started"));
    CUSTOS_TRY(entries, check_entries(*ea, "entries", *cp));
    CUSTOS_TRY(starts, check_entries(*sa, "verifier_started", *cp));
    rep.entries = entries.size() + starts.size();
    rep.log.push_back(std::to_string(rep.entries) + " log entries, each with an inclusion proof");
    CUSTOS_TRY(subject, o.obj("subject"));
    const std::string host = subject.has("host") ? *subject.str("host") : "";
    const std::string model = subject.has("model") ? *subject.str("model") : "";
    if (host.empty() == model.empty()) return make_error(errc::structure, "the bundle's subject names neither one host nor one model");
    rep.subject = host.empty() ? "model " + model : "host " + host;
    for (const auto& e : entries) {
        const bool about = host.empty() ? (e.e.text("model") == model || e.e.text("subject") == model) : e.e.text("host") == host;
        if (!about) return failed("log entry " + std::to_string(e.index) + " is not about " + rep.subject);
    }
    for (const auto& e : starts)
        if (e.e.type != "verifier.started") return failed("log entry " + std::to_string(e.index) + " is not a verifier.started entry");

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
    rep.log.push_back("the result-signing key, named by a logged verifier start");

    if (host.empty()) {
        rep.verifier_word.push_back("that the log holds every event about the model (the log shows what it was given)");
        return rep;
    }

    // 4. The host's TPM: the EK certificate from the makers' roots, the AK as enrolled.
    CUSTOS_TRY(ho, o.obj("host"));
    CUSTOS_TRY(ek_der, ho.b64("ek_cert"));
    CUSTOS_TRY(ak_bytes, ho.b64("ak_public"));
    auto cert = attest::parse_certificate(ek_der);
    if (!cert) return failed("EK certificate: " + cert.err().message);
    if (auto c = attest::verify_certificate_chain(cert->get(), ek_cas); !c) return failed("EK certificate chain: " + c.err().message);
    auto spki = ossl::public_to_der(X509_get0_pubkey(cert->get()));
    if (!spki) return failed("EK certificate key: " + spki.err().message);
    const std::string ek_sha = to_hex(sha256(*spki));
    const proven_entry* enrolled = nullptr;
    for (const auto& e : entries)
        if (e.e.type == "host.enrolled") enrolled = &e;  // the latest enrollment
    if (!enrolled) return failed("no host.enrolled entry for host " + host + " is in the bundle");
    if (enrolled->e.text("ek_sha256") != ek_sha)
        return failed("EK certificate: its key is not the one host " + host + " enrolled with (log entry " + std::to_string(enrolled->index) + ")");
    auto ak = attest::unmarshal_public(ak_bytes);
    if (!ak) return failed("AK public area: " + ak.err().message);
    if (auto a = attest::check_ak_attributes(ak->publicArea); !a) return failed("AK: " + a.err().message);
    if (enrolled->e.text("ak_public_sha256") != to_hex(sha256(ak_bytes)))
        return failed("AK: it is not the AK host " + host + " enrolled with (log entry " + std::to_string(enrolled->index) + ")");
    CUSTOS_TRY(ak_key, attest::public_to_pkey(ak->publicArea));
    rep.hardware.push_back("EK certificate chains to the TPM makers' CA bundle given");
    rep.hardware.push_back("AK attributes: fixedTPM, fixedParent, restricted signing key");
    rep.verifier_word.push_back("that the AK lives in the same TPM as the EK (checked by credential activation at enrollment)");

    // 5. Rounds: each quote over its nonce and evidence, each tied to a logged result, each result signed.
    std::map<std::string, const proven_entry*> by_round, by_token;
    std::size_t logged_results = 0;
    for (const auto& e : entries) {
        if (e.e.type != "result") continue;
        ++logged_results;
        if (!e.e.text("round_sha256").empty()) by_round[e.e.text("round_sha256")] = &e;
        by_token[e.e.text("token_sha256")] = &e;
    }
    CUSTOS_TRY(rounds, o.arr("rounds"));
    for (std::size_t i = 0; i < rounds->size(); ++i) {
        const std::string at = "round " + std::to_string(i);
        CUSTOS_TRY(r, sjson::object_reader::of((*rounds)[i], at));
        CUSTOS_TRY(token, r.str("token"));
        const auto logged = by_token.find(to_hex(sha256(as_bytes(token))));
        if (logged == by_token.end()) return failed(at + ": its signed result is not in the log");
        if (auto t = jwt::verify_es256(token, result_key->get()); !t) return failed(at + ": signed result: " + t.err().message);
        ++rep.results;
        const auto* rv = r.raw().if_contains("round");
        if (!rv || rv->is_null()) continue;  // a location round's result: no quote of its own
        CUSTOS_TRY(round_bytes, r.b64("round"));
        if (logged->second->e.text("round_sha256") != to_hex(sha256(round_bytes)))
            return failed(at + ": its nonce, evidence or quote is not what log entry " + std::to_string(logged->second->index) + " names");
        auto msg = attest::parse_attest_request(std::string_view(reinterpret_cast<const char*>(round_bytes.data()), round_bytes.size()));
        if (!msg) return failed(at + ": " + msg.err().message);
        const bytes qualification = attest::evidence_qualification(msg->nonce, msg->evidence);
        attest::quote_input in;
        in.attest = msg->quote.attest;
        in.signature = msg->quote.signature;
        in.ak = ak_key.get();
        in.qualification = qualification;
        auto q = attest::verify_quote(in);
        if (!q.ok()) return failed(at + " (log entry " + std::to_string(logged->second->index) + "): quote: " + q.err().message);
        ++rep.rounds;
    }
    rep.rounds_missing = by_round.size() > rep.rounds ? by_round.size() - rep.rounds : 0;
    rep.hardware.push_back(std::to_string(rep.rounds) + " rounds: each quote signed by the AK over its nonce and evidence");
    rep.log.push_back(std::to_string(rep.results) + " signed results, each in the log with the round it answered");
    rep.verifier_word.push_back("that each round's nonce was fresh (the verifier issued it) and that its appraisal followed policy");
    if (rep.rounds_missing)
        rep.verifier_word.push_back(std::to_string(rep.rounds_missing) +
                                    " logged rounds whose evidence was pruned by retention: only their hashes remain");

    // 6. The report chain, and every logged head on it.
    CUSTOS_TRY(cv, o.value("chain"));
    auto chain = check_chain_export(*cv, "chain");
    if (!chain) return chain.err().code == errc::mismatch || chain.err().code == errc::signature
                           ? failed("report " + chain.err().message)
                           : chain.err();
    if (chain->host != host) return failed("the report chain is host " + chain->host + "'s, not " + host + "'s");
    {
        CUSTOS_TRY(co, sjson::object_reader::of(*cv, "chain"));
        CUSTOS_TRY(chain_ak, co.b64("ak_public"));
        if (!equal_ct(chain_ak, ak_bytes)) return failed("the report chain's AK is not the host's");
    }
    for (const auto& e : entries) {
        if (e.e.type != "result") continue;
        const auto* seq_v = e.e.members.if_contains("chain_seq");
        const std::string head = e.e.text("chain_hash");
        if (!seq_v || !seq_v->is_int64()) return failed("log entry " + std::to_string(e.index) + ": no chain position");
        const auto seq = seq_v->as_int64();
        if (seq == 0) continue;
        if (static_cast<std::size_t>(seq) > chain->hashes.size())
            return failed("log entry " + std::to_string(e.index) + ": report " + std::to_string(seq) + " is not in the chain");
        if (to_hex(chain->hashes[static_cast<std::size_t>(seq - 1)]) != head)
            return failed("log entry " + std::to_string(e.index) + ": report " + std::to_string(seq) +
                          " in the chain is not the one the log recorded");
        ++rep.chain_heads;
    }
    rep.reports = chain->summary.reports;
    rep.keys = chain->keys;
    rep.hardware.push_back(std::to_string(rep.reports) + " reports signed by " + std::to_string(rep.keys) +
                           " report keys, each bound by a quote of the AK");
    rep.log.push_back(std::to_string(rep.chain_heads) + " chain heads the logged results recorded, each on the chain");
    (void)logged_results;
    return rep;
}

}  // namespace custos::cli
