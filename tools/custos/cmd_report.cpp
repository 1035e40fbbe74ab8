// custos fleet reports HOST --out FILE: the host's whole report chain exported from the verifier, every page;
// custos report verify FILE: the chain re-checked offline (attest/report_chain.hpp), without trusting the
// verifier for anything but the AK it enrolled and the nonces it issued.
#include <boost/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "attest/report_chain.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"
#include "tools/custos/fleet_support.hpp"

namespace custos::cli {
namespace {

namespace json = boost::json;

constexpr std::size_t max_export_size = std::size_t(4) << 30;

struct export_args {
    std::string host, out;
};

int export_reports(const fleet_options& o, const export_args& a) {
    json::value first;
    json::array reports;
    std::uint64_t from = 1;
    for (;;) {
        json::value page;
        const int rc = call(o, "GET", "/v1/hosts/" + url_encode(a.host) + "/reports?from_seq=" + std::to_string(from) + "&limit=10000", "", page);
        if (rc != exit_ok) return rc;
        if (!page.is_object()) return fail_usage("fleet reports: the verifier's answer is not an object");
        for (auto& r : array_at(page, "reports")) reports.push_back(std::move(r));
        if (first.is_null()) first = page;
        const auto* next = page.as_object().if_contains("next_from_seq");
        if (!next || next->is_null()) {
            // The keys of the last page: a key bound while the pages were read is in it.
            first.as_object()["keys"] = page.as_object()["keys"];
            first.as_object()["chain_seq"] = page.as_object()["chain_seq"];
            break;
        }
        if (!next->is_uint64() && !next->is_int64()) return fail_usage("fleet reports: next_from_seq is not a number");
        const auto n = next->to_number<std::uint64_t>();
        if (n <= from) return fail_usage("fleet reports: the verifier's pages do not advance");
        from = n;
    }
    auto& obj = first.as_object();
    obj["from_seq"] = 1;
    obj["reports"] = std::move(reports);
    obj["next_from_seq"] = nullptr;
    const std::string text = json::serialize(first) + "\n";
    if (a.out.empty() || a.out == "-") {
        std::fwrite(text.data(), 1, text.size(), stdout);
    } else if (auto w = write_file_atomic(a.out, text, 0644); !w) {
        return fail("fleet reports", w.err());
    } else {
        std::fprintf(stderr, "%zu reports of host %s written to %s\n", obj["reports"].as_array().size(), a.host.c_str(), a.out.c_str());
    }
    return exit_ok;
}

struct verify_args {
    std::string file;
    bool json_out = false;
};

// Exit 0: every key's binding and the whole chain check; 1: a check failed (named); 2: bad input.
int verify_reports(const verify_args& a) {
    auto text = read_input("FILE", a.file, max_export_size);
    if (!text) return fail("report verify", text.err());
    auto v = sjson::parse(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), a.file, 8);
    if (!v) return fail("report verify", v.err());
    auto o = sjson::object_reader::of(*v, a.file);
    if (!o) return fail("report verify", o.err());
    auto host = o->str("host");
    auto ak_b = o->b64("ak_public");
    auto from = o->u64("from_seq");
    auto rs = o->arr("reports");
    auto ks = o->arr("keys");
    for (const error* e : {host ? nullptr : &host.err(), ak_b ? nullptr : &ak_b.err(), from ? nullptr : &from.err(),
                           rs ? nullptr : &rs.err(), ks ? nullptr : &ks.err()})
        if (e) return fail("report verify", *e);
    if (*from != 1) return fail_usage("report verify: " + a.file + " starts at report " + std::to_string(*from) +
                                      "; export the whole chain (custos fleet reports HOST --out FILE)");
    auto ak_pub = attest::unmarshal_public(*ak_b);
    if (!ak_pub) return fail("report verify: ak_public", ak_pub.err());
    auto ak = attest::public_to_pkey(ak_pub->publicArea);
    if (!ak) return fail("report verify: ak_public", ak.err());

