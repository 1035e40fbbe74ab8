#include "verifier/cli.hpp"

#include <CLI/CLI.hpp>
#include <openssl/rand.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "verifier/api_common.hpp"
#include "verifier/config.hpp"
#include "verifier/init.hpp"
#include "verifier/log_events.hpp"
#include "verifier/service.hpp"
#include "verifier/store_copy.hpp"
#include "verifier/transparency_log.hpp"
#include "crypto/file_io.hpp"

namespace custos::verifier {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

int fail(int code, const std::string& msg) {
    std::fprintf(stderr, "custos-verifier: %s\n", msg.c_str());
    return code;
}

int exit_for(const error& e) { return e.code == errc::invalid_argument || e.code == errc::parse ? exit_usage : exit_failed; }

int cmd_init(const std::string& dir, bool force, const std::string& listen, const std::vector<std::string>& names,
             const std::string& ek_ca) {
    init_options o;
    o.dir = dir;
    o.force = force;
    if (!listen.empty()) o.listen = listen;
    if (!names.empty()) o.server_names = names;
    o.ek_ca_file = ek_ca;
    if (auto r = init_verifier_dir(o); !r) return fail(exit_for(r.err()), r.err().message);
    std::printf("initialised %s\n  config:       %s/verifier.toml\n  operator:     %s/operator/ (cert.pem, key.pem, ca.pem)\n"
                "  auditor:      %s/auditor/ (read-only: the transparency log)\n"
                "  result key:   %s/keys/result.pub.pem\n  recipient:    %s/keys/recipient.pub\n  log key:      %s/keys/log.pub\n",
                dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str(), dir.c_str());
    if (ek_ca.empty())
        std::printf("  note: no --ek-ca given: put the TPM manufacturers' CA bundle at %s/ek-ca.pem before enrolling\n",
                    dir.c_str());
    return exit_ok;
}

int cmd_enroll_token(const std::string& config, const std::string& host_id, unsigned ttl, bool as_json) {
    if (!valid_id(host_id)) return fail(exit_usage, "\"" + host_id + "\" is not a valid host id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})");
    auto cfg = load_verifier_config(config);
    if (!cfg) return fail(exit_usage, cfg.err().message);
    auto db = open_configured_store(*cfg);
    if (!db) return fail(exit_failed, db.err().message);
    bytes raw(32);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return fail(exit_failed, "no randomness");
    const std::string token = host_id + "." + to_base64url(raw);
    const std::int64_t now = unix_now();
    enroll_token_record t;
    t.token_hash = sha256(as_bytes(token));
    t.host_id = host_id;
    t.created_at = now;
    t.expires_at = now + (ttl ? ttl : cfg->token_ttl_s);
    auto tx = (*db)->begin();
    if (!tx) return fail(exit_failed, tx.err().message);
    if (auto x = (*tx)->insert_token(t); !x) return fail(exit_failed, x.err().message);
    // Issued on the verifier's machine, not over the API: the log names the host and when it expires.
    actor who{"custos-verifier enroll-token", "operator", ""};
    if (auto x = (*tx)->append_log(operator_entry(who, "enroll_token.issue", host_id, "",
                                                  boost::json::object{{"expires_at", t.expires_at}},
                                                  now));
        !x)
        return fail(exit_failed, x.err().message);
    if (auto c = (*tx)->commit(); !c) return fail(exit_failed, c.err().message);
    if (as_json) {
        boost::json::object o{{"host_id", host_id}, {"token", token}, {"expires_at", t.expires_at}};
        std::cout << boost::json::serialize(o) << "\n";
    } else {
        std::cout << token << "\n";
    }
    return exit_ok;
}

int cmd_serve(const std::string& config, const std::string& listen) {
    auto cfg = load_verifier_config(config);
    if (!cfg) return fail(exit_usage, cfg.err().message);
    // Block the stop signals before any thread starts, so only sigtimedwait below receives them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto svc = service::create(std::move(cfg).value(), listen);
    if (!svc) return fail(exit_failed, svc.err().message);
    if (auto s = (*svc)->start(); !s) return fail(exit_failed, s.err().message);
    // The port line first: whoever waits for READY may read it at once.
    std::fprintf(stdout, "custos-verifier: listening on port %u\n", static_cast<unsigned>((*svc)->port()));
    std::fflush(stdout);
    sd_notifyf(0, "READY=1\nSTATUS=listening on port %u", static_cast<unsigned>((*svc)->port()));

    std::uint64_t watchdog_usec = 0;
    const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    const std::uint64_t tick_usec = watchdog ? watchdog_usec / 2 : 5'000'000;
    timespec tick{static_cast<time_t>(tick_usec / 1'000'000), static_cast<long>(tick_usec % 1'000'000) * 1000};
    for (;;) {
        const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            spdlog::info("custos-verifier: {} received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (watchdog) sd_notify(0, "WATCHDOG=1");
    }
    sd_notify(0, "STOPPING=1");
    (*svc)->stop();
    return exit_ok;
}

int cmd_migrate_store(const std::string& from, const std::string& to, const std::string& password_file, bool as_json) {
    constexpr std::string_view scheme = "sqlite:";
    if (from.rfind(scheme, 0) != 0) return fail(exit_usage, "--from " + from + ": expected sqlite:PATH");
    const std::filesystem::path path = from.substr(scheme.size());
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        return fail(exit_usage, "--from " + path.string() + ": no such database file");
    postgres_options pg;
    pg.dsn = to;
    pg.pool_size = 1;
    auto pw = store_password(password_file, "--password-file");
    if (!pw) return fail(exit_for(pw.err()), pw.err().message);
    pg.password = std::move(*pw);
    auto source = open_sqlite_store(path, true);
    if (!source) return fail(exit_for(source.err()), "source: " + source.err().message);
    auto target = open_postgres_store(pg);
    wipe_password(pg.password);
    if (!target) return fail(exit_for(target.err()), "target: " + target.err().message);
    const auto progress = [as_json](const std::string& line) {
        if (!as_json) std::printf("  %s\n", line.c_str());
    };
    auto copied = copy_store(**source, **target, progress);
    if (!copied) return fail(exit_for(copied.err()), "nothing was committed to the target: " + copied.err().message);
    if (as_json) {
        boost::json::object o;
        boost::json::array tables;
        for (const auto& t : copied->tables) tables.push_back(boost::json::object{{"table", t.table}, {"rows", t.rows}});
        o["tables"] = std::move(tables);
        o["rows"] = copied->rows;
        o["hosts"] = copied->hosts;
        o["chain_heads"] = copied->chain_heads;
        std::printf("%s\n", boost::json::serialize(o).c_str());
    } else {
        std::printf("moved %llu rows in %zu tables; %llu hosts' chain heads read back equal (%llu with reports)\n"
                    "next: set [store] backend = \"postgresql\" and dsn in verifier.toml, then start the replicas\n",
                    static_cast<unsigned long long>(copied->rows), copied->tables.size(),
                    static_cast<unsigned long long>(copied->hosts), static_cast<unsigned long long>(copied->chain_heads));
    }
    return exit_ok;
}

int cmd_check_log(const std::string& config, bool as_json) {
    auto cfg = load_verifier_config(config);
    if (!cfg) return fail(exit_usage, cfg.err().message);
    auto key = tlog::read_verifier_key(cfg->resolve(cfg->log_pub));
    if (!key) return fail(exit_usage, "the log's public key: " + key.err().message);
    auto db = open_configured_store(*cfg);
    if (!db) return fail(exit_failed, db.err().message);
    auto r = check_log(**db, *key);
    if (!r) {
        if (as_json) std::printf("%s\n", boost::json::serialize(boost::json::object{{"ok", false}, {"problem", r.err().message}}).c_str());
        return fail(exit_failed, "the transparency log does not check: " + r.err().message);
    }
    if (as_json)
        std::printf("%s\n", boost::json::serialize(boost::json::object{{"ok", true}, {"size", r->size},
                                                                       {"checkpoint_size", r->checkpoint_size},
                                                                       {"pending", r->pending}}).c_str());
    else
        std::printf("transparency log %s: %lld entries rebuilt from the store match every stored hash; the latest checkpoint "
                    "(%lld entries) verifies; %zu queued\n",
                    key->name.c_str(), static_cast<long long>(r->size), static_cast<long long>(r->checkpoint_size), r->pending);
    return exit_ok;
}

}  // namespace

int run_cli(int argc, char** argv) {
    CLI::App app{"custos-verifier: enrolls GPU hosts, appraises their TPM evidence and report chains"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "custos-verifier 0.1.0");
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "Log debug details");

