// custos eventlog replay / custos ima replay: the PCR values a boot event log or an IMA measurement list
// implies (attest/event_log, attest/ima_log), for auditors checking a host's evidence offline; and
// custos ima allowlist, which builds a runtime policy (attest/runtime_policy) from a filesystem tree.
#include <cstdio>
#include <memory>
#include <string>

#include <boost/json.hpp>

#include "attest/boot_appraisal.hpp"
#include "attest/event_log.hpp"
#include "attest/ima_log.hpp"
#include "attest/runtime_policy.hpp"
#include "crypto/file_io.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {
namespace {
namespace json = boost::json;

struct replay_args {
    std::string file;
    bool json_out = false;
};

struct allowlist_args {
    std::string root, out;
    std::vector<std::string> excludes;
    std::vector<std::string> agent_globs{"*/custos-agent"};
};

constexpr std::size_t max_boot_log = 64u << 20;
constexpr std::size_t max_ima_log = 1u << 30;  // long-running hosts measure hundreds of thousands of files

json::object banks_json(const attest::pcr_banks& banks) {
    boost::system::error_code ec;
    return json::parse(attest::pcr_banks_to_json(banks), ec).as_object();
}

void print_banks(const attest::pcr_banks& banks) {
    for (const auto& [alg, bank] : banks)
        for (const auto& [pcr, value] : bank) std::printf("%-7s %2u  %s\n", hash_name(alg), pcr, to_hex(value).c_str());
}

int eventlog_replay(const replay_args& a) {
    auto data = read_input("FILE", a.file, max_boot_log);
    if (!data) return fail_usage(data.err().message);
    auto log = attest::parse_boot_log(*data);
    if (!log) return fail_usage(a.file + ": " + log.err().message);
    const auto banks = attest::replay_boot_log(*log);
    if (a.json_out) {
        json::object o = banks_json(banks);
        for (const auto alg : log->algorithms)  // every bank the log carries, even one no event extended
            if (!o.contains(hash_name(alg))) o[hash_name(alg)] = json::object{};
        print_json(o);
    } else {
        std::printf("%zu events, banks:", log->events.size());
        for (const auto alg : log->algorithms) std::printf(" %s", hash_name(alg));
        std::printf("\n");
        print_banks(banks);
    }
    return exit_ok;
}

int eventlog_reference(const replay_args& a) {
    auto data = read_input("FILE", a.file, max_boot_log);
    if (!data) return fail_usage(data.err().message);
    auto log = attest::parse_boot_log(*data);
    if (!log) return fail_usage(a.file + ": " + log.err().message);
    std::printf("%s\n", attest::boot_reference_to_json(attest::boot_components(*log)).c_str());
    return exit_ok;
}

int ima_replay(const replay_args& a) {
    auto data = read_input("FILE", a.file, max_ima_log);
    if (!data) return fail_usage(data.err().message);
    auto entries = attest::parse_ima_log(*data);
    if (!entries) return fail_usage(a.file + ": " + entries.err().message);
    // The SHA-1 bank folds the recorded hashes as they are; an entry edited after it was measured is worth
    // saying, though the values printed are what such a list implies.
    if (const auto bad = attest::first_template_hash_mismatch(*entries))
        std::fprintf(stderr, "custos: warning: %s: IMA entry %zu (%s): the template hash is not the SHA-1 of its data\n",
                     a.file.c_str(), *bad, (*entries)[*bad].path.c_str());
    const auto banks = attest::replay_ima_log(*entries);
    if (a.json_out) {
        json::object o = banks_json(banks);
        for (const char* b : {"sha1", "sha256"})
            if (!o.contains(b)) o[b] = json::object{};
        o["entries"] = entries->size();
        print_json(o);
    } else {
        std::printf("%zu entries\n", entries->size());
        print_banks(banks);
    }
    return exit_ok;
}

int ima_allowlist(const allowlist_args& a) {
    auto p = attest::build_runtime_policy(a.root, a.excludes, a.agent_globs);
    if (!p) return fail_usage("ima allowlist: " + p.err().message);
    const std::string text = attest::runtime_policy_to_json(*p) + "\n";
    if (a.out.empty()) {
        std::fputs(text.c_str(), stdout);
    } else if (auto w = write_file_atomic(a.out, text); !w) {
        return fail("ima allowlist", w.err());
    } else {
        std::fprintf(stderr, "%zu entries written to %s\n", p->entries.size(), a.out.c_str());
    }
    return exit_ok;
}

}  // namespace

void register_measurement_commands(CLI::App& app, command_list& cmds) {
    auto* el = app.add_subcommand("eventlog", "TCG boot event logs (crypto-agile)");
    el->require_subcommand(1);
    auto ea = std::make_shared<replay_args>();
    auto* er = el->add_subcommand("replay", "Parse a boot event log strictly and print the PCR values it implies");
    er->add_option("FILE", ea->file, "binary_bios_measurements (crypto-agile format)")->required();
    er->add_flag("--json", ea->json_out, "Print {\"sha256\":{\"0\":\"HEX\",…},\"sha1\":{…}}");
    cmds.push_back({er, [ea] { return eventlog_replay(*ea); }});
    auto* eref = el->add_subcommand("reference", "Print a known-good log's boot components, for custos fleet approve --boot-reference");
    eref->add_option("FILE", ea->file, "binary_bios_measurements of a host booted as approved")->required();
    cmds.push_back({eref, [ea] { return eventlog_reference(*ea); }});

    auto* ima = app.add_subcommand("ima", "IMA runtime measurement lists");
    ima->require_subcommand(1);
    auto ia = std::make_shared<replay_args>();
    auto* ir = ima->add_subcommand("replay", "Parse an ima-ng/ima-sig measurement list strictly and print the PCR values it implies");
    ir->add_option("FILE", ia->file, "binary_runtime_measurements")->required();
    ir->add_flag("--json", ia->json_out, "Print {\"sha1\":{\"10\":\"HEX\"},\"sha256\":{\"10\":\"HEX\"},\"entries\":N}");
    cmds.push_back({ir, [ia] { return ima_replay(*ia); }});

    auto al = std::make_shared<allowlist_args>();
    auto* allow = ima->add_subcommand("allowlist", "Build a runtime policy (allow-list) from a filesystem tree as the host sees it");
    allow->add_option("--root", al->root, "The tree's root (a host image or a mounted root filesystem)")->required();
    allow->add_option("--exclude", al->excludes, "A path glob left out and kept as an exclude (repeatable; * matches '/' too)");
    allow->add_option("--agent", al->agent_globs, "A glob for custos-agent's own files (repeatable)")->capture_default_str();
    allow->add_option("--out", al->out, "Write the policy here (atomically) instead of stdout");
    cmds.push_back({allow, [al] { return ima_allowlist(*al); }});
}

}  // namespace custos::cli
