// A private, throwaway PostgreSQL cluster per test (or per suite): initdb into a temp dir, the server on a
// free loopback port with its socket in that dir, trust authentication for one role, fsync off (a test's
// data need not survive power loss). PostgreSQL refuses to run as root, so as root the cluster is made and
// run as the `postgres` user the Debian package creates. The binaries come from $CUSTOS_PG_BINDIR or the
// newest /usr/lib/postgresql/*/bin.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/process.hpp"

namespace custos::test {

// What a cluster demands beyond the defaults (trust, no TLS).
struct postgres_cluster_options {
    // TLS on, with a server certificate for IP 127.0.0.1 only, from a CA of the cluster's own (ca_file()).
    bool tls = false;
    // Non-empty: TCP connections need this password for role `custos` (scram-sha-256); the socket trusts.
    std::string password;
};

class postgres_cluster {
public:
    // Throws std::runtime_error naming the step that failed (no binaries, initdb, start).
    static std::unique_ptr<postgres_cluster> start(const postgres_cluster_options& o = {});
    // Stops the server at once (pg_ctl -m immediate), as a database machine that dies; idempotent.
    void stop();
    // With options.tls: the CA certificate (PEM) that signed the server's certificate.
    std::filesystem::path ca_file() const { return dir_.path() / "tls" / "ca.pem"; }
    ~postgres_cluster();  // stops the server (immediate) and removes the directory
    postgres_cluster(const postgres_cluster&) = delete;
    postgres_cluster& operator=(const postgres_cluster&) = delete;

    std::uint16_t port() const { return port_; }
    // A libpq connection string for the superuser role `custos` on database `postgres`.
    std::string dsn(const std::string& dbname = "postgres") const;
    // psql -c SQL against dbname, as that role; the result's out holds unaligned, tuples-only rows.
    process_result psql(const std::string& sql, const std::string& dbname = "postgres") const;
    // Where the binaries were found (initdb, pg_ctl, psql).
    static std::filesystem::path bindir();

private:
    postgres_cluster() = default;
    temp_dir dir_{"custos-pg"};
    std::filesystem::path data_;
    std::uint16_t port_ = 0;
    bool as_postgres_ = false;
    bool stopped_ = false;
    std::string password_;
};

}  // namespace custos::test
