#include "verifier/sql_fleet.hpp"

#include <algorithm>

namespace custos::verifier::sql {

// Accelerators seen only on the PCI bus (issue 20): kept with the host's inventory.
const char* const pci_migration_v8 = R"sql(
ALTER TABLE host_inventory ADD COLUMN pci_only TEXT NOT NULL DEFAULT '';
)sql";

// NVIDIA GPU attestation evidence per serial (issue 20).
const char* const gpu_attestation_migration_v9 = R"sql(
CREATE TABLE gpu_attestations (
    serial TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL,
    device_id TEXT NOT NULL,
    hw_model TEXT NOT NULL,
    fwid TEXT NOT NULL,
    driver_version TEXT NOT NULL,
    vbios_version TEXT NOT NULL,
    mode TEXT NOT NULL,
    measurements_digest TEXT NOT NULL,
    baseline_digest TEXT NOT NULL,
    baseline_driver TEXT NOT NULL,
    baseline_vbios TEXT NOT NULL,
    time BIGINT NOT NULL,
    last_valid BIGINT NOT NULL
);
CREATE INDEX gpu_attestations_device ON gpu_attestations (device_id);
CREATE INDEX gpu_attestations_host ON gpu_attestations (host_id);
)sql";

const char* const fleet_migration_v2 = R"sql(
CREATE TABLE gpus (
    serial TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    prev_host TEXT NOT NULL,
    name TEXT NOT NULL,
    chip TEXT NOT NULL,
    uuid TEXT NOT NULL,
    pci_bus_id TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    moved_at BIGINT NOT NULL
);
CREATE INDEX gpus_host ON gpus (host_id);
CREATE TABLE host_inventory (
    host_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    driver_version TEXT NOT NULL,
    error TEXT NOT NULL,
    serials TEXT NOT NULL,
    time BIGINT NOT NULL,
    baseline_taken INTEGER NOT NULL
);
CREATE TABLE gpu_approvals (
    host_id TEXT NOT NULL,
    serial TEXT NOT NULL,
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, serial)
);
CREATE TABLE gpu_events (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL,
    host_id TEXT NOT NULL,
    event TEXT NOT NULL,
    time BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX gpu_events_serial ON gpu_events (serial, time);
CREATE INDEX gpu_events_host ON gpu_events (host_id, time);
CREATE TABLE gpu_counters (
    host_id TEXT NOT NULL,
    gpu_key TEXT NOT NULL,
    busy_s DOUBLE PRECISION NOT NULL,
    tpp_s DOUBLE PRECISION NOT NULL,
    ops DOUBLE PRECISION NOT NULL,
    energy_mj BIGINT NOT NULL,
    PRIMARY KEY (host_id, gpu_key)
);
CREATE TABLE compute (
    host_id TEXT NOT NULL,
    model TEXT NOT NULL,
    busy_s DOUBLE PRECISION NOT NULL,
    tpp_s DOUBLE PRECISION NOT NULL,
    ops DOUBLE PRECISION NOT NULL,
    energy_mj BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, model)
);
CREATE TABLE models (
    id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    closed_weights INTEGER NOT NULL,
    training_ops DOUBLE PRECISION NOT NULL,
    index_json TEXT NOT NULL,
    key_sealed BLOB NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE TABLE model_sites (
    model_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (model_id, site_id)
);
CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    key_name TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL,
    revoke_reason TEXT NOT NULL
);
CREATE INDEX leases_host ON leases (host_id, revoked_at, expires_at);
)sql";

namespace {

// Serials as stored in host_inventory.serials: newline-separated (a serial never holds a control character).
std::string join_lines(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : "\n") + s;
    return out;
}

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        const auto nl = s.find('\n', pos);
        out.push_back(s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return out;
}

const char* const gpu_columns = "serial, host_id, prev_host, name, chip, uuid, pci_bus_id, first_seen, last_seen, moved_at";

