// verifier.toml: what `custos-verifier init` writes and `serve` reads (toml++; unknown keys are errors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <string>
#include <vector>

#include "crypto/result.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

struct verifier_config {
    std::filesystem::path dir;  // the directory holding verifier.toml; relative paths below resolve against it

    std::string listen = "127.0.0.1:8443";  // HOST:PORT (IPv6 as [::1]:8443)
    unsigned threads = 4;
    std::uint64_t body_limit = 16u << 20;  // an attest request carries the host's new IMA entries
    unsigned read_timeout_ms = 10'000;
    unsigned max_connections = 1024;
    // [retention] days to keep resolved findings and superseded appraisals (0: forever); open findings and
    // reports (the audit record) are never pruned
    unsigned resolved_findings_days = 365;
    unsigned appraisals_days = 90;  // open at once; more are closed at accept (custos_connections_refused_total)

    // [tls]
    std::filesystem::path tls_cert = "tls/server.pem";
    std::filesystem::path tls_key = "tls/server.key";
    std::filesystem::path ca_cert = "ca/ca.pem";  // the private CA: issues agent certs, verifies clients
    std::filesystem::path ca_key = "ca/ca.key";
    // [keys]
    std::filesystem::path result_key = "keys/result.key";          // ES256 private key (PEM)
    std::filesystem::path result_pub = "keys/result.pub.pem";
    std::filesystem::path recipient_key = "keys/recipient.key";    // X25519, as `custos weights keygen`
    std::filesystem::path recipient_pub = "keys/recipient.pub";
    // [enroll]
    std::filesystem::path ek_ca_file = "ek-ca.pem";  // TPM manufacturers' CA bundle (roots + intermediates)
    unsigned token_ttl_s = 3600;
    // [database] the SQLite file (store.backend = "sqlite")
    std::filesystem::path database = "verifier.db";
    bool sqlite_synchronous_full = false;
    // [store] which backend; for PostgreSQL, the libpq DSN (no password in it), where the password is
    // (a file, else $CUSTOS_STORE_PASSWORD, else libpq's own PGPASSWORD/~/.pgpass) and the pool per process
    std::string store_backend = "sqlite";
    std::string store_dsn;
    std::filesystem::path store_password_file;
    unsigned store_pool_size = 8;
    // [attest]
    std::string pcr_selection = "sha256:0,1,2,3,4,5,6,7,10";  // 0-7 boot (event log), 10 IMA
    unsigned challenge_ttl_s = 30;
    unsigned attest_interval_s = 60;
    unsigned report_interval_s = 10;
    unsigned dark_after_intervals = 3;
    // attestation-overdue after this many attest intervals without a valid challenged quote
    unsigned overdue_after_intervals = 3;
    // report-chain-gap when reports a round's quote claimed are still missing this long after; 0: 3 × report_interval_s
    unsigned chain_gap_grace_s = 0;
    // [gpu]
    std::filesystem::path chip_table;     // empty: the chip table built into custos (policy/chips.toml)
    std::filesystem::path runtime_policy;  // [measurements] IMA allow-list; empty: IMA is replayed, not judged
    unsigned duplicate_window_s = 0;      // gpu-duplicated window; 0: 2 × report_interval_s
    // GPU attestation reports are verified up to this root (PEM); empty: NVIDIA's device identity CA,
    // pinned in custos. Another root is for a test PKI (the demo's fake NVML).
    std::filesystem::path gpu_attestation_root;
    // Key release to a host at one of these sites, or of one of these models, needs every GPU the host
    // lists to have given a valid attestation report in its latest round.
    std::vector<std::string> require_attested_sites, require_attested_models;
    // [compute] thresholds for compute-threshold, in operations; 0 turns one off
    double model_ops_threshold = 1e26;    // training ops + ops attributed on hosts (ECCN 4E091's 10^26)
    double host_ops_threshold = 0;
    double entity_ops_threshold = 0;
    double country_ops_threshold = 0;
    // [release]
    unsigned lease_ttl_s = 300;           // a released model key must be renewed within this
    // [policy] export-control profiles (policy/profiles/, or files) every appraisal evaluates the fleet under
    std::vector<std::string> policy_profiles = {"bis-guidance-2025-05"};
    // [location] delay-based location proofs against each site's landmarks
    unsigned location_samples = 5;          // exchanges per landmark per round; the minimum RTT counts
    unsigned location_timeout_ms = 2000;    // per exchange step
    unsigned location_miss_limit = 3;       // location-rounds-missed after this many unanswered rounds in a row
    unsigned location_max_age_s = 0;        // key release at a site with landmarks needs a `within` this recent; 0: 3 × attest_interval_s
    double speed_km_per_ms = 299.792;       // light in vacuum: a bound no host can beat
    unsigned landmark_clock_skew_s = 60;    // a statement's t_send must fall inside the round, give or take this
    // [log] the transparency log: its signed-note key (created by init, or at the first start), whether
    // events are logged (off only to measure the cost), and how often a new checkpoint is signed
    std::filesystem::path log_key = "keys/log.key";  // "PRIVATE+KEY+<name>+..." (Go's signed-note form)
    std::filesystem::path log_pub = "keys/log.pub";  // "<name>+<hash>+<key>": what auditors verify with
    bool log_enabled = true;
    unsigned checkpoint_interval_s = 2;
    // [alerts]
    std::vector<std::string> webhooks;  // https URLs; findings are POSTed as JSON with retries
    std::filesystem::path webhook_ca_file;  // empty = system CAs

    // Path relative to dir (absolute paths unchanged).
    std::filesystem::path resolve(const std::filesystem::path& p) const { return p.is_absolute() ? p : dir / p; }
};

// Parses verifier.toml; every error names the file, the key and what is wrong.
result<verifier_config> load_verifier_config(const std::filesystem::path& file);
// The same over a file's text; `file` (absolute) names it in errors and gives the directory relative paths
// resolve against. Pure: no I/O (the fuzz target's entry).
result<verifier_config> parse_verifier_config(std::string_view text, const std::filesystem::path& file);
// `listen` as the config takes it: HOST:PORT, port 1..65535, IPv6 in brackets ([::1]:8443). init checks its
// --listen with it before writing anything.
result<void> check_listen_address(const std::string& listen);
// The text `init` writes (every key, with comments).
std::string render_verifier_config(const verifier_config& c);

// The database password: from `file` when one is named (refused when group or others may read it, or
// when it is empty; one trailing newline dropped; `what` names the setting in errors), else
// $CUSTOS_STORE_PASSWORD, else "" (libpq then looks in PGPASSWORD and ~/.pgpass itself).
result<std::string> store_password(const std::filesystem::path& file, const std::string& what);

// What open_store needs from a configuration: the backend, and for PostgreSQL the password read from
// store.password_file (which must not be readable by group or others) or $CUSTOS_STORE_PASSWORD.
result<store_options> store_options_from(const verifier_config& c);
// open_store(store_options_from(c)).
result<std::unique_ptr<store>> open_configured_store(const verifier_config& c);

}  // namespace custos::verifier
