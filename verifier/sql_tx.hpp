// One store transaction over a SQL connection, the same code for SQLite and PostgreSQL (sql_tx.cpp): a
// backend supplies a session (a connection inside BEGIN … with its statement cache) and gets a store_tx.
// Internal to verifier/.
#pragma once

#include <memory>
#include <string>

#include "verifier/sql_stmt.hpp"
#include "verifier/store.hpp"

namespace custos::verifier::sql {

// A connection inside one transaction. Destroying it without commit() must leave nothing behind.
class session : public statements {
public:
    virtual result<void> commit() = 0;
    virtual void rollback() noexcept = 0;
};

std::unique_ptr<store_tx> make_tx(std::unique_ptr<session> s);

// The first migration of the schema (enrollment, hosts, reports, findings, sites, appraisals).
extern const char* const core_migration_v1;

// Every migration in order, as SQLite runs them: index i brings the schema from version i to i + 1
// (pg_store.cpp respells them for PostgreSQL).
inline constexpr int latest_version = 9;
extern const char* const migrations[latest_version];

}  // namespace custos::verifier::sql