    std::string dir, listen_init, ek_ca;
    std::vector<std::string> names;
    bool force = false;
    auto* init = app.add_subcommand("init", "Create the CA, keys, operator credential, verifier.toml and database in DIR");
    init->add_option("--dir", dir, "Directory to initialise")->required();
    init->add_flag("--force", force, "Replace keys and certificates of an initialised DIR (the database is kept)");
    init->add_option("--listen", listen_init, "HOST:PORT written to verifier.toml (default 127.0.0.1:8443)");
    init->add_option("--server-name", names, "DNS name or IP for the server certificate (repeatable; default localhost, 127.0.0.1, ::1)");
    init->add_option("--ek-ca", ek_ca, "PEM bundle of TPM manufacturer CAs, copied to DIR/ek-ca.pem");

    std::string config, listen;
    auto* serve = app.add_subcommand("serve", "Run the HTTPS service (Type=notify; stops on SIGTERM)");
    serve->add_option("--config", config, "verifier.toml")->required();
    serve->add_option("--listen", listen, "HOST:PORT, overriding the config (port 0: any free port)");

    std::string token_config, host_id;
    unsigned ttl = 0;
    bool as_json = false;
    auto* token = app.add_subcommand("enroll-token", "Make a one-time enrollment token for a host");
    token->add_option("--config", token_config, "verifier.toml")->required();
    token->add_option("--host-id", host_id, "The host the token enrolls")->required();
    token->add_option("--ttl", ttl, "Seconds the token is valid (default: [enroll] token_ttl_s)");
    token->add_flag("--json", as_json, "Print {host_id, token, expires_at}");