gpu_record read_gpu(const stmt& s) {
    return gpu_record{s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_text(5),
                      s.col_text(6), s.col_i64(7),  s.col_i64(8),  s.col_i64(9)};
}

const char* const attestation_columns =
    "serial, host_id, status, error, device_id, hw_model, fwid, driver_version, vbios_version, mode, measurements_digest, "
    "baseline_digest, baseline_driver, baseline_vbios, time, last_valid";

gpu_attestation_record read_attestation(const stmt& s) {
    return gpu_attestation_record{s.col_text(0),  s.col_text(1),  s.col_text(2),  s.col_text(3),  s.col_text(4),  s.col_text(5),
                                  s.col_text(6),  s.col_text(7),  s.col_text(8),  s.col_text(9),  s.col_text(10), s.col_text(11),
                                  s.col_text(12), s.col_text(13), s.col_i64(14), s.col_i64(15)};
}

const char* const lease_columns = "id, host_id, model_id, key_name, issued_at, expires_at, revoked_at, revoke_reason";

lease_record read_lease(const stmt& s) {
    return lease_record{s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3),
                        s.col_i64(4),  s.col_i64(5),  s.col_i64(6),  s.col_text(7)};
}

const char* const model_columns = "id, root, closed_weights, training_ops, index_json, key_sealed, added_at";

model_record read_model(const stmt& s) {
    return model_record{s.col_text(0), s.col_text(1), s.col_i64(2) != 0, s.col_dbl(3), s.col_text(4), s.col_blob(5), s.col_i64(6)};
}

counter_record read_counter(const stmt& s, int first) {
    return counter_record{s.col_dbl(first), s.col_dbl(first + 1), s.col_dbl(first + 2),
                          static_cast<std::uint64_t>(s.col_i64(first + 3))};
}

}  // namespace

result<std::optional<gpu_record>> fleet_tx::get_gpu(const std::string& serial) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + gpu_columns + " FROM gpus WHERE serial = ?" + s_.lock_suffix()));
    s.text(serial);
    CUSTOS_TRY(row, s.step("reading a GPU"));
    if (!row) return std::optional<gpu_record>{};
    return std::optional<gpu_record>(read_gpu(s));
}

result<void> fleet_tx::put_gpu(const gpu_record& g) {
    CUSTOS_TRY(s, s_.prepare(std::string("INSERT INTO gpus (") + gpu_columns +
                             ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO UPDATE SET "
                             "host_id = excluded.host_id, prev_host = excluded.prev_host, name = excluded.name, "
                             "chip = excluded.chip, uuid = excluded.uuid, pci_bus_id = excluded.pci_bus_id, "
                             "first_seen = excluded.first_seen, last_seen = excluded.last_seen, moved_at = excluded.moved_at"));
    return s.text(g.serial).text(g.host_id).text(g.prev_host).text(g.name).text(g.chip).text(g.uuid).text(g.pci_bus_id)
        .i64(g.first_seen).i64(g.last_seen).i64(g.moved_at).run("storing a GPU");
}

result<std::vector<gpu_record>> fleet_tx::list_gpus(const std::optional<std::string>& host) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + gpu_columns +
                             (host ? " FROM gpus WHERE host_id = ? ORDER BY serial" : " FROM gpus ORDER BY host_id, serial")));
    if (host) s.text(*host);
    return collect<gpu_record>(s, "listing GPUs", read_gpu);
}

result<std::optional<gpu_attestation_record>> fleet_tx::get_gpu_attestation(const std::string& serial) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + attestation_columns + " FROM gpu_attestations WHERE serial = ?" + s_.lock_suffix()));
    s.text(serial);
    CUSTOS_TRY(row, s.step("reading a GPU's attestation"));
    if (!row) return std::optional<gpu_attestation_record>{};
    return std::optional<gpu_attestation_record>(read_attestation(s));
}

