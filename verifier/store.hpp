// The verifier's storage interface: every read and write happens inside one transaction, so a handler's
// checks and its writes are atomic. Two backends run the same statements (sql_tx.cpp): SQLite, the
// embedded default (sqlite_store.cpp), and PostgreSQL for several verifier replicas on one database
// (pg_store.cpp); each has its own versioned migrations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::verifier {

namespace sql {
class session;  // sql_tx.hpp: a connection inside one transaction
}

struct enroll_token_record {
    bytes token_hash;  // SHA-256 of the token text; the token itself is never stored
    std::string host_id;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
    std::int64_t used_at = 0;  // 0 = unused
};

struct pending_enrollment_record {
    std::string id;  // hex, 16 random bytes
    std::string host_id;
    bytes ek_cert;      // DER
    bytes ek_spki;      // DER SubjectPublicKeyInfo of the EK
    std::string ek_sha256;  // hex SHA-256 of ek_spki: the EK's identity
    bytes ak_public;    // marshalled TPM2B_PUBLIC
    std::string ak_name;  // hex
    std::string csr_pem;
    bytes secret_hash;  // SHA-256 of the MakeCredential secret
    std::int64_t expires_at = 0;
};

// Host lifecycle: enrolled → approved → decommissioned (approve again: still approved, new golden values).
struct host_record {
    std::string id;
    std::string state;  // "enrolled", "approved", "decommissioned"
    std::string site;   // empty until approved
    bytes ek_cert;
    bytes ek_spki;
    std::string ek_sha256;
    bytes ak_public;
    std::string ak_name;
    std::string cert_sha256;  // fingerprint of the agent certificate issued at the latest enrollment
    std::int64_t enrolled_at = 0;
    std::int64_t approved_at = 0;
    std::int64_t last_seen = 0;  // last valid evidence (accepted quote or report); 0 = never
    // Golden PCR values as JSON {"sha256":{"0":"hex",...}}; empty = not set yet.
    std::string golden_pcrs;
    bool golden_from_operator = false;
    // The last accepted quote's clockInfo; have_clock false until the first.
    bool have_clock = false;
    std::uint64_t clock = 0;
    std::uint32_t reset_count = 0;
    std::uint32_t restart_count = 0;
    // Report chain head: seq 0 and 32 zero bytes before the first report.
    std::uint64_t chain_seq = 0;
    bytes chain_hash = bytes(32, 0);
    std::string status = "unknown";  // latest appraisal: affirming, warning, contraindicated, unknown
    std::int64_t status_at = 0;
    // The last valid quote over a nonce this verifier issued for an attestation round (schema version 5):
    // reports and key bindings never move it, so a host that only reports is seen to stop attesting.
    std::int64_t last_quote_at = 0;
    // The highest report-chain head a round's quoted evidence claimed beyond the stored chain, and when it
    // was first claimed (0: none pending): reports the host holds back past a grace period are a gap.
    std::uint64_t quoted_head_seq = 0;
    std::int64_t quoted_head_at = 0;
    // The location round the host owes an answer to (when it expires; 0: none) and how many rounds in a
    // row it left unanswered.
    std::int64_t location_due_at = 0;
    std::uint32_t location_misses = 0;
};

// A report key and the part of its host's report chain it may sign (schema version 5). A key is bound by
// a quote over a verifier nonce; a newer binding retires it at the sequence number where the new key
// starts, and a round of a later boot retires a key bound in an earlier one.
inline constexpr std::uint64_t report_key_open = static_cast<std::uint64_t>(INT64_MAX);  // attest::key_window_open
struct report_key_record {
    bytes key;                                // Ed25519 public key, 32 bytes
    std::int64_t bound_at = 0;
    std::uint32_t reset_count = 0;            // the TPM resetCount of the quote that bound it
    std::uint64_t from_seq = 1;               // the first report it may sign
    std::uint64_t until_seq = report_key_open;  // the last one (report_key_open while it is current)
    std::int64_t retired_at = 0;              // 0 while current
    std::string retire_reason;
    // What bound it, for an auditor (attest/report_chain.hpp, chain_key::binding): the nonce, the quote and
    // either the binding's chain head or the round's evidence.
    std::string binding;
    bool current() const { return until_seq == report_key_open; }
    bool covers(std::uint64_t seq) const { return seq >= from_seq && seq <= until_seq; }
};

