// custos fleet reports HOST --out FILE: the host's whole report chain exported from the verifier, every page;
// custos report verify FILE: the chain re-checked offline (attest/report_chain.hpp), without trusting the
// verifier for anything but the AK it enrolled and the nonces it issued.
#include <boost/json.hpp>

#include <cstdio>
#include <tuple>
#include <iostream>
#include <memory>

#include "attest/report_chain.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"
#include "tools/custos/chain_check.hpp"
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

struct bundle_args {
    std::string host, model, from, to, out;
};

int export_bundle(const fleet_options& o, const bundle_args& a) {
    if (a.host.empty() == a.model.empty()) return fail_usage("fleet export: give exactly one of --host and --model");
    std::string target = "/v1/export?" + (a.host.empty() ? "model=" + url_encode(a.model) : "host=" + url_encode(a.host));
    for (const auto& [value, option, key] : {std::tuple{a.from, "--from", "&from="}, std::tuple{a.to, "--to", "&to="}}) {
        if (value.empty()) continue;
        auto t = unix_time_option(value, option);
        if (!t) return fail("fleet export", t.err());
        target += key + std::to_string(*t);
    }
    json::value bundle;
    const int rc = call(o, "GET", target, "", bundle, std::size_t(4) << 30);
    if (rc != exit_ok) return rc;
    const std::string text = json::serialize(bundle) + "\n";
    if (auto w = write_file_atomic(a.out, text, 0644); !w) return fail("fleet export", w.err());
    // What it holds, counted over the bundle and (for a model) each of its hosts.
    std::size_t entries = 0, rounds = 0, reports = 0, hosts = 0;
    const auto count = [&](const json::object& part) {
        const auto size = [&](const json::value* v) { return v && v->is_array() ? v->as_array().size() : std::size_t{0}; };
        entries += size(part.if_contains("entries"));
        rounds += size(part.if_contains("rounds"));
        if (const auto* c = part.if_contains("chain"); c && c->is_object()) reports += size(c->as_object().if_contains("reports"));
    };
    const auto& b = bundle.as_object();
    count(b);
    if (const auto* hs = b.if_contains("hosts"); hs && hs->is_array())
        for (const auto& h : hs->as_array())
            if (h.is_object()) {
                count(h.as_object());
                ++hosts;
            }
    std::fprintf(stderr, "evidence bundle for %s written to %s: %zu log entries, %zu rounds, %zu reports%s\n",
                 a.host.empty() ? ("model " + a.model).c_str() : ("host " + a.host).c_str(), a.out.c_str(), entries, rounds, reports,
                 a.host.empty() ? (", from " + std::to_string(hosts) + " key-holding host(s)").c_str() : "");
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
    auto chain = check_chain_export(*v, a.file);
    if (!chain) {
        if (chain.err().code == errc::structure || chain.err().code == errc::parse || chain.err().code == errc::invalid_argument)
            return fail("report verify", chain.err());
        std::cerr << "custos: report verify: " << chain.err().message << "\n";
        return exit_failed;
    }
    if (a.json_out) {
        print_json(json::object{{"host", chain->host}, {"reports", chain->summary.reports}, {"last_seq", chain->summary.last_seq},
                                {"head", to_hex(chain->summary.head)}, {"keys", chain->keys}, {"valid", true}});
        return exit_ok;
    }
    std::printf("chain: valid\nhost: %s\nreports: %zu (1 to %llu)\nhead: %s\nkeys: %zu, each bound by a quote of the host's AK\n"
                "rests on the verifier for: the AK (its enrollment) and that each binding's nonce was one it issued\n",
                chain->host.c_str(), chain->summary.reports, static_cast<unsigned long long>(chain->summary.last_seq),
                to_hex(chain->summary.head).c_str(), chain->keys);
    return exit_ok;
}

}  // namespace

void register_report_commands(CLI::App& app, CLI::App& fleet, const std::shared_ptr<fleet_options>& opts, command_list& cmds) {
    auto ea = std::make_shared<export_args>();
    auto* exp = fleet.add_subcommand("reports", "Export a host's whole signed report chain with its keys' binding quotes");
    exp->add_option("HOST", ea->host, "Host id")->required();
    exp->add_option("--out", ea->out, "File to write (default: standard output)");
    cmds.push_back({exp, [opts, ea] { return export_reports(*opts, *ea); }});

    auto ba = std::make_shared<bundle_args>();
    auto* bundle = fleet.add_subcommand("export", "Write an evidence bundle for one host or model (operator or auditor credential); "
                                                  "custos audit verify checks it offline");
    bundle->add_option("--host", ba->host, "The host: its log entries, rounds, results, report chain, EK certificate and AK");
    bundle->add_option("--model", ba->model, "The model: its log entries (registration, approvals, key releases, refusals, leases)");
    bundle->add_option("--from", ba->from, "From this time: YYYY-MM-DD[THH:MM:SSZ] or Unix seconds");
    bundle->add_option("--to", ba->to, "Up to this time (inclusive)");
    bundle->add_option("--out", ba->out, "The bundle file to write")->required();
    cmds.push_back({bundle, [opts, ba] { return export_bundle(*opts, *ba); }});

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