result<std::vector<gpu_attestation_record>> fleet_tx::gpu_attestations_of_device(const std::string& device_id) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + attestation_columns +
                             " FROM gpu_attestations WHERE device_id = ? ORDER BY serial" + s_.lock_suffix()));
    s.text(device_id);
    return collect<gpu_attestation_record>(s, "reading a GPU device's attestations", read_attestation);
}

result<std::vector<gpu_attestation_record>> fleet_tx::list_gpu_attestations(const std::optional<std::string>& host) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + attestation_columns +
                             (host ? " FROM gpu_attestations WHERE host_id = ? ORDER BY serial" : " FROM gpu_attestations ORDER BY serial")));
    if (host) s.text(*host);
    return collect<gpu_attestation_record>(s, "listing GPU attestations", read_attestation);
}

result<void> fleet_tx::put_gpu_attestation(const gpu_attestation_record& r) {
    CUSTOS_TRY(s, s_.prepare(std::string("INSERT INTO gpu_attestations (") + attestation_columns +
                             ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO UPDATE SET "
                             "host_id = excluded.host_id, status = excluded.status, error = excluded.error, "
                             "device_id = excluded.device_id, hw_model = excluded.hw_model, fwid = excluded.fwid, "
                             "driver_version = excluded.driver_version, vbios_version = excluded.vbios_version, "
                             "mode = excluded.mode, measurements_digest = excluded.measurements_digest, "
                             "baseline_digest = excluded.baseline_digest, baseline_driver = excluded.baseline_driver, "
                             "baseline_vbios = excluded.baseline_vbios, time = excluded.time, last_valid = excluded.last_valid"));
    return s.text(r.serial).text(r.host_id).text(r.status).text(r.error).text(r.device_id).text(r.hw_model).text(r.fwid)
        .text(r.driver_version).text(r.vbios_version).text(r.mode).text(r.measurements_digest).text(r.baseline_digest)
        .text(r.baseline_driver).text(r.baseline_vbios).i64(r.time).i64(r.last_valid).run("storing a GPU's attestation");
}

result<std::optional<host_inventory_record>> fleet_tx::get_host_inventory(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT host_id, source, driver_version, error, serials, time, baseline_taken, pci_only "
                             "FROM host_inventory WHERE host_id = ?"));
    s.text(host_id);
    CUSTOS_TRY(row, s.step("reading a host's inventory"));
    if (!row) return std::optional<host_inventory_record>{};
    return std::optional<host_inventory_record>(host_inventory_record{s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3),
                                                                      split_lines(s.col_text(4)), s.col_i64(5), s.col_i64(6) != 0,
                                                                      split_lines(s.col_text(7))});
}

result<void> fleet_tx::put_host_inventory(const host_inventory_record& r) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO host_inventory (host_id, source, driver_version, error, serials, time, baseline_taken, "
                             "pci_only) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host_id) DO UPDATE SET source = excluded.source, "
                             "driver_version = excluded.driver_version, error = excluded.error, serials = excluded.serials, "
                             "time = excluded.time, baseline_taken = excluded.baseline_taken, pci_only = excluded.pci_only"));
    return s.text(r.host_id).text(r.source).text(r.driver_version).text(r.error).text(join_lines(r.serials)).i64(r.time)
        .i64(r.baseline_taken).text(join_lines(r.pci_only)).run("storing a host's inventory");
}

result<std::vector<std::string>> fleet_tx::gpu_approvals(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT serial FROM gpu_approvals WHERE host_id = ? ORDER BY serial"));
    s.text(host_id);
    return collect<std::string>(s, "listing approved GPUs", [](const stmt& st) { return st.col_text(0); });
}

result<void> fleet_tx::approve_gpu(const std::string& host_id, const std::string& serial, std::int64_t now) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO gpu_approvals (host_id, serial, approved_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (host_id, serial) DO NOTHING"));
    return s.text(host_id).text(serial).i64(now).run("approving a GPU");
}

result<bool> fleet_tx::release_gpu(const std::string& host_id, const std::string& serial) {
    CUSTOS_TRY(s, s_.prepare("DELETE FROM gpu_approvals WHERE host_id = ? AND serial = ?"));
    CUSTOS_TRY_VOID(s.text(host_id).text(serial).run("releasing a GPU"));
    return s.changes() > 0;
}