struct report_record {
    std::string host_id;
    std::uint64_t seq = 0;
    bytes hash;       // SHA-256 of body
    bytes body;       // the report bytes as signed
    bytes signature;  // Ed25519, 64 bytes
    bytes key;        // the report key, 32 bytes
    std::int64_t received_at = 0;
};

struct finding_record {
    std::int64_t id = 0;  // assigned by the store on insert
    std::string rule;
    std::string severity;      // violation, warning, info
    std::string subject_kind;  // host, site, entity, country, model, gpu
    std::string subject;
    std::string host;  // empty when the finding does not concern one host
    std::int64_t time = 0;
    std::string detail;
    bool open = true;
    std::int64_t resolved_at = 0;
    // Tells apart open findings of one rule about one subject (policy rules: e.g. the country of a
    // uveu-tier2-country-share finding); empty for most.
    std::string ref;
    // A finding raised again while open is not stored again: its count and time of the last raise grow
    // (schema version 5), so repeated refusals or forgeries cost one row.
    std::uint64_t repeats = 0;
    std::int64_t last_at = 0;
};

// Exact counts of a host's open findings by severity: what its status is computed from.
struct open_finding_counts {
    std::uint64_t violations = 0, warnings = 0, infos = 0;
};

// What an open violation must be about to stand in the way of a host (key release, renewal).
struct violation_scope {
    std::string host, site, entity, country, model;  // empty: not asked about
};

struct finding_filter {
    std::optional<std::string> host;
    std::optional<std::string> rule;
    bool open_only = false;
    std::int64_t since = 0;  // time >= since
    std::size_t limit = 1000;  // newest first
};

struct site_record {
    std::string id;
    std::string entity;
    std::string country;  // ISO 3166-1 alpha-2
    double lat = 0, lon = 0, max_km = 0;
};

struct entity_record {
    std::string id;
    std::string hq;      // ISO 3166-1 alpha-2
    std::string status;  // uveu, nveu, none
};

struct appraisal_record {
    std::string host_id;
    std::int64_t time = 0;
    std::string status;
    std::string token;  // the signed JWT
};

// The fleet GPU registry: one row per serial, naming the host that reported it last.
struct gpu_record {
    std::string serial;
    std::string host_id;    // the host it is registered on now
    std::string prev_host;  // the host it was registered on before it moved (empty: never moved)
    std::string name, chip, uuid, pci_bus_id;
    std::int64_t first_seen = 0;
    std::int64_t last_seen = 0;  // the last report from host_id that listed it
    std::int64_t moved_at = 0;
};

// A host's latest inventory and whether its approved GPU set has been taken from one.
struct host_inventory_record {
    std::string host_id;
    std::string source;  // nvml, sysfs, "" (an error)
    std::string driver_version;
    std::string error;
    std::vector<std::string> serials;  // sorted
    std::int64_t time = 0;
    bool baseline_taken = false;  // the first inventory after approval became the approved set
};

struct gpu_event_record {
    std::string serial;
    std::string host_id;
    std::string event;  // seen, approved, released, moved-in, moved-out, missing, baseline
    std::int64_t time = 0;
    std::string detail;
};

// Cumulative counters as the host last reported them for one GPU (the key is its serial, uuid: or pci:).
struct counter_record {
    double busy_s = 0, tpp_s = 0, ops = 0;
    std::uint64_t energy_mj = 0;
};

// Compute delivered on a host, attributed to one model ("" = the host's total, whatever ran).
struct compute_record {
    std::string host_id;
    std::string model;
    counter_record total;
    std::int64_t updated_at = 0;
};

struct model_record {
    std::string id;
    std::string root;  // hex model root
    bool closed_weights = false;
    double training_ops = 0;  // operations spent training it before registration
    std::string index_json;   // the sealed index as uploaded
    bytes key_sealed;         // key.sealed as uploaded (sealed to the verifier's recipient key)
    std::int64_t added_at = 0;
};

