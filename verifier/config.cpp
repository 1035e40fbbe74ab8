#include "verifier/config.hpp"

#include <toml++/toml.h>

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "attest/pcr_selection.hpp"
#include "net/address.hpp"

namespace custos::verifier {
namespace {

namespace fs = std::filesystem;

struct reader {
    const toml::table& root;
    std::string file;

    error bad(const std::string& key, const std::string& why, const toml::node* n = nullptr) const {
        std::string where = file;
        if (n && n->source().begin) where += ":" + std::to_string(n->source().begin.line);
        return make_error(errc::invalid_argument, where + ": " + key + " " + why);
    }

    // Every key of `t` must be in `allowed`.
    result<void> only(const toml::table& t, const std::string& prefix, std::initializer_list<std::string_view> allowed) const {
        for (const auto& [k, v] : t) {
            bool ok = false;
            for (auto a : allowed) ok = ok || k.str() == a;
            if (!ok) return bad(prefix + std::string(k.str()), "is not a known setting", &v);
        }
        return {};
    }

    template <class T>
    result<void> get(const toml::table& t, const std::string& prefix, std::string_view key, T& out) const {
        const toml::node* n = t.get(key);
        if (!n) return {};
        const std::string name = prefix + std::string(key);
        if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, fs::path>) {
            auto v = n->value<std::string>();
            if (!n->is_string() || !v) return bad(name, "must be a string", n);
            out = T(*v);
        } else if constexpr (std::is_same_v<T, double>) {
            if (!n->is_integer() && !n->is_floating_point()) return bad(name, "must be a number", n);
            const double v = *n->value<double>();
            if (!std::isfinite(v) || v < 0) return bad(name, "must be a finite number ≥ 0", n);
            out = v;
        } else if constexpr (std::is_same_v<T, bool>) {
            if (!n->is_boolean()) return bad(name, "must be true or false", n);
            out = *n->value<bool>();
        } else {
            if (!n->is_integer()) return bad(name, "must be an integer", n);
            const std::int64_t v = *n->value<std::int64_t>();
            if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max())
                return bad(name, "is out of range", n);
            out = static_cast<T>(v);
        }
        return {};
    }

    result<const toml::table*> table(std::string_view key) const {
        const toml::node* n = root.get(key);
        if (!n) return static_cast<const toml::table*>(nullptr);
        if (!n->is_table()) return bad(std::string(key), "must be a table ([" + std::string(key) + "])", n);
        return n->as_table();
    }
};

result<void> check_range(const std::string& file, const char* key, std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
    if (v < lo || v > hi)
        return make_error(errc::invalid_argument, file + ": " + key + " = " + std::to_string(v) + " is outside " +
                                                      std::to_string(lo) + ".." + std::to_string(hi));
    return {};
}

}  // namespace

result<void> check_listen_address(const std::string& listen) {
    const auto hp = net::split_host_port(listen);
    if (!hp || hp->port == 0)
        return make_error(errc::invalid_argument,
                          "listen = \"" + listen + "\" is not HOST:PORT with a port 1..65535 (e.g. 127.0.0.1:8443 or [::1]:8443)");
    return {};
}

result<verifier_config> load_verifier_config(const fs::path& file) {
    std::error_code ec;
    const fs::path abs = fs::absolute(file, ec);
    std::ifstream in(abs, std::ios::binary);
    if (!in) return make_error(errc::io, abs.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) return make_error(errc::io, abs.string() + ": cannot read the config file");
    return parse_verifier_config(text.str(), abs);
}