result<void> fleet_tx::clear_gpu_approvals(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("DELETE FROM gpu_approvals WHERE host_id = ?"));
    return s.text(host_id).run("clearing a host's approved GPUs");
}

result<void> fleet_tx::insert_gpu_event(const gpu_event_record& e) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO gpu_events (serial, host_id, event, time, detail) VALUES (?, ?, ?, ?, ?)"));
    return s.text(e.serial).text(e.host_id).text(e.event).i64(e.time).text(e.detail).run("storing a GPU event");
}

result<std::vector<gpu_event_record>> fleet_tx::list_gpu_events(const std::optional<std::string>& serial,
                                                                const std::optional<std::string>& host, std::size_t limit) {
    std::string sql = "SELECT serial, host_id, event, time, detail FROM gpu_events WHERE 1 = 1";
    if (serial) sql += " AND serial = ?";
    if (host) sql += " AND host_id = ?";
    sql += " ORDER BY time DESC, id DESC LIMIT ?";
    CUSTOS_TRY(s, s_.prepare(sql));
    if (serial) s.text(*serial);
    if (host) s.text(*host);
    s.i64(static_cast<std::int64_t>(limit));
    return collect<gpu_event_record>(s, "listing GPU events", [](const stmt& st) {
        return gpu_event_record{st.col_text(0), st.col_text(1), st.col_text(2), st.col_i64(3), st.col_text(4)};
    });
}

result<std::vector<std::pair<std::string, counter_record>>> fleet_tx::gpu_counters(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT gpu_key, busy_s, tpp_s, ops, energy_mj FROM gpu_counters WHERE host_id = ? ORDER BY gpu_key"));
    s.text(host_id);
    return collect<std::pair<std::string, counter_record>>(
        s, "reading GPU counters", [](const stmt& st) { return std::make_pair(st.col_text(0), read_counter(st, 1)); });
}

result<void> fleet_tx::put_gpu_counter(const std::string& host_id, const std::string& key, const counter_record& c) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO gpu_counters (host_id, gpu_key, busy_s, tpp_s, ops, energy_mj) VALUES (?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (host_id, gpu_key) DO UPDATE SET busy_s = excluded.busy_s, tpp_s = excluded.tpp_s, "
                             "ops = excluded.ops, energy_mj = excluded.energy_mj"));
    return s.text(host_id).text(key).dbl(c.busy_s).dbl(c.tpp_s).dbl(c.ops).i64(static_cast<std::int64_t>(c.energy_mj))
        .run("storing GPU counters");
}

result<void> fleet_tx::add_compute(const std::string& host_id, const std::string& model, const counter_record& d, std::int64_t now) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO compute (host_id, model, busy_s, tpp_s, ops, energy_mj, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (host_id, model) DO UPDATE SET busy_s = compute.busy_s + excluded.busy_s, "
                             "tpp_s = compute.tpp_s + excluded.tpp_s, ops = compute.ops + excluded.ops, "
                             "energy_mj = compute.energy_mj + excluded.energy_mj, updated_at = excluded.updated_at"));
    return s.text(host_id).text(model).dbl(d.busy_s).dbl(d.tpp_s).dbl(d.ops).i64(static_cast<std::int64_t>(d.energy_mj)).i64(now)
        .run("adding compute");
}

result<std::vector<compute_record>> fleet_tx::list_compute() {
    CUSTOS_TRY(s, s_.prepare("SELECT host_id, model, busy_s, tpp_s, ops, energy_mj, updated_at FROM compute ORDER BY host_id, model"));
    return collect<compute_record>(s, "listing compute", [](const stmt& st) {
        return compute_record{st.col_text(0), st.col_text(1), read_counter(st, 2), st.col_i64(6)};
    });
}

