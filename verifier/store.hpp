// The verifier's storage interface: every read and write happens inside one transaction, so a handler's
// checks and its writes are atomic. Two backends run the same statements (sql_tx.cpp): SQLite, the
// embedded default (sqlite_store.cpp), and PostgreSQL for several verifier replicas on one database
// (pg_store.cpp); each has its own versioned migrations.
//
// The transaction interface is split by aggregate (verifier/store/*.hpp): enrollment, hosts, reports,
// findings, fleet (sites, GPUs, compute), models and leases, location, what replicas coordinate
// through, and the transparency log; store_tx is all of them in one transaction.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crypto/result.hpp"
#include "verifier/store/coordination.hpp"
#include "verifier/store/enrollment.hpp"
#include "verifier/store/findings.hpp"
#include "verifier/store/fleet.hpp"
#include "verifier/store/hosts.hpp"
#include "verifier/store/location.hpp"
#include "verifier/store/log.hpp"
#include "verifier/store/models.hpp"
#include "verifier/store/reports.hpp"

namespace custos::verifier {

namespace sql {
class session;  // sql_tx.hpp: a connection inside one transaction
}

// One transaction over every aggregate. Destroying it without commit() rolls back. Not thread-safe; one
// per request.
class store_tx : public enrollment_store,
                 public host_store,
                 public report_store,
                 public finding_store,
                 public coordination_store,
                 public fleet_store,
                 public model_store,
                 public location_store,
                 public log_store {
public:
    virtual ~store_tx() = default;
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
    // Whether events are queued for the transparency log (on by default; off only to measure what it
    // costs). Set once, before transactions begin.
    virtual void set_log_enabled(bool on) = 0;
};

// Opens (creating if needed) a SQLite database in WAL mode and runs pending migrations. `synchronous_full`
// makes every commit durable against power loss (default NORMAL: durable against process crashes).
result<std::unique_ptr<store>> open_sqlite_store(const std::filesystem::path& path, bool synchronous_full = false);

// Connects to PostgreSQL (a libpq connection string or URI), runs pending migrations under an advisory
// lock (replicas starting together migrate once) and keeps up to `pool_size` connections. `password`,
// when not empty, is passed to libpq beside the DSN (never part of it, so it is never logged); the store
// keeps its own copy in locked memory, zeroed when it closes, and callers wipe theirs (wipe_password).
// libpq keeps a copy per open connection, zeroed when the connection closes.
struct postgres_options {
    std::string dsn;
    std::string password;
    unsigned pool_size = 8;
};
result<std::unique_ptr<store>> open_postgres_store(const postgres_options& o);
// Zeroes a password held in a std::string (before it is freed) and empties it.
void wipe_password(std::string& password) noexcept;

// The backend a configuration names: "sqlite" (the path) or "postgresql" (the DSN and password).
struct store_options {
    std::string backend = "sqlite";
    std::filesystem::path sqlite_path;
    bool sqlite_synchronous_full = false;
    postgres_options postgres;
};
result<std::unique_ptr<store>> open_store(const store_options& o);

}  // namespace custos::verifier