struct lease_record {
    std::string id;  // hex, 16 random bytes
    std::string host_id;
    std::string model_id;
    std::string key_name;  // hex TPM name of the bound key the DEK was wrapped to
    std::int64_t issued_at = 0;
    std::int64_t expires_at = 0;
    std::int64_t revoked_at = 0;  // 0 = not revoked
    std::string revoke_reason;
};

// A landmark the verifier trusts: its place, its Ed25519 key and where agents reach it.
struct landmark_record {
    std::string id;
    double lat = 0, lon = 0;
    bytes public_key;  // 32 bytes
    std::string address;  // HOST:PORT as agents dial it (a relay in tests)
    std::int64_t added_at = 0;
};

// A host's latest location proof: the verdict and the bound, with what each landmark measured.
struct host_location_record {
    std::string host_id;
    std::int64_t time = 0;
    std::string verdict;  // within, outside, unproven, impossible
    std::optional<double> max_km, min_km;  // from the site; absent when impossible
    std::string detail_json;  // {"landmarks":[{"id","rtt_ms","samples","radius_km"}],"errors":[…]}
};

// What measurement appraisal keeps per host between rounds (verifier/measurement_appraisal.hpp).
struct host_measurement_record {
    std::string host_id;
    std::uint64_t ima_count = 0;  // IMA entries accepted since the host's last reboot
    std::string ima_pcrs;         // their replay, attest::pcr_banks_to_json; empty: none yet
    std::string boot_reference;   // attest::boot_reference_to_json, captured at approval; empty: none
    std::int64_t updated_at = 0;
    // The TPM boot the IMA state belongs to (schema version 5): a quote of another resetCount starts the
    // list again, whatever the host's clock record says.
    bool have_reset = false;
    std::uint32_t reset_count = 0;
};

// A webhook delivery waiting in the outbox (schema version 6): one per finding and webhook URL.
struct outbox_entry {
    std::int64_t id = 0;
    std::int64_t finding_id = 0;
    std::string url;
    std::string body;  // the finding's JSON as raised
    unsigned attempts = 0;
    std::int64_t due_ms = 0;  // Unix time in ms when it is next tried
};

// Which write to what the policy engine reads (sites, entities, models, leases, ...) the fleet is at, and
// the one the engine last ran at: shared by every verifier process on the store (schema version 6).
struct fleet_generations {
    std::uint64_t fleet = 1;
    std::uint64_t policy = 0;
};

// One transaction. Destroying it without commit() rolls back. Not thread-safe; one per request.
class store_tx {
public:
    virtual ~store_tx() = default;

    virtual result<void> insert_token(const enroll_token_record& t) = 0;
    virtual result<std::optional<enroll_token_record>> get_token(byte_view token_hash) = 0;
    virtual result<void> mark_token_used(byte_view token_hash, std::int64_t now) = 0;

    virtual result<void> insert_pending(const pending_enrollment_record& p) = 0;
    virtual result<std::optional<pending_enrollment_record>> get_pending(const std::string& id) = 0;
    virtual result<void> delete_pending(const std::string& id) = 0;

    virtual result<std::optional<host_record>> get_host(const std::string& id) = 0;
    // The live host with this EK (at most one: the schema makes it unique), else a decommissioned one.
    virtual result<std::optional<host_record>> get_host_by_ek(const std::string& ek_sha256) = 0;
    virtual result<void> put_host(const host_record& h) = 0;  // insert or replace every field
    virtual result<std::vector<host_record>> list_hosts() = 0;  // ordered by id
    // The hot path of report ingestion: only the chain head and last_seen change.
    virtual result<void> update_host_progress(const std::string& id, std::uint64_t chain_seq, byte_view chain_hash,
                                              std::int64_t last_seen) = 0;

    // Challenges: the nonce is the key; take_challenge deletes it and returns what it was issued for.
    virtual result<void> insert_challenge(byte_view nonce, const std::string& host_id, std::int64_t expires_at) = 0;
    struct challenge { std::string host_id; std::int64_t expires_at = 0; };
    virtual result<std::optional<challenge>> take_challenge(byte_view nonce) = 0;
    virtual result<void> purge_challenges(std::int64_t now) = 0;  // drops expired ones