result<verifier_config> parse_verifier_config(std::string_view text, const fs::path& abs) {
    toml::table root;
    try {
        root = toml::parse(text, abs.string());
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << abs.string() << ":" << e.source().begin.line << ": " << e.description();
        return make_error(errc::invalid_argument, msg.str());
    }
    verifier_config c;
    c.dir = abs.parent_path();
    const reader r{root, abs.string()};
    CUSTOS_TRY_VOID(r.only(root, "", {"listen", "threads", "body_limit", "read_timeout_ms", "max_connections", "tls", "keys", "enroll",
                                      "database", "store", "retention", "attest", "gpu", "compute", "release", "policy", "location", "measurements",
                                      "log", "alerts"}));
    CUSTOS_TRY_VOID(r.get(root, "", "listen", c.listen));
    CUSTOS_TRY_VOID(r.get(root, "", "threads", c.threads));
    CUSTOS_TRY_VOID(r.get(root, "", "body_limit", c.body_limit));
    CUSTOS_TRY_VOID(r.get(root, "", "read_timeout_ms", c.read_timeout_ms));
    CUSTOS_TRY_VOID(r.get(root, "", "max_connections", c.max_connections));
    CUSTOS_TRY(tls, r.table("tls"));
    if (tls) {
        CUSTOS_TRY_VOID(r.only(*tls, "tls.", {"tls_cert", "tls_key", "ca_cert", "ca_key"}));
        CUSTOS_TRY_VOID(r.get(*tls, "tls.", "tls_cert", c.tls_cert));
        CUSTOS_TRY_VOID(r.get(*tls, "tls.", "tls_key", c.tls_key));
        CUSTOS_TRY_VOID(r.get(*tls, "tls.", "ca_cert", c.ca_cert));
        CUSTOS_TRY_VOID(r.get(*tls, "tls.", "ca_key", c.ca_key));
    }
    CUSTOS_TRY(keys, r.table("keys"));
    if (keys) {
        CUSTOS_TRY_VOID(r.only(*keys, "keys.", {"result_key", "result_pub", "recipient_key", "recipient_pub"}));
        CUSTOS_TRY_VOID(r.get(*keys, "keys.", "result_key", c.result_key));
        CUSTOS_TRY_VOID(r.get(*keys, "keys.", "result_pub", c.result_pub));
        CUSTOS_TRY_VOID(r.get(*keys, "keys.", "recipient_key", c.recipient_key));
        CUSTOS_TRY_VOID(r.get(*keys, "keys.", "recipient_pub", c.recipient_pub));
    }
    CUSTOS_TRY(enroll, r.table("enroll"));
    if (enroll) {
        CUSTOS_TRY_VOID(r.only(*enroll, "enroll.", {"ek_ca_file", "token_ttl_s"}));
        CUSTOS_TRY_VOID(r.get(*enroll, "enroll.", "ek_ca_file", c.ek_ca_file));
        CUSTOS_TRY_VOID(r.get(*enroll, "enroll.", "token_ttl_s", c.token_ttl_s));
    }
    CUSTOS_TRY(db, r.table("database"));
    if (db) {
        CUSTOS_TRY_VOID(r.only(*db, "database.", {"path", "sqlite_synchronous_full"}));
        CUSTOS_TRY_VOID(r.get(*db, "database.", "path", c.database));
        CUSTOS_TRY_VOID(r.get(*db, "database.", "sqlite_synchronous_full", c.sqlite_synchronous_full));
    }
    CUSTOS_TRY(st, r.table("store"));
    if (st) {
        CUSTOS_TRY_VOID(r.only(*st, "store.", {"backend", "dsn", "password_file", "pool_size"}));
        CUSTOS_TRY_VOID(r.get(*st, "store.", "backend", c.store_backend));
        CUSTOS_TRY_VOID(r.get(*st, "store.", "dsn", c.store_dsn));
        CUSTOS_TRY_VOID(r.get(*st, "store.", "password_file", c.store_password_file));
        CUSTOS_TRY_VOID(r.get(*st, "store.", "pool_size", c.store_pool_size));
    }
    if (c.store_backend != "sqlite" && c.store_backend != "postgresql")
        return make_error(errc::invalid_argument, abs.string() + ": store.backend is \"" + c.store_backend +
                                                      "\"; expected \"sqlite\" or \"postgresql\"");
    if (c.store_backend == "postgresql" && c.store_dsn.empty())
        return make_error(errc::invalid_argument, abs.string() + ": store.backend is \"postgresql\" but store.dsn is empty");
    if (c.store_pool_size == 0 || c.store_pool_size > 1000)
        return make_error(errc::invalid_argument, abs.string() + ": store.pool_size must be 1..1000");
    CUSTOS_TRY(at, r.table("attest"));
    if (at) {
        CUSTOS_TRY_VOID(r.only(*at, "attest.", {"pcr_selection", "challenge_ttl_s", "attest_interval_s",
                                                "report_interval_s", "dark_after_intervals",
                                                "overdue_after_intervals", "chain_gap_grace_s"}));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "pcr_selection", c.pcr_selection));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "challenge_ttl_s", c.challenge_ttl_s));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "attest_interval_s", c.attest_interval_s));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "report_interval_s", c.report_interval_s));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "dark_after_intervals", c.dark_after_intervals));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "overdue_after_intervals", c.overdue_after_intervals));
        CUSTOS_TRY_VOID(r.get(*at, "attest.", "chain_gap_grace_s", c.chain_gap_grace_s));
    }
    CUSTOS_TRY(ret, r.table("retention"));
    if (ret) {
        CUSTOS_TRY_VOID(r.only(*ret, "retention.", {"resolved_findings_days", "appraisals_days"}));
        CUSTOS_TRY_VOID(r.get(*ret, "retention.", "resolved_findings_days", c.resolved_findings_days));
        CUSTOS_TRY_VOID(r.get(*ret, "retention.", "appraisals_days", c.appraisals_days));
    }
    CUSTOS_TRY(gpu, r.table("gpu"));
    if (gpu) {
        CUSTOS_TRY_VOID(r.only(*gpu, "gpu.", {"chip_table", "duplicate_window_s", "attestation_root",
                                              "require_attested_sites", "require_attested_models"}));
        CUSTOS_TRY_VOID(r.get(*gpu, "gpu.", "chip_table", c.chip_table));
        CUSTOS_TRY_VOID(r.get(*gpu, "gpu.", "attestation_root", c.gpu_attestation_root));
        for (const char* key : {"require_attested_sites", "require_attested_models"}) {
            const toml::node* a = gpu->get(key);
            if (!a) continue;
            const std::string name = std::string("gpu.") + key;
            if (!a->is_array()) return r.bad(name, "must be an array of ids", a);
            auto& out = std::string(key) == "require_attested_sites" ? c.require_attested_sites : c.require_attested_models;
            out.clear();
            for (const auto& e : *a->as_array()) {
                auto v = e.value<std::string>();
                if (!v || v->empty()) return r.bad(name, "entries must be non-empty ids", &e);
                out.push_back(*v);
            }
        }
        CUSTOS_TRY_VOID(r.get(*gpu, "gpu.", "duplicate_window_s", c.duplicate_window_s));
    }
    CUSTOS_TRY(ms, r.table("measurements"));
    if (ms) {
        CUSTOS_TRY_VOID(r.only(*ms, "measurements.", {"runtime_policy"}));
        CUSTOS_TRY_VOID(r.get(*ms, "measurements.", "runtime_policy", c.runtime_policy));
    }
    CUSTOS_TRY(cm, r.table("compute"));
    if (cm) {
        CUSTOS_TRY_VOID(r.only(*cm, "compute.", {"model_ops_threshold", "host_ops_threshold", "entity_ops_threshold",
                                                 "country_ops_threshold"}));
        CUSTOS_TRY_VOID(r.get(*cm, "compute.", "model_ops_threshold", c.model_ops_threshold));
        CUSTOS_TRY_VOID(r.get(*cm, "compute.", "host_ops_threshold", c.host_ops_threshold));
        CUSTOS_TRY_VOID(r.get(*cm, "compute.", "entity_ops_threshold", c.entity_ops_threshold));
        CUSTOS_TRY_VOID(r.get(*cm, "compute.", "country_ops_threshold", c.country_ops_threshold));
    }
    CUSTOS_TRY(rel, r.table("release"));
    if (rel) {
        CUSTOS_TRY_VOID(r.only(*rel, "release.", {"lease_ttl_s"}));
        CUSTOS_TRY_VOID(r.get(*rel, "release.", "lease_ttl_s", c.lease_ttl_s));
    }
    CUSTOS_TRY(pol, r.table("policy"));
    if (pol) {
        CUSTOS_TRY_VOID(r.only(*pol, "policy.", {"profiles"}));
        if (const toml::node* p = pol->get("profiles")) {
            if (!p->is_array()) return r.bad("policy.profiles", "must be an array of profile names or files", p);
            c.policy_profiles.clear();
            for (const auto& e : *p->as_array()) {
                auto s = e.value<std::string>();
                if (!s || s->empty()) return r.bad("policy.profiles", "entries must be profile names or file paths", &e);
                c.policy_profiles.push_back(*s);
            }
        }
    }
    CUSTOS_TRY(loc, r.table("location"));
    if (loc) {
        CUSTOS_TRY_VOID(r.only(*loc, "location.", {"samples", "timeout_ms", "speed_km_per_ms", "landmark_clock_skew_s",
                                                    "miss_limit", "max_age_s"}));
        CUSTOS_TRY_VOID(r.get(*loc, "location.", "miss_limit", c.location_miss_limit));
        CUSTOS_TRY_VOID(r.get(*loc, "location.", "max_age_s", c.location_max_age_s));
        CUSTOS_TRY_VOID(r.get(*loc, "location.", "samples", c.location_samples));
        CUSTOS_TRY_VOID(r.get(*loc, "location.", "timeout_ms", c.location_timeout_ms));
        CUSTOS_TRY_VOID(r.get(*loc, "location.", "speed_km_per_ms", c.speed_km_per_ms));
        CUSTOS_TRY_VOID(r.get(*loc, "location.", "landmark_clock_skew_s", c.landmark_clock_skew_s));
    }
    CUSTOS_TRY(lg, r.table("log"));
    if (lg) {
        CUSTOS_TRY_VOID(r.only(*lg, "log.", {"key", "pub", "enabled", "checkpoint_interval_s"}));
        CUSTOS_TRY_VOID(r.get(*lg, "log.", "key", c.log_key));
        CUSTOS_TRY_VOID(r.get(*lg, "log.", "pub", c.log_pub));
        CUSTOS_TRY_VOID(r.get(*lg, "log.", "enabled", c.log_enabled));
        CUSTOS_TRY_VOID(r.get(*lg, "log.", "checkpoint_interval_s", c.checkpoint_interval_s));
    }
    CUSTOS_TRY(al, r.table("alerts"));
    if (al) {
        CUSTOS_TRY_VOID(r.only(*al, "alerts.", {"webhooks", "webhook_ca_file"}));
        CUSTOS_TRY_VOID(r.get(*al, "alerts.", "webhook_ca_file", c.webhook_ca_file));
        if (const toml::node* w = al->get("webhooks")) {
            if (!w->is_array()) return r.bad("alerts.webhooks", "must be an array of https URLs", w);
            for (const auto& e : *w->as_array()) {
                auto s = e.value<std::string>();
                if (!s || s->rfind("https://", 0) != 0) return r.bad("alerts.webhooks", "entries must be https:// URLs", &e);
                c.webhooks.push_back(*s);
            }
        }
    }
    const std::string& f = r.file;
    if (auto l = check_listen_address(c.listen); !l) return make_error(errc::invalid_argument, f + ": " + l.err().message);
    CUSTOS_TRY_VOID(check_range(f, "threads", c.threads, 1, 256));
    CUSTOS_TRY_VOID(check_range(f, "body_limit", c.body_limit, 1024, 1u << 30));
    CUSTOS_TRY_VOID(check_range(f, "read_timeout_ms", c.read_timeout_ms, 100, 600'000));
    CUSTOS_TRY_VOID(check_range(f, "max_connections", c.max_connections, 1, 1'000'000));
    CUSTOS_TRY_VOID(check_range(f, "retention.resolved_findings_days", c.resolved_findings_days, 0, 36'500));
    CUSTOS_TRY_VOID(check_range(f, "retention.appraisals_days", c.appraisals_days, 0, 36'500));
    CUSTOS_TRY_VOID(check_range(f, "log.checkpoint_interval_s", c.checkpoint_interval_s, 1, 3600));
    CUSTOS_TRY_VOID(check_range(f, "attest.challenge_ttl_s", c.challenge_ttl_s, 1, 3600));
    CUSTOS_TRY_VOID(check_range(f, "attest.attest_interval_s", c.attest_interval_s, 1, 86400));
    CUSTOS_TRY_VOID(check_range(f, "attest.report_interval_s", c.report_interval_s, 1, 86400));
    CUSTOS_TRY_VOID(check_range(f, "attest.dark_after_intervals", c.dark_after_intervals, 1, 1000));
    CUSTOS_TRY_VOID(check_range(f, "attest.overdue_after_intervals", c.overdue_after_intervals, 1, 1000));
    CUSTOS_TRY_VOID(check_range(f, "attest.chain_gap_grace_s", c.chain_gap_grace_s, 0, 86400));
    CUSTOS_TRY_VOID(check_range(f, "gpu.duplicate_window_s", c.duplicate_window_s, 0, 86400));
    CUSTOS_TRY_VOID(check_range(f, "release.lease_ttl_s", c.lease_ttl_s, 5, 86400));
    CUSTOS_TRY_VOID(check_range(f, "enroll.token_ttl_s", c.token_ttl_s, 1, 30 * 86400));
    CUSTOS_TRY_VOID(check_range(f, "location.samples", c.location_samples, 1, 64));
    CUSTOS_TRY_VOID(check_range(f, "location.timeout_ms", c.location_timeout_ms, 10, 60'000));
    CUSTOS_TRY_VOID(check_range(f, "location.landmark_clock_skew_s", c.landmark_clock_skew_s, 0, 3600));
    CUSTOS_TRY_VOID(check_range(f, "location.miss_limit", c.location_miss_limit, 1, 1000));
    CUSTOS_TRY_VOID(check_range(f, "location.max_age_s", c.location_max_age_s, 0, 86400));
    if (!(c.speed_km_per_ms > 0 && c.speed_km_per_ms <= 299.792458))
        return make_error(errc::invalid_argument, f + ": location.speed_km_per_ms must be > 0 and at most 299.792458 (light in vacuum)");
    if (auto s = attest::parse_pcr_selection(c.pcr_selection); !s)
        return make_error(errc::invalid_argument, f + ": attest.pcr_selection: " + s.err().message);
    return c;
}

namespace {
// A TOML float ("1e+26", "0.0"): an integer literal would not hold 10^26.
// The shortest text that reads back as the same double (std::to_chars): a threshold one ulp under 10^26
// must not be written as 1e+26.
std::string number(double v) {
    char buf[40];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}
}  // namespace

std::string render_verifier_config(const verifier_config& c) {
    auto q = [](const std::string& s) { return toml::value<std::string>(s); };
    std::ostringstream o;
    o << "# custos-verifier configuration. Relative paths are relative to this file's directory.\n"
      << "listen = " << q(c.listen) << "          # HOST:PORT ([::1]:8443 for IPv6)\n"
      << "threads = " << c.threads << "                      # HTTPS worker threads\n"
      << "body_limit = " << c.body_limit << "             # largest request body, bytes\n"
      << "read_timeout_ms = " << c.read_timeout_ms << "            # TLS handshake and each request read\n"
      << "max_connections = " << c.max_connections << "          # open at once; more are closed at accept\n\n"
      << "[tls]\n"
      << "tls_cert = " << q(c.tls_cert.string()) << "   # server certificate\n"
      << "tls_key = " << q(c.tls_key.string()) << "\n"
      << "ca_cert = " << q(c.ca_cert.string()) << "        # private CA: agent and operator certificates\n"
      << "ca_key = " << q(c.ca_key.string()) << "\n\n"
      << "[keys]\n"
      << "result_key = " << q(c.result_key.string()) << "        # ES256 key signing attestation results\n"
      << "result_pub = " << q(c.result_pub.string()) << "\n"
      << "recipient_key = " << q(c.recipient_key.string()) << "  # X25519 key sealed model keys are wrapped to\n"
      << "recipient_pub = " << q(c.recipient_pub.string()) << "\n\n"
      << "[enroll]\n"
      << "ek_ca_file = " << q(c.ek_ca_file.string()) << "   # TPM manufacturers' CA bundle (roots + intermediates)\n"
      << "token_ttl_s = " << c.token_ttl_s << "\n\n"
      << "[database]\n"
      << "path = " << q(c.database.string()) << "\n"
      << "sqlite_synchronous_full = " << (c.sqlite_synchronous_full ? "true" : "false")
      << "   # true: every commit survives power loss (slower)\n\n"
      << "[store]   # \"sqlite\" (the [database] file) or \"postgresql\" (replicas sharing one database)\n"
      << "backend = " << q(c.store_backend) << "\n"
      << "dsn = " << q(c.store_dsn)
      << "   # libpq DSN, e.g. \"host=db.example port=5432 dbname=custos user=custos sslmode=verify-full\"\n"
      << "password_file = " << q(c.store_password_file.string())
      << "   # mode 0600; else $CUSTOS_STORE_PASSWORD; never in the DSN\n"
      << "pool_size = " << c.store_pool_size << "   # database connections per verifier process\n\n"
      << "[retention]   # 0 keeps forever; open findings and reports are never pruned\n"
      << "resolved_findings_days = " << c.resolved_findings_days << "\n"
      << "appraisals_days = " << c.appraisals_days << "   # the latest appraisal of each host is always kept\n\n"
      << "[attest]\n"
      << "pcr_selection = " << q(c.pcr_selection) << "\n"
      << "challenge_ttl_s = " << c.challenge_ttl_s << "\n"
      << "attest_interval_s = " << c.attest_interval_s << "      # challenged rounds\n"
      << "report_interval_s = " << c.report_interval_s << "      # signed reports between rounds\n"
      << "dark_after_intervals = " << c.dark_after_intervals << "    # host-dark after this many silent report intervals\n"
      << "overdue_after_intervals = " << c.overdue_after_intervals
      << " # attestation-overdue after this many attest intervals without a challenged quote\n"
      << "chain_gap_grace_s = " << c.chain_gap_grace_s
      << "       # report-chain-gap when quoted reports are missing this long (0: 3 x report_interval_s)\n\n"
      << "[gpu]\n"
      << "chip_table = " << q(c.chip_table.string()) << "   # empty: the chip table built into custos (policy/chips.toml)\n"
      << "duplicate_window_s = " << c.duplicate_window_s << "   # gpu-duplicated: one serial from two hosts within this; 0: 2 x report_interval_s\n"
      << "attestation_root = " << q(c.gpu_attestation_root.string())
      << "   # GPU attestation reports verify up to this (PEM); empty: NVIDIA's device identity CA, pinned\n"
      << "require_attested_sites = [";
    for (std::size_t i = 0; i < c.require_attested_sites.size(); ++i) o << (i ? ", " : "") << q(c.require_attested_sites[i]);
    o << "]   # key release there needs every GPU attested in the host's latest round\n"
      << "require_attested_models = [";
    for (std::size_t i = 0; i < c.require_attested_models.size(); ++i) o << (i ? ", " : "") << q(c.require_attested_models[i]);
    o << "]\n\n"
      << "[measurements]   # boot event logs and IMA lists the agents send with their quotes\n"
      << "runtime_policy = " << q(c.runtime_policy.string())
      << "   # IMA allow-list (custos ima allowlist); empty: IMA is replayed against PCR 10 but not judged\n\n"
      << "[compute]   # compute-threshold fires when a total reaches one of these (operations; 0: off)\n"
      << "model_ops_threshold = " << number(c.model_ops_threshold) << "   # a model's training ops + ops attributed to it on hosts\n"
      << "host_ops_threshold = " << number(c.host_ops_threshold) << "\n"
      << "entity_ops_threshold = " << number(c.entity_ops_threshold) << "\n"
      << "country_ops_threshold = " << number(c.country_ops_threshold) << "\n\n"
      << "[release]\n"
      << "lease_ttl_s = " << c.lease_ttl_s << "   # a released model key must be renewed within this\n\n"
      << "[policy]\n"
      << "profiles = [";
    for (std::size_t i = 0; i < c.policy_profiles.size(); ++i) o << (i ? ", " : "") << q(c.policy_profiles[i]);
    o << "]   # export-control profiles (built-in names or TOML files) the fleet is evaluated under\n\n"
      << "[location]   # delay-based location proofs against each site's landmarks\n"
      << "samples = " << c.location_samples << "   # exchanges per landmark per round (the minimum RTT counts)\n"
      << "timeout_ms = " << c.location_timeout_ms << "\n"
      << "miss_limit = " << c.location_miss_limit << "   # location-rounds-missed after this many unanswered rounds in a row\n"
      << "max_age_s = " << c.location_max_age_s
      << "    # key release at a site with landmarks needs a within proof this recent (0: 3 x attest_interval_s)\n"
      << "speed_km_per_ms = " << number(c.speed_km_per_ms) << "   # 299.792: light in vacuum, a bound no host can beat\n"
      << "landmark_clock_skew_s = " << c.landmark_clock_skew_s << "\n\n"
      << "[log]   # the transparency log auditors check (docs/transparency-log.md)\n"
      << "key = " << q(c.log_key.string()) << "   # signed-note key; created at the first start when missing\n"
      << "pub = " << q(c.log_pub.string()) << "   # give this to auditors\n"
      << "enabled = " << (c.log_enabled ? "true" : "false") << "   # false only to measure what the log costs\n"
      << "checkpoint_interval_s = " << c.checkpoint_interval_s << "   # a new signed checkpoint at most this often\n\n"
      << "[alerts]\n"
      << "webhooks = [";
    for (std::size_t i = 0; i < c.webhooks.size(); ++i) o << (i ? ", " : "") << q(c.webhooks[i]);
    o << "]   # https URLs that receive each finding as JSON\n"
      << "webhook_ca_file = " << q(c.webhook_ca_file.string()) << "   # empty: the system's CAs\n";
    return o.str();
}

namespace {

result<std::string> read_password_file(const fs::path& file, const std::string& what) {
    struct stat sb {};
    if (::stat(file.c_str(), &sb) != 0) return make_error(errc::io, what + " " + file.string() + ": " + std::strerror(errno));
    if (sb.st_mode & 077)
        return make_error(errc::invalid_argument, what + " " + file.string() + " is readable by group or others: chmod 600 it");
    std::ifstream in(file, std::ios::binary);
    std::string pw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return make_error(errc::io, what + " " + file.string() + ": unreadable");
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    if (pw.empty()) return make_error(errc::invalid_argument, what + " " + file.string() + " is empty");
    return pw;
}

}  // namespace

result<std::string> store_password(const fs::path& file, const std::string& what) {
    if (!file.empty()) return read_password_file(file, what);
    if (const char* env = std::getenv("CUSTOS_STORE_PASSWORD"); env && *env) return std::string(env);
    return std::string();
}

result<store_options> store_options_from(const verifier_config& c) {
    store_options o;
    o.backend = c.store_backend;
    o.sqlite_path = c.resolve(c.database);
    o.sqlite_synchronous_full = c.sqlite_synchronous_full;
    o.postgres.dsn = c.store_dsn;
    o.postgres.pool_size = c.store_pool_size;
    if (c.store_backend != "postgresql") return o;
    CUSTOS_TRY(pw, store_password(c.store_password_file.empty() ? fs::path() : c.resolve(c.store_password_file),
                                  "store.password_file"));
    o.postgres.password = std::move(pw);
    return o;
}

result<std::unique_ptr<store>> open_configured_store(const verifier_config& c) {
    CUSTOS_TRY(o, store_options_from(c));
    auto s = open_store(o);
    wipe_password(o.postgres.password);  // the store keeps its own copy in locked memory
    return s;
}

}  // namespace custos::verifier