    std::string mig_from, mig_to, mig_password;
    bool mig_json = false;
    auto* mig = app.add_subcommand("migrate-store",
                                   "Copy a SQLite database into an empty PostgreSQL database, checked table by table (stop the verifier first)");
    mig->add_option("--from", mig_from, "sqlite:PATH, the verifier's database")->required();
    mig->add_option("--to", mig_to, "PostgreSQL DSN (postgresql://USER@HOST/DB or 'host=... dbname=...'; no password in it)")->required();
    mig->add_option("--password-file", mig_password,
                    "File holding the PostgreSQL password (mode 600; default $CUSTOS_STORE_PASSWORD, then libpq's PGPASSWORD or ~/.pgpass)");
    mig->add_flag("--json", mig_json, "Print {tables: [{table, rows}], rows, hosts, chain_heads}");

    std::string check_config;
    bool check_json = false;
    auto* check = app.add_subcommand("check-log",
                                     "Rebuild the transparency log from the stored entries and check every hash and the latest checkpoint");
    check->add_option("--config", check_config, "verifier.toml")->required();
    check->add_flag("--json", check_json, "Print {ok, size, checkpoint_size, pending} or {ok, problem}");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_usage;
    }
    auto logger = spdlog::stderr_color_mt("custos-verifier");
    spdlog::set_default_logger(logger);
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);

    if (init->parsed()) return cmd_init(dir, force, listen_init, names, ek_ca);
    if (serve->parsed()) return cmd_serve(config, listen);
    if (token->parsed()) return cmd_enroll_token(token_config, host_id, ttl, as_json);
    if (mig->parsed()) return cmd_migrate_store(mig_from, mig_to, mig_password, mig_json);
    if (check->parsed()) return cmd_check_log(check_config, check_json);
    return exit_usage;
}

}  // namespace custos::verifier