    // Report keys bound to a host by a quote. A key already bound is left as it is (idempotent).
    virtual result<void> bind_report_key(const std::string& host_id, const report_key_record& k) = 0;
    virtual result<std::optional<report_key_record>> get_report_key(const std::string& host_id, byte_view key) = 0;
    virtual result<std::vector<report_key_record>> list_report_keys(const std::string& host_id) = 0;  // by from_seq
    // Ends the window of every current key of the host other than `keep` at `until_seq`; returns how many.
    virtual result<std::size_t> retire_report_keys(const std::string& host_id, byte_view keep, std::uint64_t until_seq,
                                                   std::int64_t now, const std::string& reason) = 0;
    // The same for one key.
    virtual result<void> retire_report_key(const std::string& host_id, byte_view key, std::uint64_t until_seq,
                                           std::int64_t now, const std::string& reason) = 0;
    // At re-enrollment: keys bound by quotes of the previous AK no longer count.
    virtual result<void> unbind_report_keys(const std::string& host_id) = 0;

    virtual result<std::optional<report_record>> get_report(const std::string& host_id, std::uint64_t seq) = 0;
    virtual result<void> insert_report(const report_record& r) = 0;  // (host_id, seq) unique
    // Up to `limit` of the host's reports from `from_seq` on, in order (the export an auditor re-checks).
    virtual result<std::vector<report_record>> list_reports(const std::string& host_id, std::uint64_t from_seq,
                                                            std::size_t limit) = 0;
    virtual result<std::uint64_t> count_reports(const std::string& host_id) = 0;
    virtual result<void> delete_reports(const std::string& host_id) = 0;  // at re-enrollment

    // Returns the id. With webhooks set (store::set_webhooks) it also queues the finding for each of them,
    // in this transaction: a finding is never stored without its deliveries, nor delivered unless stored.
    virtual result<std::int64_t> insert_finding(const finding_record& f) = 0;
    // The webhook outbox: deliveries due at `now_ms` (oldest first), when the next one is due, and its
    // bookkeeping; drop_outbox_except removes deliveries to URLs no longer configured.
    virtual result<std::vector<outbox_entry>> due_outbox(std::int64_t now_ms, std::size_t limit) = 0;
    virtual result<std::optional<std::int64_t>> next_outbox_due_ms() = 0;
    virtual result<void> remove_outbox(std::int64_t id) = 0;
    virtual result<void> retry_outbox(std::int64_t id, unsigned attempts, std::int64_t due_ms) = 0;
    virtual result<std::size_t> drop_outbox_except(const std::vector<std::string>& urls) = 0;
    virtual result<std::size_t> count_outbox() = 0;
    virtual result<fleet_generations> generations() = 0;
    virtual result<void> bump_fleet_generation() = 0;
    virtual result<void> set_policy_generation(std::uint64_t g) = 0;
    // Background work (sweeps, retention, webhook delivery) runs in one process of those sharing the store:
    // the one holding the lead, a lease renewed while it works. take_lead renews it for `replica` or takes
    // it when nobody holds it (expired or given up); false: another replica leads.
    virtual result<bool> take_lead(const std::string& replica, std::int64_t now_ms, std::int64_t ttl_ms) = 0;
    virtual result<void> give_up_lead(const std::string& replica) = 0;
    // Exact questions (never a scan of the newest N): the counts a host's status comes from, the open
    // finding a new one would repeat, how many of one rule a host has open, and the violation standing in
    // a host's way (its own first, then the oldest about its site, entity, country or the model).
    virtual result<open_finding_counts> count_open_findings(const std::string& host_id) = 0;
    virtual result<std::optional<finding_record>> find_open_finding(const std::string& host, const std::string& rule,
                                                                    const std::string& subject_kind,
                                                                    const std::string& subject,
                                                                    const std::optional<std::string>& detail) = 0;
    virtual result<std::uint64_t> count_open_rule(const std::string& host, const std::string& rule) = 0;
    virtual result<std::optional<finding_record>> newest_open_finding(const std::string& host, const std::string& rule) = 0;
    virtual result<void> repeat_finding(std::int64_t id, std::int64_t now) = 0;
    virtual result<std::optional<finding_record>> first_open_violation(const violation_scope& scope) = 0;
    // Retention: deletes up to `limit` findings resolved before `before` (open ones are never pruned) and
    // up to `limit` appraisals older than `before` that are not their host's latest; returns how many.
    virtual result<std::size_t> prune_resolved_findings(std::int64_t before, std::size_t limit) = 0;
    virtual result<std::size_t> prune_appraisals(std::int64_t before, std::size_t limit) = 0;
    virtual result<std::vector<finding_record>> list_findings(const finding_filter& f) = 0;
    // Closes the host's open findings (of `rule` when given); returns how many were closed.
    virtual result<std::size_t> resolve_findings(const std::string& host_id, const std::optional<std::string>& rule,
                                                 std::int64_t now) = 0;