    std::vector<attest::chain_key> keys;
    for (std::size_t i = 0; i < (*ks)->size(); ++i) {
        auto k = sjson::object_reader::of((**ks)[i], "keys[" + std::to_string(i) + "]");
        if (!k) return fail("report verify", k.err());
        attest::chain_key c;
        auto key = k->b64("key");
        auto f = k->u64("from_seq");
        auto b = k->str("binding");
        if (!key || !f || !b) return fail("report verify", !key ? key.err() : !f ? f.err() : b.err());
        c.key = std::move(*key);
        c.from_seq = *f;
        c.binding = std::move(*b);
        if (const auto* u = k->raw().if_contains("until_seq"); u && !u->is_null()) {
            auto until = k->u64("until_seq");
            if (!until) return fail("report verify", until.err());
            c.until_seq = *until;
        }
        keys.push_back(std::move(c));
    }
    std::vector<attest::signed_report> reports;
    for (std::size_t i = 0; i < (*rs)->size(); ++i) {
        auto r = sjson::object_reader::of((**rs)[i], "reports[" + std::to_string(i) + "]");
        if (!r) return fail("report verify", r.err());
        auto body = r->b64("report");
        auto sig = r->b64("sig");
        if (!body || !sig) return fail("report verify", !body ? body.err() : sig.err());
        reports.push_back({std::move(*body), std::move(*sig)});
    }
    // Keys first: a report signed by a key whose binding does not verify proves nothing.
    std::size_t unbound = 0;
    for (const auto& k : keys) {
        if (auto b = attest::verify_key_binding(k, ak->get()); !b) {
            std::cerr << "custos: report verify: binding: " << b.err().message << "\n";
            if (b.err().code != errc::structure || !k.binding.empty()) return exit_failed;
            ++unbound;  // bound before bindings were recorded: said below, not silently trusted
        }
    }
    auto chain = attest::verify_report_chain(*host, 0, bytes(32, 0), reports, keys);
    if (!chain) {
        std::cerr << "custos: report verify: chain: " << chain.err().message << "\n";
        return exit_failed;
    }
    if (unbound) {
        std::cerr << "custos: report verify: " << unbound
                  << " key(s) carry no binding quote (bound before schema 5): their reports rest on the verifier's word\n";
        return exit_failed;
    }
    if (a.json_out) {
        print_json(json::object{{"host", *host}, {"reports", chain->reports}, {"last_seq", chain->last_seq},
                                {"head", to_hex(chain->head)}, {"keys", keys.size()}, {"valid", true}});
        return exit_ok;
    }
    std::printf("chain: valid\nhost: %s\nreports: %zu (1 to %llu)\nhead: %s\nkeys: %zu, each bound by a quote of the host's AK\n"
                "rests on the verifier for: the AK (its enrollment) and that each binding's nonce was one it issued\n",
                host->c_str(), chain->reports, static_cast<unsigned long long>(chain->last_seq), to_hex(chain->head).c_str(),
                keys.size());
    return exit_ok;
}

}  // namespace

void register_report_commands(CLI::App& app, CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds) {
    auto ea = std::make_shared<export_args>();
    auto* exp = fleet.add_subcommand("reports", "Export a host's whole signed report chain with its keys' binding quotes");
    exp->add_option("HOST", ea->host, "Host id")->required();
    exp->add_option("--out", ea->out, "File to write (default: standard output)");
    cmds.push_back({exp, [opts, ea] { return export_reports(*opts, *ea); }});

    auto va = std::make_shared<verify_args>();
    auto* report = app.add_subcommand("report", "Signed report chains");
    report->require_subcommand(1);
    auto* verify = report->add_subcommand(
        "verify", "Re-check an exported report chain offline (exit 0 valid, 1 a check failed, 2 bad input)");
    verify->add_option("FILE", va->file, "What custos fleet reports HOST --out FILE wrote")->required();
    verify->add_flag("--json", va->json_out, "Print the result as JSON");
    cmds.push_back({verify, [va] { return verify_reports(*va); }});
}

}  // namespace custos::cli
