#include "tests/support/postgres.hpp"

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace custos::test {
namespace fs = std::filesystem;

namespace {

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("postgres: socket()");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("postgres: no free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace

fs::path postgres_cluster::bindir() {
    if (const char* env = std::getenv("CUSTOS_PG_BINDIR"); env && *env) return env;
    std::vector<fs::path> found;
    std::error_code ec;
    for (const auto& d : fs::directory_iterator("/usr/lib/postgresql", ec))
        if (fs::exists(d.path() / "bin" / "initdb")) found.push_back(d.path() / "bin");
    if (found.empty())
        throw std::runtime_error("postgres: no initdb under /usr/lib/postgresql/*/bin (install the Debian package "
                                 "postgresql, or set CUSTOS_PG_BINDIR)");
    // The newest major version: directory names are the version numbers.
    std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
        return std::stoi(a.parent_path().filename().string()) < std::stoi(b.parent_path().filename().string());
    });
    return found.back();
}

namespace {

// A CA and a server certificate for IP 127.0.0.1 in dir (openssl's command line; P-256 keys).
void make_tls(const fs::path& dir) {
    fs::create_directories(dir);
    const auto openssl = [](std::vector<std::string> argv) {
        argv.insert(argv.begin(), "openssl");
        auto r = run_process(argv);
        if (r.exit_code != 0) throw std::runtime_error("postgres: openssl " + argv[1] + ": " + r.err);
    };
    const std::string d = dir.string();
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + "/ca.key",
             "-out", d + "/ca.pem", "-subj", "/CN=custos test database CA", "-days", "2"});
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + "/server.key", "-out",
             d + "/server.csr", "-subj", "/CN=custos test database"});
    {
        std::ofstream ext(dir / "san.ext");
        ext << "subjectAltName = IP:127.0.0.1\n";
    }
    openssl({"x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key", "-CAcreateserial", "-out",
             d + "/server.pem", "-days", "2", "-extfile", d + "/san.ext"});
    fs::permissions(dir / "server.key", fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace

std::unique_ptr<postgres_cluster> postgres_cluster::start(const postgres_cluster_options& o) {
    std::unique_ptr<postgres_cluster> c(new postgres_cluster());
    const fs::path bin = bindir();
    c->data_ = c->dir_.path() / "data";
    c->as_postgres_ = ::geteuid() == 0;
    c->password_ = o.password;
    if (o.tls) make_tls(c->dir_.path() / "tls");
    if (!o.password.empty()) {
        std::ofstream(c->dir_.path() / "pwfile") << o.password << "\n";
    }
    std::vector<std::string> prefix;
    if (c->as_postgres_) {
        const passwd* pw = ::getpwnam("postgres");
        if (!pw) throw std::runtime_error("postgres: running as root and there is no `postgres` user to run the server as");
        // The temp dir is root's: hand it to postgres (the server insists on owning its data directory and
        // its key file).
        for (const auto& e : fs::recursive_directory_iterator(c->dir_.path()))
            if (::chown(e.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("postgres: chown " + e.path().string());
        if (::chown(c->dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
            throw std::runtime_error("postgres: chown " + c->dir_.path().string());
        prefix = {"runuser", "-u", "postgres", "--"};
    }
    auto as = [&](std::vector<std::string> argv) {
        argv.insert(argv.begin(), prefix.begin(), prefix.end());
        return argv;
    };
    std::vector<std::string> initdb = {(bin / "initdb").string(), "-D", c->data_.string(), "-U", "custos", "--no-sync",
                                       "-E", "UTF8", "--locale=C"};
    if (o.password.empty()) {
        initdb.insert(initdb.end(), {"-A", "trust"});
    } else {
        initdb.insert(initdb.end(), {"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile",
                                     (c->dir_.path() / "pwfile").string()});
    }
    auto init = run_process(as(initdb), {}, std::chrono::seconds(120));
    fs::remove(c->dir_.path() / "pwfile");
    if (init.exit_code != 0) throw std::runtime_error("postgres: initdb failed: " + init.err + init.out);
    for (int attempt = 0;; ++attempt) {
        c->port_ = free_port();
        const std::string opts = "-p " + std::to_string(c->port_) + " -k " + c->dir_.path().string() +
                                 " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                                 " -c full_page_writes=off -c max_connections=200" +
                                 (o.tls ? " -c ssl=on -c ssl_cert_file=" + (c->dir_.path() / "tls/server.pem").string() +
                                              " -c ssl_key_file=" + (c->dir_.path() / "tls/server.key").string()
                                        : std::string());
        auto st = run_process(as({(bin / "pg_ctl").string(), "-D", c->data_.string(), "-o", opts, "-l",
                                  (c->dir_.path() / "server.log").string(), "-w", "-t", "60", "start"}),
                              {}, std::chrono::seconds(90));
        if (st.exit_code == 0) break;
        if (attempt == 2) throw std::runtime_error("postgres: pg_ctl start failed: " + st.err + st.out);
    }
    return c;
}

void postgres_cluster::stop() {
    if (stopped_) return;
    stopped_ = true;
    std::vector<std::string> argv = {(bindir() / "pg_ctl").string(), "-D", data_.string(), "-m", "immediate", "-w", "stop"};
    if (as_postgres_) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
    (void)run_process(argv, {}, std::chrono::seconds(60));
}

postgres_cluster::~postgres_cluster() {
    try {
        stop();
    } catch (...) {
    }
}

std::string postgres_cluster::dsn(const std::string& dbname) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=custos dbname=" + dbname + " connect_timeout=10";
}

process_result postgres_cluster::psql(const std::string& sql, const std::string& dbname) const {
    std::vector<std::pair<std::string, std::string>> env;
    if (!password_.empty()) env.emplace_back("PGPASSWORD", password_);
    return run_process({(bindir() / "psql").string(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn(dbname), "-c", sql}, env);
}

}  // namespace custos::test