    virtual result<void> put_site(const site_record& s) = 0;
    virtual result<std::optional<site_record>> get_site(const std::string& id) = 0;
    virtual result<std::vector<site_record>> list_sites() = 0;
    virtual result<void> put_entity(const entity_record& e) = 0;
    virtual result<std::optional<entity_record>> get_entity(const std::string& id) = 0;
    virtual result<std::vector<entity_record>> list_entities() = 0;

    virtual result<void> insert_appraisal(const appraisal_record& a) = 0;
    virtual result<std::optional<appraisal_record>> latest_appraisal(const std::string& host_id) = 0;

    // GPU registry (gpu_registry.cpp decides; these only read and write).
    virtual result<std::optional<gpu_record>> get_gpu(const std::string& serial) = 0;
    virtual result<void> put_gpu(const gpu_record& g) = 0;
    virtual result<std::vector<gpu_record>> list_gpus(const std::optional<std::string>& host) = 0;
    virtual result<std::optional<host_inventory_record>> get_host_inventory(const std::string& host_id) = 0;
    virtual result<void> put_host_inventory(const host_inventory_record& r) = 0;
    virtual result<std::vector<std::string>> gpu_approvals(const std::string& host_id) = 0;  // sorted
    virtual result<void> approve_gpu(const std::string& host_id, const std::string& serial, std::int64_t now) = 0;
    virtual result<bool> release_gpu(const std::string& host_id, const std::string& serial) = 0;  // false: was not approved
    virtual result<void> clear_gpu_approvals(const std::string& host_id) = 0;
    virtual result<void> insert_gpu_event(const gpu_event_record& e) = 0;
    virtual result<std::vector<gpu_event_record>> list_gpu_events(const std::optional<std::string>& serial,
                                                                  const std::optional<std::string>& host,
                                                                  std::size_t limit) = 0;  // newest first
    // Closes the host's open findings of `rule` about `subject` (a GPU serial, a model id).
    virtual result<std::size_t> resolve_subject_findings(const std::string& host_id, const std::string& rule,
                                                         const std::string& subject, std::int64_t now) = 0;

    // Compute counters and the sums they add up to.
    virtual result<std::vector<std::pair<std::string, counter_record>>> gpu_counters(const std::string& host_id) = 0;
    virtual result<void> put_gpu_counter(const std::string& host_id, const std::string& key, const counter_record& c) = 0;
    virtual result<void> add_compute(const std::string& host_id, const std::string& model, const counter_record& delta,
                                     std::int64_t now) = 0;
    virtual result<std::vector<compute_record>> list_compute() = 0;

    // Models and their key leases.
    virtual result<void> put_model(const model_record& m) = 0;
    virtual result<std::optional<model_record>> get_model(const std::string& id) = 0;
    virtual result<std::vector<model_record>> list_models() = 0;
    virtual result<void> approve_model_site(const std::string& model_id, const std::string& site_id, std::int64_t now) = 0;
    virtual result<std::vector<std::string>> model_sites(const std::string& model_id) = 0;  // sorted
    virtual result<void> insert_lease(const lease_record& l) = 0;
    virtual result<std::vector<lease_record>> active_leases(const std::optional<std::string>& host_id, std::int64_t now) = 0;
    virtual result<std::optional<lease_record>> get_lease(const std::string& id) = 0;
    // Every lease of a host for a model (active, lapsed or revoked), newest first, at most 1000.
    virtual result<std::vector<lease_record>> host_model_leases(const std::string& host_id, const std::string& model_id) = 0;
    virtual result<void> revoke_lease(const std::string& id, std::int64_t now, const std::string& reason) = 0;
    virtual result<void> renew_lease(const std::string& id, std::int64_t expires_at) = 0;

