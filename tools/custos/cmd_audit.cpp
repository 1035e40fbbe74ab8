// custos audit: the auditor's side of the transparency log. `fetch` is a monitor (it talks to the
// verifier, with an auditor or operator credential); `search` works offline on the verified mirror;
// `verify` checks an evidence bundle offline.
// Exit 0 ok, 1 the log was caught contradicting itself (fork; evidence saved), 2 usage or unreachable.
#include <boost/json.hpp>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"
#include "net/https_client.hpp"
#include "tlog/entry.hpp"
#include "tools/custos/audit_mirror.hpp"
#include "tools/custos/audit_verify.hpp"
#include "attest/ek_cert.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"
#include "tools/custos/fleet_support.hpp"

namespace custos::cli {
namespace json = boost::json;
namespace {

// The log's endpoints over one kept-alive connection.
struct https_log {
    std::unique_ptr<net::https_client> client;
    std::string url;

    result<std::string> get(const std::string& target) {
        auto r = client->request("GET", target);
        if (!r) return make_error(errc::io, "verifier " + url + " unreachable: " + r.err().message);
        if (r->status != 200)
            return make_error(errc::io, "verifier " + url + " answered " + std::to_string(r->status) + " to " + target + ": " + r->body);
        return r->body;
    }
    result<std::vector<tlog::hash>> proof(const std::string& target) {
        CUSTOS_TRY(body, get(target));
        CUSTOS_TRY(v, sjson::parse(body, "a proof"));
        CUSTOS_TRY(o, sjson::object_reader::of(v, "a proof"));
        CUSTOS_TRY(a, o.arr("proof"));
        return proof_from_json(*a, "a proof");
    }
    log_reader reader() {
        log_reader r;
        r.checkpoint = [this] { return get("/v1/log/checkpoint"); };
        r.entries = [this](std::int64_t start, std::int64_t end) -> result<std::vector<std::string>> {
            CUSTOS_TRY(body, get("/v1/log/entries?start=" + std::to_string(start) + "&end=" + std::to_string(end)));
            CUSTOS_TRY(v, sjson::parse(body, "log entries"));
            CUSTOS_TRY(o, sjson::object_reader::of(v, "log entries"));
            CUSTOS_TRY(a, o.arr("entries"));
            std::vector<std::string> out;
            std::int64_t want = start;
            for (const auto& e : *a) {
                CUSTOS_TRY(eo, sjson::object_reader::of(e, "a log entry"));
                CUSTOS_TRY(index, eo.i64("index"));
                CUSTOS_TRY(b, eo.b64("body"));
                if (index != want) return make_error(errc::structure, "the log served entry " + std::to_string(index) + " where " +
                                                                          std::to_string(want) + " was due");
                out.emplace_back(b.begin(), b.end());
                ++want;
            }
            return out;
        };
        r.consistency = [this](std::int64_t from, std::int64_t size) {
            return proof("/v1/log/proof/consistency?from=" + std::to_string(from) + "&size=" + std::to_string(size));
        };
        return r;
    }
};

struct search_options {
    std::string state, host, gpu, model, rule, type, from, to;
    bool json_out = false;
};

bool has_in_array(const json::object& o, std::string_view key, const std::string& want) {
    const auto* a = o.if_contains(key);
    if (!a || !a->is_array()) return false;
    for (const auto& v : a->as_array())
        if (v.is_string() && v.as_string() == want) return true;
    return false;
}

// Whether an entry answers the question asked: about this host, GPU, model or rule, in the time window.
bool matches(const search_options& o, const tlog::parsed_entry& e, std::int64_t from, std::int64_t to) {
    if (e.time < from || e.time > to) return false;
    if (!o.type.empty() && e.type != o.type) return false;
    if (!o.host.empty() && e.text("host") != o.host) return false;
    if (!o.rule.empty() && !(e.type.rfind("finding.", 0) == 0 && e.text("rule") == o.rule)) return false;
    if (!o.gpu.empty()) {
        const bool placement = e.type.rfind("gpu.", 0) == 0 && e.text("serial") == o.gpu;
        const bool finding = e.type.rfind("finding.", 0) == 0 && e.text("subject_kind") == "gpu" && e.text("subject") == o.gpu;
        const auto* req = e.members.if_contains("request");
        const bool action = e.type == "operator" && req && req->is_object() && has_in_array(req->as_object(), "serials", o.gpu);
        if (!placement && !finding && !action) return false;
    }
    if (!o.model.empty()) {
        const bool key = e.text("model") == o.model;
        const bool finding = e.type.rfind("finding.", 0) == 0 && e.text("subject_kind") == "model" && e.text("subject") == o.model;
        const bool action = e.type == "operator" && e.text("action").rfind("model.", 0) == 0 && e.text("subject") == o.model;
        if (!key && !finding && !action) return false;
    }
    return true;
}

std::string summary(const tlog::parsed_entry& e) {
    if (e.type == "finding.raised") return e.text("severity") + " " + e.text("rule") + ": " + e.text("detail");
    if (e.type == "finding.resolved") return e.text("rule") + " resolved";
    if (e.type == "result") {
        const auto* seq = e.members.if_contains("chain_seq");
        return "status " + e.text("status") + (seq && seq->is_int64() ? ", reports to " + std::to_string(seq->as_int64()) : "");
    }
    if (e.type == "operator") {
        const auto* a = e.members.if_contains("actor");
        const std::string who = a && a->is_object() && a->as_object().contains("name") && a->as_object().at("name").is_string()
                                    ? std::string(a->as_object().at("name").as_string())
                                    : "?";
        return e.text("action") + " by " + who;
    }
    if (e.type.rfind("gpu.", 0) == 0) return e.text("serial") + ": " + e.text("detail");
    if (e.type.rfind("key.", 0) == 0 || e.type.rfind("lease.", 0) == 0) return e.text("model") + " " + e.text("lease") + " " + e.text("detail");
    return "";
}

int run_search(const search_options& o) {
    auto info = open_mirror(o.state);
    if (!info) return fail("audit search", info.err());
    std::int64_t from = 0, to = INT64_MAX;
    if (!o.from.empty()) {
        auto t = unix_time_option(o.from, "--from");
        if (!t) return fail("audit search", t.err());
        from = *t;
    }
    if (!o.to.empty()) {
        auto t = unix_time_option(o.to, "--to");
        if (!t) return fail("audit search", t.err());
        to = *t;
    }
    json::array found;
    std::vector<std::vector<std::string>> rows{{"INDEX", "TIME (UTC)", "TYPE", "HOST", "SUMMARY"}};
    std::string bad;
    auto r = for_each_entry(o.state, [&](std::int64_t i, const std::string& body) {
        auto e = tlog::parse_entry(body);
        if (!e) {
            bad = "entry " + std::to_string(i) + ": " + e.err().message;
            return false;
        }
        if (!matches(o, *e, from, to)) return true;
        if (o.json_out) found.push_back(json::object{{"index", i}, {"entry", e->members}});
        else rows.push_back({std::to_string(i), when(e->time), e->type, or_dash(e->text("host")), summary(*e)});
        return true;
    });
    if (!r) return fail("audit search", r.err());
    if (!bad.empty()) return fail("audit search", make_error(errc::structure, bad));
    if (o.json_out) {
        print_json(json::object{{"log", info->key.name}, {"size", info->checkpoint.size}, {"entries", std::move(found)}});
    } else {
        std::printf("log %s, verified up to %lld entries\n", info->key.name.c_str(), static_cast<long long>(info->checkpoint.size));
        if (rows.size() == 1) std::printf("no entries match\n");
        else print_table(rows);
    }
    return exit_ok;
}

// "2026-03-01T00:00:00Z to 2026-06-30T00:00:00Z", with "the first entry" / "the checkpoint" at the ends.
std::string window_text(std::int64_t from, std::int64_t to) {
    const auto at = [](std::int64_t t) {
        const std::time_t tt = static_cast<std::time_t>(t);
        std::tm tm{};
        char b[32];
        if (!gmtime_r(&tt, &tm) || !std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm)) return std::to_string(t);
        return std::string(b);
    };
    return (from <= 0 ? std::string("the beginning") : at(from)) + " to " + (to >= INT64_MAX / 2 ? std::string("the checkpoint") : at(to));
}

struct verify_options {
    std::string bundle, ek_ca, log_key, landmarks, state;
    bool json_out = false;
};

// Exit 0: every check passed; 1: one failed (named); 2: unreadable inputs or a malformed bundle.
int run_verify(const verify_options& o) {
    auto b = read_input("BUNDLE", o.bundle, std::size_t(4) << 30);
    if (!b) return fail("audit verify", b.err());
    auto ca = read_input("--ek-ca", o.ek_ca, 4u << 20);
    if (!ca) return fail("audit verify", ca.err());
    auto store = attest::load_ca_bundle(*ca);
    if (!store) return fail("audit verify: --ek-ca", store.err());
    auto key = tlog::read_verifier_key(o.log_key);
    if (!key) return fail("audit verify: --log-key", key.err());
    std::optional<std::map<std::string, landmark_fact>> lms;
    if (!o.landmarks.empty()) {
        auto text = read_input("--landmarks", o.landmarks, 16u << 20);
        if (!text) return fail("audit verify", text.err());
        auto l = parse_landmark_list(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
        if (!l) return fail("audit verify: --landmarks", l.err());
        lms = std::move(l).value();
    }
    auto r = verify_bundle(std::string_view(reinterpret_cast<const char*>(b->data()), b->size()), store->get(), *key,
                           lms ? &*lms : nullptr);
    if (!r) {
        const auto c = r.err().code;
        if (c == errc::parse || c == errc::structure || c == errc::invalid_argument || c == errc::unsupported)
            return fail("audit verify: " + o.bundle, r.err());
        if (o.json_out) print_json(json::object{{"valid", false}, {"failed", r.err().message}});
        std::fprintf(stderr, "custos: audit verify: FAILED: %s\n", r.err().message.c_str());
        return exit_failed;
    }
    // With the auditor's mirror: nothing about the subject was left out of the bundle.
    if (!o.state.empty()) {
        auto m = check_against_mirror(std::string_view(reinterpret_cast<const char*>(b->data()), b->size()), o.state);
        if (!m) {
            if (m.err().code != errc::mismatch) return fail("audit verify: --state", m.err());
            if (o.json_out) print_json(json::object{{"valid", false}, {"failed", m.err().message}});
            std::fprintf(stderr, "custos: audit verify: FAILED: %s\n", m.err().message.c_str());
            return exit_failed;
        }
        r->log.push_back("complete against your mirror: all " + std::to_string(m->entries) +
                         " mirrored entries the bundle must hold, below entry " + std::to_string(m->compared_up_to) +
                         ", are in it" +
                         (m->behind ? "; your mirror holds " + std::to_string(m->behind) + " later entries the bundle does not cover"
                                    : std::string()));
    }
    const auto list = [](const std::vector<std::string>& v) {
        json::array a;
        for (const auto& s : v) a.push_back(json::string(s));
        return a;
    };
    if (o.json_out) {
        print_json(json::object{{"valid", true},
                                {"subject", r->subject},
                                {"from", r->from},
                                {"to", r->to},
                                {"checkpoint_size", r->checkpoint_size},
                                {"entries", r->entries},
                                {"rounds", r->rounds},
                                {"results", r->results},
                                {"reports", r->reports},
                                {"chain_heads", r->chain_heads},
                                {"hosts", r->hosts},
                                {"location_rounds", r->location_rounds},
                                {"releases", r->releases},
                                {"proven_by_hardware", list(r->hardware)},
                                {"proven_by_log", list(r->log)},
                                {"rests_on_the_verifier", list(r->verifier_word)}});
        return exit_ok;
    }
    std::printf("bundle: valid (%s)\n", r->subject.c_str());
    std::printf("window: %s\n", window_text(r->from, r->to).c_str());
    std::printf("proven by hardware roots (TPM makers' CAs, the host's TPM):\n");
    for (const auto& s : r->hardware) std::printf("  - %s\n", s.c_str());
    std::printf("proven by the log (its key, and consistency with what your monitor saw):\n");
    for (const auto& s : r->log) std::printf("  - %s\n", s.c_str());
    std::printf("rests on the verifier's word:\n");
    for (const auto& s : r->verifier_word) std::printf("  - %s\n", s.c_str());
    return exit_ok;
}

}  // namespace

void register_audit_commands(CLI::App& app, command_list& cmds) {
    auto* audit = app.add_subcommand("audit", "Check a verifier's transparency log as an auditor");
    audit->require_subcommand(1);

    auto fo = std::make_shared<fleet_options>();
    auto state = std::make_shared<std::string>();
    auto key_file = std::make_shared<std::string>();
    fo->verifier = env_or("CUSTOS_VERIFIER", "https://127.0.0.1:8443");
    fo->credential = env_or("CUSTOS_CREDENTIAL", "");
    auto* fetch = audit->add_subcommand("fetch", "Monitor: download new log entries, verify the checkpoint and its "
                                                 "consistency with the saved one, keep a mirror");
    fetch->add_option("--verifier", fo->verifier, "https://HOST:PORT (default $CUSTOS_VERIFIER or https://127.0.0.1:8443)");
    fetch->add_option("--credential", fo->credential,
                      "Directory with cert.pem, key.pem, ca.pem: the verifier's DIR/auditor (default $CUSTOS_CREDENTIAL)");
    fetch->add_option("--state", *state, "The mirror's directory")->required();
    fetch->add_option("--log-key", *key_file, "The log's public key file (the verifier's keys/log.pub); needed the first time");
    fetch->add_flag("--json", fo->json_out, "Print the outcome as JSON");
    cmds.push_back({fetch, [fo, state, key_file] {
                        std::string key;
                        if (!key_file->empty()) {
                            auto k = tlog::read_verifier_key(*key_file);
                            if (!k) return fail("audit fetch: --log-key", k.err());
                            key = k->to_string();
                        }
                        if (fo->credential.empty())
                            return fail_usage("audit fetch: no credential: pass --credential DIR (the verifier's DIR/auditor) "
                                              "or set CUSTOS_CREDENTIAL");
                        net::https_client_options co;
                        co.ca_file = fo->credential + "/ca.pem";
                        co.cert_file = fo->credential + "/cert.pem";
                        co.key_file = fo->credential + "/key.pem";
                        auto c = net::https_client::create(fo->verifier, co);
                        if (!c) return fail_usage("audit fetch: " + c.err().message);
                        https_log log{std::move(c).value(), fo->verifier};
                        auto out = fetch_log(*state, log.reader(), key);
                        if (!out) return out.err().code == errc::io ? fail_usage("audit fetch: " + out.err().message)
                                                                     : fail("audit fetch", out.err());
                        if (fo->json_out) {
                            json::object o{{"log", out->origin}, {"old_size", out->old_size}, {"size", out->new_size},
                                           {"verified", out->problem.empty()}};
                            if (!out->problem.empty()) {
                                o["problem"] = out->problem;
                                o["evidence"] = out->evidence.string();
                            }
                            print_json(o);
                        }
                        if (!out->problem.empty()) {
                            std::fprintf(stderr, "custos: audit fetch: FORK: %s; evidence saved in %s\n", out->problem.c_str(),
                                         out->evidence.c_str());
                            return exit_failed;
                        }
                        if (!fo->json_out)
                            std::printf("log %s: checkpoint verified at %lld entries (%lld new)\n", out->origin.c_str(),
                                        static_cast<long long>(out->new_size), static_cast<long long>(out->new_size - out->old_size));
                        return exit_ok;
                    }});

    auto so = std::make_shared<search_options>();
    auto* search = audit->add_subcommand("search", "Search the verified mirror (offline)");
    search->add_option("--state", so->state, "The mirror's directory (custos audit fetch)")->required();
    search->add_option("--host", so->host, "Entries about this host");
    search->add_option("--gpu", so->gpu, "Entries about this GPU serial: placements, findings, approvals");
    search->add_option("--model", so->model, "Entries about this model: key releases and refusals, leases, registration");
    search->add_option("--rule", so->rule, "Findings of this rule, raised and resolved");
    search->add_option("--type", so->type, "Entries of this type (finding.raised, result, operator, gpu.moved-in, ...)");
    search->add_option("--from", so->from, "From this time: YYYY-MM-DD[THH:MM:SSZ] or Unix seconds");
    search->add_option("--to", so->to, "Up to this time (inclusive)");
    search->add_flag("--json", so->json_out, "Print the matching entries as JSON");
    cmds.push_back({search, [so] { return run_search(*so); }});

    auto vo = std::make_shared<verify_options>();
    auto* verify = audit->add_subcommand("verify", "Check an evidence bundle (custos fleet export) offline");
    verify->add_option("BUNDLE", vo->bundle, "The bundle file")->required();
    verify->add_option("--ek-ca", vo->ek_ca, "PEM bundle of the TPM makers' CAs")->required();
    verify->add_option("--log-key", vo->log_key, "The log's public key (the verifier's keys/log.pub)")->required();
    verify->add_option("--landmarks", vo->landmarks,
                       "The landmarks' own list (JSON: [{id, lat, lon, public_key}], as custos fleet landmark list --json "
                       "prints): their keys and places replace the log's");
    verify->add_option("--state", vo->state,
                       "Your mirror (custos audit fetch --state): every mirrored entry about the subject in the "
                       "window must be in the bundle, and its checkpoint must be your mirror's tree");
    verify->add_flag("--json", vo->json_out, "Print the outcome as JSON");
    cmds.push_back({verify, [vo] { return run_verify(*vo); }});
}

}  // namespace custos::cli
