// tests/support/postgres: a throwaway PostgreSQL cluster the PostgreSQL store tests will run against: it
// starts on a free port (as the `postgres` user when the tests run as root), libpq connects and writes,
// two clusters are independent, and stopping it leaves nothing listening.
#include "tests/support/postgres.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace custos::test {
namespace {

std::string one_value(const std::string& dsn, const std::string& sql) {
    PGconn* c = PQconnectdb(dsn.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
        std::string e = PQerrorMessage(c);
        PQfinish(c);
        return "connect: " + e;
    }
    PGresult* r = PQexec(c, sql.c_str());
    std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : std::string("error: ") + PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    return v;
}

TEST(PostgresCluster, StartsPrivatelyTakesWritesAndStopsClean) {
    auto a = postgres_cluster::start();
    auto b = postgres_cluster::start();
    ASSERT_NE(a->port(), b->port());
    auto made = a->psql("CREATE TABLE t (v INT); INSERT INTO t VALUES (42);");
    ASSERT_EQ(made.exit_code, 0) << made.err;
    EXPECT_EQ(one_value(a->dsn(), "SELECT v FROM t"), "42");
    // b is another cluster: it has no such table.
    EXPECT_NE(one_value(b->dsn(), "SELECT v FROM t").find("does not exist"), std::string::npos);
    EXPECT_EQ(one_value(a->dsn(), "SHOW server_version_num").substr(0, 2), postgres_cluster::bindir().parent_path().filename().string());
    const std::string dsn = a->dsn();
    a.reset();
    EXPECT_EQ(one_value(dsn, "SELECT 1").rfind("connect: ", 0), 0u);
}

}  // namespace
}  // namespace custos::test