result<void> fleet_tx::put_model(const model_record& m) {
    CUSTOS_TRY(s, s_.prepare(std::string("INSERT INTO models (") + model_columns +
                             ") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET root = excluded.root, "
                             "closed_weights = excluded.closed_weights, training_ops = excluded.training_ops, "
                             "index_json = excluded.index_json, key_sealed = excluded.key_sealed, added_at = excluded.added_at"));
    return s.text(m.id).text(m.root).i64(m.closed_weights).dbl(m.training_ops).text(m.index_json).blob(m.key_sealed).i64(m.added_at)
        .run("storing a model");
}

result<std::optional<model_record>> fleet_tx::get_model(const std::string& id) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + model_columns + " FROM models WHERE id = ?"));
    s.text(id);
    CUSTOS_TRY(row, s.step("reading a model"));
    if (!row) return std::optional<model_record>{};
    return std::optional<model_record>(read_model(s));
}

result<std::vector<model_record>> fleet_tx::list_models() {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + model_columns + " FROM models ORDER BY id"));
    return collect<model_record>(s, "listing models", read_model);
}

result<void> fleet_tx::approve_model_site(const std::string& model_id, const std::string& site_id, std::int64_t now) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO model_sites (model_id, site_id, approved_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (model_id, site_id) DO NOTHING"));
    return s.text(model_id).text(site_id).i64(now).run("approving a model for a site");
}

result<std::vector<std::string>> fleet_tx::model_sites(const std::string& model_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT site_id FROM model_sites WHERE model_id = ? ORDER BY site_id"));
    s.text(model_id);
    return collect<std::string>(s, "listing a model's sites", [](const stmt& st) { return st.col_text(0); });
}

result<void> fleet_tx::insert_lease(const lease_record& l) {
    CUSTOS_TRY(s, s_.prepare(std::string("INSERT INTO leases (") + lease_columns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    return s.text(l.id).text(l.host_id).text(l.model_id).text(l.key_name).i64(l.issued_at).i64(l.expires_at).i64(l.revoked_at)
        .text(l.revoke_reason).run("storing a lease");
}

result<std::vector<lease_record>> fleet_tx::active_leases(const std::optional<std::string>& host_id, std::int64_t now) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + lease_columns +
                             (host_id ? " FROM leases WHERE host_id = ? AND revoked_at = 0 AND expires_at > ? ORDER BY issued_at"
                                      : " FROM leases WHERE revoked_at = 0 AND expires_at > ? ORDER BY host_id, issued_at")));
    if (host_id) s.text(*host_id);
    s.i64(now);
    return collect<lease_record>(s, "listing leases", read_lease);
}

result<std::optional<lease_record>> fleet_tx::get_lease(const std::string& id) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + lease_columns + " FROM leases WHERE id = ?" + s_.lock_suffix()));
    s.text(id);
    CUSTOS_TRY(row, s.step("reading a lease"));
    if (!row) return std::optional<lease_record>{};
    return std::optional<lease_record>(read_lease(s));
}

result<std::vector<lease_record>> fleet_tx::host_model_leases(const std::string& host_id, const std::string& model_id) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + lease_columns +
                             " FROM leases WHERE host_id = ? AND model_id = ? ORDER BY issued_at DESC LIMIT 1000"));
    s.text(host_id).text(model_id);
    return collect<lease_record>(s, "listing a host's leases", read_lease);
}

result<void> fleet_tx::revoke_lease(const std::string& id, std::int64_t now, const std::string& reason) {
    CUSTOS_TRY(s, s_.prepare("UPDATE leases SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at = 0"));
    return s.i64(now).text(reason).text(id).run("revoking a lease");
}

result<void> fleet_tx::renew_lease(const std::string& id, std::int64_t expires_at) {
    CUSTOS_TRY(s, s_.prepare("UPDATE leases SET expires_at = ? WHERE id = ? AND revoked_at = 0"));
    return s.i64(expires_at).text(id).run("renewing a lease");
}

}  // namespace custos::verifier::sql
