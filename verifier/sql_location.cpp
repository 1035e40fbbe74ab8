#include "verifier/sql_location.hpp"

#include <cmath>

namespace custos::verifier::sql {

const char* const location_migration_v3 = R"sql(
ALTER TABLE findings ADD COLUMN ref TEXT NOT NULL DEFAULT '';
CREATE TABLE landmarks (
    id TEXT PRIMARY KEY,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    public_key BLOB NOT NULL,
    address TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE TABLE site_landmarks (
    site_id TEXT NOT NULL,
    landmark_id TEXT NOT NULL REFERENCES landmarks (id),
    PRIMARY KEY (site_id, landmark_id)
);
CREATE TABLE host_locations (
    host_id TEXT PRIMARY KEY,
    time BIGINT NOT NULL,
    verdict TEXT NOT NULL,
    max_km DOUBLE PRECISION,
    min_km DOUBLE PRECISION,
    detail TEXT NOT NULL
);
)sql";

const char* const measurements_migration_v4 = R"sql(
CREATE TABLE host_measurements (
    host_id TEXT PRIMARY KEY,
    ima_count BIGINT NOT NULL,
    ima_pcrs TEXT NOT NULL,
    boot_reference TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
)sql";

namespace {

const char* const landmark_columns = "id, lat, lon, public_key, address, added_at";

landmark_record read_landmark(const stmt& s, int off = 0) {
    return landmark_record{s.col_text(off), s.col_dbl(off + 1), s.col_dbl(off + 2), s.col_blob(off + 3), s.col_text(off + 4),
                           s.col_i64(off + 5)};
}

result<std::vector<landmark_record>> read_landmarks(stmt& s, const char* what) {
    return collect<landmark_record>(s, what, [](const stmt& st) { return read_landmark(st); });
}

}  // namespace

result<void> location_tx::put_landmark(const landmark_record& l) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO landmarks (id, lat, lon, public_key, address, added_at) VALUES (?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, "
                             "public_key = excluded.public_key, address = excluded.address"));
    return s.text(l.id).dbl(l.lat).dbl(l.lon).blob(l.public_key).text(l.address).i64(l.added_at).run("storing a landmark");
}

result<std::optional<landmark_record>> location_tx::get_landmark(const std::string& id) {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + landmark_columns + " FROM landmarks WHERE id = ?"));
    s.text(id);
    CUSTOS_TRY(row, s.step("reading a landmark"));
    if (!row) return std::optional<landmark_record>{};
    return std::optional<landmark_record>(read_landmark(s));
}

result<std::vector<landmark_record>> location_tx::list_landmarks() {
    CUSTOS_TRY(s, s_.prepare(std::string("SELECT ") + landmark_columns + " FROM landmarks ORDER BY id"));
    return read_landmarks(s, "listing landmarks");
}

result<void> location_tx::assign_landmark(const std::string& site_id, const std::string& landmark_id) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO site_landmarks (site_id, landmark_id) VALUES (?, ?) ON CONFLICT DO NOTHING"));
    return s.text(site_id).text(landmark_id).run("assigning a landmark to a site");
}

result<std::vector<landmark_record>> location_tx::site_landmarks(const std::string& site_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT l.id, l.lat, l.lon, l.public_key, l.address, l.added_at FROM landmarks l "
                             "JOIN site_landmarks sl ON sl.landmark_id = l.id WHERE sl.site_id = ? ORDER BY l.id"));
    s.text(site_id);
    return read_landmarks(s, "listing a site's landmarks");
}

result<std::vector<std::string>> location_tx::landmark_sites(const std::string& landmark_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT site_id FROM site_landmarks WHERE landmark_id = ? ORDER BY site_id"));
    s.text(landmark_id);
    return collect<std::string>(s, "listing a landmark's sites", [](const stmt& st) { return st.col_text(0); });
}

result<void> location_tx::put_host_location(const host_location_record& r) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO host_locations (host_id, time, verdict, max_km, min_km, detail) VALUES (?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (host_id) DO UPDATE SET time = excluded.time, verdict = excluded.verdict, "
                             "max_km = excluded.max_km, min_km = excluded.min_km, detail = excluded.detail"));
    // NaN is how an absent distance is bound (SQLite stores a NaN double as NULL).
    s.text(r.host_id).i64(r.time).text(r.verdict).dbl(r.max_km.value_or(std::nan(""))).dbl(r.min_km.value_or(std::nan("")));
    return s.text(r.detail_json).run("storing a host's location");
}

result<std::optional<host_location_record>> location_tx::get_host_location(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT host_id, time, verdict, max_km, min_km, detail, max_km IS NULL, min_km IS NULL "
                             "FROM host_locations WHERE host_id = ?"));
    s.text(host_id);
    CUSTOS_TRY(row, s.step("reading a host's location"));
    if (!row) return std::optional<host_location_record>{};
    host_location_record r;
    r.host_id = s.col_text(0);
    r.time = s.col_i64(1);
    r.verdict = s.col_text(2);
    if (!s.col_i64(6)) r.max_km = s.col_dbl(3);
    if (!s.col_i64(7)) r.min_km = s.col_dbl(4);
    r.detail_json = s.col_text(5);
    return std::optional<host_location_record>(std::move(r));
}

result<void> location_tx::put_host_measurements(const host_measurement_record& r) {
    CUSTOS_TRY(s, s_.prepare("INSERT INTO host_measurements (host_id, ima_count, ima_pcrs, boot_reference, updated_at, "
                             "have_reset, reset_count) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host_id) DO UPDATE SET "
                             "ima_count = excluded.ima_count, ima_pcrs = excluded.ima_pcrs, boot_reference = "
                             "excluded.boot_reference, updated_at = excluded.updated_at, have_reset = excluded.have_reset, "
                             "reset_count = excluded.reset_count"));
    return s.text(r.host_id).u64(r.ima_count).text(r.ima_pcrs).text(r.boot_reference).i64(r.updated_at).i64(r.have_reset)
        .i64(r.reset_count).run("storing a host's measurement state");
}

result<std::optional<host_measurement_record>> location_tx::get_host_measurements(const std::string& host_id) {
    CUSTOS_TRY(s, s_.prepare("SELECT host_id, ima_count, ima_pcrs, boot_reference, updated_at, have_reset, reset_count "
                             "FROM host_measurements WHERE host_id = ?"));
    s.text(host_id);
    CUSTOS_TRY(row, s.step("reading a host's measurement state"));
    if (!row) return std::optional<host_measurement_record>{};
    host_measurement_record r;
    r.host_id = s.col_text(0);
    r.ima_count = static_cast<std::uint64_t>(s.col_i64(1));
    r.ima_pcrs = s.col_text(2);
    r.boot_reference = s.col_text(3);
    r.updated_at = s.col_i64(4);
    r.have_reset = s.col_i64(5) != 0;
    r.reset_count = static_cast<std::uint32_t>(s.col_i64(6));
    return std::optional<host_measurement_record>(std::move(r));
}

}  // namespace custos::verifier::sql