    // Closes one finding by id (policy findings are matched by the engine, not by host and rule).
    virtual result<void> resolve_finding(std::int64_t id, std::int64_t now) = 0;

    // Landmarks, the sites each one serves, and hosts' latest location proofs (schema version 3).
    virtual result<void> put_landmark(const landmark_record& l) = 0;
    virtual result<std::optional<landmark_record>> get_landmark(const std::string& id) = 0;
    virtual result<std::vector<landmark_record>> list_landmarks() = 0;  // ordered by id
    virtual result<void> assign_landmark(const std::string& site_id, const std::string& landmark_id) = 0;
    virtual result<std::vector<landmark_record>> site_landmarks(const std::string& site_id) = 0;  // ordered by id
    virtual result<std::vector<std::string>> landmark_sites(const std::string& landmark_id) = 0;  // sorted
    virtual result<void> put_host_location(const host_location_record& r) = 0;
    virtual result<std::optional<host_location_record>> get_host_location(const std::string& host_id) = 0;
    virtual result<void> put_host_measurements(const host_measurement_record& r) = 0;
    virtual result<std::optional<host_measurement_record>> get_host_measurements(const std::string& host_id) = 0;

    // Makes another read-write transaction asking for the same key wait until this one ends: taken before
    // a check-then-insert that a unique key cannot guard (a finding raised once). A PostgreSQL advisory
    // lock; nothing where one writer runs at a time (SQLite).
    virtual result<void> serialize_on(const std::string& key) = 0;

    virtual result<void> commit() = 0;
};

class store {
public:
    virtual ~store() = default;
    // A read-write transaction. SQLite: serialised with every other writer. PostgreSQL: READ COMMITTED,
    // with the rows it reads to change locked (sql_tx.cpp).
    virtual result<std::unique_ptr<store_tx>> begin() = 0;
    // A read-only transaction over one consistent snapshot; it runs beside writers and any write in it
    // fails.
    virtual result<std::unique_ptr<store_tx>> begin_read() = 0;
    // The SQL session underneath begin() (writable) or begin_read(), for tools that move whole tables
    // (migrate-store, store_copy.hpp); the store's own code goes through store_tx.
    virtual result<std::unique_ptr<sql::session>> begin_session(bool writable) = 0;
    virtual int schema_version() const = 0;
    virtual const char* backend() const = 0;  // "sqlite", "postgresql"
    // The webhook URLs every finding inserted from now on is queued for (none by default). Set once, before
    // transactions begin.
    virtual void set_webhooks(std::vector<std::string> urls) = 0;
};

// Opens (creating if needed) a SQLite database in WAL mode and runs pending migrations. `synchronous_full`
// makes every commit durable against power loss (default NORMAL: durable against process crashes).
result<std::unique_ptr<store>> open_sqlite_store(const std::filesystem::path& path, bool synchronous_full = false);

// Connects to PostgreSQL (a libpq connection string or URI), runs pending migrations under an advisory
// lock (replicas starting together migrate once) and keeps up to `pool_size` connections. `password`,
// when not empty, is passed to libpq beside the DSN (never part of it, so it is never logged).
struct postgres_options {
    std::string dsn;
    std::string password;
    unsigned pool_size = 8;
};
result<std::unique_ptr<store>> open_postgres_store(const postgres_options& o);

// The backend a configuration names: "sqlite" (the path) or "postgresql" (the DSN and password).
struct store_options {
    std::string backend = "sqlite";
    std::filesystem::path sqlite_path;
    bool sqlite_synchronous_full = false;
    postgres_options postgres;
};
result<std::unique_ptr<store>> open_store(const store_options& o);

}  // namespace custos::verifier
